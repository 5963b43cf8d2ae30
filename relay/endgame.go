package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// The upstream endgame. On a lossy long uplink one TCP stream moves a
// fixed rate whatever the link (1.6 Mbit/s at 80 ms and 1 % loss with
// Reno), so a 1 MiB fragment takes 5 s on its stream; at the end of a
// package fewer fragments remain than there are streams and the last ones
// crawl on fewer and fewer streams while the uplink idles. So a stream
// that finds nothing queued (a free slot of r.fetches with no waiter)
// takes the second half of the largest range still to come of a fragment
// being fetched and fetches it with an HTTP Range request; the stream it
// was taken from stops where the half starts. The owner of the fetch
// writes its own range to the store file as it comes, then the others in
// order from their buffers (taken together at most the fragment's size),
// and verifies the whole fragment's CID before it is stored: nothing
// unverified is stored or served. Any failed range, and a fragment that
// does not verify once ranges were in it, makes the owner fetch the whole
// fragment again in one piece. At the other end, a fragment whose fetch
// starts while slots are free and nobody waits (the first of a package)
// is fetched in exact ranges, one per free slot (spareSlots, fetchExact):
// no response is cut there.

const (
	// minRange is the smallest byte range handed to an idle stream: below
	// it a new connection's start costs more than the split saves.
	minRange = 64 << 10
	// lendDelay is how long a freed slot stays free before it is lent to
	// the endgame, so that the caller that fetches the next fragment (a
	// prefetch worker whose fetch just ended) takes it first.
	lendDelay = 100 * time.Millisecond
	// minSplitWait is how long the rest of a range must take at its
	// stream's rate to be split: a fast stream's tail is over before a new
	// connection would bring anything, and every split cuts a response
	// whose rest, in flight and in central's unsent buffer (bounded by its
	// TCP_NOTSENT_LOWAT), is sent for nothing. With 3 s the last fragment
	// of a package on a lossy Reno uplink (one stream moves ~1.8 Mbit/s)
	// kept up to 675 KB on one stream: the uplink idled for the last 2–3 s
	// (86–87 % used in the idle lab's shoal-both). With 1 s that tail is
	// at most a second; the cascade that once made 1 s cost 1.2–1.36·S
	// (splitting ranges that had not started) is what stallWait stops.
	minSplitWait = time.Second
	// stallWait is how long a range that moved nothing yet waits before
	// it counts as slow (see chunk.slow).
	stallWait = time.Second
)

// errAbandoned stops a range whose fragment's fetch failed or ended.
var errAbandoned = errors.New("relay: fragment fetch abandoned")

// endgame tracks the fragment fetches under way whose ranges idle streams
// may take.
type endgame struct {
	mu         sync.Mutex
	assemblies map[string]*assembly // CID -> fetch under way
	noRanges   atomic.Bool          // upstream answered a Range with the whole body
	ranges     atomic.Int64         // ranges fetched (tests, logs)
	// cuts counts the responses a split cut short: what upstream had
	// sent beyond the cut (in flight, in the relay's unread receive
	// queue) crossed the WAN for nothing (/metrics, the lab).
	cuts atomic.Int64
	// retrying says a lend is scheduled for when a young range can be
	// judged (Relay.lendAgain).
	retrying atomic.Bool
}

// assembly is one fragment fetch split into ranges.
type assembly struct {
	pkg string
	f   proto.Fragment

	mu     sync.Mutex // guards the chunks' positions and failed
	chunks []*chunk   // ordered by start; chunks[0] is the owner's
	failed bool       // the owner gave up or a range failed: no more splits
}

// chunk is one range [start, end) of a fragment, read up to pos. A chunk
// that is split ends where the new one starts. The owner's chunk (start 0)
// goes straight to the store; the others fill buf, which holds the bytes
// from bufStart.
type chunk struct {
	start, end, pos int64
	t0              time.Time // when the chunk's fetch started
	buf             []byte
	bufStart        int64
	done            chan struct{} // closed when the chunk is read or failed
	err             error         // set before done is closed
}

// rangesOff reports whether byte ranges are not to be used: the upstream
// ignores them, or a WAN cap is on. Under a cap the limiter, not the
// streams, sets the rate, and a response cut at a split would leave its
// rest in the socket buffers the slow reader keeps full: sent for nothing.
func (r *Relay) rangesOff() bool {
	return r.endgame.noRanges.Load() || r.wan.current() > 0
}

// register makes a fetch of f available to idle streams; the owner's chunk
// covers the whole fragment.
func (g *endgame) register(pkg string, f proto.Fragment) *assembly {
	a := &assembly{pkg: pkg, f: f, chunks: []*chunk{{end: f.Size, t0: time.Now(), done: make(chan struct{})}}}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.assemblies == nil {
		g.assemblies = map[string]*assembly{}
	}
	g.assemblies[f.CID] = a
	return a
}

func (g *endgame) unregister(a *assembly) {
	a.mu.Lock()
	a.failed = true
	a.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.assemblies[a.f.CID] == a {
		delete(g.assemblies, a.f.CID)
	}
}

// split takes the second half of the largest range still to come, if it
// is worth a stream (at least minRange). When it takes nothing but a range
// worth splitting is too young to be judged (see chunk.slow), it returns
// how long until the youngest such range can be.
func (g *endgame) split() (*assembly, *chunk, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var (
		ba    *assembly
		bc    *chunk
		best  int64
		now   = time.Now()
		retry time.Duration
	)
	for _, a := range g.assemblies {
		a.mu.Lock()
		if !a.failed {
			for _, c := range a.chunks {
				left := c.end - c.pos
				if c.err != nil || left < 2*minRange {
					continue
				}
				if age := now.Sub(c.t0); age < stallWait && (retry == 0 || stallWait-age < retry) {
					retry = stallWait - age
				}
				if left > best && c.slow(left, now) {
					ba, bc, best = a, c, left
				}
			}
		}
		a.mu.Unlock()
	}
	if ba == nil {
		return nil, nil, retry
	}
	ba.mu.Lock()
	defer ba.mu.Unlock()
	if ba.failed || bc.end-bc.pos < 2*minRange { // Moved on meanwhile.
		return nil, nil, 0
	}
	at := bc.pos + (bc.end-bc.pos)/2
	nc := &chunk{start: at, end: bc.end, pos: at, bufStart: at, t0: time.Now(), done: make(chan struct{})}
	if bc.buf != nil {
		nc.buf = bc.buf[at-bc.bufStart : bc.end-bc.bufStart]
	} else {
		nc.buf = make([]byte, bc.end-at)
	}
	bc.end = at
	g.cuts.Add(1)
	for i, c := range ba.chunks {
		if c == bc {
			ba.chunks = append(ba.chunks[:i+1], append([]*chunk{nc}, ba.chunks[i+1:]...)...)
			break
		}
	}
	return ba, nc, 0
}

// slow reports whether the left bytes of c take longer than minSplitWait
// at the rate c moved so far: splitting a fast stream saves little and its
// cut response wastes what the upstream had buffered. A chunk that moved
// nothing yet has no rate: it counts as slow only once it has moved
// nothing for stallWait (a lost SYN, a retransmission timeout); a chunk
// that moved bytes is judged by its rate only once it has run for
// stallWait too, since a rate taken during TCP's slow start understates
// the stream (with minSplitWait at 1 s and no such age, an 8 MiB package
// on the lab test's clean 50 Mbit/s link cost 1.28–1.35·S). Before
// that, splitting it would cut a response that has barely started, and
// one lend pass with many free slots would halve the new halves again at
// once, each cut wasting what the upstream had in flight (an 8 MiB
// package once cost 1.28·S on a 50 Mbit/s link in the lab test). Called
// with the assembly's lock held.
func (c *chunk) slow(left int64, now time.Time) bool {
	el := now.Sub(c.t0).Seconds()
	if el < stallWait.Seconds() {
		return false
	}
	got := float64(c.pos - c.start)
	if got <= 0 {
		return true
	}
	return float64(left)/(got/el) > minSplitWait.Seconds()
}

// next returns the chunk that starts at off, once it exists.
func (a *assembly) next(off int64) *chunk {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.chunks {
		if c.start == off {
			return c
		}
	}
	return nil
}

// read reads body into c up to its end (which a split may lower), into
// dst when dst is not nil (the owner's chunk), else into c.buf. It
// returns the bytes taken; a body that ends early is io.ErrUnexpectedEOF.
func (a *assembly) read(c *chunk, body io.Reader, dst io.Writer) (int64, error) {
	var (
		tmp  [32 << 10]byte
		took int64
	)
	for {
		a.mu.Lock()
		left, abandoned := c.end-c.pos, a.failed && dst == nil
		a.mu.Unlock()
		if abandoned {
			return took, errAbandoned
		}
		if left <= 0 {
			return took, nil
		}
		var p []byte
		if dst != nil {
			p = tmp[:min(int64(len(tmp)), left)]
		} else {
			p = c.buf[c.pos-c.bufStart : c.pos-c.bufStart+min(int64(len(tmp)), left)]
		}
		n, err := body.Read(p)
		a.mu.Lock()
		n = int(min(int64(n), c.end-c.pos)) // A split meanwhile: the rest is another's.
		a.mu.Unlock()
		if n > 0 && dst != nil {
			if _, werr := dst.Write(p[:n]); werr != nil {
				return took, werr
			}
		}
		a.mu.Lock()
		c.pos += int64(n)
		a.mu.Unlock()
		took += int64(n)
		if err == io.EOF {
			a.mu.Lock()
			short := c.pos < c.end
			a.mu.Unlock()
			if short {
				return took, io.ErrUnexpectedEOF
			}
			return took, nil
		}
		if err != nil {
			return took, err
		}
	}
}

// finish marks c read (err nil) or failed.
func (a *assembly) finish(c *chunk, err error) {
	a.mu.Lock()
	c.err = err
	if err != nil {
		a.failed = true
	}
	a.mu.Unlock()
	close(c.done)
}

// lendLater lends the slots still free after lendDelay to the endgame.
func (r *Relay) lendLater() {
	time.AfterFunc(lendDelay, r.lend)
}

// lendAgain lends the free slots again after d, when a range too young to
// be judged by lend can be; one such retry is pending at a time.
func (r *Relay) lendAgain(d time.Duration) {
	if !r.endgame.retrying.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(d, func() {
		r.endgame.retrying.Store(false)
		r.lend()
	})
}

// lend starts a range fetch on every free slot while some fetch under way
// has a range worth splitting.
func (r *Relay) lend() {
	if r.rangesOff() {
		return
	}
	for {
		r.flightsMu.Lock()
		if r.stopped || r.life.Err() != nil {
			r.flightsMu.Unlock()
			return
		}
		if !r.fetches.TryAcquire() {
			r.flightsMu.Unlock()
			return
		}
		a, c, retry := r.endgame.split()
		if a == nil {
			r.flightsMu.Unlock()
			r.fetches.Release()
			if retry > 0 {
				r.lendAgain(retry)
			}
			return
		}
		r.flights.Add(1)
		r.flightsMu.Unlock()
		go func() {
			defer r.flights.Done()
			err := r.fetchRange(r.life, a, c)
			a.finish(c, err)
			r.fetches.Release()
			if err == nil {
				r.lend() // Another half, or a new fragment's waiter first.
			}
		}()
	}
}

// fetchRange fetches chunk c of a's fragment with a Range request.
func (r *Relay) fetchRange(ctx context.Context, a *assembly, c *chunk) error {
	r.endgame.ranges.Add(1)
	a.mu.Lock()
	first, last := c.start, c.end-1
	a.mu.Unlock()
	path := proto.FragmentPath(a.pkg, a.f.CID)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.cfg.Upstream, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("fetch range of %s: %w", a.f.CID, err)
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch range of %s: %w: %w", a.f.CID, ErrUpstream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		if resp.StatusCode == http.StatusOK {
			r.endgame.noRanges.Store(true)
			r.log.Warn("upstream ignores byte ranges; no endgame splits", "upstream", r.cfg.Upstream)
		}
		return fmt.Errorf("fetch range of %s: status %d: %w", a.f.CID, resp.StatusCode, ErrUpstream)
	}
	if cr := resp.Header.Get("Content-Range"); !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-", first)) {
		return fmt.Errorf("fetch range of %s: Content-Range %q for bytes %d-%d: %w", a.f.CID, cr, first, last, ErrUpstream)
	}
	got, err := a.read(c, r.wan.reader(ctx, &goodputReader{r: resp.Body, s: r.fetches}), nil)
	r.stats.upstream(a.pkg, got)
	if err != nil {
		return fmt.Errorf("fetch range of %s: %w: %w", a.f.CID, ErrUpstream, err)
	}
	return nil
}

// fetchSplit is fetchOnce for a fragment whose ranges idle streams may
// take: the owner streams the first range from resp into w, then writes
// the others in order and verifies. split reports whether other ranges
// were in it.
func (r *Relay) fetchSplit(ctx context.Context, pkg string, f proto.Fragment, body io.Reader, w *fragstore.Writer) (split bool, err error) {
	a := r.endgame.register(pkg, f)
	defer r.endgame.unregister(a)
	own := a.chunks[0]
	got, err := a.read(own, r.wan.reader(ctx, &goodputReader{r: body, s: r.fetches}), w)
	r.stats.upstream(pkg, got)
	a.mu.Lock()
	whole := own.end == f.Size
	a.mu.Unlock()
	if whole {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // Short: Verify says so, as for any fetch.
		} else if err == nil {
			// More than the fragment is corrupt, as for any fetch.
			var one [1]byte
			if n, _ := io.ReadFull(body, one[:]); n > 0 {
				_, err = w.Write(one[:])
			}
		}
	}
	a.finish(own, err)
	if err != nil {
		return !whole, err
	}
	for off := own.end; off < f.Size; {
		c := a.next(off)
		if c == nil {
			return true, fmt.Errorf("no range of %s starts at %d: %w", f.CID, off, ErrUpstream)
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return true, ctx.Err()
		}
		if c.err != nil {
			return true, c.err
		}
		if _, err := w.Write(c.buf[:c.end-c.start]); err != nil {
			return true, err
		}
		off = c.end
	}
	return !whole, nil
}

// spareSlots takes the fetch slots free while nobody waits for one (all
// of them when a package starts, some when the count just grew), at most
// one per minRange of f, for a fetch of f in exact byte ranges, one per
// slot: the branch has the fragment after a fraction of the time one
// stream takes for it (5 s for 1 MiB at 1.6 Mbit/s), and exact ranges cut
// no response, so the upstream sends nothing for nothing. It returns 0,
// holding nothing, when fewer than two are free or f is too small.
func (r *Relay) spareSlots(f proto.Fragment) int {
	if r.rangesOff() || f.Size < 2*minRange {
		return 0
	}
	n := 0
	for int64(n) < f.Size/minRange && r.fetches.TryAcquire() {
		n++
	}
	if n < 2 {
		for range n {
			r.fetches.Release()
		}
		return 0
	}
	return n
}

// fetchExact fetches f in n byte ranges over the n fetch slots the caller
// holds, releasing each with its range, then verifies and stores the whole.
func (r *Relay) fetchExact(ctx context.Context, pkg string, f proto.Fragment, n int) error {
	if r.has(f.CID) {
		for range n {
			r.fetches.Release()
		}
		return nil
	}
	if err := r.reserve(f.Size); err != nil {
		for range n {
			r.fetches.Release()
		}
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	defer r.unreserve(f.Size)
	r.stats.miss(pkg)
	buf := make([]byte, f.Size)
	a := &assembly{pkg: pkg, f: f}
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for i := range n {
		lo, hi := f.Size*int64(i)/int64(n), f.Size*int64(i+1)/int64(n)
		c := &chunk{start: lo, end: hi, pos: lo, buf: buf[lo:hi], bufStart: lo}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.fetches.Release() // Its slot goes to the next fragment.
			errs[i] = r.fetchRange(ctx, a, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w, err := r.store.Create(f.CID, f.Size)
	if err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	if _, err := w.Write(buf); err != nil {
		w.Abort()
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	if err := w.Verify(); err != nil {
		r.corruptEvent(pkg, f, err)
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrCorrupt, err)
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	r.addHave(f.CID, f.Size, true)
	r.log.Debug("fragment cached", "package", pkg, "fragment", f.CID, "bytes", f.Size, "ranges", n)
	return nil
}
