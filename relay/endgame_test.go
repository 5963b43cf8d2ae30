package relay

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// rangeCapped is a plain-HTTP upstream whose every connection sends at a
// fixed rate (a TCP stream on a lossy long link) and that answers byte
// ranges of fragments with http.ServeContent, as central does. corrupt
// flips a byte of the first range it answers.
type rangeCapped struct {
	srv *httptest.Server

	mu              sync.Mutex // guards the fields below
	whole, ranges   int        // fragment GETs without and with Range
	corrupt, spoilt bool
}

// cappedWriter writes its body at the connection's rate.
type cappedWriter struct {
	http.ResponseWriter
	ctx context.Context
	lim *rate.Limiter
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 4<<10)
		if err := c.lim.WaitN(c.ctx, k); err != nil {
			return n, err
		}
		m, err := c.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		c.ResponseWriter.(http.Flusher).Flush()
		p = p[k:]
	}
	return n, nil
}

func newRangeCapped(t *testing.T, p *relaytest.Package, perConn rate.Limit, corrupt bool) *rangeCapped {
	t.Helper()
	u := &rangeCapped{corrupt: corrupt}
	type limKey struct{}
	frags := map[string][]byte{}
	for _, f := range p.Manifest.Fragments {
		frags[f.CID] = p.Payload[f.Offset : f.Offset+f.Size]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+proto.ManifestPath(p.ID), func(w http.ResponseWriter, _ *http.Request) { w.Write(p.Signed) })
	mux.HandleFunc("GET "+proto.FragmentPathPrefix+"{pkg}/{cid}", func(w http.ResponseWriter, req *http.Request) {
		b, ok := frags[req.PathValue("cid")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		ranged := req.Header.Get("Range") != ""
		u.mu.Lock()
		if ranged {
			u.ranges++
			if u.corrupt && !u.spoilt {
				u.spoilt = true
				b = bytes.Clone(b)
				for i := range b {
					b[i] ^= 0xff
				}
			}
		} else {
			u.whole++
		}
		u.mu.Unlock()
		lim := req.Context().Value(limKey{}).(*rate.Limiter)
		http.ServeContent(&cappedWriter{ResponseWriter: w, ctx: req.Context(), lim: lim}, req, "", time.Time{}, bytes.NewReader(b))
	})
	u.srv = httptest.NewUnstartedServer(mux)
	u.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, limKey{}, rate.NewLimiter(perConn, 4<<10))
	}
	u.srv.Start()
	t.Cleanup(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
	return u
}

func (u *rangeCapped) counts() (whole, ranges int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.whole, u.ranges
}

// TestUpstreamEndgameRanges: with fewer fragments than streams, the idle
// streams fetch byte ranges of the fragments under way from an upstream
// whose every connection is capped; the fragments are verified and stored
// sooner than one stream each could bring them.
func TestUpstreamEndgameRanges(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(4*512<<10), 512<<10, 1) // 4 fragments of 512 KiB
	up := newRangeCapped(t, p, 128<<10, false)                        // 4 s per fragment on one stream
	r, _ := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.Upstream, cfg.Parallel, cfg.MaxParallel = up.srv.URL, 8, 8
	})
	m, took := fetchTimed(t, r)
	checkCached(t, r, p)
	whole, ranges := up.counts()
	t.Logf("2 MiB in %v: %d whole requests, %d ranges", took.Round(time.Millisecond), whole, ranges)
	// The first fragment comes in exact ranges over the 8 free streams, the
	// others (queued meanwhile) whole, then split.
	if whole >= len(m.Fragments) || ranges < len(m.Fragments) {
		t.Errorf("%d whole requests, %d ranges: want fewer than %d whole and at least one range per fragment", whole, ranges, len(m.Fragments))
	}
	// One stream per fragment: 4 s; split over 8 streams: about 2.
	if took > 3500*time.Millisecond {
		t.Errorf("took %v: the idle streams did not help", took)
	}
	if st := r.stats.total.corrupt.Load(); st != 0 {
		t.Errorf("%d corrupt events", st)
	}
	// Every split cut a response; /metrics counts the cuts.
	if cuts := r.endgame.cuts.Load(); cuts == 0 || r.metricsSnapshot().UpstreamCuts != cuts {
		t.Errorf("%d cuts counted, /metrics says %d; want the same, more than 0 (the whole fetches were split)", cuts, r.metricsSnapshot().UpstreamCuts)
	}
}

// TestUpstreamEndgameCorruptRange: a range that comes back corrupt makes
// the assembled fragment fail its CID: it is not stored, the event is
// counted, and the fragment is fetched again whole.
func TestUpstreamEndgameCorruptRange(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(512<<10), 512<<10, 1) // one fragment
	up := newRangeCapped(t, p, 256<<10, true)
	r, _ := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.Upstream, cfg.Parallel, cfg.MaxParallel = up.srv.URL, 4, 4
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := r.manifest(ctx, testPkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fetchAll(ctx, testPkg, m.Fragments); err != nil {
		t.Fatal(err)
	}
	checkCached(t, r, p)
	whole, ranges := up.counts()
	if ranges == 0 || whole != 1 {
		t.Errorf("%d whole requests, %d ranges: want a fetch in ranges, then one whole", whole, ranges)
	}
	if st := r.stats.total.corrupt.Load(); st != 1 {
		t.Errorf("%d corrupt events, want 1", st)
	}
}

// TestFirstFragmentInRanges: a fragment fetched while streams are free
// (the first of a package) comes in exact byte ranges over all of them (no response cut, so the
// upstream sends nothing for nothing), so that the branch has a verified
// fragment long before one stream could bring it.
func TestFirstFragmentInRanges(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(512<<10), 512<<10, 1) // one fragment of 512 KiB
	up := newRangeCapped(t, p, 128<<10, false)                      // 4 s on one stream
	r, _ := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.Upstream, cfg.Parallel, cfg.MaxParallel = up.srv.URL, 8, 8
	})
	_, took := fetchTimed(t, r)
	checkCached(t, r, p)
	whole, ranges := up.counts()
	t.Logf("512 KiB in %v: %d whole requests, %d ranges", took.Round(time.Millisecond), whole, ranges)
	if whole != 0 || ranges != 8 {
		t.Errorf("%d whole requests, %d ranges: want 8 ranges, one per stream", whole, ranges)
	}
	if took > 2*time.Second {
		t.Errorf("took %v: want well under the 4 s of one stream", took)
	}
	// Every slot is back.
	for range 8 {
		if !r.fetches.TryAcquire() {
			t.Fatal("a fetch slot was not released")
		}
	}
}

// TestNoRangesUnderWANCap: with a WAN cap the limiter sets the rate, and a
// cut response would leave its rest in buffers: fragments come whole.
func TestNoRangesUnderWANCap(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(2*512<<10), 512<<10, 1)
	up := newRangeCapped(t, p, 1<<20, false)
	r, _ := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.Upstream, cfg.Parallel, cfg.MaxParallel = up.srv.URL, 8, 8
		cfg.WAN.RateMbit = 16
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	m, err := r.manifest(ctx, testPkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fetchAll(ctx, testPkg, m.Fragments); err != nil {
		t.Fatal(err)
	}
	checkCached(t, r, p)
	if whole, ranges := up.counts(); whole != len(m.Fragments) || ranges != 0 {
		t.Errorf("%d whole requests, %d ranges: want %d whole, no range", whole, ranges, len(m.Fragments))
	}
}

// checkCached checks every fragment of p is stored and holds its bytes.
func checkCached(t *testing.T, r *Relay, p *relaytest.Package) {
	t.Helper()
	for _, f := range p.Manifest.Fragments {
		if !r.has(f.CID) {
			t.Fatalf("fragment %d not cached", f.Index)
		}
		fh, err := r.store.Open(f.CID)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.Size)
		_, err = fh.ReadAt(b, 0)
		fh.Close()
		if err != nil || !bytes.Equal(b, p.Payload[f.Offset:f.Offset+f.Size]) {
			t.Fatalf("fragment %d: stored bytes differ (%v)", f.Index, err)
		}
	}
}

// TestSplitWaitsForARate: a range that moved nothing yet is not split
// until it has stalled for stallWait, and the half a split hands out is
// not halved again in the same pass (each split cuts a response, and the
// cut wastes what the upstream had in flight).
func TestSplitWaitsForARate(t *testing.T) {
	var g endgame
	a := g.register("pkg", proto.Fragment{CID: "frag", Size: 1 << 20})
	if ga, c, retry := g.split(); ga != nil {
		t.Fatalf("split a fetch that has just started: took [%d, %d)", c.start, c.end)
	} else if retry <= 0 || retry > stallWait {
		t.Fatalf("a fetch that has just started: retry in %v, want within (0, %v]", retry, stallWait)
	}

	// The owner's stream has moved nothing for longer than stallWait.
	a.mu.Lock()
	a.chunks[0].t0 = time.Now().Add(-2 * stallWait)
	a.mu.Unlock()
	_, first, _ := g.split()
	if first == nil || first.start != 512<<10 || first.end != 1<<20 {
		t.Fatalf("stalled owner: split took %+v, want [512 KiB, 1 MiB)", first)
	}
	// The next split takes from the stalled owner again, never from the
	// half handed out a moment ago.
	_, second, _ := g.split()
	if second == nil || second.start != 256<<10 || second.end != 512<<10 {
		t.Fatalf("second split took %+v, want [256 KiB, 512 KiB) of the stalled owner", second)
	}
	if n := g.cuts.Load(); n != 2 {
		t.Errorf("%d cuts counted after two splits, want 2", n)
	}

	// A range moving fast enough to end within minSplitWait is left alone.
	b := g.register("pkg", proto.Fragment{CID: "fast", Size: 1 << 20})
	b.mu.Lock()
	b.chunks[0].t0 = time.Now().Add(-100 * time.Millisecond)
	b.chunks[0].pos = 512 << 10
	b.mu.Unlock()
	g.unregister(a)
	if gb, c, _ := g.split(); gb != nil {
		t.Fatalf("split a fast range: took [%d, %d)", c.start, c.end)
	}
}

// TestSplitJudgesARateOnlyAfterStallWait: a range that has moved bytes
// slowly for less than stallWait (a rate taken in TCP's slow start) is
// not split yet, and split says when to look again; once it is older and
// still slow, it is split.
func TestSplitJudgesARateOnlyAfterStallWait(t *testing.T) {
	var g endgame
	a := g.register("pkg", proto.Fragment{CID: "frag", Size: 1 << 20})
	a.mu.Lock()
	a.chunks[0].t0 = time.Now().Add(-stallWait / 2)
	a.chunks[0].pos = 16 << 10 // 32 KiB/s so far: the rest would take 30 s.
	a.mu.Unlock()
	if ga, c, retry := g.split(); ga != nil {
		t.Fatalf("split a range in its first %v: took [%d, %d)", stallWait/2, c.start, c.end)
	} else if retry <= 0 || retry > stallWait/2 {
		t.Fatalf("retry in %v, want within (0, %v]", retry, stallWait/2)
	}
	a.mu.Lock()
	a.chunks[0].t0 = time.Now().Add(-2 * stallWait)
	a.mu.Unlock()
	if _, c, retry := g.split(); c == nil || retry != 0 {
		t.Fatalf("a slow range older than stallWait: split took %+v, retry %v; want a half, no retry", c, retry)
	}
}
