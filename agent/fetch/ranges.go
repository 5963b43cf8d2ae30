package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// A fragment in byte ranges. On a long lossy uplink one TCP stream moves a
// fixed rate whatever the link (about 1.8 Mbit/s at 80 ms and 1 % loss with
// Reno or CUBIC), so a WAN owner's last 1 MiB fragments crawl on one
// stream each for 5 s and more while the uplink idles. FetchRanges asks
// central for a fragment in exact byte ranges, each on its own connection
// and WAN stream: nothing is cut, nothing crosses the WAN twice, and the
// whole fragment is verified against its CID before it is stored.

// ErrNoRanges is wrapped by a RangeSource's error when the source answered
// a Range request with something else than that range (a central without
// ranges): the fetcher stops asking it for ranges.
var ErrNoRanges = errors.New("fetch: source does not serve byte ranges")

// MinRange is the smallest byte range FetchRanges asks for: below it a
// connection's start costs more than the parallelism saves.
const MinRange = 64 << 10

// RangeSource is a Source that also serves part of a fragment.
type RangeSource interface {
	Source
	// FetchRange opens bytes [off, end) of fragment f of package pkg; an
	// answer other than that range gives an error wrapping ErrNoRanges.
	FetchRange(ctx context.Context, pkg string, f proto.Fragment, off, end int64) (io.ReadCloser, error)
}

// Ranges is one fragment's fetch from central in exact byte ranges
// (Fetcher.FetchGrowing). The fragment is cut into chunks; each worker, on
// one WAN stream, asks central for the next chunk nobody asked for yet
// until none is left. Grow adds workers while the fetch runs: a WAN owner
// whose other fragments are done and that has nothing else queued puts its
// free streams on the chunks still unasked, instead of leaving its last
// fragment to crawl on the streams it started with. Nothing is cut: a
// worker never abandons a range it asked for, so no byte crosses the WAN
// twice. A Ranges serves one fetch.
type Ranges struct {
	parts int   // workers to start with
	most  int   // workers it may grow to, at most one per chunk
	chunk int64 // bytes per chunk; the last one may be shorter
	size  int64
	more  chan struct{} // a token per worker Grow added

	chunks int64
	next   atomic.Int64 // chunks claimed by workers
	grown  atomic.Int64 // workers added by Grow
}

// NewRanges plans the fetch of a fragment of size bytes that starts with
// parts workers and may grow to most. With most == parts the fragment is
// cut into parts equal ranges, one per worker, as before ranges could
// grow; with more, into 2 × most chunks, so that workers added late still
// find chunks to ask for. No chunk is under MinRange (a fragment under
// 2 × MinRange is one chunk: fetched whole).
func NewRanges(size int64, parts, most int) *Ranges {
	parts = max(1, parts)
	most = max(parts, most)
	n := int64(parts)
	if most > parts {
		n = int64(2 * most)
	}
	n = max(1, min(n, size/MinRange))
	chunk := max(1, (size+n-1)/n)
	chunks := (size + chunk - 1) / chunk
	most = int(min(int64(most), chunks))
	parts = min(parts, max(1, most))
	return &Ranges{parts: parts, most: most, chunk: chunk, size: size, chunks: chunks, more: make(chan struct{}, max(1, most))}
}

// Room returns how many workers Grow can still usefully add: chunks nobody
// asked for yet, within the plan's most workers.
func (r *Ranges) Room() int {
	return int(max(0, min(r.chunks-r.next.Load(), int64(r.most-r.parts)-r.grown.Load())))
}

// Grow asks for n more workers (within Room); it reports how many it
// took. A worker that finds no chunk left ends at once; the caller counts
// the streams it lent until the fetch returns.
func (r *Ranges) Grow(n int) int {
	n = min(n, r.Room())
	took := 0
	defer func() { r.grown.Add(int64(took)) }()
	for range n {
		select {
		case r.more <- struct{}{}:
			took++
		default:
			return took
		}
	}
	return took
}

// claim returns the next chunk [off, end), or false when every chunk is
// claimed.
func (r *Ranges) claim() (off, end int64, ok bool) {
	k := r.next.Add(1) - 1
	if k >= r.chunks {
		return 0, 0, false
	}
	off = k * r.chunk
	return off, min(off+r.chunk, r.size), true
}

// FetchRanges fetches and verifies fragment fr from central like FetchOne,
// in parts byte ranges in parallel (fewer for a small fragment), each on
// one of the WAN streams (StreamLimit). With a usable relay, one part, a
// central that does not serve ranges, or a failed range, it is FetchOne.
func (f *Fetcher) FetchRanges(ctx context.Context, pkg string, fr proto.Fragment, parts int, buf []byte, st *Stats) (*fragstore.Writer, error) {
	return f.FetchGrowing(ctx, pkg, fr, NewRanges(fr.Size, parts, parts), buf, st)
}

// FetchGrowing is FetchRanges with the plan rg (made for fr.Size), whose
// workers may grow while it runs (Ranges.Grow). A plan that can never have
// two workers (a fragment under 2 × MinRange, most 1) fetches the fragment
// whole.
func (f *Fetcher) FetchGrowing(ctx context.Context, pkg string, fr proto.Fragment, rg *Ranges, buf []byte, st *Stats) (*fragstore.Writer, error) {
	wan := len(f.relays.usable(time.Now())) == 0
	var rs RangeSource
	if len(f.sources) > 0 {
		rs, _ = f.sources[0].(RangeSource)
	}
	if rg.most < 2 || rg.size != fr.Size || !wan || rs == nil || f.noRanges.Load() {
		return f.fetchOneOf(ctx, wan, pkg, fr, buf, st)
	}
	w, err := f.fetchRanges(ctx, rs, pkg, fr, rg, st)
	switch {
	case err == nil:
		return w, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, syscall.ENOSPC):
		return nil, err
	case errors.Is(err, ErrNoRanges):
		f.noRanges.Store(true)
	}
	st.sourceFailed(rs, err)
	if IsBadData(err) {
		st.BadFragments.Add(1)
	} else {
		st.FailedRequests.Add(1)
	}
	f.log.Warn("fragment in ranges failed; fetching it whole", "package", pkg, "fragment", fr.Index, "source", Name(rs), "err", err)
	return f.fetchOneOf(ctx, wan, pkg, fr, buf, st)
}

// fetchRanges reads fr in the exact ranges of rg into memory, each worker
// on a WAN stream, then writes it to the store and verifies it. Workers
// asked for by rg.Grow start while chunks are left; the first error ends
// the fetch.
func (f *Fetcher) fetchRanges(ctx context.Context, src RangeSource, pkg string, fr proto.Fragment, rg *Ranges, st *Stats) (*fragstore.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.FragmentTimeout)
	defer cancel()
	data := make([]byte, fr.Size)
	counter := st.bytesOf(src.Kind())
	results := make(chan error)
	work := func() {
		err := func() error {
			if err := f.streams.Acquire(ctx); err != nil {
				return err
			}
			defer f.streams.Release()
			for {
				off, end, ok := rg.claim()
				if !ok {
					return nil
				}
				if err := f.readRange(ctx, src, pkg, fr, off, end, data[off:end], counter); err != nil {
					return err
				}
			}
		}()
		results <- err
	}
	running := 0
	for range rg.parts {
		running++
		go work()
	}
	var first error
	for running > 0 {
		select {
		case err := <-results:
			running--
			if err != nil && first == nil {
				first = err
				cancel()
			}
		case <-rg.more:
			if first == nil && rg.next.Load() < rg.chunks {
				running++
				go work()
			}
		}
	}
	if first != nil {
		return nil, first
	}
	w, err := f.store.Create(fr.CID, fr.Size)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Verify(); err != nil {
		return nil, err
	}
	return w, nil
}

// readRange reads bytes [off, end) of fr from src into p, counting them.
func (f *Fetcher) readRange(ctx context.Context, src RangeSource, pkg string, fr proto.Fragment, off, end int64, p []byte, counter *atomic.Int64) error {
	rc, err := src.FetchRange(ctx, pkg, fr, off, end)
	if err != nil {
		return err
	}
	defer rc.Close()
	n := 0
	for n < len(p) {
		m, rerr := rc.Read(p[n:min(len(p), n+burst)])
		if m > 0 {
			if f.limiter != nil {
				if err := f.limiter.WaitN(ctx, m); err != nil {
					return err
				}
			}
			n += m
			counter.Add(int64(m))
			f.streams.Add(int64(m))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read fragment %s range %d-%d: %w", fr.CID, off, end, rerr)
		}
	}
	if n < len(p) {
		return fmt.Errorf("fragment %s range %d-%d: %d bytes: %w", fr.CID, off, end, n, fragstore.ErrSize)
	}
	// One byte more than the range reveals an overlong answer.
	var one [1]byte
	if m, _ := io.ReadFull(rc, one[:]); m > 0 {
		return fmt.Errorf("fragment %s range %d-%d: more bytes than asked: %w", fr.CID, off, end, fragstore.ErrSize)
	}
	return nil
}
