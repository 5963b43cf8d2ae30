package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// backend is one database kind of the migration tests: cfg opens a fresh,
// empty database through the store; legacy opens the same database with
// gorm as centrals before versioned migrations did.
type backend struct {
	name   string
	cfg    func(t *testing.T) (store.Config, string)
	legacy func(t *testing.T, cfg store.Config, dir string, lg gormlogger.Interface) *gorm.DB
}

func backends() []backend {
	return []backend{
		{
			name: "sqlite",
			cfg:  func(t *testing.T) (store.Config, string) { return store.Config{}, t.TempDir() },
			legacy: func(t *testing.T, _ store.Config, dir string, lg gormlogger.Interface) *gorm.DB {
				return openGorm(t, gormlite.Open("file:"+filepath.Join(dir, store.DBFile)), lg)
			},
		},
		{
			name: "postgres",
			cfg: func(t *testing.T) (store.Config, string) {
				return store.Config{Driver: store.DriverPostgres, DSN: storetest.PostgresDSN(t)}, ""
			},
			legacy: func(t *testing.T, cfg store.Config, _ string, lg gormlogger.Interface) *gorm.DB {
				return openGorm(t, postgres.Open(cfg.DSN), lg)
			},
		},
	}
}

func openGorm(t *testing.T, d gorm.Dialector, lg gormlogger.Interface) *gorm.DB {
	t.Helper()
	gc := store.LegacyGormConfig(slog.New(slog.DiscardHandler))
	if lg != nil {
		gc.Logger = lg
	}
	db, err := gorm.Open(d, gc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sdb, err := db.DB(); err == nil {
			sdb.Close()
		}
	})
	return db
}

// ddlLog records the DDL statements gorm runs.
type ddlLog struct {
	mu    sync.Mutex
	stmts []string
}

func (l *ddlLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }
func (l *ddlLog) Info(context.Context, string, ...any)             {}
func (l *ddlLog) Warn(context.Context, string, ...any)             {}
func (l *ddlLog) Error(context.Context, string, ...any)            {}
func (l *ddlLog) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	q, _ := fc()
	if u := strings.ToUpper(q); strings.HasPrefix(u, "CREATE") || strings.HasPrefix(u, "ALTER") {
		l.mu.Lock()
		l.stmts = append(l.stmts, q)
		l.mu.Unlock()
	}
}

// dbSchema is a database's tables, columns and indexes as the catalog
// describes them, in a form that compares across the two ways of creating
// them.
type dbSchema map[string]tableSchema

type tableSchema struct {
	Columns []string // "name type [NOT NULL] [DEFAULT x] [PK]", sorted
	Indexes []string // "name [UNIQUE] (cols)" or PostgreSQL's indexdef, sorted
}

func readSchema(t *testing.T, db *sql.DB, driver string) dbSchema {
	t.Helper()
	ctx := context.Background()
	out := dbSchema{}
	rowsOf := func(q string, args ...any) [][]sql.NullString {
		t.Helper()
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var res [][]sql.NullString
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			res = append(res, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return res
	}
	var tables [][]sql.NullString
	if driver == store.DriverPostgres {
		tables = rowsOf("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'")
	} else {
		tables = rowsOf("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('sqlite_sequence', 'goose_db_version')")
	}
	for _, tr := range tables {
		name := tr[0].String
		var ts tableSchema
		if driver == store.DriverPostgres {
			for _, c := range rowsOf(`SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1`, name) {
				ts.Columns = append(ts.Columns, colString(c[0].String, c[1].String, c[2].String == "NO", c[3], false))
			}
			for _, ix := range rowsOf("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", name) {
				def := strings.Replace(ix[1].String, " ON "+schemaName(t, db)+".", " ON ", 1)
				ts.Indexes = append(ts.Indexes, def)
			}
		} else {
			for _, c := range rowsOf(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`, name) {
				ts.Columns = append(ts.Columns, colString(c[0].String, c[1].String, c[2].String == "1", c[3], c[4].String != "0"))
			}
			for _, ix := range rowsOf(`SELECT il.name, il."unique", (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) ii) FROM pragma_index_list(?) il`, name) {
				u := ""
				if ix[1].String == "1" {
					u = " UNIQUE"
				}
				ts.Indexes = append(ts.Indexes, fmt.Sprintf("%s%s (%s)", ix[0].String, u, ix[2].String))
			}
		}
		sort.Strings(ts.Columns)
		sort.Strings(ts.Indexes)
		out[name] = ts
	}
	return out
}

func schemaName(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s string
	if err := db.QueryRow("SELECT current_schema()").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func colString(name, typ string, notNull bool, dflt sql.NullString, pk bool) string {
	s := name + " " + strings.ToLower(typ)
	if notNull {
		s += " NOT NULL"
	}
	if dflt.Valid {
		s += " DEFAULT " + dflt.String
	}
	if pk {
		s += " PK"
	}
	return s
}

func storeSchema(t *testing.T, s *store.Store) dbSchema {
	t.Helper()
	db, err := s.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	return readSchema(t, db, s.Driver())
}

func gormSchema(t *testing.T, g *gorm.DB, driver string) dbSchema {
	t.Helper()
	db, err := g.DB()
	if err != nil {
		t.Fatal(err)
	}
	return readSchema(t, db, driver)
}

// TestMigrationsMatchModels: the schema the goose migrations create equals,
// table by table, column by column (type, NOT NULL, default) and index by
// index, what gorm AutoMigrate makes of every model in allModels, on SQLite
// and PostgreSQL. A model or field added without its migration file fails
// here, and the message prints the DDL AutoMigrate runs for it, from which
// the new migration file is written (migrations/README.md).
func TestMigrationsMatchModels(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, dir := b.cfg(t)
			s, err := store.Open(ctx, cfg, dir, storetest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := storeSchema(t, s)

			cfg2, dir2 := b.cfg(t)
			g := b.legacy(t, cfg2, dir2, nil)
			if err := g.AutoMigrate(store.AllModels()...); err != nil {
				t.Fatal(err)
			}
			want := gormSchema(t, g, s.Driver())
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("schema of the migrations (+) differs from gorm AutoMigrate of allModels (-):\n%s", diff)
				// What AutoMigrate adds to the migrations' schema is
				// the body of the missing migration file.
				cfg3, dir3 := b.cfg(t)
				s3, err := store.Open(ctx, cfg3, dir3, storetest.Logger(t))
				if err != nil {
					t.Fatal(err)
				}
				s3.Close()
				missing := &ddlLog{}
				if err := b.legacy(t, cfg3, dir3, missing).AutoMigrate(store.AllModels()...); err != nil {
					t.Fatal(err)
				}
				t.Logf("gorm AutoMigrate adds this to the migrations' schema on %s; a new migration file (migrations/README.md) needs it:\n%s;",
					b.name, strings.Join(missing.stmts, ";\n"))
			}
		})
	}
}

// TestEveryModelColumnHasMigration: every column of every model in
// allModels exists after the migrations alone (the short form of
// TestMigrationsMatchModels, naming the model and field at fault).
func TestEveryModelColumnHasMigration(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		db, err := s.SQLDB()
		if err != nil {
			t.Fatal(err)
		}
		have := readSchema(t, db, s.Driver())
		cache := &sync.Map{}
		for _, m := range store.AllModels() {
			sch, err := schema.Parse(m, cache, schema.NamingStrategy{})
			if err != nil {
				t.Fatal(err)
			}
			ts, ok := have[sch.Table]
			if !ok {
				t.Errorf("model %s: table %s is created by no migration", sch.Name, sch.Table)
				continue
			}
			cols := map[string]bool{}
			for _, c := range ts.Columns {
				cols[strings.Fields(c)[0]] = true
			}
			for _, f := range sch.Fields {
				if f.DBName != "" && !cols[f.DBName] {
					t.Errorf("model %s field %s: column %s.%s is created by no migration", sch.Name, f.Name, sch.Table, f.DBName)
				}
			}
		}
	})
}

// TestAdoptAutoMigrateDatabase: a database that gorm AutoMigrate created
// (central before versioned migrations), with rows in it, opens through the
// migrations: every row is kept, the baseline is recorded as applied, the
// schema is the migrations' own, and the store reads and writes it.
func TestAdoptAutoMigrateDatabase(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, dir := b.cfg(t)
			g := b.legacy(t, cfg, dir, nil)
			legacySchema(t, g, b.name)
			now := time.Now().UTC().Truncate(time.Second)
			rows := []struct {
				v      any
				fields []string
			}{
				{&store.Computer{DeviceID: "pc-1", Name: "pc-1", OSName: "Debian", FirstSeen: now, LastContact: now},
					[]string{"DeviceID", "Name", "OSName", "FirstSeen", "LastContact"}},
				{&store.Package{ID: "1700000000", Name: "firefox", Active: true, SHA256: "ab"},
					[]string{"ID", "Name", "Active", "SHA256"}},
				{&store.Site{Name: "paris"}, []string{"Name"}},
			}
			for _, r := range rows {
				if err := g.Select(r.fields).Create(r.v).Error; err != nil {
					t.Fatal(err)
				}
			}
			dep := &store.Deployment{ComputerID: rows[0].v.(*store.Computer).ID, PackageID: "1700000000", State: store.StateWaiting}
			if err := g.Select("ComputerID", "PackageID", "State").Create(dep).Error; err != nil {
				t.Fatal(err)
			}
			if sdb, err := g.DB(); err == nil {
				sdb.Close()
			}

			s, err := store.Open(ctx, cfg, dir, storetest.Logger(t))
			if err != nil {
				t.Fatalf("open the AutoMigrate database: %v", err)
			}
			defer s.Close()
			st, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Current != st.Latest || st.Pending() != 0 || !st.Migrations[0].Applied {
				t.Errorf("status after adoption %+v: want every migration applied", st)
			}
			counts, err := s.CountRows(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int64{"computers": 1, "packages": 1, "sites": 1, "deployments": 1} {
				if counts[table] != want {
					t.Errorf("%s: %d rows after adoption, want %d", table, counts[table], want)
				}
			}
			c, err := s.ComputerByDeviceID(ctx, "pc-1")
			if err != nil || c.OSName != "Debian" {
				t.Errorf("computer after adoption %+v, %v", c, err)
			}
			if err := s.CreateSite(ctx, &store.Site{Name: "lyon"}); err != nil {
				t.Errorf("write after adoption: %v", err)
			}

			// The adopted schema is the one a new database gets.
			cfg2, dir2 := b.cfg(t)
			fresh, err := store.Open(ctx, cfg2, dir2, storetest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			if diff := cmp.Diff(storeSchema(t, fresh), storeSchema(t, s)); diff != "" {
				t.Errorf("adopted schema (+) differs from a new database's (-):\n%s", diff)
			}
			// Opening again changes nothing.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2, err := store.Open(ctx, cfg, dir, storetest.Logger(t))
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s2.Close()
			if n, _ := s2.CountRows(ctx); n["sites"] != 2 {
				t.Errorf("sites after reopen: %d, want 2", n["sites"])
			}
		})
	}
}

// TestConcurrentOpenMigratesOnce: replicas that start together on one new
// database all open it; the migration lock makes one of them migrate and
// the others wait, so each migration is recorded exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg, dir := b.cfg(t)
			const replicas = 4
			stores := make([]*store.Store, replicas)
			errs := make([]error, replicas)
			var wg sync.WaitGroup
			for i := range replicas {
				wg.Go(func() { stores[i], errs[i] = store.Open(ctx, cfg, dir, storetest.Logger(t)) })
			}
			wg.Wait()
			for i, s := range stores {
				if errs[i] != nil {
					t.Errorf("replica %d: %v", i, errs[i])
					continue
				}
				defer s.Close()
			}
			if t.Failed() {
				return
			}
			db, err := stores[0].SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			var n, dup int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) - COUNT(DISTINCT version_id) FROM goose_db_version").Scan(&dup); err != nil {
				t.Fatal(err)
			}
			st, err := stores[0].MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(st.Migrations) || dup != 0 {
				t.Errorf("goose_db_version holds %d applied versions (%d duplicates) for %d migrations", n, dup, len(st.Migrations))
			}
		})
	}
}

// TestConcurrentOpenNewSQLiteFile: centrals that open one new SQLite file
// at the same moment all succeed. Each writer connection switches the file
// to WAL, which on a new file is a read transaction upgraded to a write:
// SQLite answers the loser of that race SQLITE_BUSY at once, without its
// busy timeout (a deadlock guard), so Open retries it. Without the retry
// about one round in ten fails with "invalid _pragma: database is locked"
// (TestConcurrentOpenMigratesOnce hit it once in a loaded run).
func TestConcurrentOpenNewSQLiteFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rounds, replicas = 25, 6
	for round := range rounds {
		dir := t.TempDir()
		stores := make([]*store.Store, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() { stores[i], errs[i] = store.OpenUnmigrated(ctx, store.Config{}, dir, storetest.Logger(t)) })
		}
		wg.Wait()
		for i, s := range stores {
			if errs[i] != nil {
				t.Errorf("round %d, replica %d: %v", round, i, errs[i])
				continue
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("round %d, replica %d: ping: %v", round, i, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("round %d, replica %d: close: %v", round, i, err)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestMigrateCheckAndNewerSchema: in "check" mode a central refuses a
// database that lacks its migrations (ErrSchemaOutdated) and opens it once
// "migrate up" ran; a database that a newer central migrated further opens
// in both modes (migrations stay compatible with the previous release).
func TestMigrateCheckAndNewerSchema(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			cfg, dir := b.cfg(t)
			check := cfg
			check.Migrate = store.MigrateCheck
			if _, err := store.Open(ctx, check, dir, storetest.Logger(t)); !errors.Is(err, store.ErrSchemaOutdated) {
				t.Fatalf("check mode on an empty database: %v, want ErrSchemaOutdated", err)
			}
			s, err := store.OpenUnmigrated(ctx, cfg, dir, storetest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.MigrationStatus(ctx)
			if err != nil || st.Current != 0 || st.Pending() != len(st.Migrations) {
				t.Fatalf("status of an empty database %+v, %v", st, err)
			}
			done, err := s.MigrateUp(ctx)
			if err != nil || len(done) != len(st.Migrations) {
				t.Fatalf("migrate up: %v, %v", done, err)
			}
			if again, err := s.MigrateUp(ctx); err != nil || len(again) != 0 {
				t.Fatalf("second migrate up: %v, %v; want nothing to do", again, err)
			}
			db, err := s.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			ph := "?"
			if s.Driver() == store.DriverPostgres {
				ph = "$1"
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES ("+ph+", true)", st.Latest+100); err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, c := range []store.Config{check, cfg} {
				s, err := store.Open(ctx, c, dir, storetest.Logger(t))
				if err != nil {
					t.Fatalf("open a newer schema (migrate=%q): %v", c.Migrate, err)
				}
				st, err := s.MigrationStatus(ctx)
				if err != nil || st.Current != st.Latest+100 {
					t.Errorf("status %+v, %v; want current %d", st, err, st.Latest+100)
				}
				s.Close()
			}
		})
	}
}

// legacySchema creates on g the schema a central from before versioned
// migrations made with AutoMigrate: the baseline migration's statements,
// which are that AutoMigrate's DDL verbatim (later models are not in it).
func legacySchema(t *testing.T, g *gorm.DB, dialect string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("migrations", dialect, "00001_baseline.sql"))
	if err != nil {
		t.Fatal(err)
	}
	up, _, _ := strings.Cut(string(raw), "-- +goose Down")
	for _, line := range strings.Split(up, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		if err := g.Exec(line).Error; err != nil {
			t.Fatalf("baseline statement %q: %v", line, err)
		}
	}
}
