package admin_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto"
)

type env struct {
	ops   *admin.Service
	store *store.Store
	b     *packages.Builder
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	pk, err := pki.Load(filepath.Join(dir, "pki"), pki.Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t)
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages")}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := deploy.New(deploy.Config{}, st, b, http.DefaultClient, deploy.Locations{InfoLoc: "127.0.0.1:1/download", PackLoc: "127.0.0.1:1/download"}, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, b: b, now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	e.ops = admin.New(admin.Deps{Store: st, Deploy: dep, Packages: b, PKI: pk, Now: func() time.Time { return e.now }}, log)
	return e
}

// addPackage builds and records a small package.
func (e *env) addPackage(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "p.bin")
	if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 9000), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := packages.SpecFromFields(map[string]string{"name": name, "action": "EXECUTE", "command": "true", "fragments": "2"})
	if err != nil {
		t.Fatal(err)
	}
	spec.ID = e.b.NewID()
	built, err := e.b.Build(context.Background(), spec, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreatePackage(context.Background(), packages.Record(spec, built, proto.KeyID(nil))); err != nil {
		t.Fatal(err)
	}
	return spec.ID
}

func (e *env) audits(t *testing.T, action string) []store.AuditEvent {
	t.Helper()
	evs, _, err := e.store.ListAudit(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestDeletePackageFilesGone checks the rule the UI had and the REST API
// lacked: a package whose files are already gone is deleted all the same,
// and audited once.
func TestDeletePackageFilesGone(t *testing.T) {
	e := newEnv(t)
	id := e.addPackage(t, "gone")
	if err := os.RemoveAll(e.b.Path(id)); err != nil {
		t.Fatal(err)
	}
	who := audit.Actor{Name: "alice", Remote: "10.0.0.1", Via: "web ui"}
	if err := e.ops.DeletePackage(t.Context(), who, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	evs := e.audits(t, "package.delete")
	if len(evs) != 1 || evs[0].Actor != "alice" || evs[0].Target != id || evs[0].Detail != "web ui: gone" || evs[0].Remote != "10.0.0.1" {
		t.Errorf("audit %+v", evs)
	}
}

// TestPurgeUsesTheClock checks that a purge is stamped by the service's
// clock (the REST API used the wall clock).
func TestPurgeUsesTheClock(t *testing.T) {
	e := newEnv(t)
	id := e.addPackage(t, "p")
	res, err := e.ops.PurgePackage(t.Context(), audit.Actor{Name: "token:ci"}, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Relays != 0 || res.Kept != 0 {
		t.Errorf("purge result %+v with no relay", res)
	}
	for _, tt := range []struct {
		since time.Time
		want  int
	}{{e.now, 1}, {e.now.Add(time.Second), 0}} {
		ids, err := e.store.Purges(t.Context(), tt.since)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != tt.want {
			t.Errorf("purges since %s: %v, want %d", tt.since, ids, tt.want)
		}
	}
	if evs := e.audits(t, "package.purge"); len(evs) != 1 || !strings.Contains(evs[0].Detail, "from 0 relays") {
		t.Errorf("audit %+v", evs)
	}
}

func TestCreateAPITokenRules(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, token, role string
		ttl               time.Duration
		ok                bool
	}{
		{"ok", "ci", store.RoleReadonly, 24 * time.Hour, true},
		{"no_name", "  ", store.RoleAdmin, 0, false},
		{"bad_role", "x", "root", 0, false},
		{"past", "x", store.RoleAdmin, -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, tok, err := e.ops.CreateAPIToken(t.Context(), audit.Actor{Name: "admin"}, tt.token, tt.role, "", tt.ttl)
			if !tt.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(secret, "shoal_") || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(e.now.Add(tt.ttl)) {
				t.Errorf("secret %q, token %+v", secret, tok)
			}
		})
	}
}
