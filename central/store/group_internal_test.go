package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shoal-project/shoal/internal/testwait"
)

// groupCall is one TxGrouped call of a test: it stores setting key, and
// fails the way fail says on the runs it chooses.
type groupCall struct {
	key  string
	fail func(tx *Store, run int) error
	ctx  context.Context

	runs atomic.Int32
	err  error
}

func (c *groupCall) fn(ctx context.Context) func(tx *Store) error {
	return func(tx *Store) error {
		run := int(c.runs.Add(1))
		if err := tx.PutSetting(ctx, c.key, run); err != nil {
			return err
		}
		if c.fail != nil {
			return c.fail(tx, run)
		}
		return nil
	}
}

// runGrouped makes the calls queue, in order, behind a leader that waits
// until all of them are queued, so that they form one group, and returns
// when every call returned.
func runGrouped(t *testing.T, s *Store, calls []*groupCall) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := s.TxGrouped(t.Context(), func(tx *Store) error {
			<-release
			return tx.PutSetting(t.Context(), "leader", 1)
		})
		if err != nil {
			t.Errorf("leader: %v", err)
		}
	}()
	waitFor(t, "the leader running", func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return s.group.busy && len(s.group.queue) == 0
	})
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := c.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			c.err = s.TxGrouped(ctx, c.fn(ctx))
		}()
		waitFor(t, c.key+" queued", func() bool {
			s.group.mu.Lock()
			defer s.group.mu.Unlock()
			return len(s.group.queue) == i+1
		})
	}
	close(release)
	wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

func openGrouped(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{IngestGroup: 8}, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// setting returns the stored run number of key, or 0 when key is not set.
func setting(t *testing.T, s *Store, key string) int {
	t.Helper()
	var run int
	found, err := s.GetSetting(t.Context(), key, &run)
	if err != nil {
		t.Fatalf("GetSetting(%s): %v", key, err)
	}
	if !found {
		return 0
	}
	return run
}

func TestTxGroupedCommitsQueuedWritesTogether(t *testing.T) {
	s := openGrouped(t)
	var calls []*groupCall
	for i := range 5 {
		calls = append(calls, &groupCall{key: fmt.Sprintf("k%d", i)})
	}
	runGrouped(t, s, calls)
	for _, c := range calls {
		if c.err != nil {
			t.Errorf("%s: %v", c.key, c.err)
		}
		if got := setting(t, s, c.key); got != 1 || c.runs.Load() != 1 {
			t.Errorf("%s: stored run %d after %d runs, want run 1 of 1", c.key, got, c.runs.Load())
		}
	}
	if groups, writes := s.GroupStats(); groups != 1 || writes != 5 {
		t.Errorf("GroupStats = %d groups, %d writes; want 1 group of 5", groups, writes)
	}
	if setting(t, s, "leader") != 1 {
		t.Errorf("the leader's write is missing")
	}
}

// TestTxGroupedFailureRollsBackAlone: a write that fails in a group rolls
// the group back and runs again alone, where its error is its own; the
// rest of the group runs again together and commits.
func TestTxGroupedFailureRollsBackAlone(t *testing.T) {
	s := openGrouped(t)
	errFirst := errors.New("first run fails")
	calls := []*groupCall{
		{key: "ok1"},
		{key: "flaky", fail: func(_ *Store, run int) error {
			if run == 1 {
				return errFirst
			}
			return nil
		}},
		{key: "bad", fail: func(*Store, int) error { return fmt.Errorf("always: %w", ErrInvalid) }},
		{key: "ok2"},
	}
	runGrouped(t, s, calls)
	want := map[string]struct {
		stored, runs int
		err          error
	}{
		// ok1 ran in the group that flaky failed, in the one that bad
		// failed, then in the one that committed; ok2, after bad, only
		// in the last.
		"ok1":   {stored: 3, runs: 3},
		"flaky": {stored: 2, runs: 2},
		"bad":   {stored: 0, runs: 2, err: ErrInvalid},
		"ok2":   {stored: 1, runs: 1},
	}
	for _, c := range calls {
		w := want[c.key]
		if !errors.Is(c.err, w.err) || (w.err == nil) != (c.err == nil) {
			t.Errorf("%s: err = %v, want %v", c.key, c.err, w.err)
		}
		if got := setting(t, s, c.key); got != w.stored || int(c.runs.Load()) != w.runs {
			t.Errorf("%s: stored run %d after %d runs, want %d after %d", c.key, got, c.runs.Load(), w.stored, w.runs)
		}
	}
	if groups, writes := s.GroupStats(); groups != 1 || writes != 4 {
		t.Errorf("GroupStats = %d groups, %d writes; want 1 group of 4", groups, writes)
	}
}

// TestTxGroupedLostTransactionRunsEachAlone: when a write ends the group's
// transaction itself, it runs again alone, the rest of its group runs
// again, and each write is stored once.
func TestTxGroupedLostTransactionRunsEachAlone(t *testing.T) {
	s := openGrouped(t)
	calls := []*groupCall{
		{key: "a"},
		{key: "killer", fail: func(tx *Store, run int) error {
			if run > 1 {
				return nil
			}
			if err := execRaw(t.Context(), tx.w, "ROLLBACK"); err != nil {
				t.Errorf("ROLLBACK: %v", err)
				return err
			}
			return errors.New("transaction ended")
		}},
		{key: "c"},
	}
	runGrouped(t, s, calls)
	// c never ran in the group: it came after the write that ended it.
	wantRuns := map[string]int{"a": 2, "killer": 2, "c": 1}
	for _, c := range calls {
		if c.err != nil {
			t.Errorf("%s: %v", c.key, c.err)
		}
		if got, want := setting(t, s, c.key), wantRuns[c.key]; got != want || int(c.runs.Load()) != want {
			t.Errorf("%s: stored run %d after %d runs, want run %d of %d", c.key, got, c.runs.Load(), want, want)
		}
	}
	// The store still writes normally afterwards.
	if err := s.TxGrouped(t.Context(), func(tx *Store) error { return tx.PutSetting(t.Context(), "after", 1) }); err != nil {
		t.Fatalf("write after the lost group: %v", err)
	}
	if setting(t, s, "after") != 1 {
		t.Errorf("write after the lost group not stored")
	}
}

// TestTxGroupedCanceledWhileQueued: a caller whose context ends while it
// waits gets the context's error, and nothing of it is written.
func TestTxGroupedCanceledWhileQueued(t *testing.T) {
	s := openGrouped(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []*groupCall{{key: "gone", ctx: ctx}, {key: "kept"}}
	runGrouped(t, s, calls)
	if !errors.Is(calls[0].err, context.Canceled) || calls[0].runs.Load() != 0 || setting(t, s, "gone") != 0 {
		t.Errorf("canceled call: err = %v, %d runs, stored %d; want context.Canceled, nothing run or stored",
			calls[0].err, calls[0].runs.Load(), setting(t, s, "gone"))
	}
	if calls[1].err != nil || setting(t, s, "kept") != 1 {
		t.Errorf("kept: err = %v, stored %d", calls[1].err, setting(t, s, "kept"))
	}
}

// TestTxGroupedConcurrent runs many writers at once (go test -race): each
// is stored exactly once, and some of them were grouped.
func TestTxGroupedConcurrent(t *testing.T) {
	s := openGrouped(t)
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.TxGrouped(t.Context(), func(tx *Store) error {
				return tx.PutSetting(t.Context(), fmt.Sprintf("w%d", i), i)
			})
			if err != nil {
				t.Errorf("w%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		var v int
		if found, err := s.GetSetting(t.Context(), fmt.Sprintf("w%d", i), &v); err != nil || !found || v != i {
			t.Errorf("w%d: found %v, value %d, err %v", i, found, v, err)
		}
	}
	groups, writes := s.GroupStats()
	t.Logf("%d writes in %d groups of two or more (%d writes)", n, groups, writes)
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	if s.group.busy || len(s.group.queue) != 0 {
		t.Errorf("queue not idle after the writes: busy %v, %d queued", s.group.busy, len(s.group.queue))
	}
}

// TestRunGuardedTurnsPanicIntoError: a grouped write that panics becomes
// a failed write of its group (which rolls the group back and runs again
// alone by its caller), not a panic in the leader that would leave the
// group and the writes queued behind it waiting.
func TestRunGuardedTurnsPanicIntoError(t *testing.T) {
	var calls atomic.Int64
	err := runGuarded(func(*Store) error { calls.Add(1); panic("boom") }, nil)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("runGuarded = %v, want the panic as an error", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("write ran %d times, want 1", calls.Load())
	}
}

// execRaw runs sql on db's transaction, unprepared, with its error.
func execRaw(ctx context.Context, db *gorm.DB, sql string) error {
	pool := db.Statement.ConnPool
	if p, ok := pool.(*gorm.PreparedStmtTX); ok {
		pool = p.Tx
	}
	_, err := pool.ExecContext(ctx, sql)
	return err
}
