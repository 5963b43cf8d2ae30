package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// earlyInstaller is an installer whose two halves can run apart: the
// unpack while the package downloads, the action once every fragment is
// checked. (install.Installer is one.)
type earlyInstaller interface {
	Unpack(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (*install.Outcome, error)
	Act(ctx context.Context, m *proto.Manifest, workDir string) (install.Outcome, error)
}

// earlyUnpack unpacks a package into its work directory while it
// downloads: an archive is read in order (a tar.gz from its start, a zip
// from its central directory at the end), each byte only once the
// fragment holding it is verified and stored, so the unpack follows the
// download and most of it is done when the last fragment arrives. At the
// default lab size the 40 agents of two branches unpacked 64 MiB each at
// the same moment after their downloads, 1.5–2.3 s each on two cores
// (docs/LAB.md). Nothing runs before the download is complete and every
// fragment checked: the action waits for wait.
type earlyUnpack struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	work   string
	inst   earlyInstaller
	log    *slog.Logger
	// Set before done is closed.
	outcome *install.Outcome
	err     error
	// consumed: wait returned the unpack's result; the install owns the
	// work directory from then on (runJob removes it after the action).
	consumed bool
}

// startEarlyUnpack starts unpacking man into work with inst while st's
// download runs.
func (m *Manager) startEarlyUnpack(ctx context.Context, inst earlyInstaller, man *proto.Manifest, st *fetch.Stats, work string) *earlyUnpack {
	ctx, cancel := context.WithCancelCause(ctx)
	e := &earlyUnpack{cancel: cancel, done: make(chan struct{}), work: work, inst: inst, log: m.log.With("package", man.PackageID)}
	payload := newGrowingPayload(ctx, m.deps.Store, man, st.StoredSignal())
	go func() {
		defer close(e.done)
		defer payload.Close()
		e.outcome, e.err = inst.Unpack(ctx, man, payload, work)
	}()
	return e
}

// wait returns the unpack's outcome: nil when the package is unpacked, a
// failure's outcome, or an error when ctx ended first.
func (e *earlyUnpack) wait(ctx context.Context) (*install.Outcome, error) {
	select {
	case <-e.done:
		e.consumed = true
		return e.outcome, e.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// stop abandons the unpack if it still runs (the download failed or the
// install will not run now) and removes the work directory, unless the
// install took the unpack's result. Calling it again is harmless.
func (e *earlyUnpack) stop() {
	e.cancel(errEarlyUnpackStopped)
	<-e.done
	if e.consumed {
		return
	}
	if err := os.RemoveAll(e.work); err != nil {
		// The next install empties the directory again.
		e.log.Warn("remove work dir", "err", err)
	}
}

var errEarlyUnpackStopped = errors.New("jobs: unpack stopped: the download did not complete")

// growingPayload reads a package whose fragments are still being fetched:
// ReadAt waits until every fragment it reads from is verified in the
// store, or ctx ends.
type growingPayload struct {
	ctx    context.Context
	store  *fragstore.Store
	frags  []proto.Fragment
	size   int64
	r      *fragstore.Reader
	stored <-chan struct{}
	ready  []atomic.Bool
}

func newGrowingPayload(ctx context.Context, store *fragstore.Store, man *proto.Manifest, stored <-chan struct{}) *growingPayload {
	return &growingPayload{ctx: ctx, store: store, frags: man.Fragments, size: man.Size, r: store.NewReader(man.Fragments, man.Size),
		stored: stored, ready: make([]atomic.Bool, len(man.Fragments))}
}

// ReadAt implements io.ReaderAt.
func (g *growingPayload) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= g.size {
		return g.r.ReadAt(p, off)
	}
	end := min(off+int64(len(p)), g.size)
	for i := sort.Search(len(g.frags), func(i int) bool { return g.frags[i].Offset+g.frags[i].Size > off }); i < len(g.frags) && g.frags[i].Offset < end; i++ {
		if err := g.await(i); err != nil {
			return 0, err
		}
	}
	return g.r.ReadAt(p, off)
}

// growingPoll bounds the wait between two looks at the store: a token of
// the stored signal may have gone to an earlier look.
const growingPoll = time.Second

// await waits until fragment i is verified in the store.
func (g *growingPayload) await(i int) error {
	if g.ready[i].Load() {
		return nil
	}
	f := g.frags[i]
	t := time.NewTimer(growingPoll)
	defer t.Stop()
	for {
		ok, err := g.store.Check(f.CID, f.Size)
		if err != nil {
			return fmt.Errorf("wait for fragment %d: %w", i, err)
		}
		if ok {
			g.ready[i].Store(true)
			return nil
		}
		select {
		case <-g.ctx.Done():
			return context.Cause(g.ctx)
		case <-g.stored:
		case <-t.C:
			t.Reset(growingPoll)
		}
	}
}

// Close releases the store reader.
func (g *growingPayload) Close() error { return g.r.Close() }
