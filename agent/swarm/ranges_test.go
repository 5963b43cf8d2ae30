package swarm_test

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/shoal-project/shoal/proto"
)

// rangeCentral is central serving byte ranges; it records each request.
type rangeCentral struct {
	data []byte

	mu     sync.Mutex
	ranges map[int][]string // fragment -> "off-end" asked
	wholes []int
}

func (c *rangeCentral) Kind() string { return fetch.KindCentral }

func (c *rangeCentral) Fetch(_ context.Context, _ string, f proto.Fragment) (io.ReadCloser, error) {
	c.mu.Lock()
	c.wholes = append(c.wholes, f.Index)
	c.mu.Unlock()
	return io.NopCloser(bytes.NewReader(c.data[f.Offset : f.Offset+f.Size])), nil
}

func (c *rangeCentral) FetchRange(_ context.Context, _ string, f proto.Fragment, off, end int64) (io.ReadCloser, error) {
	c.mu.Lock()
	c.ranges[f.Index] = append(c.ranges[f.Index], fmt.Sprintf("%d-%d", off, end))
	c.mu.Unlock()
	return io.NopCloser(bytes.NewReader(c.data[f.Offset+off : f.Offset+end])), nil
}

// TestWANOwnerFetchesInRanges: a WAN owner alone in its site fetches each
// leased fragment from central in byte ranges on its free upstream streams
// (upstream_ranges, default 2; 4 takes all of upstream_streams), never
// whole, and stores the package whole and verified; with upstream_ranges 1
// it fetches whole fragments.
func TestWANOwnerFetchesInRanges(t *testing.T) {
	for _, tc := range []struct {
		ranges, want int
	}{{4, 4}, {0, 2}, {1, 0}} {
		t.Run(fmt.Sprintf("upstream_ranges=%d", tc.ranges), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n, size = 4, 256 << 10
				data := payload(n * size)
				m := &proto.Manifest{PackageID: "42", Size: int64(len(data)), FragmentSize: size}
				for i := range n {
					b := data[i*size : (i+1)*size]
					m.Fragments = append(m.Fragments, proto.Fragment{Index: i, Offset: int64(i * size), Size: size, CID: proto.FragmentCID(b).String()})
				}
				store, err := fragstore.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				central := &rangeCentral{data: data, ranges: map[int][]string{}}
				log := slog.New(slog.DiscardHandler)
				up, err := fetch.New(fetch.Config{MaxAttempts: 2}, store, []fetch.Source{central}, log)
				if err != nil {
					t.Fatal(err)
				}
				tr := swarmtest.NewTracker()
				tr.SetGrant(grantOnly(swarmtest.Range(0, n)...))
				s, err := swarm.New(swarm.Config{UpstreamRanges: tc.ranges}, swarm.Deps{Upstream: up, Store: store,
					Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
				if err != nil {
					t.Fatal(err)
				}
				s.SetTracker(tr)
				e := &env{data: data, m: m, store: store, tracker: tr, sched: s}
				st, err := e.fetch(t)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				if got := st.BytesCentral.Load(); got != int64(len(data)) {
					t.Errorf("%d bytes from central, want %d", got, len(data))
				}
				if tc.want == 0 {
					if len(central.ranges) != 0 || len(central.wholes) != n {
						t.Errorf("ranges %v, whole %v: want every fragment whole", central.ranges, central.wholes)
					}
					return
				}
				if len(central.wholes) != 0 {
					t.Errorf("fragments %v fetched whole", central.wholes)
				}
				for i := range n {
					got := central.ranges[i]
					slices.Sort(got)
					want := []string{"0-65536", "131072-196608", "196608-262144", "65536-131072"}
					if tc.want == 2 {
						want = []string{"0-131072", "131072-262144"}
					}
					if !slices.Equal(got, want) {
						t.Errorf("fragment %d: ranges %v, want %v", i, got, want)
					}
				}
			})
		})
	}
}

// TestExtraCopyComesWhole: a leased fragment that a peer we cannot use
// holds (here: listed but not a live LAN member) is an extra WAN copy; it
// comes whole, since it races that peer's copy and a cut fetch in ranges
// would waste more of the WAN. The others come in ranges.
func TestExtraCopyComesWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, size = 2, 256 << 10
		data := payload(n * size)
		m := &proto.Manifest{PackageID: "42", Size: int64(len(data)), FragmentSize: size}
		for i := range n {
			b := data[i*size : (i+1)*size]
			m.Fragments = append(m.Fragments, proto.Fragment{Index: i, Offset: int64(i * size), Size: size, CID: proto.FragmentCID(b).String()})
		}
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		central := &rangeCentral{data: data, ranges: map[int][]string{}}
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{MaxAttempts: 2}, store, []fetch.Source{central}, log)
		if err != nil {
			t.Fatal(err)
		}
		gone := swarmtest.NewSource("gone", fetch.KindPeer, data)
		tr := swarmtest.NewTracker(swarmtest.Peer("gone", n, swarmtest.Have(n, 0)))
		tr.SetGrant(grantOnly(swarmtest.Range(0, n)...))
		s, err := swarm.New(swarm.Config{}, swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(gone),
			Alive: func() (map[string]bool, bool) { return map[string]bool{}, true },
			Self:  func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		e := &env{data: data, m: m, store: store, tracker: tr, sched: s}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if !slices.Equal(central.wholes, []int{0}) || len(central.ranges[0]) != 0 {
			t.Errorf("whole %v, ranges of fragment 0 %v: want fragment 0 whole only", central.wholes, central.ranges[0])
		}
		for i := 1; i < n; i++ {
			if len(central.ranges[i]) != 2 {
				t.Errorf("fragment %d: ranges %v, want 2", i, central.ranges[i])
			}
		}
		if len(gone.Requests()) != 0 {
			t.Errorf("the peer that is no LAN member was asked for %v", gone.Requests())
		}
	})
}

// TestEndgameNotToRelay: in endgame an extra copy of a fragment never goes
// to the site's relay, whose one LAN port serves the branch: a held
// request to a peer is asked of the relay only once the progress bound
// cancelled it, not at once as an endgame duplicate.
func TestEndgameNotToRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		data := payload(n*fragSize - 100)
		m := manifestOf(data)
		relaySrc := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
		peer := swarmtest.NewSource("peerA", fetch.KindPeer, data)
		start := time.Now()
		var mu sync.Mutex
		held := false
		peer.SetHold(func(i int) bool { // peerA never answers its first request of fragment 3.
			mu.Lock()
			defer mu.Unlock()
			if i == 3 && !held {
				held = true
				return true
			}
			return false
		})
		var relayAsked3 time.Duration
		relaySrc.SetOnRequest(func(_ string, i int) {
			mu.Lock()
			defer mu.Unlock()
			if i == 3 && relayAsked3 == 0 {
				relayAsked3 = time.Since(start)
			}
		})
		all := swarmtest.Range(0, n)
		relayEntry := proto.TrackerPeer{PeerID: "relay-1", Addrs: []string{"/ip4/10.0.0.9/tcp/4011"}, Kind: proto.HolderRelay,
			RelayURL: "http://10.0.0.9:8090", Have: swarmtest.Have(n, all...), Total: n}
		tr := swarmtest.NewTracker(relayEntry, swarmtest.Peer("peerA", n, swarmtest.Have(n, all...)))
		tr.SetGrant(func(proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			return proto.TrackerLeaseResponse{Relay: true}
		})
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{MaxAttempts: 2}, store, []fetch.Source{swarmtest.NewSource("central", fetch.KindCentral, data)}, log)
		if err != nil {
			t.Fatal(err)
		}
		s, err := swarm.New(swarm.Config{PeerStreams: 4}, swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(peer),
			RelaySource: swarmtest.Peers(relaySrc), Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		e := &env{data: data, m: m, store: store, tracker: tr, sched: s}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if !slices.Contains(peer.Cancelled(), 3) {
			t.Errorf("peerA's held request of fragment 3 was not cancelled (cancelled %v)", peer.Cancelled())
		}
		// The progress bound is 5 s (progress_min) before any rate is known.
		if relayAsked3 < 5*time.Second {
			t.Errorf("the relay was asked for fragment 3 after %v: an endgame copy (want only after the 5 s progress bound)", relayAsked3)
		}
	})
}

// TestWANOwnerFetchesOneLeaseAtATime: granted four leases, a WAN owner
// fetches them from central owner_fragments at a time (default 1), so
// that its first fragment is stored, and copied by its site, while the
// next crosses the WAN (in its own, random, order); 2 fetches two side by
// side.
func TestWANOwnerFetchesOneLeaseAtATime(t *testing.T) {
	for _, tc := range []struct {
		owner int
		want  time.Duration // four fragments of one second each
	}{{0, 4 * time.Second}, {2, 2 * time.Second}} {
		t.Run(fmt.Sprintf("owner_fragments=%d", tc.owner), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 4
				tr := swarmtest.NewTracker()
				tr.SetGrant(grantOnly(swarmtest.Range(0, n)...))
				e := newEnv(t, n, swarm.Config{UpstreamRanges: 1, OwnerFragments: tc.owner}, tr)
				e.upstream.SetDelay(func(int) time.Duration { return time.Second })
				if took := e.fetchStored(t); took < tc.want || took > tc.want+time.Second/2 {
					t.Errorf("took %s, want %s", took, tc.want)
				}
				got := e.upstream.Requests()
				if slices.Sort(got); !slices.Equal(got, swarmtest.Range(0, n)) {
					t.Errorf("central asked for %v, want each fragment once", got)
				}
			})
		})
	}
}
