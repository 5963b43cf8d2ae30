//go:build unix

package store_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestSQLiteFilesPrivate opens the store under a permissive umask, writes,
// and checks that the database, its WAL (which holds recent rows in clear)
// and its shared-memory file are 0600 while the store is open; -wal and
// -shm files left 0644 by an older version are made 0600 at open.
func TestSQLiteFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o002) // The SQLite VFS creates files 0666 minus the umask.
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	ctx := t.Context()
	db := filepath.Join(dir, store.DBFile)
	check := func(state string) {
		t.Helper()
		for _, p := range []string{db, db + "-wal", db + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", state, err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", state, filepath.Base(p), got)
			}
		}
	}
	open := func(state string) {
		t.Helper()
		s, err := store.Open(ctx, store.Config{}, dir, storetest.Logger(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if _, err := inventory.Record(ctx, s, storetest.Snapshot("pc-"+state, 3)); err != nil {
			t.Fatalf("IngestInventory: %v", err)
		}
		check(state)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	open("new")
	for _, p := range []string{db + "-wal", db + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open("upgraded")
}
