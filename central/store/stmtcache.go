package store

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"

	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
)

// maxCachedStmts bounds the idle prepared statements one SQLite connection
// keeps. gorm builds a new SQL text for every IN list length, so the
// cache must not grow with them; an ingest uses about 40 texts.
const maxCachedStmts = 256

// stmtCacheConnector opens SQLite connections that keep the statements
// they prepared. database/sql prepares a statement again in every
// transaction (a statement gorm cached while in a transaction belongs to
// that transaction, so the next one re-prepares it), and parsing an ingest's
// batched INSERTs of 200 rows was a seventh of its CPU: with this, a
// connection parses each SQL text once and hands the parsed statement out
// again once the previous user closed it.
type stmtCacheConnector struct {
	driver.Connector
	prepared *atomic.Int64 // statements SQLite parsed; for tests
}

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		return dc, nil
	}
	return &stmtCacheConn{sqliteConn: sc, free: make(map[string][]*cachedStmt), prepared: c.prepared}, nil
}

// sqliteConn is what the SQLite driver's connections implement and
// database/sql and the store use (Raw for backups).
type sqliteConn interface {
	sqlitedriver.Conn
	driver.ExecerContext
	driver.NamedValueChecker
}

// sqliteStmt is what the SQLite driver's statements implement, and their
// promoted Reset and ClearBindings, which make one reusable.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
	Reset() error
	ClearBindings() error
}

// stmtCacheConn is one SQLite connection with its idle statements. A
// statement is handed to one user at a time: Prepare takes it out of free
// and its Close puts it back.
type stmtCacheConn struct {
	sqliteConn
	prepared *atomic.Int64

	mu     sync.Mutex // owns free, idle and closed
	free   map[string][]*cachedStmt
	idle   int
	closed bool
}

func (c *stmtCacheConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *stmtCacheConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.mu.Lock()
	if l := c.free[query]; len(l) > 0 {
		s := l[len(l)-1]
		if len(l) == 1 {
			delete(c.free, query)
		} else {
			c.free[query] = l[:len(l)-1]
		}
		c.idle--
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.prepared != nil {
		c.prepared.Add(1)
	}
	st, ok := ds.(sqliteStmt)
	if !ok {
		return ds, nil
	}
	return &cachedStmt{sqliteStmt: st, conn: c, query: query}, nil
}

// Close closes the idle statements, then the connection.
func (c *stmtCacheConn) Close() error {
	c.mu.Lock()
	free := c.free
	c.free, c.idle, c.closed = nil, 0, true
	c.mu.Unlock()
	for _, l := range free {
		for _, s := range l {
			_ = s.sqliteStmt.Close()
		}
	}
	return c.sqliteConn.Close()
}

// put makes s idle again, or closes it when it cannot be reset or the
// cache is full.
func (c *stmtCacheConn) put(s *cachedStmt) error {
	if err := s.Reset(); err != nil {
		return s.sqliteStmt.Close()
	}
	if err := s.ClearBindings(); err != nil {
		return s.sqliteStmt.Close()
	}
	c.mu.Lock()
	if c.closed || c.idle >= maxCachedStmts {
		c.mu.Unlock()
		return s.sqliteStmt.Close()
	}
	c.free[s.query] = append(c.free[s.query], s)
	c.idle++
	c.mu.Unlock()
	return nil
}

// cachedStmt is a statement of a stmtCacheConn; closing it returns it to
// the connection.
type cachedStmt struct {
	sqliteStmt
	conn  *stmtCacheConn
	query string
}

func (s *cachedStmt) Close() error { return s.conn.put(s) }
