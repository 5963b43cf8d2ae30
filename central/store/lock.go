package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	// The pgx database/sql driver, for the migration lock's own connection.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// lockPoll is how often a SQLite migration waits for the lock file.
const lockPoll = 100 * time.Millisecond

// lockSchema takes the migration lock and returns its release. Replicas
// that start together migrate one at a time: the others wait here, then
// find nothing left to do.
//
// On PostgreSQL it is a session advisory lock (pg_advisory_lock) keyed by
// the schema, held on a connection of its own so that the pool stays free
// for the migrations; PostgreSQL releases it if the process dies. On SQLite
// it is an exclusive flock on <database>.migrate-lock, which the kernel
// releases if the process dies.
func (s *Store) lockSchema(ctx context.Context) (func(), error) {
	if s.driver == DriverPostgres {
		return s.lockPostgres(ctx)
	}
	return lockFile(ctx, s.path+".migrate-lock", s.logger)
}

func (s *Store) lockPostgres(ctx context.Context) (func(), error) {
	db, err := sql.Open("pgx", s.dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	release := func() {
		// A fresh context: the caller's may be cancelled by now, and the
		// lock must not outlive the migration (closing the session would
		// release it too).
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, "SELECT pg_advisory_unlock(hashtext('shoal-migrate:' || current_schema()))"); err != nil {
			s.logger.Warn("release the migration lock", "err", err)
		}
		conn.Close()
		db.Close()
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext('shoal-migrate:' || current_schema()))").Scan(&got); err != nil {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("pg_try_advisory_lock: %w", err)
	}
	if got {
		return release, nil
	}
	s.logger.Info("waiting for another central to finish migrating the schema")
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('shoal-migrate:' || current_schema()))"); err != nil {
		conn.Close()
		db.Close()
		return nil, fmt.Errorf("pg_advisory_lock: %w", err)
	}
	return release, nil
}
