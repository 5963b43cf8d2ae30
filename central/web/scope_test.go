package web

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// basicAs sends an API request with HTTP Basic as user.
func (e *env) basicAs(method, path, body, user, pass string, want int, out any) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(user, pass)
	rec := httptest.NewRecorder()
	e.https.ServeHTTP(rec, req)
	if rec.Code != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, user, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("decode %s: %v", rec.Body, err)
		}
	}
}

// scopedFleet makes two sites with one computer each, a third computer of
// site b with TAG shop-a, a custom role "technician" and the user "tech"
// of that role scoped to site a and TAG shop-a. It returns the computers
// (a, b, tagged b) and tech's token, minted with its password as shoalctl
// login does.
func scopedFleet(t *testing.T, e *env) (inA, inB, tagged uint, tok string) {
	t.Helper()
	var a, b api.Site
	e.api("POST", "/api/v1/sites", `{"name":"branch-a","cidrs":["10.1.0.0/16"]}`, "token", 201, &a)
	e.api("POST", "/api/v1/sites", `{"name":"branch-b","cidrs":["10.2.0.0/16"]}`, "token", 201, &b)
	mk := func(name string, site uint) uint {
		c := &store.Computer{Name: name, DeviceID: name + "-2026-12-05-00-00-00"}
		if err := e.store.CreateComputer(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetComputerSite(t.Context(), c.ID, &site); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	inA, inB, tagged = mk("pc-a", a.ID), mk("pc-b", b.ID), mk("pc-b-shop", b.ID)
	e.api("PUT", fmt.Sprintf("/api/v1/computers/%d/tag", tagged), `{"tag":"shop-a"}`, "token", 200, nil)
	e.api("POST", "/api/v1/roles", `{"name":"technician","permissions":["computers.read","deploy","packages.read"]}`, "token", 201, nil)
	var u api.User
	e.api("POST", "/api/v1/users", `{"name":"tech","password":"tech-password-1","role":"technician","sites":["branch-a"],"tags":["shop-a"]}`, "token", 201, &u)
	if diff := slices.Compare(u.Sites, []string{"branch-a"}); diff != 0 || u.Source != store.UserSourceLocal {
		t.Fatalf("created user: %+v", u)
	}
	var tk api.Token
	e.basicAs("POST", "/api/v1/tokens", `{"name":"shoalctl tech@laptop"}`, "tech", "tech-password-1", 201, &tk)
	if tk.Role != "technician" {
		t.Fatalf("tech's token has role %q, want technician", tk.Role)
	}
	return inA, inB, tagged, tk.Token
}

// TestScopedUserAttack plays a branch technician trying to read and change
// computers outside its branch, and to reach fleet-wide routes, with the
// token shoalctl login gives it: every attempt is refused, and what it may
// do works on its own computers only.
func TestScopedUserAttack(t *testing.T) {
	e := newEnv(t)
	inA, inB, tagged, tok := scopedFleet(t, e)
	p := e.uploadPackage("x")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)

	var l api.List[api.Computer]
	e.api("GET", "/api/v1/computers", "", tok, 200, &l)
	var got []uint
	for _, c := range l.Items {
		got = append(got, c.ID)
	}
	if want := []uint{inA, tagged}; !slices.Equal(got, want) || l.Total != 2 {
		t.Fatalf("tech lists computers %v (total %d), want %v", got, l.Total, want)
	}
	// A site filter for another branch finds nothing, not that branch.
	e.api("GET", "/api/v1/computers?name=pc-b", "", tok, 200, &l)
	if len(l.Items) != 1 || l.Items[0].ID != tagged {
		t.Fatalf("tech searching pc-b sees %+v, want only the shop-a computer", l.Items)
	}

	refused := []struct{ name, method, path, body string }{
		{"read_other_branch", "GET", fmt.Sprintf("/api/v1/computers/%d", inB), ""},
		{"read_missing", "GET", "/api/v1/computers/99999", ""},
		{"groups_other_branch", "GET", fmt.Sprintf("/api/v1/computers/%d/groups", inB), ""},
		{"tag_other_branch", "PUT", fmt.Sprintf("/api/v1/computers/%d/tag", inB), `{"tag":"shop-a"}`},
		{"tag_own_lacks_permission", "PUT", fmt.Sprintf("/api/v1/computers/%d/tag", inA), `{"tag":"x"}`},
		{"delete_other_branch", "DELETE", fmt.Sprintf("/api/v1/computers/%d", inB), ""},
		{"affect_other_branch", "POST", "/api/v1/packages/" + p.ID + "/affect", fmt.Sprintf(`{"computer_ids":[%d,%d]}`, inA, inB)},
		{"deployments_fleet", "GET", "/api/v1/deployments", ""},
		{"deployments_other_branch", "GET", fmt.Sprintf("/api/v1/deployments?computer=%d", inB), ""},
		{"package_deployments", "GET", "/api/v1/packages/" + p.ID + "/deployments", ""},
		{"bulk_redeploy", "POST", "/api/v1/packages/" + p.ID + "/redeploy", `{"state":"error"}`},
		{"dashboard", "GET", "/api/v1/dashboard", ""},
		{"sites", "GET", "/api/v1/sites", ""},
		{"create_site", "POST", "/api/v1/sites", `{"name":"x","cidrs":["10.9.0.0/16"]}`},
		{"users", "GET", "/api/v1/users", ""},
		{"make_self_admin", "PUT", "/api/v1/users/1", `{"role":"admin"}`},
		{"audit", "GET", "/api/v1/audit", ""},
		{"mint_token_with_token", "POST", "/api/v1/tokens", `{"name":"more"}`},
		{"revoke_agent", "POST", fmt.Sprintf("/api/v1/agents/%d/revoke", inB), ""},
		{"upload", "POST", "/api/v1/packages", ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e.api(tt.method, tt.path, tt.body, tok, 403, nil)
		})
	}
	// Nothing was deployed by the refused affect.
	var dl api.List[api.Deployment]
	e.api("GET", "/api/v1/packages/"+p.ID+"/deployments", "", "token", 200, &dl)
	if dl.Total != 0 {
		t.Fatalf("a refused affect created %d deployments", dl.Total)
	}
	// Minting an admin token with the password is refused too.
	e.basicAs("POST", "/api/v1/tokens", `{"name":"up","role":"admin"}`, "tech", "tech-password-1", 403, nil)

	// What it may do, it does on its own computers: an "all" affect
	// reaches its two computers, not the third.
	var res api.AffectResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"filter":{},"all":true}`, tok, 200, &res)
	if res.Selected != 2 || res.Created != 2 {
		t.Fatalf("tech affects all: %+v, want its 2 computers", res)
	}
	e.api("GET", fmt.Sprintf("/api/v1/deployments?computer=%d", inA), "", tok, 200, &dl)
	if dl.Total != 1 {
		t.Fatalf("deployments of tech's computer: %d, want 1", dl.Total)
	}
	e.api("GET", fmt.Sprintf("/api/v1/deployments/%d", dl.Items[0].ID), "", tok, 200, nil)
	var other api.List[api.Deployment]
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", fmt.Sprintf(`{"computer_ids":[%d]}`, inB), "token", 200, nil)
	e.api("GET", fmt.Sprintf("/api/v1/deployments?computer=%d", inB), "", "token", 200, &other)
	e.api("GET", fmt.Sprintf("/api/v1/deployments/%d", other.Items[0].ID), "", tok, 403, nil)
	e.api("POST", fmt.Sprintf("/api/v1/deployments/%d/cancel", other.Items[0].ID), "", tok, 403, nil)

	// Deleting the user ends its token.
	var users api.List[api.User]
	e.api("GET", "/api/v1/users", "", "token", 200, &users)
	e.api("DELETE", fmt.Sprintf("/api/v1/users/%d", users.Items[0].ID), "", "token", 204, nil)
	e.api("GET", "/api/v1/computers", "", tok, 401, nil)
}

// TestBasicLoginFailuresAudited checks that wrong passwords of stored users
// are refused and audited.
func TestBasicLoginFailuresAudited(t *testing.T) {
	e := newEnv(t)
	scopedFleet(t, e)
	e.basicAs("GET", "/api/v1/computers", "", "tech", "wrong-password-1", 401, nil)
	e.basicAs("GET", "/api/v1/computers", "", "nobody", "wrong-password-1", 401, nil)
	var l api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?action=api.login.failed", "", "token", 200, &l)
	var targets []string
	for _, ev := range l.Items {
		targets = append(targets, ev.Target)
	}
	slices.Sort(targets)
	if !slices.Equal(targets, []string{"nobody", "tech"}) {
		t.Fatalf("audited failed logins for %v, want nobody and tech", targets)
	}
}
