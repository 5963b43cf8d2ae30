package store

import (
	"context"
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3/driver"
)

// BackupSQLite writes a consistent copy of the SQLite database to path
// (created with mode 0600, which must not exist) with SQLite's online
// backup API. It copies on a reader connection in one step, so the copy
// is one snapshot while central goes on writing. On PostgreSQL it returns
// ErrInvalid: back up with pg_dump (docs/OPERATIONS.md).
func (s *Store) BackupSQLite(ctx context.Context, path string) error {
	if s.driver != DriverSQLite {
		return fmt.Errorf("backup: the %s database is backed up with its own tools: %w", s.driver, ErrInvalid)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := s.r.DB()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("connection %T is not go-sqlite3's: %w", dc, ErrInvalid)
		}
		return c.Raw().Backup("main", sqliteURI(path))
	})
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("backup %s: %w", path, err)
	}
	return nil
}
