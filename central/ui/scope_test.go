package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/store"
)

// TestScopedUserUI plays a branch technician in the web UI: it lists only
// its branch's computers, and opening, tagging or deploying to another
// branch's computer, or opening a fleet-wide page, is refused.
func TestScopedUserUI(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	admin := e.browser()
	admin.login("admin", adminPassword)
	pkg := seedPackage(t, e, admin)
	wantCode(t, "activate", admin.post(uiPrefix+"/packages/"+pkg+"/activate", url.Values{"skip_check": {"1"}}, true), http.StatusSeeOther)
	var sites [2]uint
	for i, name := range []string{"branch-a", "branch-b"} {
		s := &store.Site{Name: name, CIDRs: []store.SiteCIDR{{CIDR: fmt.Sprintf("10.%d.0.0/16", i+1)}}}
		if err := e.store.CreateSite(ctx, s); err != nil {
			t.Fatal(err)
		}
		sites[i] = s.ID
	}
	mk := func(name string, site uint) uint {
		c := &store.Computer{Name: name, DeviceID: name + "-2026-12-05-00-00-00", OSName: "Debian GNU/Linux"}
		if err := e.store.CreateComputer(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetComputerSite(ctx, c.ID, &site); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	inA, inB := mk("pc-alpha", sites[0]), mk("pc-bravo", sites[1])
	if err := e.store.CreateRole(ctx, &store.Role{Name: "technician", Permissions: "computers.read computers.write deploy packages.read"}); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("tech-password-1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUIUser(ctx, &store.UIUser{Name: "tech", Role: "technician", PasswordHash: string(hash),
		ScopeSites: store.JoinIDs([]uint{sites[0]}), ScopeTags: "shop-a"}); err != nil {
		t.Fatal(err)
	}

	tech := e.browser()
	tech.login("tech", "tech-password-1")
	// Home is its computers, not the fleet-wide dashboard.
	wantCode(t, "home", tech.get(homePath), http.StatusSeeOther)
	r := tech.get(uiPrefix + "/computers")
	wantCode(t, "computers", r, http.StatusOK)
	if !strings.Contains(r.body, "pc-alpha") || strings.Contains(r.body, "pc-bravo") {
		t.Fatalf("tech's computer list shows the wrong computers:\n%s", r.body)
	}
	if strings.Contains(r.body, `href="/ui/sites"`) || !strings.Contains(r.body, `<small class="role">technician</small>`) {
		t.Fatalf("tech's menu offers fleet-wide pages or hides its role:\n%s", r.body)
	}
	wantCode(t, "own computer", tech.get(fmt.Sprintf("%s/computers/%d", uiPrefix, inA)), http.StatusOK)
	for _, p := range []string{fmt.Sprintf("/computers/%d", inB), "/sites", "/settings", "/packages/" + pkg + "/status", "/audit", "/users"} {
		wantCode(t, "GET "+p, tech.get(uiPrefix+p), http.StatusForbidden)
	}
	wantCode(t, "tag other branch", tech.post(fmt.Sprintf("%s/computers/%d/tag", uiPrefix, inB), url.Values{"tag": {"shop-a"}}, true), http.StatusForbidden)
	wantCode(t, "tag own with a foreign TAG", tech.post(fmt.Sprintf("%s/computers/%d/tag", uiPrefix, inA), url.Values{"tag": {"hq"}}, true), http.StatusForbidden)
	wantCode(t, "create site", tech.post(uiPrefix+"/sites", url.Values{"name": {"x"}, "cidrs": {"10.9.0.0/16"}}, true), http.StatusForbidden)

	// Affecting by a search that matches both branches reaches only its
	// own computer.
	r = tech.post(uiPrefix+"/packages/"+pkg+"/affect", url.Values{"name": {"pc-"}, "action": {"confirm"}}, true)
	wantCode(t, "affect", r, http.StatusSeeOther)
	rows, total, err := e.store.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: pkg, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || rows[0].ComputerID != inA {
		t.Fatalf("tech's affect created %d deployments (%+v), want one for pc-alpha", total, rows)
	}
	// A deployment of the other branch cannot be cancelled.
	if _, err := e.dep.AffectComputers(ctx, pkg, []uint{inB}, false); err != nil {
		t.Fatal(err)
	}
	rows, _, err = e.store.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: pkg, ComputerID: inB, Limit: 1})
	if err != nil || len(rows) != 1 {
		t.Fatalf("deployment of pc-bravo: %v %v", rows, err)
	}
	wantCode(t, "cancel other branch", tech.post(fmt.Sprintf("%s/deployments/%d/cancel", uiPrefix, rows[0].ID), nil, true), http.StatusForbidden)
}

// TestUsersFormScope creates a scoped user of a custom role through the
// users page and checks that the page shows its scope, that an unknown
// site is refused with a clear message, and that the user is limited.
func TestUsersFormScope(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	admin := e.browser()
	admin.login("admin", adminPassword)
	if err := e.store.CreateSite(ctx, &store.Site{Name: "branch-a", CIDRs: []store.SiteCIDR{{CIDR: "10.1.0.0/16"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateRole(ctx, &store.Role{Name: "technician", Permissions: "computers.read deploy packages.read"}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"name": {"tech"}, "role": {"technician"}, "sites": {"branch-a, no-such-site"},
		"password": {"tech-password-1"}, "confirm": {"tech-password-1"}}
	r := admin.post(uiPrefix+"/users", form, true)
	wantCode(t, "unknown site", r, http.StatusBadRequest)
	if !strings.Contains(r.body, "no-such-site") {
		t.Fatalf("the form does not name the unknown site:\n%s", r.body)
	}
	form.Set("sites", "branch-a")
	form.Set("tags", "shop-a")
	wantCode(t, "create scoped user", admin.post(uiPrefix+"/users", form, true), http.StatusSeeOther)
	r = admin.get(uiPrefix + "/users")
	if !strings.Contains(r.body, "sites branch-a TAGs shop-a") || !strings.Contains(r.body, `<option value="technician" selected>`) {
		t.Fatalf("the users page does not show tech's role and scope:\n%s", r.body)
	}
	u, err := e.store.UIUserByName(ctx, "tech")
	if err != nil || u.Role != "technician" || u.ScopeTags != "shop-a" || u.ScopeSites == "" {
		t.Fatalf("stored user %+v, %v", u, err)
	}
	tech := e.browser()
	tech.login("tech", "tech-password-1")
	wantCode(t, "tech opens sites", tech.get(uiPrefix+"/sites"), http.StatusForbidden)
}
