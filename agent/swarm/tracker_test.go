package swarm_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

// storePeer serves the verified fragments of another agent's store, as
// that agent's p2p node would.
type storePeer struct {
	store *fragstore.Store
}

func (storePeer) Kind() string { return fetch.KindPeer }

func (p storePeer) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	if ok, err := p.store.Check(f.CID, f.Size); err != nil || !ok {
		return nil, p2p.ErrNotFound
	}
	return p.store.Open(f.CID)
}

// TestRealTrackerWANOnce runs three agents of one site against the real
// tracker: every fragment leaves central exactly once, the rest moves
// between the agents.
func TestRealTrackerWANOnce(t *testing.T) {
	const agents, n = 3, 40
	central := trackertest.NewCentral(t)
	srv, err := tracker.New(tracker.Config{}, slog.New(slog.DiscardHandler), tracker.Verifier{Key: central.Public()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { _ = srv.Run(ctx) })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	data := payload(n*fragSize - 10)
	m := manifestOf(data)
	upstream := swarmtest.NewSource("central", fetch.KindCentral, data)
	log := slog.New(slog.DiscardHandler)
	stores := map[string]*fragstore.Store{}
	var scheds []*swarm.Scheduler
	var ids []*trackertest.Identity
	for range agents {
		id := central.NewIdentity(t, "branch", time.Hour)
		st, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		stores[id.PeerID.String()] = st
		ids = append(ids, id)
	}
	for _, id := range ids {
		st := stores[id.PeerID.String()]
		up, err := fetch.New(fetch.Config{}, st, []fetch.Source{upstream}, log)
		if err != nil {
			t.Fatal(err)
		}
		self := id.PeerID.String()
		s, err := swarm.New(swarm.Config{LookupMin: 20 * time.Millisecond, LookupMax: 100 * time.Millisecond, StallTimeout: 2 * time.Second},
			swarm.Deps{Upstream: up, Store: st,
				PeerSource: func(peerID string, addrs []string) (fetch.Source, error) { return storePeer{stores[peerID]}, nil },
				Self:       func() swarm.Self { return swarm.Self{PeerID: self, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := trackerclient.NewClient(hs.URL, hs.Client(), trackerclient.NewSigner(id.Key, id.Record))
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tc)
		wg.Go(func() { _ = s.Run(ctx) })
		scheds = append(scheds, s)
	}
	stats := make([]fetch.Stats, agents)
	errs := make([]error, agents)
	var dl sync.WaitGroup
	for i, s := range scheds {
		dl.Go(func() { errs[i] = s.Fetch(ctx, m, &stats[i]) })
	}
	dl.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
	}
	for _, st := range stores {
		for _, f := range m.Fragments {
			if ok, err := st.Check(f.CID, f.Size); err != nil || !ok {
				t.Fatalf("fragment %d missing or bad (err %v)", f.Index, err)
			}
		}
	}
	seen := map[int]int{}
	for _, i := range upstream.Requests() {
		seen[i]++
	}
	for i := range n {
		if seen[i] != 1 {
			t.Errorf("fragment %d left central %d times, want once", i, seen[i])
		}
	}
	var peerBytes int64
	for i := range stats {
		peerBytes += stats[i].BytesPeer.Load()
		t.Logf("agent %d: %s", i, stats[i].Summary())
	}
	// Endgame duplicates may add up to a few fragments per agent.
	if want := int64(agents-1) * int64(len(data)); peerBytes < want || peerBytes > want+agents*4*fragSize {
		t.Errorf("bytes between peers %d, want %d plus at most the endgame copies", peerBytes, want)
	}
}

// silentPeer holds fragments but delivers nothing until the request ends,
// as an owner behind a saturated 512 kbit/s link does for its peers.
type silentPeer struct{}

func (silentPeer) Kind() string { return fetch.KindPeer }

func (silentPeer) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRealTrackerSlowOwner: agent 0 was the WAN owner of fragments 0-5
// and holds them, but delivers nothing to its peers. Against the real
// tracker every agent still finishes: the others exclude the owner, one
// of them gets the lease, and each of those fragments crosses the WAN
// once more (the price), never more than max_extra_copies more times, and
// the owner gets no new leases once it was bypassed.
func TestRealTrackerSlowOwner(t *testing.T) {
	const agents, n, owned = 4, 24, 6
	central := trackertest.NewCentral(t)
	srv, err := tracker.New(tracker.Config{}, slog.New(slog.DiscardHandler), tracker.Verifier{Key: central.Public()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { _ = srv.Run(ctx) })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	data := payload(n*fragSize - 10)
	m := manifestOf(data)
	upstream := swarmtest.NewSource("central", fetch.KindCentral, data)
	// A WAN: each fragment takes a while, so leases spread over the agents.
	upstream.SetDelay(func(int) time.Duration { return 100 * time.Millisecond })
	log := slog.New(slog.DiscardHandler)
	stores := map[string]*fragstore.Store{}
	var ids []*trackertest.Identity
	for range agents {
		id := central.NewIdentity(t, "branch", time.Hour)
		st, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		stores[id.PeerID.String()] = st
		ids = append(ids, id)
	}
	owner := ids[0].PeerID.String()
	for _, f := range m.Fragments[:owned] {
		w, err := stores[owner].Create(f.CID, f.Size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[f.Offset : f.Offset+f.Size]); err != nil {
			t.Fatal(err)
		}
		if err := w.Verify(); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	var scheds []*swarm.Scheduler
	var clients []*trackerclient.Client
	for _, id := range ids {
		st := stores[id.PeerID.String()]
		up, err := fetch.New(fetch.Config{}, st, []fetch.Source{upstream}, log)
		if err != nil {
			t.Fatal(err)
		}
		self := id.PeerID.String()
		s, err := swarm.New(swarm.Config{LookupMin: 20 * time.Millisecond, LookupMax: 100 * time.Millisecond, StallTimeout: 2 * time.Second,
			ProgressMin: time.Second},
			swarm.Deps{Upstream: up, Store: st,
				PeerSource: func(peerID string, addrs []string) (fetch.Source, error) {
					if peerID == owner {
						return silentPeer{}, nil
					}
					return storePeer{stores[peerID]}, nil
				},
				Self: func() swarm.Self { return swarm.Self{PeerID: self, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := trackerclient.NewClient(hs.URL, hs.Client(), trackerclient.NewSigner(id.Key, id.Record))
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tc)
		wg.Go(func() { _ = s.Run(ctx) })
		scheds = append(scheds, s)
		clients = append(clients, tc)
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	stats := make([]fetch.Stats, agents)
	errs := make([]error, agents)
	var dl sync.WaitGroup
	// The owner announces its fragments first, as the WAN owner did, and
	// fetches the rest with the others.
	dl.Go(func() { errs[0] = scheds[0].Fetch(fctx, m, &stats[0]) })
	testwait.For(t, 5*time.Second, "the owner's announce", func() error {
		l, err := clients[1].Lookup(fctx, m.PackageID)
		if err != nil {
			return err
		}
		for _, p := range l.Peers {
			if p.PeerID == owner && p.Have.Count(n) >= owned {
				return nil
			}
		}
		return errors.New("owner not listed yet")
	})
	for i, s := range scheds[1:] {
		dl.Go(func() { errs[i+1] = s.Fetch(fctx, m, &stats[i+1]) })
	}
	dl.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
	}
	for _, st := range stores {
		for _, f := range m.Fragments {
			if ok, err := st.Check(f.CID, f.Size); err != nil || !ok {
				t.Fatalf("fragment %d missing or bad (err %v)", f.Index, err)
			}
		}
	}
	seen := map[int]int{}
	for _, i := range upstream.Requests() {
		seen[i]++
	}
	extra := 0
	for i := range n {
		// The owner's six crossed once before the test. A fragment crosses
		// again when the owner (or, on a loaded machine, a lessee) is too
		// slow for an agent: never more than the tracker's default
		// max_extra_copies (2) more times.
		if seen[i] < 1 || seen[i] > 3 {
			t.Errorf("fragment %d left central %d times, want 1 to 3 (one copy plus at most 2 extra)", i, seen[i])
		}
		extra += seen[i] - 1
		if i < owned {
			extra++
		}
	}
	t.Logf("%d extra WAN copies of %d fragments", extra, n)
	// The owner's own six, and its first lease grant (LeaseMax, 8): once
	// an extra lease bypassed it, the tracker grants it no new leases. Two
	// more allow for a lessee that a loaded machine makes late.
	if limit := owned + 8 + 2; extra > limit {
		t.Errorf("%d extra WAN copies, want at most %d", extra, limit)
	}
	for i := range stats {
		t.Logf("agent %d: %s", i, stats[i].Summary())
	}
}
