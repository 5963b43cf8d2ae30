package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
)

// TestRolesForm creates, changes and deletes a custom role on the users
// page: bad forms are refused with a message, the form needs the CSRF
// token and an admin, a user of the role gets its permissions at its next
// click, and a role still held cannot be deleted.
func TestRolesForm(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	admin := e.browser()
	admin.login("admin", adminPassword)

	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"no_permission", url.Values{"name": {"tech"}}, "Tick at least one permission."},
		{"unknown_permission", url.Values{"name": {"tech"}, "perm": {"computers.read", "root"}}, "Unknown permission"},
		{"bad_name", url.Values{"name": {"Tech Team"}, "perm": {"deploy"}}, "lower-case letters"},
		{"built_in_name", url.Values{"name": {"readonly"}, "perm": {"deploy"}}, "built-in role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post(uiPrefix+"/roles", tt.form, true)
			wantCode(t, tt.name, r, http.StatusBadRequest)
			if !strings.Contains(r.body, tt.want) {
				t.Fatalf("the page does not say %q:\n%s", tt.want, r.body)
			}
		})
	}
	wantCode(t, "without CSRF", admin.post(uiPrefix+"/roles", url.Values{"name": {"tech"}, "perm": {"deploy"}}, false), http.StatusForbidden)

	form := url.Values{"name": {"tech"}, "description": {"branch technicians"}, "perm": {"computers.read", "deploy"}}
	wantCode(t, "create role", admin.post(uiPrefix+"/roles", form, true), http.StatusSeeOther)
	wantCode(t, "create it again", admin.post(uiPrefix+"/roles", form, true), http.StatusBadRequest)
	r, err := e.store.RoleByName(ctx, "tech")
	if err != nil || r.Permissions != "computers.read deploy" || r.Description != "branch technicians" {
		t.Fatalf("stored role %+v, %v", r, err)
	}
	page := admin.get(uiPrefix + "/users")
	if !strings.Contains(page.body, `<tr data-role="tech">`) || !strings.Contains(page.body, fmt.Sprintf(`action="/ui/roles/%d"`, r.ID)) {
		t.Fatalf("the users page does not list the role:\n%s", page.body)
	}

	// A user of the role: computers, but no packages until the role
	// gains packages.read.
	form = url.Values{"name": {"tom"}, "role": {"tech"}, "password": {"tom-password-12"}, "confirm": {"tom-password-12"}}
	wantCode(t, "create user", admin.post(uiPrefix+"/users", form, true), http.StatusSeeOther)
	tom := e.browser()
	tom.login("tom", "tom-password-12")
	wantCode(t, "tom computers", tom.get(uiPrefix+"/computers"), http.StatusOK)
	wantCode(t, "tom packages", tom.get(uiPrefix+"/packages"), http.StatusForbidden)
	wantCode(t, "tom changes the role", tom.post(fmt.Sprintf("%s/roles/%d", uiPrefix, r.ID), url.Values{"perm": {"admin"}}, true), http.StatusForbidden)
	wantCode(t, "tom creates a role", tom.post(uiPrefix+"/roles", url.Values{"name": {"boss"}, "perm": {"admin"}}, true), http.StatusForbidden)

	upd := url.Values{"perm": {"computers.read", "deploy", "packages.read"}, "description": {"branch technicians"}}
	wantCode(t, "update role", admin.post(fmt.Sprintf("%s/roles/%d", uiPrefix, r.ID), upd, true), http.StatusSeeOther)
	wantCode(t, "tom packages after", tom.get(uiPrefix+"/packages"), http.StatusOK)
	r2 := admin.post(fmt.Sprintf("%s/roles/%d", uiPrefix, r.ID), url.Values{}, true)
	wantCode(t, "update without permissions", r2, http.StatusBadRequest)
	if !strings.Contains(r2.body, "Tick at least one permission.") {
		t.Fatalf("the role row does not explain the error:\n%s", r2.body)
	}
	wantCode(t, "update missing role", admin.post(uiPrefix+"/roles/9999", upd, true), http.StatusNotFound)

	r3 := admin.post(fmt.Sprintf("%s/roles/%d/delete", uiPrefix, r.ID), nil, true)
	wantCode(t, "delete held role", r3, http.StatusConflict)
	if !strings.Contains(r3.body, "still hold this role") {
		t.Fatalf("the refusal does not explain itself:\n%s", r3.body)
	}
	u, err := e.store.UIUserByName(ctx, "tom")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete user", admin.post(fmt.Sprintf("%s/users/%d/delete", uiPrefix, u.ID), nil, true), http.StatusSeeOther)
	wantCode(t, "delete role", admin.post(fmt.Sprintf("%s/roles/%d/delete", uiPrefix, r.ID), nil, true), http.StatusSeeOther)
	if _, err := e.store.RoleByName(ctx, "tech"); err == nil {
		t.Fatal("the role still exists")
	}
	var actions []string
	events, _, err := e.store.ListAudit(ctx, store.AuditFilter{Action: "role.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		actions = append(actions, ev.Action+" "+ev.Target)
	}
	if got := strings.Join(actions, ", "); got != "role.delete tech, role.update tech, role.create tech" {
		t.Fatalf("audit: %s", got)
	}
}
