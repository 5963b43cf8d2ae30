package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// TestDirectoryUserUpdateRefused: a user that logs in through LDAP gets its
// role and scope from the group mapping at every login, so changing them
// (or its password) through the API is refused with 409 and a message
// saying where to change them, and nothing changes; a local user is
// updated as before, and the directory user can still be deleted.
func TestDirectoryUserUpdateRefused(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	dir := &store.UIUser{Name: "alice", Role: store.RoleReadonly, PasswordHash: "!ldap", Source: store.UserSourceLDAP}
	if err := e.store.CreateUIUser(ctx, dir); err != nil {
		t.Fatal(err)
	}
	var local api.User
	e.api("POST", "/api/v1/users", `{"name":"bob","password":"bob-password-12","role":"readonly"}`, "token", 201, &local)

	rec := e.api("PUT", fmt.Sprintf("/api/v1/users/%d", dir.ID), `{"role":"admin"}`, "token", http.StatusConflict, nil)
	if body := rec.Body.String(); !strings.Contains(body, "logs in through LDAP") || !strings.Contains(body, "auth.ldap.groups") {
		t.Errorf("refusal does not say why: %s", body)
	}
	e.api("PUT", fmt.Sprintf("/api/v1/users/%d", dir.ID), `{"role":"readonly","password":"new-password-123"}`, "token", http.StatusConflict, nil)
	u, err := e.store.UIUser(ctx, dir.ID)
	if err != nil || u.Role != store.RoleReadonly || u.PasswordHash != "!ldap" {
		t.Fatalf("directory user after refused updates: %+v, %v", u, err)
	}

	var got api.User
	e.api("PUT", fmt.Sprintf("/api/v1/users/%d", local.ID), `{"role":"admin"}`, "token", 200, &got)
	if got.Role != "admin" {
		t.Errorf("local user's role %q after update, want admin", got.Role)
	}
	e.api("DELETE", fmt.Sprintf("/api/v1/users/%d", dir.ID), "", "token", http.StatusNoContent, nil)
}
