package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
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

	scopedUINewRoutes(t, e, admin, tech, inA, inB)
}

// scopedUINewRoutes goes on with TestScopedUserUI on the pages added after
// the first delegation work: the catalog, the CSV export, saved searches,
// bulk actions, Wake-on-LAN, duplicates and the dictionary.
func scopedUINewRoutes(t *testing.T, e *env, admin, tech *browser, inA, inB uint) {
	t.Helper()
	ctx := t.Context()
	for name, version := range map[string]string{"pc-alpha": "24.08", "pc-bravo": "9.20"} {
		snap := storetest.Snapshot(name+"-2026-12-05-00-00-00", 0)
		snap.AccountInfo = nil
		snap.Softwares = []store.Software{{Name: "7-Zip " + version, Version: version, Publisher: "Igor Pavlov"}}
		if _, err := inventory.Record(ctx, e.store, snap); err != nil {
			t.Fatal(err)
		}
	}
	// The catalog: 7-Zip on one computer, its own, in its version.
	r := tech.get(uiPrefix + "/software")
	wantCode(t, "software", r, http.StatusOK)
	if !strings.Contains(r.body, `href="/ui/software"`) || strings.Contains(r.body, `id="new-rule"`) {
		t.Fatalf("tech's catalog page hides the menu entry or offers the dictionary form:\n%s", r.body)
	}
	titles, err := e.ui.deps.Catalog.Titles(ctx, inventory.TitleFilter{})
	if err != nil || len(titles) != 1 || titles[0].Computers != 2 {
		t.Fatalf("fleet catalog %+v, %v", titles, err)
	}
	r = tech.get(uiPrefix + "/software/" + titles[0].Key)
	wantCode(t, "software title", r, http.StatusOK)
	if !strings.Contains(r.body, "pc-alpha") || strings.Contains(r.body, "pc-bravo") || strings.Contains(r.body, "9.20") {
		t.Fatalf("tech's 7-Zip page shows another branch:\n%s", r.body)
	}
	r = tech.get(uiPrefix + "/software/" + titles[0].Key + "/computers.csv")
	wantCode(t, "software computers CSV", r, http.StatusOK)
	if !strings.Contains(r.body, "pc-alpha") || strings.Contains(r.body, "pc-bravo") {
		t.Fatalf("tech's 7-Zip CSV:\n%s", r.body)
	}
	r = tech.get(uiPrefix + "/software.csv")
	if !strings.Contains(r.body, "\n7-Zip,,Igor Pavlov,1,1,") {
		t.Fatalf("tech's catalog CSV does not count one computer:\n%s", r.body)
	}
	// The export of a search matching both branches holds its computer.
	r = tech.get(uiPrefix + "/computers.csv?name=pc-")
	wantCode(t, "computers CSV", r, http.StatusOK)
	if !strings.Contains(r.body, "pc-alpha") || strings.Contains(r.body, "pc-bravo") {
		t.Fatalf("tech's export:\n%s", r.body)
	}
	// It saves its own searches.
	wantCode(t, "save search", tech.post(uiPrefix+"/searches", url.Values{"s_name": {"pc-"}, "search_name": {"mine"}}, true), http.StatusSeeOther)
	if _, err := e.store.SavedSearch(ctx, "tech", "mine"); err != nil {
		t.Fatalf("tech's saved search: %v", err)
	}

	// Bulk actions: refused as a whole when a ticked computer is out of
	// scope, or for a group; allowed on its own computer.
	both := url.Values{"computer": {fmt.Sprint(inA), fmt.Sprint(inB)}}
	for _, tt := range []struct{ action, extra, value string }{{"delete", "", ""}, {"tag", "tag", "shop-a"}, {"affect", "package", "1"}} {
		f := url.Values{"action": {tt.action}, "computer": both["computer"]}
		if tt.extra != "" {
			f.Set(tt.extra, tt.value)
		}
		wantCode(t, "bulk "+tt.action+" other branch", tech.post(uiPrefix+"/computers/bulk", f, true), http.StatusForbidden)
	}
	wantCode(t, "bulk group", tech.post(uiPrefix+"/computers/bulk", url.Values{"action": {"group"}, "group": {"1"}, "computer": {fmt.Sprint(inA)}}, true), http.StatusForbidden)
	wantCode(t, "bulk foreign TAG", tech.post(uiPrefix+"/computers/bulk", url.Values{"action": {"tag"}, "tag": {"hq"}, "computer": {fmt.Sprint(inA)}}, true), http.StatusForbidden)
	if _, err := e.store.Computer(ctx, inB); err != nil {
		t.Fatalf("a refused bulk delete deleted pc-bravo: %v", err)
	}
	wantCode(t, "bulk tag own", tech.post(uiPrefix+"/computers/bulk", url.Values{"action": {"tag"}, "tag": {"shop-a"}, "computer": {fmt.Sprint(inA)}}, true), http.StatusSeeOther)
	r = tech.get(uiPrefix + "/computers")
	if !strings.Contains(r.body, `action="/ui/computers/bulk"`) || strings.Contains(r.body, `value="group"`) {
		t.Fatalf("tech's bulk form is missing or offers groups:\n%s", r.body)
	}

	// Wake-on-LAN: its own computer only.
	wantCode(t, "wake other branch", tech.post(fmt.Sprintf("%s/computers/%d/wake", uiPrefix, inB), nil, true), http.StatusForbidden)
	wantCode(t, "wake own", tech.post(fmt.Sprintf("%s/computers/%d/wake", uiPrefix, inA), nil, true), http.StatusSeeOther)

	// Fleet-wide hygiene and the dictionary stay closed.
	for _, p := range []string{"/duplicates", "/groups"} {
		wantCode(t, "GET "+p, tech.get(uiPrefix+p), http.StatusForbidden)
	}
	for _, p := range []string{"/duplicates/merge", "/duplicates/purge", "/merges/1/split", "/software/rules", "/groups/1/timings"} {
		wantCode(t, "POST "+p, tech.post(uiPrefix+p, url.Values{"pattern": {"zip"}}, true), http.StatusForbidden)
	}
	// The admin still sees both in the catalog.
	r = admin.get(uiPrefix + "/software/" + titles[0].Key)
	if !strings.Contains(r.body, "pc-alpha") || !strings.Contains(r.body, "pc-bravo") {
		t.Fatalf("the admin's 7-Zip page misses a computer:\n%s", r.body)
	}
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
