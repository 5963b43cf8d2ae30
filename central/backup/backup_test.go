package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/backup"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// dataDir makes a central data directory: a PKI with its keys, admin
// credentials, a package file and a SQLite database with one site,
// returned open.
func dataDir(t *testing.T) (string, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.Load(filepath.Join(dir, "pki"), pki.Config{}, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.LoadAdmin(dir, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "packages", "1700000000"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "packages", "1700000000", "info"), []byte("package info"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), store.Config{}, dir, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSite(context.Background(), &store.Site{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func siteNames(t *testing.T, s *store.Store) []string {
	t.Helper()
	sites, err := s.ListSites(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range sites {
		out = append(out, x.Name)
	}
	return out
}

// TestBackupRestore: a backup taken while central's store is open and
// writing is one snapshot (a row written after it is absent), the archive
// is 0600, and restoring it into an empty directory gives back every key
// and file byte for byte and a database central opens with the rows of the
// snapshot.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	dir, s := dataDir(t)
	archive := filepath.Join(t.TempDir(), "central.backup")
	m, err := backup.WriteFile(ctx, archive, backup.Options{DataDir: dir, Version: "test"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSite(ctx, &store.Site{Name: "after"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %v, want 0600", fi.Mode().Perm())
	}
	if m.SchemaVersion < 1 || m.Driver != store.DriverSQLite || !m.Packages {
		t.Errorf("manifest %+v", m)
	}

	target := filepath.Join(t.TempDir(), "restored")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := backup.Restore(ctx, f, backup.RestoreOptions{DataDir: target}, storetest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"pki/ca.pem", "pki/ca-key.pem", "pki/server-key.pem", "pki/manifest-signing-key.pem",
		"pki/manifest-signing-pub.pem", "admin.json", "packages/1700000000/info"} {
		want, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(target, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s restored: %d bytes, %v; want the original %d bytes", rel, len(got), err, len(want))
		}
		if fi, err := os.Stat(filepath.Join(target, rel)); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s restored with mode %v, want 0600", rel, fi.Mode().Perm())
		}
	}
	// The restored PKI loads (keys and certificates match).
	if _, err := pki.Load(filepath.Join(target, "pki"), pki.Config{}, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Errorf("restored PKI: %v", err)
	}
	rs, err := store.Open(ctx, store.Config{}, target, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if got := siteNames(t, rs); len(got) != 1 || got[0] != "before" {
		t.Errorf("restored sites %q, want [before]", got)
	}

	// A second restore into the same directory needs -force.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, f, backup.RestoreOptions{DataDir: target}, storetest.Logger(t)); !errors.Is(err, backup.ErrExists) {
		t.Errorf("restore over a restored directory: %v, want ErrExists", err)
	}
	// And an existing archive is never overwritten.
	if _, err := backup.WriteFile(ctx, archive, backup.Options{DataDir: dir}, storetest.Logger(t)); !errors.Is(err, os.ErrExist) {
		t.Errorf("backup over an existing file: %v, want ErrExist", err)
	}
}

// TestRestoreRejectsBadArchives: an altered file, a member outside the
// data directory, and a file that is not an archive are refused before
// anything is written to the data directory.
func TestRestoreRejectsBadArchives(t *testing.T) {
	ctx := context.Background()
	dir, _ := dataDir(t)
	var buf bytes.Buffer
	if _, err := backup.Write(ctx, &buf, backup.Options{DataDir: dir, SkipPackages: true}, storetest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	members := readMembers(t, buf.Bytes())

	tests := []struct {
		name   string
		mutate func(map[string][]byte) map[string][]byte
	}{
		{name: "altered_key", mutate: func(m map[string][]byte) map[string][]byte {
			m["data/pki/ca-key.pem"] = append([]byte(nil), m["data/pki/ca-key.pem"]...)
			m["data/pki/ca-key.pem"][40] ^= 1
			return m
		}},
		{name: "traversal", mutate: func(m map[string][]byte) map[string][]byte {
			m["data/../../etc/evil"] = []byte("x")
			return m
		}},
		{name: "unlisted_file", mutate: func(m map[string][]byte) map[string][]byte {
			m["data/pki/extra.pem"] = []byte("x")
			return m
		}},
		{name: "missing_database", mutate: func(m map[string][]byte) map[string][]byte {
			delete(m, "db/shoal.db")
			return m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copied := map[string][]byte{}
			for k, v := range members {
				copied[k] = v
			}
			target := filepath.Join(t.TempDir(), "data")
			_, err := backup.Restore(ctx, bytes.NewReader(writeMembers(t, tt.mutate(copied))), backup.RestoreOptions{DataDir: target}, storetest.Logger(t))
			if !errors.Is(err, backup.ErrCorrupt) {
				t.Fatalf("restore: %v, want ErrCorrupt", err)
			}
			entries, _ := os.ReadDir(target)
			if len(entries) != 0 {
				t.Errorf("the refused restore left %d entries in the data directory", len(entries))
			}
		})
	}
	t.Run("not_an_archive", func(t *testing.T) {
		_, err := backup.Restore(ctx, bytes.NewReader([]byte("hello")), backup.RestoreOptions{DataDir: t.TempDir()}, storetest.Logger(t))
		if !errors.Is(err, backup.ErrCorrupt) {
			t.Fatalf("restore: %v, want ErrCorrupt", err)
		}
	})
}

func readMembers(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func writeMembers(t *testing.T, members map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	// The manifest last, as Write does.
	write := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range members {
		if name != "backup.json" {
			write(name, data)
		}
	}
	write("backup.json", members["backup.json"])
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBackupRestorePostgres: on PostgreSQL the archive holds the PKI, keys,
// admin credentials and packages but no database (pg_dump backs it up,
// TestPostgresDumpRestore), and restores into an empty data directory.
func TestBackupRestorePostgres(t *testing.T) {
	ctx := context.Background()
	dir, _ := dataDir(t)
	db := store.Config{Driver: store.DriverPostgres, DSN: storetest.PostgresDSN(t)}
	s, err := store.Open(ctx, db, "", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var buf bytes.Buffer
	m, err := backup.Write(ctx, &buf, backup.Options{DataDir: dir, Database: db}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Files["db/shoal.db"]; ok || m.Driver != store.DriverPostgres || m.SchemaVersion < 1 {
		t.Errorf("manifest %+v: want no database file, driver postgres, a schema version", m)
	}
	target := filepath.Join(t.TempDir(), "data")
	if _, err := backup.Restore(ctx, &buf, backup.RestoreOptions{DataDir: target, Database: db}, storetest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Load(filepath.Join(target, "pki"), pki.Config{}, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Errorf("restored PKI: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, store.DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a PostgreSQL restore wrote %s: %v", store.DBFile, err)
	}
}
