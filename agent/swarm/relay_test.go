package swarm_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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

// TestRelayInLookup: a relay the tracker lists is asked like a peer for
// the fragments it holds, although it is not a LAN member; what nobody
// holds comes from upstream without a lease because the relay owns the
// WAN. Without a RelaySource the relay entry is ignored.
func TestRelayInLookup(t *testing.T) {
	const n = 16
	for _, withRelaySource := range []bool{true, false} {
		name := "relay-source"
		if !withRelaySource {
			name = "no-relay-source"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				data := payload(n*fragSize - 100)
				m := manifestOf(data)
				relaySrc := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
				peer := swarmtest.NewSource("peerA", fetch.KindPeer, data)
				relayEntry := proto.TrackerPeer{PeerID: "relay-1", Addrs: []string{"/ip4/10.0.0.9/tcp/4011"}, Kind: proto.HolderRelay,
					RelayURL: "http://10.0.0.9:8090", Have: swarmtest.Have(n, swarmtest.Range(0, 12)...), Total: n}
				tr := swarmtest.NewTracker(relayEntry, swarmtest.Peer("peerA", n, swarmtest.Have(n, 0, 1)))
				tr.SetGrant(func(proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
					return proto.TrackerLeaseResponse{Relay: true}
				})
				store, err := fragstore.Open(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				central := swarmtest.NewSource("central", fetch.KindCentral, data)
				log := slog.New(slog.DiscardHandler)
				up, err := fetch.New(fetch.Config{MaxAttempts: 2}, store, []fetch.Source{central}, log)
				if err != nil {
					t.Fatal(err)
				}
				deps := swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(peer),
					// LAN membership knows peerA only: the relay is no member.
					Alive: func() (map[string]bool, bool) { return map[string]bool{"peerA": true}, true },
					Self:  func() swarm.Self { return swarm.Self{PeerID: "me"} }}
				if withRelaySource {
					deps.RelaySource = swarmtest.Peers(relaySrc)
				}
				s, err := swarm.New(swarm.Config{}, deps, log)
				if err != nil {
					t.Fatal(err)
				}
				s.SetTracker(tr)
				e := &env{data: data, m: m, store: store, tracker: tr, upstream: central, sched: s}
				st, err := e.fetch(t)
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
				fromRelay := len(relaySrc.Served())
				fromCentral := len(central.Served())
				if withRelaySource {
					// 12 held by the relay (2 of them also by peerA), 4 from
					// upstream. Endgame may ask the relay and peerA for the
					// same last fragment, so the two may serve more than 12
					// between them, but none of the 12 comes from upstream.
					if fromRelay+len(peer.Served()) < 12 || fromRelay < 10 || fromCentral != 4 {
						t.Errorf("relay served %d, peerA %d, central %d: want the relay's 12 from relay and peer, 4 upstream",
							fromRelay, len(peer.Served()), fromCentral)
					}
					if st.BytesRelay.Load() == 0 {
						t.Error("bytes from the relay counted as something else")
					}
				} else if fromRelay != 0 || fromCentral != n-len(peer.Served()) {
					t.Errorf("without RelaySource the relay served %d, central %d, peer %d", fromRelay, fromCentral, len(peer.Served()))
				}
				if l := tr.Leases(); len(l) != 1 {
					t.Errorf("%d lease requests; after the answer names the relay as WAN owner there is none", len(l))
				}
			})
		})
	}
}

// relayOwnerEnv is one agent's download of n fragments in a site whose
// tracker answers leases with grant, with the relay source relaySrc known
// to the fetcher (SiteInfo.Relays) and central behind it.
func relayOwnerEnv(t *testing.T, n int, fcfg fetch.Config, grant func(proto.TrackerLeaseRequest) proto.TrackerLeaseResponse,
	relay func(data []byte) *swarmtest.Source) (*env, *fetch.Fetcher, *swarmtest.Source) {
	t.Helper()
	data := payload(n*fragSize - 100)
	relaySrc := relay(data)
	tr := swarmtest.NewTracker()
	tr.SetGrant(grant)
	store, err := fragstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	central := swarmtest.NewSource("central", fetch.KindCentral, data)
	log := slog.New(slog.DiscardHandler)
	up, err := fetch.New(fcfg, store, []fetch.Source{central}, log)
	if err != nil {
		t.Fatal(err)
	}
	up.SetRelays([]fetch.Source{relaySrc})
	s, err := swarm.New(swarm.Config{}, swarm.Deps{Upstream: up, Store: store, Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.SetTracker(tr)
	return &env{data: data, m: manifestOf(data), store: store, tracker: tr, upstream: central, sched: s}, up, relaySrc
}

// TestRelayUnreachable: the tracker names the site's relay the WAN owner,
// but this agent cannot reach it: once the fetcher gives up on the relay,
// the download excludes it from its lease requests and fetches what
// nobody holds from central through leases.
func TestRelayUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 40
		granted := 0
		e, _, _ := relayOwnerEnv(t, n, fetch.Config{MaxAttempts: 3, RelayFailures: 2}, func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			if !slices.Contains(req.Exclude, "relay-1") {
				return proto.TrackerLeaseResponse{Relay: true}
			}
			g := req.Want[:min(len(req.Want), req.Max)]
			granted += len(g)
			return proto.TrackerLeaseResponse{Granted: g, TTL: 60}
		}, func(data []byte) *swarmtest.Source {
			src := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
			src.SetFail(errors.New("connection refused"))
			return src
		})
		e.upstream.SetDelay(func(int) time.Duration { return 50 * time.Millisecond }) // A WAN: ticks pass.
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		excluded := false
		for _, l := range e.tracker.Leases() {
			excluded = excluded || slices.Contains(l.Exclude, "relay-1")
		}
		if !excluded || granted == 0 {
			t.Errorf("lease requests excluded the relay: %t, fragments granted %d; want the rest fetched through leases", excluded, granted)
		}
		if got := len(e.upstream.Served()); got != n {
			t.Errorf("central served %d fragments, want each of the %d once", got, n)
		}
	})
}

// TestSeedingSurvivesRestart: a scheduler that downloaded a package and is
// created again on the same store and seed file (an agent restarted after
// the install) announces the package's fragments at once; once they are
// evicted it forgets the package, also in the file.
func TestSeedingSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 6
		data := payload(n*fragSize - 10)
		m := manifestOf(data)
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		seed := filepath.Join(t.TempDir(), "seeding.json")
		central := swarmtest.NewSource("central", fetch.KindCentral, data)
		log := slog.New(slog.DiscardHandler)
		newSched := func(tr *swarmtest.Tracker) *swarm.Scheduler {
			up, err := fetch.New(fetch.Config{}, store, []fetch.Source{central}, log)
			if err != nil {
				t.Fatal(err)
			}
			s, err := swarm.New(swarm.Config{}, swarm.Deps{Upstream: up, Store: store, SeedFile: seed,
				Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}, log)
			if err != nil {
				t.Fatal(err)
			}
			s.SetTracker(tr)
			return s
		}
		tr1 := swarmtest.NewTracker()
		tr1.SetGrant(grantOnly(swarmtest.Range(0, n)...))
		e := &env{data: data, m: m, store: store, tracker: tr1, upstream: central, sched: newSched(tr1)}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if fi, err := os.Stat(seed); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("seed file: %v (mode %v), want 0600", err, fi)
		}

		// Restart: the new scheduler announces the package without a download.
		tr2 := swarmtest.NewTracker()
		s2 := newSched(tr2)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = s2.Run(ctx); close(done) }()
		synctest.Wait()
		anns := tr2.Announces()
		if len(anns) == 0 || len(anns[0].Packages) != 1 || anns[0].Packages[0].PackageID != m.PackageID || anns[0].Packages[0].Have.Count(n) != n {
			t.Fatalf("announces after the restart: %+v; want package %s with all %d fragments", anns, m.PackageID, n)
		}
		// Evicted: the next announce drops the package and the file forgets it.
		for _, f := range m.Fragments {
			if err := store.Remove(f.CID); err != nil {
				t.Fatal(err)
			}
		}
		s2.Kick()
		synctest.Wait()
		anns = tr2.Announces()
		if last := anns[len(anns)-1]; len(last.Packages) != 0 {
			t.Errorf("announce after eviction: %+v, want no package", last.Packages)
		}
		cancel()
		<-done
		if tr2.Leaves() != 1 {
			t.Errorf("the stopped scheduler left the tracker %d times, want 1", tr2.Leaves())
		}
		if b, err := os.ReadFile(seed); err != nil || strings.Contains(string(b), m.PackageID) {
			t.Errorf("seed file after eviction: %s, %v; want the package gone", b, err)
		}
	})
}

// TestBusyDownloadLooksUpRarely: while peers hold more than the download
// can ask at once, it does not look up again (every lookup crosses the
// branch uplink); one that waits for a fragment nobody holds does.
func TestBusyDownloadLooksUpRarely(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 64
		all := swarmtest.Range(0, n)
		e := newSwarm(t, n, swarm.Config{}, map[string][]int{"peerA": all, "peerB": all, "peerC": all})
		for _, p := range e.peers {
			p.SetDelay(func(int) time.Duration { return 300 * time.Millisecond })
		}
		lookups := 0
		e.tracker.SetOnLookup(func(k int) { lookups = k })
		took := e.fetchStored(t)
		if lookups > 1 {
			t.Errorf("%d lookups in %s while every slot had work, want 1", lookups, took)
		}
	})
}

// TestRelayBusyIsWaitedFor: a relay that answers "busy" (still pulling the
// fragment from upstream, or at its upload limit) is asked again after a
// pause, not given up: central is never asked and no lease is taken.
func TestRelayBusyIsWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		e, up, relaySrc := relayOwnerEnv(t, n, fetch.Config{RelayFailures: 2}, func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
			if slices.Contains(req.Exclude, "relay-1") {
				return proto.TrackerLeaseResponse{Granted: req.Want[:min(len(req.Want), req.Max)], TTL: 60}
			}
			return proto.TrackerLeaseResponse{Relay: true}
		}, func(data []byte) *swarmtest.Source {
			src := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
			src.SetFail(p2p.ErrBusy)
			var busy atomic.Int64
			src.SetOnRequest(func(string, int) {
				if busy.Add(1) == 12 {
					src.SetFail(nil)
				}
			})
			return src
		})
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got := len(e.upstream.Requests()); got != 0 || len(up.DownRelays()) != 0 {
			t.Errorf("central asked %d times, relays down %v: a busy relay was given up", got, up.DownRelays())
		}
		if got := len(relaySrc.Served()); got != n || st.BytesRelay.Load() != int64(len(e.data)) {
			t.Errorf("relay served %d fragments (%d bytes), want all %d", got, st.BytesRelay.Load(), n)
		}
		for _, note := range st.Notes() {
			t.Errorf("result note %q: a busy relay is not a failure", note)
		}
	})
}

// TestPeerBeforeRelay: a fragment both a peer and the site's relay hold is
// asked of the peer while it has a free stream: the relay's one LAN port
// serves the whole branch.
func TestPeerBeforeRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 16
		data := payload(n*fragSize - 100)
		relaySrc := swarmtest.NewSource("relay-1", fetch.KindRelay, data)
		peer := swarmtest.NewSource("peerA", fetch.KindPeer, data)
		relayEntry := proto.TrackerPeer{PeerID: "relay-1", Addrs: []string{"/ip4/10.0.0.9/tcp/4011"}, Kind: proto.HolderRelay,
			RelayURL: "http://10.0.0.9:8090", Have: swarmtest.Have(n, swarmtest.Range(0, n)...), Total: n}
		tr := swarmtest.NewTracker(relayEntry, swarmtest.Peer("peerA", n, swarmtest.Have(n, swarmtest.Range(0, n)...)))
		store, err := fragstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		central := swarmtest.NewSource("central", fetch.KindCentral, data)
		log := slog.New(slog.DiscardHandler)
		up, err := fetch.New(fetch.Config{MaxAttempts: 2}, store, []fetch.Source{central}, log)
		if err != nil {
			t.Fatal(err)
		}
		deps := swarm.Deps{Upstream: up, Store: store, PeerSource: swarmtest.Peers(peer), RelaySource: swarmtest.Peers(relaySrc),
			Self: func() swarm.Self { return swarm.Self{PeerID: "me"} }}
		// Two requests at most, both of which peerA's two streams take.
		s, err := swarm.New(swarm.Config{PeerStreams: 2, MaxPeerRequests: 2, EndgameFragments: -1, HedgeFactor: -1}, deps, log)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTracker(tr)
		e := &env{data: data, m: manifestOf(data), store: store, tracker: tr, upstream: central, sched: s}
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got, rel := len(peer.Served()), len(relaySrc.Served()); got != n || rel != 0 {
			t.Errorf("peerA served %d, the relay %d: want all %d from the peer", got, rel, n)
		}
	})
}
