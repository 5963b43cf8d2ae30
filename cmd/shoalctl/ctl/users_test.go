package ctl

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

// TestUserRoleRequests: user and role commands resolve names, send only
// what changes on top of the current values (PUT replaces), read the
// password from the file, and refuse what cannot work before calling.
func TestUserRoleRequests(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.User]{Items: []api.User{{ID: 5, Name: "tom", Role: "technician", Sites: []string{"paris"}, Tags: []string{"shop"}, Source: "local"}}, Total: 1})
	})
	f.mux.HandleFunc("GET /api/v1/roles", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.Role]{Items: []api.Role{{Name: "admin", BuiltIn: true, Permissions: []string{"admin"}},
			{ID: 2, Name: "technician", Permissions: []string{"computers.read", "deploy"}, Description: "branch"}}, Total: 2})
	})
	var mu sync.Mutex
	var got []string
	record := func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		b, _ := json.Marshal(body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		if r.Method == "DELETE" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, 200, map[string]any{})
	}
	for _, p := range []string{"POST /api/v1/users", "PUT /api/v1/users/{id}", "DELETE /api/v1/users/{id}", "POST /api/v1/roles", "PUT /api/v1/roles/{id}", "DELETE /api/v1/roles/{id}"} {
		f.mux.HandleFunc(p, record)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("a-long-password-1\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(dir, "c.json")}
	for _, args := range [][]string{
		{"user", "create", "ann", "--role", "readonly", "--site", "paris,lyon", "--password-file", pw},
		{"user", "update", "TOM", "--role", "admin"},
		{"user", "update", "5", "--tag", "hq"},
		{"user", "update", "tom", "--whole-fleet"},
		{"user", "delete", "tom"},
		{"role", "create", "auditor", "--permission", "fleet.read", "--permission", "computers.read"},
		{"role", "update", "technician", "--add", "packages.read", "--remove", "deploy"},
		{"role", "update", "2", "--description", ""},
		{"role", "delete", "technician"},
	} {
		if code, out, errOut := run(t, env, args...); code != 0 {
			t.Errorf("%v: exit %d: %s %s", args, code, out, errOut)
		}
	}
	want := []string{
		`POST /api/v1/users {"name":"ann","password":"a-long-password-1","role":"readonly","sites":["paris","lyon"]}`,
		`PUT /api/v1/users/5 {"role":"admin","sites":["paris"],"tags":["shop"]}`,
		`PUT /api/v1/users/5 {"role":"technician","sites":["paris"],"tags":["hq"]}`,
		`PUT /api/v1/users/5 {"role":"technician"}`,
		`DELETE /api/v1/users/5 null`,
		`POST /api/v1/roles {"name":"auditor","permissions":["fleet.read","computers.read"]}`,
		`PUT /api/v1/roles/2 {"description":"branch","name":"technician","permissions":["computers.read","packages.read"]}`,
		`PUT /api/v1/roles/2 {"name":"technician","permissions":["computers.read","deploy"]}`,
		`DELETE /api/v1/roles/2 null`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no_password", []string{"user", "create", "bob", "--role", "readonly"}, "password"},
		{"no_role", []string{"user", "create", "bob"}, "--role"},
		{"unknown_user", []string{"user", "get", "nobody"}, "users: tom"},
		{"built_in_role", []string{"role", "delete", "admin"}, "built-in"},
		{"scope_and_whole_fleet", []string{"user", "update", "tom", "--site", "paris", "--whole-fleet"}, "--whole-fleet"},
		{"no_permission", []string{"role", "create", "x"}, "--permission"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, errOut := run(t, env, tt.args...); code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want an error naming %q", code, errOut, tt.want)
			}
		})
	}
}
