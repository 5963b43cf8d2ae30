//go:build integration

package itest

import (
	"fmt"
	"time"

	"github.com/chromedp/chromedp"

	"net/http"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/auth/authtest"
	"github.com/shoal-project/shoal/proto/api"
)

// TestDelegationLDAPAndShoalctl runs central with LDAP login against a real
// OpenLDAP slapd: shoalctl login works for a directory user (its group maps
// to a custom role scoped to one site) and for a local user, the scoped
// user's token is refused fleet-wide routes and computers of other sites,
// and a wrong directory password is refused and audited.
func TestDelegationLDAPAndShoalctl(t *testing.T) {
	t.Parallel()
	d := authtest.Start(t)
	c := startCentral(t, fmt.Sprintf(`auth:
  ldap:
    url: %s
    bind_dn: %s
    bind_password: %s
    user_base: %s
    group_base: %s
    groups:
      - group: branch-a-techs
        role: technician
        sites: [branch-a]
`, d.URL, d.BindDN, d.BindPassword, d.People, d.Groups))
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch-a", CIDRs: []string{"10.1.0.0/16"}}, nil, http.StatusCreated)
	c.do("POST", "/api/v1/roles", api.RoleRequest{Name: "technician", Permissions: []string{"computers.read", "deploy", "packages.read"}}, nil, http.StatusCreated)
	c.do("POST", "/api/v1/users", api.UserRequest{Name: "viewer", Password: "viewer-password-1", Role: "readonly"}, nil, http.StatusCreated)

	// The directory user logs in with shoalctl and gets a token of its
	// group's role and scope.
	alice := newCtl(t, t.TempDir())
	code, out, errOut := alice.run([]string{"SHOAL_PASSWORD=" + authtest.AlicePassword}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--user", "alice")
	if code != 0 || !strings.Contains(out+errOut, "technician") {
		t.Fatalf("shoalctl login as alice: exit %d: %s%s", code, out, errOut)
	}
	alice.ok(nil, "computers")
	if code, out, errOut := alice.run(nil, "sites", "list"); code == 0 || !strings.Contains(out+errOut, "HTTP 403") {
		t.Fatalf("alice lists sites: exit %d, want 403: %s%s", code, out, errOut)
	}
	if code, out, errOut := alice.run(nil, "computers", "show", "1"); code == 0 {
		t.Fatalf("alice opens computer 1 (no computer of hers): exit %d: %s%s", code, out, errOut)
	}
	var users api.List[api.User]
	c.do("GET", "/api/v1/users", nil, &users, http.StatusOK)
	var found bool
	for _, u := range users.Items {
		if u.Name == "alice" {
			found = u.Source == "ldap" && u.Role == "technician" && len(u.Sites) == 1 && u.Sites[0] == "branch-a"
		}
	}
	if !found {
		t.Fatalf("users after alice's login: %+v, want alice from ldap, technician of branch-a", users.Items)
	}

	// A local user logs in with its own password.
	code, _, _ = newCtl(t, t.TempDir()).run([]string{"SHOAL_PASSWORD=viewer-password-1"}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--user", "viewer")
	if code != 0 {
		t.Fatalf("shoalctl login as viewer: exit %d", code)
	}

	// In the web UI (Chromium), the directory user logs in through the
	// form, lands on its computers (not the fleet-wide dashboard) and is
	// refused the sites page.
	br := newBrowser(t)
	const wait = 30 * time.Second
	br.do("open ui", wait, chromedp.Navigate(c.HTTPSURL+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")))
	br.do("log in as alice", wait,
		chromedp.SendKeys(chromedp.ID("user"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), authtest.AlicePassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(`form[role="search"]`)))
	if got := br.text("h1"); got != "Computers" {
		t.Fatalf("alice's home page is %q, want Computers", got)
	}
	br.do("sites", wait, chromedp.Navigate(c.HTTPSURL+"/ui/sites"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if got := br.text("h1"); !strings.Contains(got, "403") {
		t.Fatalf("alice opens the sites page: %q, want 403", got)
	}

	// A wrong directory password is refused and audited.
	if code, _, _ := newCtl(t, t.TempDir()).run([]string{"SHOAL_PASSWORD=not-alices"}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--user", "alice"); code == 0 {
		t.Fatal("shoalctl login with a wrong LDAP password succeeded")
	}
	var ev api.List[api.AuditEvent]
	c.do("GET", "/api/v1/audit?action=api.login.failed&target=alice", nil, &ev, http.StatusOK)
	if len(ev.Items) == 0 || !strings.Contains(ev.Items[0].Detail, "wrong password") {
		t.Fatalf("audit of alice's failed login: %+v", ev.Items)
	}
}
