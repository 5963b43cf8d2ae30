package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
)

// checkpointEvery is how often the background checkpointer copies the
// WAL's new frames into the database file.
const checkpointEvery = time.Second

// checkpointTimeout bounds one checkpoint.
const checkpointTimeout = 30 * time.Second

// startCheckpointer checkpoints the SQLite WAL from a connection of its
// own, every checkpointEvery, PASSIVE (it never waits for the writer or
// the readers). The writer's own automatic checkpoint ran inside the
// commit that filled the WAL, on the single writer's time, through which
// every inventory passes; it stays as a safety net at a larger size.
// stop ends the goroutine and closes the connection.
func startCheckpointer(dsn string, log *slog.Logger) (stop func() error, err error) {
	conn, err := (&sqlitedriver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite checkpointer: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, checkpointTimeout)
			var busy, frames, copied int
			err := db.QueryRowContext(cctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
			ccancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("wal checkpoint failed", "err", err)
			}
		}
	}()
	return func() error {
		cancel()
		<-done
		if err := db.Close(); err != nil {
			return fmt.Errorf("sqlite checkpointer: %w", err)
		}
		return nil
	}, nil
}
