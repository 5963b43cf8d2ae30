package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestEnrollmentTokenKindMigration: a database from before token kinds
// (its token table without the kind, site_id and relay_name columns, made
// by gorm AutoMigrate before versioned migrations) opens, the adoption
// adds the missing columns, its first read of the table works (no reader connection from
// before the migration is used), and its tokens become agent tokens: they
// never enroll a relay.
func TestEnrollmentTokenKindMigration(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{}, dir, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Name: "old", Hash: hexHash("old")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ALTER TABLE enrollment_tokens DROP COLUMN kind",
		"ALTER TABLE enrollment_tokens DROP COLUMN site_id",
		"ALTER TABLE enrollment_tokens DROP COLUMN relay_name",
		"DROP TABLE goose_db_version",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dropLaterTables(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, store.Config{}, dir, storetest.Logger(t))
	if err != nil {
		t.Fatalf("open the old database: %v", err)
	}
	defer s.Close()
	toks, err := s.ListEnrollmentTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Kind != store.TokenKindAgent || toks[0].SiteID != nil {
		t.Fatalf("tokens after migration %+v, %v; want one agent token", toks, err)
	}
	site := &store.Site{Name: "branch"}
	if err := s.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	err = s.EnrollRelay(ctx, hexHash("old"), &store.Relay{Name: "r1", SiteID: site.ID, PeerID: "p1", SecretHash: hexHash("s1")}, toks[0].CreatedAt)
	if err == nil {
		t.Error("an old (agent) token enrolled a relay")
	}
}

// dropLaterTables drops from a SQLite database the tables and columns that
// migrations after the baseline add, so that it looks like one from before
// versioned migrations.
func dropLaterTables(t *testing.T, db *sql.DB) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	create := regexp.MustCompile("(?m)^CREATE TABLE `([a-z_0-9]+)`")
	index := regexp.MustCompile("(?m)^CREATE (?:UNIQUE )?INDEX `([a-z_0-9]+)`")
	addColumn := regexp.MustCompile("(?m)^ALTER TABLE `([a-z_0-9]+)` ADD (?:COLUMN )?`([a-z_0-9]+)`")
	dropped := map[string]bool{} // a later file may add columns to a table an earlier one created
	var raws []string
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "00001_") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, string(raw))
	}
	// Every later index goes first: a later file may index a column an
	// earlier one added (00010 indexes softwares.name_id of 00003).
	for _, raw := range raws {
		for _, m := range index.FindAllStringSubmatch(raw, -1) {
			if _, err := db.Exec("DROP INDEX IF EXISTS " + m[1]); err != nil {
				t.Fatalf("drop index %s: %v", m[1], err)
			}
		}
	}
	for _, raw := range raws {
		for _, m := range create.FindAllStringSubmatch(string(raw), -1) {
			if _, err := db.Exec("DROP TABLE " + m[1]); err != nil {
				t.Fatalf("drop %s: %v", m[1], err)
			}
			dropped[m[1]] = true
		}
		for _, m := range addColumn.FindAllStringSubmatch(string(raw), -1) {
			if dropped[m[1]] {
				continue
			}
			if _, err := db.Exec("ALTER TABLE " + m[1] + " DROP COLUMN " + m[2]); err != nil {
				t.Fatalf("drop %s.%s: %v", m[1], m[2], err)
			}
		}
	}
}
