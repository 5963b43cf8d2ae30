package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

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

// FetchRanges fetches and verifies fragment fr from central like FetchOne,
// in parts byte ranges in parallel (fewer for a small fragment), each on
// one of the WAN streams (StreamLimit). With a usable relay, one part, a
// central that does not serve ranges, or a failed range, it is FetchOne.
func (f *Fetcher) FetchRanges(ctx context.Context, pkg string, fr proto.Fragment, parts int, buf []byte, st *Stats) (*fragstore.Writer, error) {
	parts = min(parts, int(fr.Size/MinRange))
	wan := len(f.relays.usable(time.Now())) == 0
	var rs RangeSource
	if len(f.sources) > 0 {
		rs, _ = f.sources[0].(RangeSource)
	}
	if parts < 2 || !wan || rs == nil || f.noRanges.Load() {
		return f.fetchOneOf(ctx, wan, pkg, fr, buf, st)
	}
	w, err := f.fetchRanges(ctx, rs, pkg, fr, parts, st)
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

// fetchRanges reads fr in parts exact ranges into memory, each on a WAN
// stream, then writes it to the store and verifies it.
func (f *Fetcher) fetchRanges(ctx context.Context, src RangeSource, pkg string, fr proto.Fragment, parts int, st *Stats) (*fragstore.Writer, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.FragmentTimeout)
	defer cancel()
	data := make([]byte, fr.Size)
	counter := st.bytesOf(src.Kind())
	var got atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	step := (fr.Size + int64(parts) - 1) / int64(parts)
	for off := int64(0); off < fr.Size; off += step {
		end := min(off+step, fr.Size)
		g.Go(func() error {
			asked := time.Now()
			if err := f.streams.Acquire(gctx); err != nil {
				return err
			}
			defer f.streams.Release()
			slot := time.Now()
			rc, err := src.FetchRange(gctx, pkg, fr, off, end)
			if err != nil {
				return err
			}
			defer rc.Close()
			f.log.Debug("range answered", "package", pkg, "fragment", fr.Index, "from", off, "to", end,
				"stream_wait", slot.Sub(asked).Round(time.Millisecond), "answer", time.Since(slot).Round(time.Millisecond))
			p := data[off:end]
			n := 0
			for n < len(p) {
				m, rerr := rc.Read(p[n:min(len(p), n+burst)])
				if m > 0 {
					if f.limiter != nil {
						if err := f.limiter.WaitN(gctx, m); err != nil {
							return err
						}
					}
					n += m
					counter.Add(int64(m))
					f.streams.Add(int64(m))
					got.Add(int64(m))
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
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
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
