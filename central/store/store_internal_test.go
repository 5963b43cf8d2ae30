package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"
)

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{name: "empty", in: Config{}, want: Config{Driver: DriverSQLite, MaxOpenConns: defaultSQLiteReaders, Migrate: MigrateUp, IngestGroup: defaultIngestGroup}},
		{name: "postgres", in: Config{Driver: DriverPostgres, DSN: "x"}, want: Config{Driver: DriverPostgres, DSN: "x", MaxOpenConns: defaultPostgresConns, Migrate: MigrateUp, IngestGroup: 1}},
		{name: "kept", in: Config{Driver: DriverSQLite, DSN: "/a.db", MaxOpenConns: 2, Migrate: MigrateCheck, IngestGroup: 1}, want: Config{Driver: DriverSQLite, DSN: "/a.db", MaxOpenConns: 2, Migrate: MigrateCheck, IngestGroup: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.withDefaults()); diff != "" {
				t.Errorf("withDefaults (-want +got):\n%s", diff)
			}
			if err := tt.in.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestSQLiteURI(t *testing.T) {
	got := sqliteURI("/data dir/shoal.db", "_pragma=busy_timeout(10000)", "_txlock=immediate")
	want := "file:///data%20dir/shoal.db?_pragma=busy_timeout(10000)&_txlock=immediate"
	if got != want {
		t.Errorf("sqliteURI = %q, want %q", got, want)
	}
}

// TestReadNotBlockedByWrite holds a write transaction open and checks that a
// read through the read pool still answers (WAL with separate pools).
func TestReadNotBlockedByWrite(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreatePackage(t.Context(), &Package{ID: "1", Name: "one"}); err != nil {
		t.Fatalf("CreatePackage: %v", err)
	}
	tx := s.w.WithContext(t.Context()).Begin()
	if tx.Error != nil {
		t.Fatalf("begin: %v", tx.Error)
	}
	defer tx.Rollback()
	if err := tx.Create(&Package{ID: "2", Name: "two"}).Error; err != nil {
		t.Fatalf("insert in open tx: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	p, err := s.Package(ctx, "1")
	if err != nil {
		t.Fatalf("read during write: %v", err)
	}
	if p.Name != "one" {
		t.Errorf("read package name %q, want one", p.Name)
	}
	if _, err := s.Package(ctx, "2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("uncommitted package visible: err = %v, want ErrNotFound", err)
	}
}

func TestReadPoolIsQueryOnly(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	err = s.r.WithContext(t.Context()).Create(&Package{ID: "9", Name: "nine"}).Error
	if err == nil {
		t.Fatal("write through the read pool succeeded, want an error")
	}
}

func TestSQLitePragmas(t *testing.T) {
	s, err := Open(t.Context(), Config{}, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	pragma := func(db *gorm.DB, name string) string {
		t.Helper()
		var v string
		if err := db.WithContext(t.Context()).Raw("PRAGMA " + name).Scan(&v).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	tests := []struct {
		name   string
		db     *gorm.DB
		want   string
		reader bool
	}{
		{name: "journal_mode", db: s.w, want: "wal"},
		{name: "page_size", db: s.w, want: "16384"},
		{name: "synchronous", db: s.w, want: "1"},
		{name: "foreign_keys", db: s.w, want: "1"},
		{name: "temp_store", db: s.w, want: "2"},
		{name: "busy_timeout", db: s.w, want: "10000"},
		{name: "query_only", db: s.w, want: "0"},
		{name: "query_only", db: s.r, want: "1", reader: true},
		{name: "busy_timeout", db: s.r, want: "10000", reader: true},
	}
	for _, tt := range tests {
		sub := "writer-" + tt.name
		if tt.reader {
			sub = "reader-" + tt.name
		}
		t.Run(sub, func(t *testing.T) {
			if got := pragma(tt.db, tt.name); got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}
