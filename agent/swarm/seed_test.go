package swarm_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/proto"
)

// seedingRelay is a relay's libp2p listener that super-seeds fragments
// seeded: a swarm request for one is answered p2p.ErrSeeding, and
// onSeeding runs (once).
type seedingRelay struct {
	*swarmtest.Source
	seeded    func(i int) bool
	onSeeding func()

	mu       sync.Mutex
	refused  []int
	unmarked []int // requests without the swarm mark
}

func (r *seedingRelay) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	r.mu.Lock()
	if !p2p.IsSwarmRequest(ctx) {
		r.unmarked = append(r.unmarked, f.Index)
	} else if r.seeded(f.Index) {
		first := len(r.refused) == 0
		r.refused = append(r.refused, f.Index)
		r.mu.Unlock()
		if first {
			r.onSeeding()
		}
		return nil, p2p.ErrSeeding
	}
	r.mu.Unlock()
	return r.Source.Fetch(ctx, pkg, f)
}

// TestRelaySeedingTakesFromPeers: the site's relay owns the WAN and
// super-seeds fragments 0–3 (answers ErrSeeding to swarm requests): the
// agent takes them from the peer that has them, never from the relay's
// HTTP listener or central, keeps asking the relay for the others, and
// counts nothing against the relay. Its relay requests carry the swarm
// mark because it knows a peer.
func TestRelaySeedingTakesFromPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		data := payload(n*fragSize - 100)
		tr := swarmtest.NewTracker(swarmtest.Peer("peerA", n, swarmtest.Have(n)))
		tr.SetGrant(func(proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			return proto.TrackerLeaseResponse{Relay: true}
		})
		relay := &seedingRelay{Source: swarmtest.NewSource("relay-1", fetch.KindRelay, data), seeded: func(i int) bool { return i < 4 },
			// The peers the relay seeded store the fragments: the tracker
			// (and so a lookup) shows them.
			onSeeding: func() { tr.SetHave("peerA", swarmtest.Have(n, 0, 1, 2, 3)) }}
		relayHTTP := swarmtest.NewSource("relay-1-http", fetch.KindRelay, data)
		peer := swarmtest.NewSource("peerA", fetch.KindPeer, data)
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		central := swarmtest.NewSource("central", fetch.KindCentral, data)
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{MaxAttempts: 2, RelayFailures: 2}, store, []fetch.Source{central}, log)
		if err != nil {
			t.Fatal(err)
		}
		up.SetRelays([]fetch.Source{relay, relayHTTP})
		s, err := swarm.New(swarm.Config{}, swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(peer),
			Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		e := &env{data: data, m: manifestOf(data), store: store, tracker: tr, upstream: central, sched: s}
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		fromPeer := slices.Sorted(slices.Values(peer.Served()))
		fromRelay := slices.Sorted(slices.Values(relay.Served()))
		if !slices.Equal(fromPeer, []int{0, 1, 2, 3}) || !slices.Equal(fromRelay, []int{4, 5, 6, 7}) {
			t.Errorf("peerA served %v, the relay %v: want 0–3 from the peer, 4–7 from the relay", fromPeer, fromRelay)
		}
		if got := relayHTTP.Requests(); len(got) != 0 {
			t.Errorf("the relay's HTTP listener was asked for %v: a seeding answer must not go around", got)
		}
		if got := central.Requests(); len(got) != 0 {
			t.Errorf("central was asked for %v", got)
		}
		relay.mu.Lock()
		refused, unmarked := slices.Clone(relay.refused), slices.Clone(relay.unmarked)
		relay.mu.Unlock()
		if len(refused) == 0 || len(unmarked) != 0 {
			t.Errorf("relay refused %v, unmarked requests %v: want refusals, every request marked", refused, unmarked)
		}
		if len(up.DownRelays()) != 0 || len(st.Notes()) != 0 {
			t.Errorf("relays down %v, notes %q: seeding is not a failure", up.DownRelays(), st.Notes())
		}
	})
}

// seedingPeer is a peer that super-seeds fragments seeded: a swarm
// request for one is answered p2p.ErrSeeding.
type seedingPeer struct {
	*swarmtest.Source
	seeded func(i int) bool

	mu       sync.Mutex
	refused  []int
	unmarked int
}

func (p *seedingPeer) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	p.mu.Lock()
	switch {
	case !p2p.IsSwarmRequest(ctx):
		p.unmarked++
	case p.seeded(f.Index):
		p.refused = append(p.refused, f.Index)
		p.mu.Unlock()
		return nil, p2p.ErrSeeding
	}
	p.mu.Unlock()
	return p.Source.Fetch(ctx, pkg, f)
}

// TestPeerSeedingTakesFromOthers: a peer that seeds fragments 0–3 to
// others first sends the agent to the other holder for them, without
// being left alone, excluded from leases or named in the result; its
// other fragments are still asked of it.
func TestPeerSeedingTakesFromOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		all := swarmtest.Range(0, n)
		e := newSwarm(t, n, swarm.Config{EndgameFragments: -1, HedgeFactor: -1}, map[string][]int{"peerA": all, "peerB": all})
		a := &seedingPeer{Source: e.peers[0], seeded: func(i int) bool { return i < 4 }}
		if a.ID() != "peerA" {
			t.Fatalf("first peer is %s, want peerA", a.ID())
		}
		e.sched = rebuildWith(t, e, a)
		// peerB is slow, so that peerA is asked for everything it can.
		e.peers[1].SetDelay(func(int) time.Duration { return 200 * time.Millisecond })
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		fromA := slices.Sorted(slices.Values(a.Served()))
		for _, i := range fromA {
			if i < 4 {
				t.Errorf("peerA served fragment %d it seeds to others (served %v)", i, fromA)
			}
		}
		if len(fromA) == 0 {
			t.Error("peerA served nothing: a seeding answer left it alone")
		}
		a.mu.Lock()
		refused, unmarked := len(a.refused), a.unmarked
		a.mu.Unlock()
		if refused == 0 || unmarked != 0 {
			t.Errorf("peerA refused %d requests, %d unmarked: want refusals, every request marked", refused, unmarked)
		}
		for _, l := range e.tracker.Leases() {
			if len(l.Exclude) != 0 {
				t.Errorf("lease request excludes %v: seeding is not slowness", l.Exclude)
			}
		}
		if notes := st.Notes(); len(notes) != 0 {
			t.Errorf("result notes %q", notes)
		}
	})
}

// rebuildWith returns a scheduler for e whose peer a replaces the fake of
// the same ID.
func rebuildWith(t *testing.T, e *env, a *seedingPeer) *swarm.Scheduler {
	t.Helper()
	srcs := map[string]fetch.Source{}
	for _, p := range e.peers {
		srcs[p.ID()] = p
	}
	srcs[a.ID()] = a
	log := slog.New(slog.DiscardHandler)
	up, err := fetch.New(fetch.Config{MaxAttempts: 2}, e.store, []fetch.Source{e.upstream}, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := swarm.New(swarm.Config{EndgameFragments: -1, HedgeFactor: -1}, swarm.Deps{Upstream: up, Store: e.store,
		PeerSource: func(id string, _ []string) (fetch.Source, error) { return srcs[id], nil },
		Self:       func() swarm.Self { return swarm.Self{PeerID: "me"} }, Haves: e.haves}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.SetTracker(e.tracker)
	return s
}
