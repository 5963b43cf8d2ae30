package swarm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

const fragSize = 4096

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func manifestOf(data []byte) *proto.Manifest {
	m := &proto.Manifest{PackageID: "42", Size: int64(len(data)), FragmentSize: fragSize}
	for i, off := 0, 0; off < len(data); i++ {
		end := min(off+fragSize, len(data))
		m.Fragments = append(m.Fragments, proto.Fragment{Index: i, Offset: int64(off), Size: int64(end - off), CID: proto.FragmentCID(data[off:end]).String()})
		off = end
	}
	return m
}

// env is one agent's scheduler with fake peers, tracker and upstream.
type env struct {
	data     []byte
	m        *proto.Manifest
	store    *fragstore.Store
	tracker  *swarmtest.Tracker
	upstream *swarmtest.Source
	peers    []*swarmtest.Source
	haves    *swarmtest.HaveNet
	sched    *swarm.Scheduler
}

func newEnv(t *testing.T, n int, cfg swarm.Config, tr *swarmtest.Tracker, peers ...*swarmtest.Source) *env {
	t.Helper()
	data := payload(n*fragSize - 100)
	e := &env{data: data, m: manifestOf(data), tracker: tr, peers: peers, haves: &swarmtest.HaveNet{}}
	var err error
	if e.store, err = fragstore.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	e.upstream = swarmtest.NewSource("central", fetch.KindCentral, data)
	log := slog.New(slog.DiscardHandler)
	up, err := fetch.New(fetch.Config{MaxAttempts: 2}, e.store, []fetch.Source{e.upstream}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.sched, err = swarm.New(cfg, swarm.Deps{Upstream: up, Store: e.store, PeerSource: swarmtest.Peers(peers...),
		Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }, Haves: e.haves}, log)
	if err != nil {
		t.Fatal(err)
	}
	if tr != nil {
		e.sched.SetTracker(tr)
	}
	return e
}

// peer returns a fake peer serving the env's data (set after newEnv).
func peerSources(ids ...string) []*swarmtest.Source {
	var out []*swarmtest.Source
	for _, id := range ids {
		out = append(out, swarmtest.NewSource(id, fetch.KindPeer, nil))
	}
	return out
}

// fetch runs the scheduler's announcer and one download.
func (e *env) fetch(t *testing.T) (*fetch.Stats, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.sched.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	var st fetch.Stats
	err := e.sched.Fetch(ctx, e.m, &st)
	return &st, err
}

// fetchStored runs one download, checks the stored package and returns
// how long the download took.
func (e *env) fetchStored(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := e.fetch(t); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	e.checkStored(t)
	return time.Since(start)
}

func (e *env) checkStored(t *testing.T) {
	t.Helper()
	r := e.store.NewReader(e.m.Fragments, e.m.Size)
	defer r.Close()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, e.m.Size))
	if err != nil || !bytes.Equal(got, e.data) {
		t.Fatalf("stored package differs from the original (err %v)", err)
	}
}

// withData gives every fake peer the package bytes.
func withData(data []byte, srcs []*swarmtest.Source) []*swarmtest.Source {
	out := make([]*swarmtest.Source, len(srcs))
	for i, s := range srcs {
		out[i] = swarmtest.NewSource(s.ID(), fetch.KindPeer, data)
	}
	return out
}

// newSwarm builds an env of n fragments whose peers (ids) hold the given
// fragments.
func newSwarm(t *testing.T, n int, cfg swarm.Config, holds map[string][]int) *env {
	t.Helper()
	data := payload(n*fragSize - 100)
	var ids []string
	for id := range holds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	peers := withData(data, peerSources(ids...))
	tr := swarmtest.NewTracker()
	var tps []proto.TrackerPeer
	for _, id := range ids {
		tps = append(tps, swarmtest.Peer(id, n, swarmtest.Have(n, holds[id]...)))
	}
	tr = swarmtest.NewTracker(tps...)
	return newEnv(t, n, cfg, tr, peers...)
}

func grantOnly(idx ...int) func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
	return func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
		out := proto.TrackerLeaseResponse{Granted: []int{}, TTL: 60}
		for _, w := range req.Want {
			if slices.Contains(idx, w) && len(out.Granted) < req.Max {
				out.Granted = append(out.Granted, w)
			}
		}
		return out
	}
}

func TestSwarmFetchesEverythingVerified(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 24
		e := newSwarm(t, n, swarm.Config{}, map[string][]int{
			"peerA": swarmtest.Range(0, 12),
			"peerB": swarmtest.Range(8, 20),
			"peerC": append(swarmtest.Range(0, 4), swarmtest.Range(16, 22)...),
		})
		e.tracker.SetGrant(grantOnly(22, 23))
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		up := e.upstream.Requests()
		slices.Sort(up)
		if diff := cmp.Diff([]int{22, 23}, up); diff != "" {
			t.Errorf("upstream requests (-want +got):\n%s", diff)
		}
		for _, p := range e.peers {
			if len(p.Requests()) == 0 {
				t.Errorf("%s was never asked: want several peers in parallel", p.ID())
			}
		}
		if got, want := st.Done.Load(), int64(n); got != want {
			t.Errorf("Done = %d, want %d", got, want)
		}
		if st.BytesPeer.Load() == 0 || st.BytesCentral.Load() != 2*fragSize-100 {
			t.Errorf("bytes peer %d central %d, want peers > 0 and central = two fragments", st.BytesPeer.Load(), st.BytesCentral.Load())
		}
		// The final announce holds every fragment.
		anns := e.tracker.Announces()
		if len(anns) == 0 {
			t.Fatal("no announce")
		}
		last := anns[len(anns)-1]
		if len(last.Packages) != 1 || last.Packages[0].Have.Count(n) != n {
			t.Errorf("last announce %+v: want package 42 with all %d fragments", last.Packages, n)
		}
	})
}

func TestRarestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		e := newSwarm(t, n, swarm.Config{PeerStreams: 1, MaxPeerRequests: 1}, map[string][]int{
			"peerA": swarmtest.Range(0, 8),
			"peerB": swarmtest.Range(0, 4),
			"peerC": {0, 1},
		})
		var mu sync.Mutex
		var order []int
		for _, p := range e.peers {
			p.SetOnRequest(func(_ string, i int) {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			})
		}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		// Held by 1 peer: 4-7; by 2: 2-3; by 3: 0-1. Equally rare
		// fragments come in a random order per download (agents starting
		// together must not all ask for the same ones).
		if len(order) != n {
			t.Fatalf("request order %v: want %d requests", order, n)
		}
		for _, g := range [][2]int{{0, 4}, {4, 6}, {6, 8}} {
			got := slices.Sorted(slices.Values(order[g[0]:g[1]]))
			want := []int{4, 5, 6, 7, 2, 3, 0, 1}[g[0]:g[1]]
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request order %v: requests %d-%d (-want +got):\n%s", order, g[0], g[1]-1, diff)
			}
		}
	})
}

func TestLeases(t *testing.T) {
	const n = 8
	tests := []struct {
		name string
		// appear: the lookup count after which peerB also holds 7.
		appear       int
		grantLateAt  time.Duration // 7 is granted only after this much time
		wantUpstream []int
		wantAfter    time.Duration // the download takes at least this long
	}{
		{name: "granted-only", grantLateAt: time.Hour, appear: 3, wantUpstream: []int{6}},
		{name: "lease-moves-after-stall", grantLateAt: 5 * time.Second, wantUpstream: []int{6, 7}, wantAfter: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newSwarm(t, n, swarm.Config{StallTimeout: 10 * time.Second}, map[string][]int{
					"peerA": swarmtest.Range(0, 4),
					"peerB": {4, 5},
				})
				start := time.Now()
				e.tracker.SetGrant(func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
					if time.Since(start) >= tt.grantLateAt {
						return grantOnly(6, 7)(req)
					}
					return grantOnly(6)(req)
				})
				if tt.appear > 0 {
					e.tracker.SetOnLookup(func(k int) {
						if k >= tt.appear {
							e.tracker.SetHave("peerB", swarmtest.Have(n, 4, 5, 7))
						}
					})
				}
				if _, err := e.fetch(t); err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				up := e.upstream.Requests()
				slices.Sort(up)
				if diff := cmp.Diff(tt.wantUpstream, up); diff != "" {
					t.Errorf("upstream requests (-want +got):\n%s", diff)
				}
				if took := time.Since(start); took < tt.wantAfter {
					t.Errorf("took %s, want at least %s (the stall timeout)", took, tt.wantAfter)
				}
				for _, l := range e.tracker.Leases() {
					for _, w := range l.Want {
						if w < 6 {
							t.Errorf("lease asked for fragment %d, which peers hold", w)
						}
					}
				}
			})
		})
	}
}

func TestBadPeerDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 16
		all := swarmtest.Range(0, n)
		e := newSwarm(t, n, swarm.Config{PeerStreams: 1}, map[string][]int{"peerA": all, "peerB": all, "peerC": all})
		bad := e.peers[2]
		bad.SetCorrupt(true)
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got := len(bad.Requests()); got != 1 {
			t.Errorf("bad peer got %d requests, want 1 (dropped after its first bad fragment)", got)
		}
		if st.BadPeers.Load() != 1 || st.BadFragments.Load() != 1 {
			t.Errorf("BadPeers %d BadFragments %d, want 1 and 1", st.BadPeers.Load(), st.BadFragments.Load())
		}
		if s := st.Summary(); !strings.Contains(s, "peer peerC sent a bad fragment") {
			t.Errorf("summary %q does not report the bad peer", s)
		}
	})
}

func TestEndgameCancelsDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		all := swarmtest.Range(0, n)
		e := newSwarm(t, n, swarm.Config{HedgeFactor: -1}, map[string][]int{"peerA": all, "peerB": all})
		var mu sync.Mutex
		held := false
		for _, p := range e.peers {
			p.SetHold(func(i int) bool { // The first request of fragment 3 never answers.
				mu.Lock()
				defer mu.Unlock()
				if i == 3 && !held {
					held = true
					return true
				}
				return false
			})
		}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		var reqs3, cancelled3 int
		for _, p := range e.peers {
			for _, i := range p.Requests() {
				if i == 3 {
					reqs3++
				}
			}
			for _, i := range p.Cancelled() {
				if i == 3 {
					cancelled3++
				}
			}
		}
		if reqs3 != 2 || cancelled3 != 1 {
			t.Errorf("fragment 3: %d requests, %d cancelled; want 2 and 1", reqs3, cancelled3)
		}
	})
}

func TestHedgeSlowPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		all := swarmtest.Range(0, n)
		e := newSwarm(t, n, swarm.Config{EndgameFragments: -1, HedgeMin: 200 * time.Millisecond, PeerStreams: 4}, map[string][]int{"peerA": all, "peerB": all})
		var mu sync.Mutex
		slow := "" // The peer first asked for fragment 5 takes an hour.
		for _, p := range e.peers {
			p.SetDelay(func(i int) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				if i == 5 && (slow == "" || slow == p.ID()) && len(p.Cancelled()) == 0 {
					slow = p.ID()
					return time.Hour
				}
				return 10 * time.Millisecond
			})
		}
		if took := e.fetchStored(t); took > 5*time.Second {
			t.Errorf("took %s: the slow request was not hedged", took)
		}
		var cancelled []int
		for _, p := range e.peers {
			cancelled = append(cancelled, p.Cancelled()...)
		}
		if diff := cmp.Diff([]int{5}, cancelled); diff != "" {
			t.Errorf("cancelled requests (-want +got):\n%s", diff)
		}
	})
}

func TestTrackerDownFallsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		e := newSwarm(t, n, swarm.Config{}, map[string][]int{"peerA": swarmtest.Range(0, n)})
		e.tracker.SetFail(errors.New("dial tcp 10.0.0.1:8443: connect: connection refused"))
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got := len(e.upstream.Requests()); got != n {
			t.Errorf("upstream requests %d, want %d", got, n)
		}
		if s := st.Summary(); !strings.Contains(s, "tracker unavailable (") || !strings.Contains(s, "from central") {
			t.Errorf("summary %q does not report the fallback", s)
		}
	})
}

// TestUnknownPeerAnnouncesAgain: a tracker that lost the agent's entry
// (restarted, or the site's members reported it gone) answers "unknown
// peer": the download announces again at once and goes on with its
// peers, instead of taking the tracker for down and fetching everything
// from central.
func TestUnknownPeerAnnouncesAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		e := newSwarm(t, n, swarm.Config{}, map[string][]int{"peerA": {}})
		// The first lookup lists peerA holding nothing yet; then the
		// tracker forgets us; the next lookup it answers lists peerA
		// holding everything.
		e.tracker.SetOnLookup(func(k int) { // k counts the lookups answered.
			switch k {
			case 1:
				e.tracker.SetForget()
			case 2:
				e.tracker.SetHave("peerA", swarmtest.Have(n, swarmtest.Range(0, n)...))
			}
		})
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got := e.upstream.Requests(); len(got) != 0 {
			t.Errorf("upstream requests %v, want none (every fragment from the peer)", got)
		}
		if e.tracker.Forgotten() == 0 || len(e.tracker.Announces()) == 0 {
			t.Errorf("refused calls %d, announces %d: the test did not exercise a lost entry", e.tracker.Forgotten(), len(e.tracker.Announces()))
		}
		if s := st.Summary(); strings.Contains(s, "tracker unavailable") {
			t.Errorf("summary %q reports the tracker down", s)
		}
	})
}

func TestNoTrackerIsPlainFetch(t *testing.T) {
	const n = 5
	e := newEnv(t, n, swarm.Config{}, nil)
	st, err := e.fetch(t)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	e.checkStored(t)
	if got := len(e.upstream.Requests()); got != n {
		t.Errorf("upstream requests %d, want %d", got, n)
	}
	if s := st.Summary(); strings.Contains(s, "tracker") {
		t.Errorf("summary %q mentions a tracker, none is configured", s)
	}
}

func TestPeerFilteredByMembership(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		all := swarmtest.Range(0, n)
		data := payload(n*fragSize - 100)
		peers := withData(data, peerSources("peerA", "peerB"))
		tr := swarmtest.NewTracker(swarmtest.Peer("peerA", n, swarmtest.Have(n, all...)), swarmtest.Peer("peerB", n, swarmtest.Have(n, all...)))
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{}, store, []fetch.Source{swarmtest.NewSource("central", fetch.KindCentral, data)}, log)
		if err != nil {
			t.Fatal(err)
		}
		s, err := swarm.New(swarm.Config{}, swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(peers...),
			Alive: func() (map[string]bool, bool) { return map[string]bool{"peerB": true}, true }}, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		var st fetch.Stats
		if err := s.Fetch(t.Context(), manifestOf(data), &st); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if got := peers[0].Requests(); len(got) != 0 {
			t.Errorf("peerA (not a live member) got requests %v", got)
		}
		if got := len(peers[1].Requests()); got != n {
			t.Errorf("peerB got %d requests, want %d", got, n)
		}
	})
}
