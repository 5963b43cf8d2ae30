package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ncruces/go-sqlite3"
	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"

	"github.com/shoal-project/shoal/internal/errkind"
)

// Sentinel errors. Every error a Store method returns for one of these
// conditions wraps the matching sentinel.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "not found")
	ErrConflict = errkind.New(errkind.Conflict, "conflict")
	ErrInvalid  = errkind.New(errkind.Invalid, "invalid")
)

// DBFile is the SQLite file name inside the data directory.
const DBFile = "shoal.db"

const (
	sqliteBusyTimeoutMS = 10000
	batchSize           = 200
	// inChunk bounds the number of parameters of one IN (...) list; both
	// SQLite (32766) and PostgreSQL (65535) accept far more.
	inChunk         = 500
	maxWriteRetries = 5
	slowQuery       = 500 * time.Millisecond
)

// Store is central's database. It is safe for concurrent use.
type Store struct {
	// w is the write pool (one connection on SQLite); r is the read pool.
	// On PostgreSQL both point to the same *gorm.DB.
	w, r   *gorm.DB
	driver string
	logger *slog.Logger
	// path is the SQLite file (for the migration lock and backups); dsn
	// the PostgreSQL connection string (for the migration lock).
	path, dsn string

	// inTx marks a Store that Tx hands to its function: w and r are then
	// the transaction, and tx runs its function in it directly.
	inTx bool
	// sites is shared by a Store and the transaction Stores made from it.
	sites *siteCache
	// names is shared like sites (software.go).
	names *nameCache
	// softwareGen counts the committed inventories that changed a
	// computer's software (SoftwareGeneration); shared like sites.
	softwareGen *atomic.Int64
	// group queues TxGrouped calls (group.go); nil when ingest_group is 1
	// and in transaction Stores.
	group *grouper
	// onCommit runs after the transaction of a Store that Tx hands to its
	// function commits (only that goroutine touches it).
	onCommit []func()
	// prepared counts the statements the SQLite writer's connection
	// parsed (stmtcache.go); nil on PostgreSQL.
	prepared *atomic.Int64
	// stopCheckpointer stops the SQLite background checkpointer
	// (checkpoint.go); nil on PostgreSQL and in transaction Stores.
	stopCheckpointer func() error
}

// siteCache holds the site index that SiteForIP reads.
type siteCache struct {
	mu  sync.Mutex // owns idx
	idx *siteIndex
}

// Open opens (creating if needed) the database described by cfg and
// brings its schema up to date (cfg.Migrate): pending migrations run under
// the migration lock, so that replicas starting together migrate once. For
// SQLite the file is <dataDir>/shoal.db (mode 0600) unless cfg.DSN names
// another path.
func Open(ctx context.Context, cfg Config, dataDir string, logger *slog.Logger) (*Store, error) {
	s, err := OpenUnmigrated(ctx, cfg, dataDir, logger)
	if err != nil {
		return nil, err
	}
	if err := s.migrateOnOpen(ctx, cfg.withDefaults().Migrate); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.backfillSoftwareNames(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: number software rows: %w", err)
	}
	// A SQLite reader connection opened before a migration changed a
	// table fails its first query of that table (SQLITE_MISUSE): drop the
	// idle readers so that every read runs on a connection opened after.
	if s.r != nil && s.r != s.w {
		if rdb, err := s.r.DB(); err == nil {
			n := cfg.withDefaults().MaxOpenConns
			rdb.SetMaxIdleConns(0)
			rdb.SetMaxIdleConns(n)
		}
	}
	s.logger.Info("store open", "driver", s.driver)
	return s, nil
}

// OpenUnmigrated opens the database like Open but leaves its schema as it
// is, for "shoal-central migrate status|up" and backups.
func OpenUnmigrated(ctx context.Context, cfg Config, dataDir string, logger *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{driver: cfg.Driver, logger: logger.With("component", "store"), sites: &siteCache{}, names: newNameCache(), softwareGen: new(atomic.Int64),
		group: newGrouper(cfg.IngestGroup)}
	var err error
	switch cfg.Driver {
	case DriverSQLite:
		err = s.openSQLite(ctx, cfg, dataDir)
	case DriverPostgres:
		s.dsn = cfg.DSN
		err = s.openPostgres(ctx, cfg)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

func (s *Store) gormConfig() *gorm.Config {
	return &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// Cached prepared statements: SQLite parsing dominated small queries.
		PrepareStmt: true,
		// Relations are kept by the store's own transactions, so the schema
		// carries no foreign keys and tables migrate in any order.
		DisableForeignKeyConstraintWhenMigrating: true,
		NowFunc:                                  func() time.Time { return time.Now().UTC() },
		Logger:                                   &gormLog{logger: s.logger},
	}
}

func (s *Store) openSQLite(ctx context.Context, cfg Config, dataDir string) error {
	abs, err := cfg.SQLitePath(dataDir)
	if err != nil {
		return err
	}
	s.path = abs
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("sqlite dir: %w", err)
	}
	// Create the database and its -wal and -shm files ourselves so they
	// get mode 0600: the SQLite VFS creates files 0666 minus the umask
	// (0644 usually), and the WAL holds recent rows (token hashes,
	// inventory) in clear. An empty WAL or shm file is valid for SQLite.
	// The writer connection stays open, so SQLite does not delete and
	// recreate them while the store is open.
	if err := createPrivate(abs, abs+"-wal", abs+"-shm"); err != nil {
		return fmt.Errorf("sqlite file: %w", err)
	}

	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeoutMS)
	// temp_store(memory) keeps statement journals (one per multi-row
	// INSERT) off disk; a 32 MiB page cache keeps a whole inventory
	// transaction from spilling. The WAL is checkpointed every second by
	// a connection of its own (checkpoint.go), off the single writer's
	// time; the writer checkpoints itself, inside the commit that fills
	// the WAL, only past 16,000 pages (256 MiB), should that connection
	// fall behind. A checkpoint copies each page once however often the
	// WAL holds it: groups of first inventories rewrite the same (name_id)
	// index pages.
	writerDSN := sqliteURI(abs, busy, "_pragma=page_size(16384)", "_pragma=journal_mode(wal)", "_pragma=synchronous(normal)",
		"_pragma=foreign_keys(on)", "_pragma=temp_store(memory)", "_pragma=cache_size(-32768)",
		"_pragma=wal_autocheckpoint(16000)", "_txlock=immediate")
	readerDSN := sqliteURI(abs, busy, "_pragma=foreign_keys(on)", "_pragma=query_only(1)", "_pragma=cache_size(-8192)",
		"_pragma=mmap_size(268435456)", "_txlock=deferred")

	// The writer's connection keeps the statements it parsed (the ingest
	// runs in transactions, where gorm's statement cache does not reach).
	wconn, err := (&sqlitedriver.SQLite{}).OpenConnector(writerDSN)
	if err != nil {
		return fmt.Errorf("sqlite writer: %w", err)
	}
	s.prepared = new(atomic.Int64)
	wdb := sql.OpenDB(stmtCacheConnector{Connector: wconn, prepared: s.prepared})
	// The writer's first connection is made by pingWriter, which retries
	// the WAL switch, not by gorm.Open.
	wcfg := s.gormConfig()
	wcfg.DisableAutomaticPing = true
	s.w, err = gorm.Open(gormlite.OpenDB(wdb), wcfg)
	if err != nil {
		wdb.Close()
		return fmt.Errorf("sqlite writer: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The first connection switches the file to WAL before any reader opens.
	if err := pingWriter(ctx, wdb, sqliteBusyTimeoutMS*time.Millisecond); err != nil {
		wdb.Close()
		return fmt.Errorf("sqlite writer: %w", err)
	}
	// In case SQLite replaced a file between our creation and its open.
	if err := createPrivate(abs+"-wal", abs+"-shm"); err != nil {
		wdb.Close()
		return fmt.Errorf("sqlite file: %w", err)
	}

	s.r, err = gorm.Open(gormlite.Open(readerDSN), s.gormConfig())
	if err != nil {
		wdb.Close()
		return fmt.Errorf("sqlite reader: %w", err)
	}
	rdb, err := s.r.DB()
	if err != nil {
		wdb.Close()
		return fmt.Errorf("sqlite reader: %w", err)
	}
	rdb.SetMaxOpenConns(cfg.MaxOpenConns)
	rdb.SetMaxIdleConns(cfg.MaxOpenConns)
	rdb.SetConnMaxIdleTime(5 * time.Minute)
	s.stopCheckpointer, err = startCheckpointer(sqliteURI(abs, busy), s.logger)
	if err != nil {
		wdb.Close()
		return err
	}
	return nil
}

// openRetry is the pause between two attempts of pingWriter.
const openRetry = 20 * time.Millisecond

// pingWriter makes the writer's first connection, whose pragmas switch the
// file to WAL. Two centrals opening one new file at the same moment (the
// replicas of TestConcurrentOpenMigratesOnce) race there in two ways that
// SQLite reports at once, without waiting out busy_timeout:
//   - the switch reads the header, then upgrades to a write; the loser of
//     the upgrade gets SQLITE_BUSY (waiting while holding the read could
//     deadlock);
//   - a connection that finds a -wal file beside a database of 0 pages
//     deletes it (createPrivate made it empty); the second one to do so
//     gets SQLITE_IOERR_DELETE_NOENT.
//
// Both are transient: the connection is closed and opened again until it
// succeeds or wait has passed; by then the other central has switched the
// file and the new connection finds it in WAL.
func pingWriter(ctx context.Context, db *sql.DB, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := db.PingContext(ctx)
		if err == nil || time.Now().After(deadline) ||
			!errors.Is(err, sqlite3.BUSY) && !errors.Is(err, sqlite3.IOERR_DELETE_NOENT) {
			return err
		}
		t := time.NewTimer(openRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// createPrivate creates each file that does not exist with mode 0600 and
// sets an existing one (left by an older version) to 0600.
func createPrivate(paths ...string) error {
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		err = f.Chmod(0o600)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sqliteURI builds a file: URI for path with the given query parameters,
// escaping the path.
func sqliteURI(path string, params ...string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := ""
	for i, p := range params {
		if i > 0 {
			q += "&"
		}
		q += p
	}
	if q == "" {
		return u.String()
	}
	return u.String() + "?" + q
}

func (s *Store) openPostgres(ctx context.Context, cfg Config) error {
	db, err := gorm.Open(postgres.Open(cfg.DSN), s.gormConfig())
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	sdb, err := db.DB()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	sdb.SetMaxOpenConns(cfg.MaxOpenConns)
	sdb.SetMaxIdleConns(cfg.MaxOpenConns)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return fmt.Errorf("postgres: %w", err)
	}
	s.w, s.r = db, db
	return nil
}

// Driver returns the configured driver name.
func (s *Store) Driver() string { return s.driver }

// Close closes the connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.stopCheckpointer != nil {
		errs = append(errs, s.stopCheckpointer())
		s.stopCheckpointer = nil
	}
	if s.r != nil && s.r != s.w {
		if db, err := s.r.DB(); err == nil {
			errs = append(errs, db.Close())
		}
	}
	if s.w != nil {
		if db, err := s.w.DB(); err == nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Ping checks that both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	for _, g := range []*gorm.DB{s.w, s.r} {
		db, err := g.DB()
		if err != nil {
			return fmt.Errorf("ping store: %w", err)
		}
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping store: %w", err)
		}
	}
	return nil
}

// read returns the read pool bound to ctx.
func (s *Store) read(ctx context.Context) *gorm.DB { return s.r.WithContext(ctx) }

// write returns the write pool bound to ctx, for single statements.
func (s *Store) write(ctx context.Context) *gorm.DB { return s.w.WithContext(ctx) }

// tx runs fn in one write transaction, retrying busy and serialization
// failures (and conflicts when retryConflict is set). fn must use only the
// *gorm.DB it is given: on SQLite the write pool has one connection.
func (s *Store) tx(ctx context.Context, retryConflict bool, fn func(tx *gorm.DB) error) error {
	if s.inTx {
		return translate(fn(s.w.WithContext(ctx)))
	}
	for attempt := 1; ; attempt++ {
		err := translate(s.w.WithContext(ctx).Transaction(fn))
		if err == nil {
			return nil
		}
		if attempt >= maxWriteRetries || !retryable(err, retryConflict) || ctx.Err() != nil {
			return err
		}
		s.logger.Debug("retrying write transaction", "attempt", attempt, "err", err)
		t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// Tx runs fn in one write transaction with a Store whose methods all run
// in that transaction; fn's error rolls it back. Busy and serialization
// failures are retried, so fn may run more than once and must not keep
// state across runs. Inside fn, use only tx: on SQLite the write pool has
// one connection, and a method of the outer Store would wait for it. A Tx
// inside fn runs in the same transaction.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return s.txStore(ctx, false, fn)
}

// txStore runs fn in a transaction Store, then that Store's onCommit
// functions once it committed. Inside a transaction already, fn runs in it
// and the functions wait for the outer commit.
func (s *Store) txStore(ctx context.Context, retryConflict bool, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s)
	}
	var last *Store
	err := s.tx(ctx, retryConflict, func(db *gorm.DB) error {
		last = &Store{w: db, r: db, driver: s.driver, logger: s.logger, inTx: true, sites: s.sites, names: s.names, softwareGen: s.softwareGen}
		return fn(last)
	})
	if err == nil && last != nil {
		for _, f := range last.onCommit {
			f()
		}
	}
	return err
}

// TxRetryConflicts is Tx that also retries fn on ErrConflict, for writes
// that may race another writer on a unique key (two inventories of one new
// computer).
func (s *Store) TxRetryConflicts(ctx context.Context, fn func(tx *Store) error) error {
	return s.txStore(ctx, true, fn)
}

// translate maps gorm and driver errors onto the package sentinels. Errors
// that already carry a sentinel pass through.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInvalid):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		// Only the sentinel: gorm's "record not found" would reach API
		// answers as "not found: record not found".
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

func retryable(err error, conflict bool) bool {
	if conflict && errors.Is(err, ErrConflict) {
		return true
	}
	if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// gormLog routes gorm's logging into slog: slow statements at Warn, failed
// statements at Debug (the store returns the error to its caller, who logs
// it with context).
type gormLog struct {
	logger *slog.Logger
}

func (l *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l *gormLog) Info(ctx context.Context, msg string, args ...any) {
	l.logger.DebugContext(ctx, fmt.Sprintf(msg, args...))
}

func (l *gormLog) Warn(ctx context.Context, msg string, args ...any) {
	l.logger.WarnContext(ctx, fmt.Sprintf(msg, args...))
}

func (l *gormLog) Error(ctx context.Context, msg string, args ...any) {
	l.logger.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}

func (l *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		if l.logger.Enabled(ctx, slog.LevelDebug) {
			sql, rows := fc()
			l.logger.DebugContext(ctx, "sql failed", "sql", truncate(sql, 300), "rows", rows, "err", err)
		}
	case elapsed > slowQuery:
		sql, rows := fc()
		l.logger.WarnContext(ctx, "slow sql", "sql", truncate(sql, 300), "rows", rows, "elapsed", elapsed)
	}
}

// ParamsFilter keeps statement parameters out of log lines.
func (l *gormLog) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// chunks splits ids into slices of at most inChunk elements.
func chunks[T any](ids []T) [][]T {
	var out [][]T
	for len(ids) > inChunk {
		out = append(out, ids[:inChunk])
		ids = ids[inChunk:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// pageArgs applies the default and maximum page size.
func pageArgs(limit, offset int) (int, int, error) {
	if limit < 0 || offset < 0 {
		return 0, 0, fmt.Errorf("page limit %d offset %d: %w", limit, offset, ErrInvalid)
	}
	if limit == 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	return limit, offset, nil
}

// utc normalises a caller's timestamp so both backends store the same value.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

// CountRows returns the number of rows of every table, keyed by table name.
func (s *Store) CountRows(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64)
	db := s.read(ctx)
	for _, m := range allModels() {
		table := m.(interface{ TableName() string }).TableName()
		var n int64
		if err := db.Model(m).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("count rows %s: %w", table, translate(err))
		}
		out[table] = n
	}
	return out, nil
}
