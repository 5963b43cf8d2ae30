package swarm_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/proto"
)

// grantExcluding grants idx, as the tracker does, only to a request that
// excludes holder: while the holder counts, it is the fragments' owner.
func grantExcluding(holder string, idx ...int) func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
	return func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
		if !slices.Contains(req.Exclude, holder) {
			return proto.TrackerLeaseResponse{Granted: []int{}, TTL: 60}
		}
		return grantOnly(idx...)(req)
	}
}

// TestSlowOwnerExcluded: the only holder of fragments 4-7 (their WAN
// owner) delivers nothing, answers busy for ever, or fails every request. Progress decides: the
// download leaves it alone, excludes it from its lease requests, gets the
// lease and fetches the four fragments from upstream once, instead of
// waiting for the owner forever.
func TestSlowOwnerExcluded(t *testing.T) {
	tests := []struct {
		name      string
		owner     func(s *swarmtest.Source)
		wantAfter time.Duration // the least time the download takes
		within    time.Duration
	}{
		{name: "delivers-nothing", owner: func(s *swarmtest.Source) { s.SetHold(func(int) bool { return true }) },
			wantAfter: time.Second, within: 3 * time.Second},
		{name: "always-busy", owner: func(s *swarmtest.Source) { s.SetFail(fmt.Errorf("upload slots taken: %w", p2p.ErrBusy)) },
			wantAfter: 3 * time.Second, within: 5 * time.Second},
		{name: "fails-every-request", owner: func(s *swarmtest.Source) { s.SetFail(errors.New("connection reset by peer")) },
			within: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 8
				e := newSwarm(t, n, swarm.Config{ProgressMin: time.Second, StallTimeout: 10 * time.Second}, map[string][]int{
					"owner": swarmtest.Range(4, 8),
					"peerA": swarmtest.Range(0, 4),
				})
				owner, peerA := e.peers[0], e.peers[1]
				peerA.SetDelay(func(int) time.Duration { return 10 * time.Millisecond })
				tt.owner(owner)
				e.tracker.SetGrant(grantExcluding("owner", 4, 5, 6, 7))
				took := e.fetchStored(t)
				if took < tt.wantAfter || took > tt.within {
					t.Errorf("took %s, want %s..%s (the progress bound, not the stall timeout)", took, tt.wantAfter, tt.within)
				}
				up := e.upstream.Requests()
				slices.Sort(up)
				if diff := cmp.Diff([]int{4, 5, 6, 7}, up); diff != "" {
					t.Errorf("upstream requests (-want +got):\n%s", diff)
				}
				if got := owner.Served(); len(got) != 0 {
					t.Errorf("owner served %v, want nothing", got)
				}
				excluded := false
				for _, l := range e.tracker.Leases() {
					excluded = excluded || slices.Contains(l.Exclude, "owner")
				}
				if !excluded {
					t.Errorf("no lease request excluded the owner: %+v", e.tracker.Leases())
				}
			})
		})
	}
}

// TestSlowHolderHedgedToRelay: the site's relay owns the WAN and the only
// peer holding fragments 0-3 delivers nothing. No second holder exists,
// so once the peer is past its bound those fragments come from the relay
// (which fetches them once for the site), not from central.
func TestSlowHolderHedgedToRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		data := payload(n*fragSize - 100)
		relaySrc := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
		slow := swarmtest.NewSource("slow", fetch.KindPeer, data)
		slow.SetHold(func(int) bool { return true })
		tr := swarmtest.NewTracker(swarmtest.Peer("slow", n, swarmtest.Have(n, 0, 1, 2, 3)))
		tr.SetGrant(func(proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			return proto.TrackerLeaseResponse{Relay: true}
		})
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		central := swarmtest.NewSource("central", fetch.KindCentral, data)
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{}, store, []fetch.Source{central}, log)
		if err != nil {
			t.Fatal(err)
		}
		up.SetRelays([]fetch.Source{relaySrc})
		s, err := swarm.New(swarm.Config{ProgressMin: time.Second, StallTimeout: 2 * time.Second},
			swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(slow), Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		e := &env{data: data, m: manifestOf(data), store: store, tracker: tr, upstream: central, sched: s}
		if took := e.fetchStored(t); took > 5*time.Second {
			t.Errorf("took %s, want the slow peer given up after its bound (2s)", took)
		}
		got := relaySrc.Served()
		slices.Sort(got)
		if diff := cmp.Diff(swarmtest.Range(0, n), got); diff != "" {
			t.Errorf("relay served (-want +got):\n%s", diff)
		}
		if c := central.Requests(); len(c) != 0 {
			t.Errorf("central was asked for %v, want nothing (the relay owns the WAN)", c)
		}
		if got := slow.Cancelled(); len(got) == 0 {
			t.Error("no request to the slow peer was cancelled")
		}
	})
}

// TestDeadMemberExcluded: the tracker still lists the only holder of
// fragments 4-7, but LAN membership saw it die: after StallTimeout it no
// longer counts for this download's lease requests (Exclude, and Gone,
// which lets the tracker drop it), so the lease moves here instead of the
// download waiting for its tracker entry to expire. A listed peer that
// membership never admitted (its record may not have reached us yet) is
// never reported gone, and counts as a holder for 3 × StallTimeout: in the
// lab, agents that had not admitted their peers yet reported all of them
// gone, and the tracker dropped the whole site.
func TestDeadMemberExcluded(t *testing.T) {
	tests := []struct {
		name      string
		admitted  bool // "gone" was a LAN member for the first second
		named     bool // the lease requests name it gone
		from, tot time.Duration
	}{
		{name: "died", admitted: true, named: true, from: 3 * time.Second, tot: 8 * time.Second},
		{name: "never-admitted", from: 9 * time.Second, tot: 14 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 8
				data := payload(n*fragSize - 100)
				peers := withData(data, peerSources("gone", "peerA"))
				if tt.admitted {
					peers[0].SetHold(func(int) bool { return true }) // Dead: nothing comes back.
				}
				tr := swarmtest.NewTracker(swarmtest.Peer("gone", n, swarmtest.Have(n, 4, 5, 6, 7)),
					swarmtest.Peer("peerA", n, swarmtest.Have(n, 0, 1, 2, 3)))
				var (
					mu       sync.Mutex
					named    bool
					wrongful []string
				)
				grant := grantExcluding("gone", 4, 5, 6, 7)
				tr.SetGrant(func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
					mu.Lock()
					named = named || slices.Contains(req.Gone, "gone")
					for _, id := range req.Gone {
						if id != "gone" || !slices.Contains(req.Exclude, id) {
							wrongful = append(wrongful, id)
						}
					}
					mu.Unlock()
					return grant(req)
				})
				store, err := fragstore.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				central := swarmtest.NewSource("central", fetch.KindCentral, data)
				log := slog.New(slog.DiscardHandler)
				up, err := fetch.New(fetch.Config{}, store, []fetch.Source{central}, log)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				alive := func() (map[string]bool, bool) {
					if tt.admitted && time.Since(start) < time.Second {
						return map[string]bool{"peerA": true, "gone": true}, true
					}
					return map[string]bool{"peerA": true}, true
				}
				s, err := swarm.New(swarm.Config{StallTimeout: 3 * time.Second}, swarm.Deps{Upstream: up, Store: store,
					PeerSource: swarmtest.Peers(peers...), Alive: alive,
					Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
				if err != nil {
					t.Fatal(err)
				}
				s.SetTracker(tr)
				e := &env{data: data, m: manifestOf(data), store: store, tracker: tr, upstream: central, sched: s}
				if _, err := e.fetch(t); err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				if took := time.Since(start); took < tt.from || took > tt.tot {
					t.Errorf("took %s, want %s..%s", took, tt.from, tt.tot)
				}
				up4 := central.Requests()
				slices.Sort(up4)
				if diff := cmp.Diff([]int{4, 5, 6, 7}, up4); diff != "" {
					t.Errorf("central requests (-want +got):\n%s", diff)
				}
				if got := peers[0].Served(); len(got) != 0 {
					t.Errorf("the unusable member served %v", got)
				}
				mu.Lock()
				defer mu.Unlock()
				if named != tt.named || len(wrongful) > 0 {
					t.Errorf("lease requests named it gone: %v, want %v; named others gone or not excluded: %v", named, tt.named, wrongful)
				}
			})
		})
	}
}

// TestLeaseCreditHeldBack: a tracker that grants one new lease at a time,
// only once the agent announced what its last lease fetched (lease_credit
// 1), and says HeldBack meanwhile. The agent announces each WAN-owner
// fragment at once and asks again within LookupMin of a held-back answer,
// so the download is paced by the fetches, not by StallTimeout.
func TestLeaseCreditHeldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		e := newSwarm(t, n, swarm.Config{LookupMin: time.Second, StallTimeout: 10 * time.Second}, map[string][]int{})
		e.upstream.SetDelay(func(int) time.Duration { return 100 * time.Millisecond })
		var mu sync.Mutex
		granted := map[int]bool{}
		heldBack := 0
		e.tracker.SetGrant(func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			mu.Lock()
			defer mu.Unlock()
			have := proto.NewBitfield(n)
			if as := e.tracker.Announces(); len(as) > 0 && len(as[len(as)-1].Packages) > 0 {
				have = as[len(as)-1].Packages[0].Have
			}
			out := proto.TrackerLeaseResponse{Granted: []int{}, TTL: 60}
			owed := 0
			for i := range granted {
				if !have.Has(i) {
					owed++
				}
			}
			for _, w := range req.Want {
				switch {
				case granted[w] && !have.Has(w):
					out.Granted = append(out.Granted, w) // Renewal.
				case granted[w]:
				case owed >= 1:
					out.HeldBack = true
				default:
					granted[w] = true
					owed++
					out.Granted = append(out.Granted, w)
				}
			}
			if out.HeldBack {
				heldBack++
			}
			return out
		})
		took := e.fetchStored(t)
		up := e.upstream.Requests()
		slices.Sort(up)
		if diff := cmp.Diff(swarmtest.Range(0, n), up); diff != "" {
			t.Errorf("upstream requests (-want +got):\n%s", diff)
		}
		// Each fragment: 100 ms fetch, then at most LookupMin until the
		// next ask. Waiting StallTimeout once would take 10 s.
		if took > n*1200*time.Millisecond {
			t.Errorf("took %s, want at most %s (paced by LookupMin, not StallTimeout)", took, n*1200*time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if heldBack == 0 {
			t.Error("the tracker never held a lease back: the test tests nothing")
		}
	})
}

// TestFirstCopyAnnounced: a fragment copied from its only holder (a WAN
// owner waiting for its lease credit) is announced at once; one that two
// peers hold waits for AnnounceEvery.
func TestFirstCopyAnnounced(t *testing.T) {
	for _, tt := range []struct {
		name    string
		holders map[string][]int
		min     int
		max     int
	}{
		{"only-holder", map[string][]int{"owner": swarmtest.Range(0, 8)}, 8, 100},
		{"two-holders", map[string][]int{"peerA": swarmtest.Range(0, 8), "peerB": swarmtest.Range(0, 8)}, 1, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 8
				e := newSwarm(t, n, swarm.Config{PeerStreams: 1, MaxPeerRequests: 1}, tt.holders)
				for _, p := range e.peers {
					p.SetDelay(func(int) time.Duration { return 100 * time.Millisecond })
				}
				if _, err := e.fetch(t); err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				if got := len(e.tracker.Announces()); got < tt.min || got > tt.max {
					t.Errorf("%d announces, want %d..%d", got, tt.min, tt.max)
				}
			})
		})
	}
}

// TestOwnLinkNotBlamed: progress is judged against the other peers. When
// every peer delivers at the same slow rate (our own link is the limit),
// no request is cancelled as late and nothing goes upstream; when one peer
// is ten times slower than the other, its late requests are cancelled and
// its fragments come from the faster one.
func TestOwnLinkNotBlamed(t *testing.T) {
	for _, tt := range []struct {
		name     string
		rateA    float64
		rateB    float64
		laterB   time.Duration // peerB claims its fragments (a have session) this late
		wantLate bool
	}{
		// A fragment takes 3 s from either: three progress bounds.
		{"same-rate", fragSize / 3, fragSize / 3, 0, false},
		// 0.8 s from peerA, 8 s from peerB.
		{"ten-times-slower", fragSize / 0.8, fragSize / 8, 0, true},
		// peerB's requests start 0.4 s after peerA's, as have claims
		// arrive: when peerA's first request is late (1 s), peerB's have
		// run 0.6 s, less than rateAge but half the bound, and count.
		{"same-rate-staggered", fragSize / 3, fragSize / 3, 400 * time.Millisecond, false},
		{"ten-times-slower-staggered", fragSize / 8, fragSize / 0.8, 400 * time.Millisecond, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 8
				holdsB := swarmtest.Range(0, n)
				if tt.laterB > 0 {
					holdsB = nil
				}
				cfg := swarm.Config{ProgressMin: time.Second, StallTimeout: 30 * time.Second, HedgeFactor: -1}
				if tt.laterB > 0 {
					cfg.LookupMin, cfg.LookupMax = time.Minute, 2*time.Minute
				}
				e := newSwarm(t, n, cfg, map[string][]int{"peerA": swarmtest.Range(0, n), "peerB": holdsB})
				// A peer left alone as too slow shows as upstream requests,
				// not as a download that waits for ever.
				e.tracker.SetGrant(grantOnly(swarmtest.Range(0, n)...))
				peerA, peerB := e.peers[0], e.peers[1]
				peerA.SetRate(tt.rateA)
				peerB.SetRate(tt.rateB)
				if tt.laterB > 0 {
					// A claim that arrives tt.laterB into the download
					// (virtual time in the bubble).
					claim := time.AfterFunc(tt.laterB, func() { e.sched.Claim("42", "peerB", nil, swarmtest.Range(0, n)) })
					defer claim.Stop()
				}
				st, err := e.fetch(t)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				if up := e.upstream.Requests(); len(up) != 0 {
					t.Errorf("upstream requests %v, want none", up)
				}
				if tt.laterB > 0 && len(peerB.Requests()) == 0 {
					t.Errorf("peerB got no requests after its claims")
				}
				if late := st.FailedRequests.Load() > 0; late != tt.wantLate {
					t.Errorf("requests cancelled as late: %d, want some: %v", st.FailedRequests.Load(), tt.wantLate)
				}
			})
		})
	}
}

// TestEarlierBusyNotHeldAgainstAPeer: the owner answered busy while the
// download got fragments 0-3 from another peer; then nothing was asked of
// it for longer than the busy bound, until it announced 4-7. One more busy
// answer then must not make it "too slow": in the lab, requesters left
// healthy WAN owners alone this way (a busy answer 15 s after one of
// long ago), and the fragments those owners had leased crossed the WAN
// twice.
func TestEarlierBusyNotHeldAgainstAPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		e := newSwarm(t, n, swarm.Config{ProgressMin: time.Second}, map[string][]int{
			"owner": swarmtest.Range(0, 4),
			"peerA": swarmtest.Range(0, 4),
		})
		owner, peerA := e.peers[0], e.peers[1]
		owner.SetFail(fmt.Errorf("upload slots taken: %w", p2p.ErrBusy))
		peerA.SetDelay(func(int) time.Duration { return 50 * time.Millisecond })
		e.tracker.SetGrant(grantOnly()) // No leases: 4-7 can only come from the owner.
		announced := time.AfterFunc(6*time.Second, func() {
			// The owner fetched 4-7 meanwhile; it answers busy once more,
			// then serves.
			var once sync.Once
			owner.SetOnRequest(func(string, int) { once.Do(func() { owner.SetFail(nil) }) })
			e.tracker.SetHave("owner", swarmtest.Have(n, swarmtest.Range(0, n)...))
		})
		defer announced.Stop()
		if took := e.fetchStored(t); took > 10*time.Second {
			t.Errorf("took %s, want about 6s + a lookup: the owner was left alone for an old busy answer", took)
		}
		got := owner.Served()
		slices.Sort(got)
		if diff := cmp.Diff(swarmtest.Range(4, 8), got); diff != "" {
			t.Errorf("owner served (-want +got):\n%s", diff)
		}
		for _, l := range e.tracker.Leases() {
			if slices.Contains(l.Exclude, "owner") {
				t.Errorf("a lease request excluded the owner: %+v", l)
			}
		}
	})
}
