package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// Group commit of inventories.
//
// A first inventory writes ~900 software rows, and the (name_id) index
// puts almost every one of them on a different page: one inventory alone
// dirties hundreds of index pages, which its commit writes to the WAL
// (docs/BENCHMARKS.md). Concurrent inventories of a fleet share most of
// their names, so the same pages serve all of them: TxGrouped runs the
// functions queued behind the one in progress in one transaction, and the
// pages are written once per group.
//
// The rules:
//   - A caller returns only after the transaction holding its function
//     committed (or with its error): every acknowledged inventory is
//     stored.
//   - A function that fails rolls back its whole group (there are no
//     savepoints, see tryGroup) and is run again alone (as Tx with
//     conflict retries), where its error is its own; the rest of its group
//     runs again together. A group whose transaction fails as a whole (BEGIN
//     or COMMIT) has every function run again alone.
//   - No goroutine is started: the first caller to find the queue idle
//     leads, running one group (its own function first), then hands the
//     lead to the oldest waiting caller, so nobody waits for groups after
//     its own. A caller alone runs its function as Tx would.

// groupWait bounds a group's own statements (BEGIN, COMMIT); the
// functions' statements use their callers' contexts.
const groupWait = time.Minute

// grouper owns the queue of TxGrouped calls of one Store.
type grouper struct {
	max int

	mu    sync.Mutex // owns queue and busy
	queue []*groupReq
	// busy is true while a caller leads; the queue is empty when it is
	// false.
	busy bool

	// groups and grouped count the groups of two functions or more and
	// their functions (for tests and the debug log).
	groups, grouped atomic.Int64
}

// groupReq is one queued TxGrouped call.
type groupReq struct {
	ctx context.Context
	fn  func(tx *Store) error
	// done receives either lead (this caller now runs the next group) or
	// the call's outcome; it has room for one message, and a lead message
	// is consumed before the outcome is sent.
	done chan groupOutcome
}

type groupOutcome struct {
	lead bool
	// alone asks the caller to run its function again in a transaction of
	// its own.
	alone bool
	err   error
}

func newGrouper(max int) *grouper {
	if max <= 1 {
		return nil
	}
	return &grouper{max: max}
}

// TxGrouped runs fn in a write transaction like TxRetryConflicts, possibly
// together with other concurrent TxGrouped functions in one transaction
// (group commit, see above); it returns after that transaction committed.
// fn must not keep state across runs, as for Tx, and must use its own ctx
// for its statements. Inside a transaction, and when the store's
// ingest_group is 1, it is TxRetryConflicts.
func (s *Store) TxGrouped(ctx context.Context, fn func(tx *Store) error) error {
	g := s.group
	if s.inTx || g == nil {
		return s.txStore(ctx, true, fn)
	}
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan groupOutcome, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		if out := <-r.done; !out.lead {
			return s.finishGrouped(ctx, fn, out)
		}
	}
	s.leadGroup(g, r)
	return s.finishGrouped(ctx, fn, <-r.done)
}

// finishGrouped returns a TxGrouped call's outcome, running its function
// again alone when its group asks.
func (s *Store) finishGrouped(ctx context.Context, fn func(tx *Store) error, out groupOutcome) error {
	if out.alone {
		return s.txStore(ctx, true, fn)
	}
	return out.err
}

// leadGroup runs the group at the head of the queue (which starts with r),
// then hands the lead to the next waiting caller or marks the queue idle.
// The lead is kept for the whole transaction, a group of one included, so
// that the callers arriving meanwhile queue and form the next group.
func (s *Store) leadGroup(g *grouper, r *groupReq) {
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()
	if batch[0] != r {
		panic("store: group leader not at the head of the queue")
	}
	s.runGroup(g, batch)
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- groupOutcome{lead: true}
	} else {
		g.busy = false
		g.queue = nil
	}
	g.mu.Unlock()
}

// runGroup runs batch's functions in one transaction and sends each its
// outcome.
func (s *Store) runGroup(g *grouper, batch []*groupReq) {
	var live []*groupReq
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- groupOutcome{err: fmt.Errorf("write transaction: %w", err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) > 1 {
		g.groups.Add(1)
		g.grouped.Add(int64(len(live)))
	}
	for len(live) > 1 {
		failed, err := s.tryGroup(live)
		switch {
		case err == nil:
			return
		case failed < 0:
			s.logger.Warn("grouped write transaction failed; each write runs again alone", "writes", len(live), "err", err)
			for _, r := range live {
				r.done <- groupOutcome{alone: true}
			}
			return
		}
		s.logger.Debug("grouped write failed; it runs again alone, the rest of its group again together", "err", err)
		live[failed].done <- groupOutcome{alone: true}
		live = slices.Delete(live, failed, failed+1)
	}
	if len(live) == 1 {
		live[0].done <- groupOutcome{err: s.txStore(live[0].ctx, true, live[0].fn)}
	}
}

// tryGroup runs live's functions in one transaction, without savepoints,
// and on its commit answers every caller. When a function fails, the
// transaction is rolled back and tryGroup returns the function's index
// and error, answering nobody; when the transaction itself fails (BEGIN
// or COMMIT), it returns -1 and the error.
//
// A savepoint per function would let the others keep their work when one
// fails, but SQLite copies every page a function changes into the
// savepoint's journal first (16 KiB each, hundreds per first inventory:
// a fifth of the writer's time), and a failure is rare: the OCS and agent
// handlers refuse bad inventories before the store, and a canceled
// context interrupts and so ends the whole transaction anyway.
func (s *Store) tryGroup(live []*groupReq) (failed int, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), groupWait)
	defer cancel()
	failed = -1
	stores := make([]*Store, len(live))
	err = s.w.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		for i, r := range live {
			stores[i] = &Store{w: db, r: db, driver: s.driver, logger: s.logger, inTx: true, sites: s.sites, names: s.names, softwareGen: s.softwareGen}
			if err := runGuarded(r.fn, stores[i]); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	if err != nil {
		return failed, err
	}
	for i, r := range live {
		for _, f := range stores[i].onCommit {
			f()
		}
		r.done <- groupOutcome{}
	}
	return -1, nil
}

// GroupStats returns how many groups of two writes or more TxGrouped
// committed and how many writes they held.
func (s *Store) GroupStats() (groups, writes int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.groups.Load(), s.group.grouped.Load()
}

// runGuarded runs one grouped write and turns a panic into an error, so a
// write that panics rolls back its group and runs again alone
// in its own caller's goroutine (where it panics as it would ungrouped),
// and the leader still answers the rest of the group and hands on the
// lead instead of leaving every queued inventory waiting.
func runGuarded(fn func(tx *Store) error, tx *Store) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("grouped write panicked: %v", p)
		}
	}()
	return fn(tx)
}
