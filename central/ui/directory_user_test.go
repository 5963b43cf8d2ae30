package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
)

// TestDirectoryUserNotEditable: the users page offers no role, scope or
// password form for a user that logs in through LDAP (its next login would
// set them again from the group mapping), says why, and a crafted POST
// is refused with that reason and changes nothing; deleting it works.
func TestDirectoryUserNotEditable(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	dir := &store.UIUser{Name: "alice", Role: store.RoleReadonly, PasswordHash: "!ldap", Source: store.UserSourceLDAP}
	if err := e.store.CreateUIUser(ctx, dir); err != nil {
		t.Fatal(err)
	}
	admin := e.browser()
	admin.login("admin", adminPassword)
	r := admin.get(uiPrefix + "/users")
	wantCode(t, "users", r, http.StatusOK)
	wantBody(t, "users", r, `class="muted ldap-managed"`)
	if strings.Contains(r.body, fmt.Sprintf(`action="/ui/users/%d"`, dir.ID)) {
		t.Errorf("users page offers an edit form for the LDAP user:\n%s", r.body)
	}
	r = admin.post(fmt.Sprintf("%s/users/%d", uiPrefix, dir.ID), url.Values{"role": {"admin"}}, true)
	wantCode(t, "update LDAP user", r, http.StatusBadRequest)
	wantBody(t, "update LDAP user", r, "logs in through LDAP")
	if u, err := e.store.UIUser(ctx, dir.ID); err != nil || u.Role != store.RoleReadonly {
		t.Fatalf("LDAP user after a refused update: %+v, %v", u, err)
	}
	wantCode(t, "delete LDAP user", admin.post(fmt.Sprintf("%s/users/%d/delete", uiPrefix, dir.ID), nil, true), http.StatusSeeOther)
}
