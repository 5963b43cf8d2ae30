package store

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Config selects and tunes the database.
type Config struct {
	// Driver is DriverSQLite (the default) or DriverPostgres.
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string. For SQLite it optionally
	// overrides the database file path (default <dataDir>/shoal.db); it is a
	// plain path, not a URI.
	DSN string `yaml:"dsn"`
	// MaxOpenConns is the PostgreSQL pool size, or the SQLite read pool size
	// (SQLite always has exactly one writer connection).
	MaxOpenConns int `yaml:"max_open_conns"`
	// Migrate is what start-up does with pending schema migrations:
	// MigrateUp ("up", the default) applies them under the migration lock;
	// MigrateCheck ("check") refuses to start until an operator has run
	// "shoal-central migrate up".
	Migrate string `yaml:"migrate"`
	// IngestGroup is the most inventories committed in one transaction
	// (group commit, group.go): inventories that arrive while one is being
	// written are written together (a failed one rolls its group back and
	// runs again alone). 1 writes each alone. The default is 8 on SQLite
	// (one writer: a group writes the pages its inventories share once)
	// and 1 on PostgreSQL, whose concurrent transactions measured faster
	// than groups (docs/BENCHMARKS.md).
	IngestGroup int `yaml:"ingest_group"`
}

// Defaults.
const (
	defaultSQLiteReaders = 4
	defaultPostgresConns = 16
	defaultIngestGroup   = 8
	maxIngestGroup       = 64
)

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Driver == "" {
		c.Driver = DriverSQLite
	}
	if c.Migrate == "" {
		c.Migrate = MigrateUp
	}
	if c.IngestGroup == 0 {
		c.IngestGroup = defaultIngestGroup
		if c.Driver == DriverPostgres {
			c.IngestGroup = 1
		}
	}
	if c.MaxOpenConns == 0 {
		switch c.Driver {
		case DriverPostgres:
			c.MaxOpenConns = defaultPostgresConns
		default:
			c.MaxOpenConns = defaultSQLiteReaders
		}
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate reports whether c (after defaults) can be used.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch c.Driver {
	case DriverSQLite:
		if strings.HasPrefix(c.DSN, "file:") || strings.Contains(c.DSN, ":memory:") {
			return fmt.Errorf("store config: sqlite dsn must be a file path: %w", ErrInvalid)
		}
	case DriverPostgres:
		if c.DSN == "" {
			return fmt.Errorf("store config: postgres needs a dsn: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("store config: unknown driver %q: %w", c.Driver, ErrInvalid)
	}
	if c.Migrate != MigrateUp && c.Migrate != MigrateCheck {
		return fmt.Errorf("store config: migrate %q: want %q or %q: %w", c.Migrate, MigrateUp, MigrateCheck, ErrInvalid)
	}
	if c.IngestGroup < 0 || c.IngestGroup > maxIngestGroup {
		return fmt.Errorf("store config: ingest_group %d: want 1 to %d: %w", c.IngestGroup, maxIngestGroup, ErrInvalid)
	}
	if c.MaxOpenConns < 0 {
		return fmt.Errorf("store config: max_open_conns %d is negative: %w", c.MaxOpenConns, ErrInvalid)
	}
	return nil
}

// SQLitePath returns the absolute path of the SQLite database: DSN, or
// <dataDir>/shoal.db.
func (c Config) SQLitePath(dataDir string) (string, error) {
	path := c.DSN
	if path == "" {
		if dataDir == "" {
			return "", fmt.Errorf("sqlite: no data directory: %w", ErrInvalid)
		}
		path = filepath.Join(dataDir, DBFile)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite path: %w", err)
	}
	return abs, nil
}
