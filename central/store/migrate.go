package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/shoal-project/shoal/internal/errkind"
)

// The schema is versioned with goose: every change is a numbered SQL file
// per dialect under migrations/ (see migrations/README.md). Version 1 is
// the schema gorm's AutoMigrate created before, so a database made by an
// older central is adopted (adoptLegacy) instead of created again.

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// versionTable is goose's bookkeeping table.
const versionTable = "goose_db_version"

// baselineVersion is the migration that holds the AutoMigrate-era schema.
const baselineVersion = 1

// Migration modes (Config.Migrate).
const (
	// MigrateUp applies pending migrations at start-up, one replica at a
	// time under the migration lock; the default.
	MigrateUp = "up"
	// MigrateCheck refuses to start while migrations are pending: an
	// operator runs "shoal-central migrate up" first.
	MigrateCheck = "check"
)

// ErrSchemaOutdated is returned by Open in MigrateCheck mode when the
// database lacks migrations this binary needs.
var ErrSchemaOutdated = errkind.New(errkind.Conflict, "database schema outdated: run 'shoal-central migrate up'")

// Migration is one schema migration and whether the database has it.
type Migration struct {
	Version   int64
	Name      string // file name, such as 00001_baseline.sql
	Applied   bool
	AppliedAt time.Time // zero unless Applied
}

// SchemaStatus is the database's schema version against this binary's
// migrations.
type SchemaStatus struct {
	// Current is the highest version applied to the database; Latest is
	// this binary's highest version. Current > Latest means a newer
	// central migrated the database (this one runs on it: migrations stay
	// compatible with the previous release).
	Current, Latest int64
	Migrations      []Migration
}

// Pending reports how many of this binary's migrations the database lacks.
func (st SchemaStatus) Pending() int {
	n := 0
	for _, m := range st.Migrations {
		if !m.Applied {
			n++
		}
	}
	return n
}

// migrationsFS returns the migration files of the store's dialect.
func (s *Store) migrationsFS() (fs.FS, goose.Dialect, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if s.driver == DriverPostgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	sub, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return nil, "", err
	}
	return sub, dialect, nil
}

// sqlDB returns the write pool's database handle (one connection on SQLite).
func (s *Store) sqlDB() (*sql.DB, error) { return s.w.DB() }

func (s *Store) provider() (*goose.Provider, error) {
	fsys, dialect, err := s.migrationsFS()
	if err != nil {
		return nil, err
	}
	db, err := s.sqlDB()
	if err != nil {
		return nil, err
	}
	// No goose locker: the store holds its own migration lock (lockSchema)
	// around adoption and the migrations together.
	return goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithTableName(versionTable))
}

// MigrateUp applies every pending migration under the migration lock and
// returns the versions it applied. Another replica migrating at the same
// time makes it wait.
func (s *Store) MigrateUp(ctx context.Context) ([]int64, error) {
	unlock, err := s.lockSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer unlock()
	if err := s.adoptLegacy(ctx); err != nil {
		return nil, fmt.Errorf("migrate: adopt: %w", err)
	}
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(ctx)
	var done []int64
	for _, r := range res {
		if r.Error != nil {
			continue
		}
		done = append(done, r.Source.Version)
		s.logger.Info("schema migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	if err != nil {
		return done, fmt.Errorf("migrate: %w", err)
	}
	return done, nil
}

// MigrationStatus returns the database's schema version and the state of
// each of this binary's migrations. A database made by gorm AutoMigrate
// (before versioned migrations) reports version 0 with every migration
// pending: MigrateUp adopts it.
func (s *Store) MigrationStatus(ctx context.Context) (SchemaStatus, error) {
	var st SchemaStatus
	has, err := s.hasTable(ctx, versionTable)
	if err != nil {
		return st, fmt.Errorf("migration status: %w", err)
	}
	p, err := s.provider()
	if err != nil {
		return st, fmt.Errorf("migration status: %w", err)
	}
	for _, src := range p.ListSources() {
		st.Latest = max(st.Latest, src.Version)
		st.Migrations = append(st.Migrations, Migration{Version: src.Version, Name: baseName(src.Path)})
	}
	if !has {
		// Asking goose would create its table; a status must not write.
		return st, nil
	}
	list, err := p.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("migration status: %w", err)
	}
	for i, m := range list {
		if m.State == goose.StateApplied && i < len(st.Migrations) {
			st.Migrations[i].Applied = true
			st.Migrations[i].AppliedAt = m.AppliedAt
		}
	}
	if st.Current, err = p.GetDBVersion(ctx); err != nil {
		return st, fmt.Errorf("migration status: %w", err)
	}
	return st, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// migrateOnOpen brings the schema up to date (MigrateUp) or checks that it
// is (MigrateCheck).
func (s *Store) migrateOnOpen(ctx context.Context, mode string) error {
	if mode == MigrateCheck {
		st, err := s.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		if n := st.Pending(); n > 0 {
			return fmt.Errorf("schema at version %d, this central needs %d (%d pending): %w", st.Current, st.Latest, n, ErrSchemaOutdated)
		}
		s.logNewer(st)
		return nil
	}
	if _, err := s.MigrateUp(ctx); err != nil {
		return err
	}
	st, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	s.logNewer(st)
	return nil
}

func (s *Store) logNewer(st SchemaStatus) {
	if st.Current > st.Latest {
		s.logger.Warn("database schema is newer than this central (a newer replica migrated it); running on it",
			"schema_version", st.Current, "known_version", st.Latest)
	}
}

// adoptLegacy turns a database that gorm AutoMigrate created (tables but
// no goose version, or goose's table with only version 0 after an
// interrupted adoption) into one at baselineVersion, keeping every row:
// it creates the tables, columns and indexes of the baseline that the
// database lacks (an older central's database misses the newer ones), then
// records the baseline as applied. A new, empty database is left to goose.
func (s *Store) adoptLegacy(ctx context.Context) error {
	stmts, err := s.baselineStatements()
	if err != nil {
		return err
	}
	hasTables, err := s.hasTable(ctx, "computers")
	if err != nil || !hasTables {
		return err
	}
	hasVersions, err := s.hasTable(ctx, versionTable)
	if err != nil {
		return err
	}
	db, err := s.sqlDB()
	if err != nil {
		return err
	}
	if hasVersions {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+versionTable+" WHERE version_id > 0").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
	s.logger.Info("adopting a database created by gorm AutoMigrate", "baseline_version", baselineVersion)
	for _, st := range stmts {
		todo, err := s.missingDDL(ctx, st)
		if err != nil {
			return err
		}
		for _, q := range todo {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", truncate(q, 120), err)
			}
			s.logger.Info("adoption: schema completed", "sql", truncate(q, 120))
		}
	}
	p, err := s.provider()
	if err != nil {
		return err
	}
	// GetDBVersion creates goose's table (with its version 0 row).
	if _, err := p.GetDBVersion(ctx); err != nil {
		return err
	}
	dialect := database.DialectSQLite3
	if s.driver == DriverPostgres {
		dialect = database.DialectPostgres
	}
	vs, err := database.NewStore(dialect, versionTable)
	if err != nil {
		return err
	}
	return vs.Insert(ctx, db, database.InsertRequest{Version: baselineVersion})
}

// baselineStatements returns the Up statements of the baseline migration,
// one per line in the file.
func (s *Store) baselineStatements() ([]string, error) {
	fsys, _, err := s.migrationsFS()
	if err != nil {
		return nil, err
	}
	b, err := fs.ReadFile(fsys, "00001_baseline.sql")
	if err != nil {
		return nil, err
	}
	text := string(b)
	up := strings.Index(text, "-- +goose Up")
	down := strings.Index(text, "-- +goose Down")
	if up < 0 || down < up {
		return nil, fmt.Errorf("baseline migration: no Up section: %w", ErrInvalid)
	}
	var out []string
	for _, line := range strings.Split(text[up:down], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "--") {
			continue
		}
		out = append(out, strings.TrimSuffix(line, ";"))
	}
	return out, nil
}

// missingDDL returns what the database lacks of one baseline statement: the
// statement itself for a missing table or index, ADD COLUMN statements for
// the columns a table lacks.
func (s *Store) missingDDL(ctx context.Context, stmt string) ([]string, error) {
	switch {
	case strings.HasPrefix(stmt, "CREATE TABLE "):
		table := quotedName(stmt[len("CREATE TABLE "):])
		has, err := s.hasTable(ctx, table)
		if err != nil || !has {
			return []string{stmt}, err
		}
		open, close := strings.IndexByte(stmt, '('), strings.LastIndexByte(stmt, ')')
		if open < 0 || close < open {
			return nil, fmt.Errorf("baseline: cannot parse %q: %w", truncate(stmt, 80), ErrInvalid)
		}
		var out []string
		for _, def := range splitTopLevel(stmt[open+1 : close]) {
			if strings.HasPrefix(def, "PRIMARY KEY") || strings.HasPrefix(def, "CONSTRAINT") {
				continue
			}
			col := quotedName(def)
			has, err := s.hasColumn(ctx, table, col)
			if err != nil {
				return nil, err
			}
			if !has {
				out = append(out, "ALTER TABLE "+quote(table)+" ADD COLUMN "+def)
			}
		}
		return out, nil
	case strings.HasPrefix(stmt, "CREATE INDEX "), strings.HasPrefix(stmt, "CREATE UNIQUE INDEX "):
		rest := stmt[strings.Index(stmt, "INDEX ")+len("INDEX "):]
		rest = strings.TrimPrefix(rest, "IF NOT EXISTS ")
		has, err := s.hasIndex(ctx, quotedName(rest))
		if err != nil || has {
			return nil, err
		}
		return []string{stmt}, nil
	}
	return nil, fmt.Errorf("baseline: unexpected statement %q: %w", truncate(stmt, 80), ErrInvalid)
}

// quotedName returns the identifier at the start of s, quoted with ` or ".
func quotedName(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	q := s[0]
	if q != '`' && q != '"' {
		if i := strings.IndexAny(s, " ("); i >= 0 {
			return s[:i]
		}
		return s
	}
	if i := strings.IndexByte(s[1:], q); i >= 0 {
		return s[1 : i+1]
	}
	return s[1:]
}

func quote(name string) string { return `"` + name + `"` }

// splitTopLevel splits a column list at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func (s *Store) hasTable(ctx context.Context, table string) (bool, error) {
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.driver == DriverPostgres {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	return s.exists(ctx, q, table)
}

func (s *Store) hasColumn(ctx context.Context, table, col string) (bool, error) {
	q := "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?"
	if s.driver == DriverPostgres {
		q = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
	}
	return s.exists(ctx, q, table, col)
}

func (s *Store) hasIndex(ctx context.Context, index string) (bool, error) {
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
	if s.driver == DriverPostgres {
		q = "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
	}
	return s.exists(ctx, q, index)
}

func (s *Store) exists(ctx context.Context, q string, args ...any) (bool, error) {
	db, err := s.sqlDB()
	if err != nil {
		return false, err
	}
	var n int
	if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}
