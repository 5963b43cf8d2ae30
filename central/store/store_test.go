package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestOpenSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := store.Open(ctx, store.Config{}, dir, storetest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	res, err := inventory.Record(ctx, s, storetest.Snapshot("pc-2026-01-01-00-00-00", 3))
	if err != nil {
		t.Fatalf("IngestInventory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	fi, err := os.Stat(filepath.Join(dir, store.DBFile))
	if err != nil {
		t.Fatalf("stat db: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db mode = %v, want 0600", got)
	}

	s, err = store.Open(ctx, store.Config{}, dir, storetest.Logger(t))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	c, err := s.ComputerByDeviceID(ctx, "pc-2026-01-01-00-00-00")
	if err != nil {
		t.Fatalf("ComputerByDeviceID after reopen: %v", err)
	}
	if c.ID != res.ComputerID {
		t.Errorf("computer ID after reopen = %d, want %d", c.ID, res.ComputerID)
	}
}

func TestOpenSQLiteDSNOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub dir", "other.db")
	s, err := store.Open(t.Context(), store.Config{DSN: path}, "", storetest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("db file not created at %s: %v", path, err)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		dir  string
	}{
		{name: "unknown-driver", cfg: store.Config{Driver: "mysql"}, dir: t.TempDir()},
		{name: "postgres-without-dsn", cfg: store.Config{Driver: store.DriverPostgres}},
		{name: "sqlite-memory", cfg: store.Config{DSN: ":memory:"}},
		{name: "sqlite-uri", cfg: store.Config{DSN: "file:x.db?mode=memory"}},
		{name: "negative-pool", cfg: store.Config{MaxOpenConns: -1}, dir: t.TempDir()},
		{name: "no-data-dir", cfg: store.Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(t.Context(), tt.cfg, tt.dir, storetest.Logger(t))
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want error")
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Open error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCountRows(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		if _, err := inventory.Record(t.Context(), s, storetest.Snapshot("pc-2026-01-01-00-00-00", 7)); err != nil {
			t.Fatalf("IngestInventory: %v", err)
		}
		got, err := s.CountRows(t.Context())
		if err != nil {
			t.Fatalf("CountRows: %v", err)
		}
		want := map[string]int64{"computers": 1, "softwares": 7, "cpus": 2, "networks": 2, "bios": 1, "packages": 0}
		for table, n := range want {
			if got[table] != n {
				t.Errorf("CountRows[%s] = %d, want %d", table, got[table], n)
			}
		}
	})
}
