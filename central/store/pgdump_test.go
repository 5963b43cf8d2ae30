package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// docCommands returns the lines of docs/OPERATIONS.md's sh blocks that
// start with prefix.
func docCommands(t *testing.T, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			in = !in && strings.TrimPrefix(l, "```") == "sh"
		case in && strings.HasPrefix(l, prefix):
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/OPERATIONS.md has no sh line starting with %q", prefix)
	}
	return out
}

// withDBName returns dsn naming database db instead.
func withDBName(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + db
}

// TestPostgresDumpRestore runs the pg_dump and pg_restore commands of
// docs/OPERATIONS.md exactly as printed: a database central uses is dumped
// while the store is open, restored into an empty database, and central's
// store opens the restored one with every row and the same schema version.
func TestPostgresDumpRestore(t *testing.T) {
	dsn := os.Getenv(storetest.PostgresEnv)
	if dsn == "" {
		t.Skipf("%s not set; skipping PostgreSQL", storetest.PostgresEnv)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(bins) == 0 {
		t.Skip("no pg_dump installed")
	}
	sort.Strings(bins)
	path := filepath.Dir(bins[len(bins)-1]) + string(os.PathListSeparator) + os.Getenv("PATH")

	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var rb [5]byte
	if _, err := rand.Read(rb[:]); err != nil {
		t.Fatal(err)
	}
	src, dst := "shoal_dump_src_"+hex.EncodeToString(rb[:]), "shoal_dump_dst_"+hex.EncodeToString(rb[:])
	for _, db := range []string{src, dst} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)"); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		})
	}

	s, err := store.Open(ctx, store.Config{Driver: store.DriverPostgres, DSN: withDBName(dsn, src)}, "", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"paris", "lyon"} {
		if err := s.CreateSite(ctx, &store.Site{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	run := func(line, db string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path, "SHOAL_DSN="+withDBName(dsn, db))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	for _, l := range docCommands(t, "pg_dump ") {
		run(l, src)
	}
	for _, l := range docCommands(t, "pg_restore ") {
		run(l, dst)
	}

	r, err := store.Open(ctx, store.Config{Driver: store.DriverPostgres, DSN: withDBName(dsn, dst), Migrate: store.MigrateCheck}, "", storetest.Logger(t))
	if err != nil {
		t.Fatalf("open the restored database: %v", err)
	}
	defer r.Close()
	sites, err := r.ListSites(ctx)
	if err != nil || len(sites) != 2 {
		t.Fatalf("restored sites %+v, %v; want paris and lyon", sites, err)
	}
	got, err := r.MigrationStatus(ctx)
	if err != nil || got.Current != want.Current || got.Pending() != 0 {
		t.Errorf("restored schema %+v, %v; want version %d", got, err, want.Current)
	}
	// The restored database takes writes: its sequences came along.
	if err := r.CreateSite(ctx, &store.Site{Name: "nantes"}); err != nil {
		t.Errorf("write to the restored database: %v", err)
	}
}
