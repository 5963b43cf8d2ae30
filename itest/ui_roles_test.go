//go:build integration

package itest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-project/shoal/proto/api"
)

// TestWebUIRolesAndUsers drives the users page in Chromium against the
// real central: the admin creates a custom role by ticking permissions,
// gives it to a new user limited to one site, and changes the role; the
// user logs in and gets exactly the role's pages.
func TestWebUIRolesAndUsers(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	c := startCentral(t, "")
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch-a", CIDRs: []string{"10.1.0.0/16"}}, nil, http.StatusCreated)

	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("create role", wait, chromedp.Navigate(base+"/ui/users"), chromedp.WaitVisible(chromedp.ID("new-role")),
		chromedp.SendKeys(chromedp.ID("r-name"), "technician"),
		chromedp.SendKeys(chromedp.ID("r-desc"), "branch technicians"),
		chromedp.Click(chromedp.CSS(`#new-role input[value="computers.read"]`)),
		chromedp.Click(chromedp.CSS(`#new-role input[value="deploy"]`)),
		chromedp.Submit(chromedp.ID("r-name")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-role="technician"]`)))
	var roles api.List[api.Role]
	c.do("GET", "/api/v1/roles", nil, &roles, http.StatusOK)
	if got := roleByName(roles.Items, "technician"); got == nil || strings.Join(got.Permissions, " ") != "computers.read deploy" || got.Description != "branch technicians" {
		t.Fatalf("roles after the form: %+v", roles.Items)
	}

	br.do("create user", wait,
		chromedp.SendKeys(chromedp.ID("n-name"), "tom"),
		chromedp.SetValue(chromedp.ID("n-role"), "technician"),
		chromedp.SendKeys(chromedp.ID("n-sites"), "branch-a"),
		chromedp.SendKeys(chromedp.ID("n-pw"), "tom-password-12"),
		chromedp.SendKeys(chromedp.ID("n-pc"), "tom-password-12"),
		chromedp.Submit(chromedp.ID("n-name")))
	br.waitJS("user saved", `location.search.includes('done=saved')`, wait)
	br.do("users page", wait, chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
	if got := br.text("main"); !strings.Contains(got, "sites branch-a") {
		t.Fatalf("users page after creating tom: %q", got)
	}
	// The role gains packages.read from its row.
	br.do("change role", wait,
		chromedp.Click(chromedp.CSS(`tr[data-role="technician"] input[value="packages.read"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-role="technician"] button[form]`)))
	br.waitJS("role saved", `location.search.includes('done=role-saved')`, wait)
	c.do("GET", "/api/v1/roles", nil, &roles, http.StatusOK)
	if got := roleByName(roles.Items, "technician"); got == nil || strings.Join(got.Permissions, " ") != "computers.read deploy packages.read" {
		t.Fatalf("roles after the change: %+v", roles.Items)
	}
	br.shot("roles")

	// shoalctl sees and changes the same roles and users (real binary).
	ctl := newCtl(t, t.TempDir())
	ctl.ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)
	if out := ctl.ok(nil, "role", "list"); !strings.Contains(out, "technician") || !strings.Contains(out, "computers.read,deploy,packages.read") {
		t.Fatalf("shoalctl role list:\n%s", out)
	}
	ctl.ok(nil, "role", "update", "technician", "--add", "computers.write")
	var u api.User
	ctl.ok(nil, "user", "update", "tom", "--tag", "shop-a")
	ctl.ok(&u, "user", "get", "tom", "-o", "json")
	if u.Role != "technician" || strings.Join(u.Sites, ",") != "branch-a" || strings.Join(u.Tags, ",") != "shop-a" {
		t.Fatalf("tom after shoalctl user update: %+v", u)
	}
	ctl.ok(nil, "role", "create", "auditor", "--permission", "fleet.read")
	ctl.ok(nil, "role", "delete", "auditor")
	if code, _, errOut := ctl.run(nil, "role", "delete", "technician"); code == 0 || !strings.Contains(errOut, "hold") {
		t.Fatalf("deleting a role tom holds: exit %d: %s", code, errOut)
	}
	// tom logs in to shoalctl with its password: its role cannot list
	// roles (fleet.read).
	tomCtl := newCtl(t, t.TempDir())
	if code, out, errOut := tomCtl.run([]string{"SHOAL_PASSWORD=tom-password-12"}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--user", "tom"); code != 0 {
		t.Fatalf("shoalctl login as tom: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := tomCtl.run(nil, "role", "list"); code == 0 || !strings.Contains(out+errOut, "403") {
		t.Fatalf("tom lists roles: exit %d, want 403: %s%s", code, out, errOut)
	}

	br.do("log out", wait, chromedp.Submit(chromedp.CSS("form.who")), chromedp.WaitVisible(chromedp.ID("user")))
	br.do("log in as tom", wait,
		chromedp.SendKeys(chromedp.ID("user"), "tom"),
		chromedp.SendKeys(chromedp.ID("password"), "tom-password-12"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(`form[role="search"]`)))
	nav := br.text("header nav")
	for _, want := range []string{"Computers", "Packages", "Software"} {
		if !strings.Contains(nav, want) {
			t.Errorf("tom's menu %q lacks %s", nav, want)
		}
	}
	for _, not := range []string{"Sites", "Users", "Dashboard"} {
		if strings.Contains(nav, not) {
			t.Errorf("tom's menu %q offers %s", nav, not)
		}
	}
	br.do("users page", wait, chromedp.Navigate(base+"/ui/users"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := br.text("h1"); !strings.Contains(got, "403") {
		t.Fatalf("tom opens the users page: %q, want 403", got)
	}
}

func roleByName(rs []api.Role, name string) *api.Role {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}
