// Package store is central's database layer and the only package in Shoal that
// imports gorm.
//
// It owns central's own schema (computers and their inventory, packages,
// deployments with an event log, sites, API tokens and runtime settings) and
// exposes it through plain model structs and context-first methods that
// return the sentinel errors ErrNotFound, ErrConflict and ErrInvalid instead
// of gorm or driver errors.
//
// The store is persistence only, one file per entity (computers.go,
// inventory.go, deployments.go, agents.go, enrollment_tokens.go, …). The
// rules that decide what to write live in the services: the deployment
// state machine, result recorder, affectation (force) rule, history rule
// and notification in central/deploy, the duplicate rule
// and merge of computers in central/inventory. They compose the store's
// narrow methods in one transaction through Tx, whose *Store argument runs
// every method in that transaction; no gorm type leaves this package.
//
// # Backends
//
// The default backend is an embedded SQLite file (<dataDir>/shoal.db, mode
// 0600) opened through the pure-Go ncruces driver in WAL mode with
// synchronous=NORMAL, a 10 s busy timeout, foreign keys on, 16 KiB pages
// (set when the file is created), statement journals in memory and a 32 MiB
// writer page cache. A Store on SQLite holds two connection pools on the
// same file:
//
//   - the writer pool has exactly one connection, so every write transaction
//     is serialised in Go instead of fighting over SQLite's lock
//     (transactions start with BEGIN IMMEDIATE, the driver's default);
//   - the reader pool has Config.MaxOpenConns query-only connections whose
//     transactions are deferred, so in WAL mode reads never wait behind a
//     long write (an inventory ingest, a large affectation).
//
// PostgreSQL (Driver "postgres") uses one pool for both roles. All queries
// are written in SQL that both backends accept: no SQLite-only functions,
// case-insensitive matching through LOWER(column) LIKE a lower-cased pattern
// (SQLite folds ASCII letters only), CIDR matching done in Go, and upserts
// through ON CONFLICT.
//
// Child rows (software, networks, …) are written with multi-row INSERTs of
// 200 rows inside the ingest transaction. BenchmarkIngest measures about
// 100 first inventories of 900 software rows per second on the 2-core
// reference machine.
//
// # Schema
//
// The schema is versioned with goose (migrate.go): numbered SQL files per
// dialect under migrations/, embedded in the binary. Open applies pending
// ones under the migration lock (lock.go) unless Config.Migrate is
// "check"; version 1 is the schema gorm AutoMigrate created before, and a
// database from then is adopted. migrations/README.md says how to add one.
//
// # Concurrency
//
// Write transactions that may race on a unique key (inventory ingest of the
// same DEVICEID from two central instances on PostgreSQL) are retried a few
// times on ErrConflict, SQLITE_BUSY and PostgreSQL serialization failures.
// The site cache used by SiteForIP is owned by its mutex (siteCache.mu).
// Tx runs a function in one write transaction with a Store bound to it,
// so that a service composes the narrow methods into one atomic change.
package store
