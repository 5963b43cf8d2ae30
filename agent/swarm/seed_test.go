package swarm_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

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
