package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
	"github.com/shoal-project/shoal/tracker"
)

// testAgent is a Shoal agent's libp2p node and tracker client in site.
type testAgent struct {
	node   *p2p.Node
	signer *trackerclient.Signer
}

func startAgentNode(t testing.TB, c *relaytest.Central, site string) *testAgent {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	st, err := fragstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := p2p.New(p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, key, discard(), p2p.Deps{Store: st, CentralKey: c.Pub})
	if err != nil {
		t.Fatal(err)
	}
	rec := c.SignRecord(t, id.String(), site, time.Now().Add(time.Hour))
	n.SetSite(site, nil)
	if err := n.SetPeerRecord(rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := n.Run(ctx); err != nil {
			t.Errorf("agent node: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	testwait.For(t, 10*time.Second, "agent node listening", func() error {
		if len(n.Addrs()) == 0 {
			return errors.New("no address")
		}
		return nil
	})
	return &testAgent{node: n, signer: trackerclient.NewSigner(key, rec)}
}

func fetchVerified(ctx context.Context, src *p2p.PeerSource, pkg string, f proto.Fragment) ([]byte, error) {
	rc, err := src.Fetch(ctx, pkg, f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if proto.FragmentCID(b).String() != f.CID {
		return nil, fmt.Errorf("fragment %d: bytes do not match the CID", f.Index)
	}
	return b, nil
}

// TestRelayServesOverLibp2p: an enrolled relay serves the site's Shoal
// agents over libp2p with pull-through (one upstream fetch per fragment,
// corrupt upstream bytes never served), refuses agents of other sites,
// reports its addresses to central and announces itself to the tracker
// as the site's relay with the fragments it holds.
func TestRelayServesOverLibp2p(t *testing.T) {
	c := relaytest.New(t)
	const frags = 6
	p := c.AddPackage(t, testPkg, randomBytes(frags*16384), 16384, 2)
	trk, err := tracker.New(tracker.Config{}, slog.New(slog.DiscardHandler), tracker.Verifier{Key: c.Pub})
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(context.Background())
	var twg sync.WaitGroup
	twg.Go(func() { _ = trk.Run(tctx) })
	ts := httptest.NewServer(trk.Handler())
	t.Cleanup(func() {
		ts.Close()
		tcancel()
		twg.Wait()
	})
	c.SetSite(&proto.SiteInfo{Name: "branch", TrackerURL: ts.URL})

	dir := t.TempDir()
	enrollAt(t, c, dir)
	r, stopRelay := runRelay(t, dir, func(cfg *Config) { cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"} })
	var addrs []string
	testwait.For(t, 10*time.Second, "a report with the relay's libp2p addresses", func() error {
		rep := c.Reports()
		if len(rep) == 0 || len(rep[len(rep)-1].P2PAddrs) == 0 {
			return errors.New("no addresses reported")
		}
		addrs = rep[len(rep)-1].P2PAddrs
		return nil
	})
	relayID := r.enr.PeerID
	testwait.For(t, 10*time.Second, "healthz to show the libp2p addresses and no tracker error", func() error {
		h := getHealth(t, r)
		if len(h.P2PAddrs) == 0 || h.LastTrackerError != "" {
			return fmt.Errorf("health %+v", h)
		}
		return nil
	})

	agent := startAgentNode(t, c, "branch")
	src, err := agent.node.RelaySource("relay1", relayID, addrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var got []byte
	for range 2 {
		got = got[:0]
		for _, f := range p.Manifest.Fragments {
			b, err := fetchVerified(ctx, src, testPkg, f)
			if err != nil {
				t.Fatalf("fragment %d over libp2p: %v", f.Index, err)
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, p.Payload) {
			t.Fatal("package bytes differ")
		}
	}
	for _, f := range p.Manifest.Fragments {
		if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 1 {
			t.Errorf("fragment %d fetched from upstream %d times, want 1", f.Index, n)
		}
	}
	// The relay counts a fragment once its stream is done, which may be
	// just after the agent has read the last byte.
	testwait.For(t, 10*time.Second, "the relay's package stats", func() error {
		st := r.PackageStats(testPkg)
		if st.Misses != frags || st.Hits != frags || st.ServedBytes != 2*int64(len(p.Payload)) {
			return fmt.Errorf("package stats %+v: want %d misses, %d hits, %d bytes served", st, frags, frags, 2*len(p.Payload))
		}
		return nil
	})
	testwait.For(t, 10*time.Second, "the report to count libp2p bytes", func() error {
		rep := c.Reports()
		if got := rep[len(rep)-1].P2PServed; got != 2*int64(len(p.Payload)) {
			return fmt.Errorf("p2p_served %d", got)
		}
		return nil
	})

	// The tracker lists the relay first, with what it holds; a lease
	// answer names it the WAN owner.
	tc, err := trackerclient.NewClient(ts.URL, nil, agent.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Announce(ctx, proto.TrackerAnnounce{Addrs: agent.node.Addrs(), Packages: []proto.PackageHave{}}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the relay's tracker entry to hold the package", func() error {
		l, err := tc.Lookup(ctx, testPkg)
		if err != nil {
			return err
		}
		if len(l.Peers) == 0 || l.Peers[0].Kind != proto.HolderRelay || l.Peers[0].PeerID != relayID {
			return fmt.Errorf("lookup %+v", l.Peers)
		}
		if h := l.Peers[0].Have.Count(frags); h != frags || len(l.Peers[0].Addrs) == 0 {
			return fmt.Errorf("relay entry holds %d of %d, addrs %v", h, frags, l.Peers[0].Addrs)
		}
		return nil
	})
	lease, err := tc.Lease(ctx, proto.TrackerLeaseRequest{PackageID: testPkg, Total: frags, Want: []int{0}, Max: 1})
	if err != nil || !lease.Relay || len(lease.Granted) != 0 {
		t.Errorf("lease with a live relay: %+v, %v; want Relay and nothing granted", lease, err)
	}

	// Corrupt upstream bytes are refused, not cached, not served; the next
	// request fetches again.
	q := c.AddPackage(t, "1700000099", randomBytes(2*16384), 16384, 1)
	bad := q.Manifest.Fragments[1]
	c.Corrupt(proto.FragmentPath(q.ID, bad.CID), 1)
	if _, err := fetchVerified(ctx, src, q.ID, bad); !errors.Is(err, p2p.ErrPeer) || !strings.Contains(err.Error(), "upstream failed") {
		t.Errorf("fragment with corrupt upstream bytes: %v, want the relay's refusal", err)
	}
	if ok, _ := r.store.Check(bad.CID, bad.Size); ok {
		t.Error("the relay kept a corrupt fragment")
	}
	if _, err := fetchVerified(ctx, src, q.ID, bad); err != nil {
		t.Errorf("fragment after the corrupt answer: %v", err)
	}
	if n := c.Count(proto.FragmentPath(q.ID, bad.CID)); n != 2 {
		t.Errorf("corrupt fragment fetched %d times, want 2", n)
	}
	if r.PackageStats(q.ID).Corrupt != 1 {
		t.Errorf("corrupt events %d, want 1", r.PackageStats(q.ID).Corrupt)
	}

	// Unknown fragments and agents of other sites get nothing, and cost
	// no upstream request.
	before := c.FragmentRequests(testPkg)
	unknown := proto.Fragment{Index: 0, Size: 5, CID: proto.FragmentCID([]byte("other")).String()}
	if _, err := fetchVerified(ctx, src, testPkg, unknown); !errors.Is(err, p2p.ErrNotFound) {
		t.Errorf("fragment not in the manifest: %v, want ErrNotFound", err)
	}
	other := startAgentNode(t, c, "elsewhere")
	osrc, _ := other.node.RelaySource("relay1", relayID, addrs)
	if _, err := fetchVerified(ctx, osrc, testPkg, p.Manifest.Fragments[0]); !errors.Is(err, p2p.ErrForbidden) {
		t.Errorf("agent of another site: %v, want ErrForbidden", err)
	}
	if n := c.FragmentRequests(testPkg); n != before {
		t.Errorf("refused requests made %d upstream fetches", n-before)
	}

	// A relay that stops leaves the tracker: the site gets leases at once.
	stopRelay()
	if _, err := tc.Announce(ctx, proto.TrackerAnnounce{Addrs: agent.node.Addrs(), Packages: []proto.PackageHave{}}); err != nil {
		t.Fatal(err)
	}
	lease, err = tc.Lease(ctx, proto.TrackerLeaseRequest{PackageID: testPkg, Total: frags, Want: []int{0}, Max: 1})
	if err != nil || lease.Relay || len(lease.Granted) != 1 {
		t.Errorf("lease after the relay stopped: %+v, %v; want a lease, no relay", lease, err)
	}
}

// getHealth reads the relay's /healthz through its handler.
func getHealth(t *testing.T, r *Relay) Health {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("healthz %q: %v", rec.Body.String(), err)
	}
	return h
}
