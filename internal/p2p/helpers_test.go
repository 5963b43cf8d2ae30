package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

const testSite = "branch-1"

// central is a test stand-in for central's peer-record signing key.
type central struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newCentral(t testing.TB) *central {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &central{pub: pub, priv: priv}
}

// record signs a peer record for id in site, expiring after ttl (negative:
// already expired).
func (c *central) record(t testing.TB, id peer.ID, site string, ttl time.Duration) proto.SignedPeerRecord {
	t.Helper()
	rec, err := proto.SignPeerRecord(proto.PeerRecord{
		PeerID: id.String(), DeviceID: "dev-" + id.String()[len(id.String())-6:], Site: site,
		Role: proto.RoleAgent, Issued: time.Now(), Expires: time.Now().Add(ttl),
	}, c.priv)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("P2P_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testNode is a running Node with its own store.
type testNode struct {
	*Node
	store *fragstore.Store
}

// startNode runs a node on 127.0.0.1 in site testSite with a valid record,
// stopped (and checked to stop cleanly) at the end of the test.
func startNode(t testing.TB, c *central, cfg Config) *testNode {
	t.Helper()
	return startNodeDeps(t, c, cfg, Deps{})
}

// startNodeDeps is startNode with hooks (Pull, Served) set in deps; the
// store and central key are filled in.
func startNodeDeps(t testing.TB, c *central, cfg Config, deps Deps) *testNode {
	t.Helper()
	st, err := fragstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key, id := newKey(t)
	if cfg.Listen == nil {
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	deps.Store, deps.CentralKey = st, c.pub
	n, err := New(cfg, key, testLogger(t), deps)
	if err != nil {
		t.Fatal(err)
	}
	// Tests choose corruption explicitly, also in shoalcorrupt builds.
	n.mangle = nil
	n.SetSite(testSite, nil)
	if err := n.SetPeerRecord(c.record(t, id, testSite, time.Hour)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
	select {
	case <-n.Ready():
	case err := <-errc:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("node not ready after 10s")
	}
	return &testNode{Node: n, store: st}
}

// forceRecord installs rec as n's own record without SetPeerRecord's
// checks, to present bad records to peers.
func (n *testNode) forceRecord(rec proto.SignedPeerRecord) {
	n.mu.Lock()
	n.own = &rec
	n.mu.Unlock()
}

// source returns a PeerSource from n to peer to.
func (n *testNode) source(t testing.TB, to *testNode) *PeerSource {
	t.Helper()
	s, err := n.Source(to.PeerID().String(), to.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int, seed uint64) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// put stores data in n's store and returns its fragment description.
func (n *testNode) put(t testing.TB, data []byte) proto.Fragment {
	t.Helper()
	id := proto.FragmentCID(data).String()
	w, err := n.store.Create(id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return proto.Fragment{Size: int64(len(data)), CID: id}
}

// fetchBytes fetches f from src and reads the whole body.
func fetchBytes(ctx context.Context, src *PeerSource, f proto.Fragment) ([]byte, error) {
	rc, err := src.Fetch(ctx, "pkg-1", f)
	if err != nil {
		return nil, err
	}
	b, rerr := io.ReadAll(rc)
	cerr := rc.Close()
	return b, errors.Join(rerr, cerr)
}

// rawHost is a bare libp2p host with the same transports, to play a
// misbehaving peer.
func rawHost(t testing.TB) (host.Host, crypto.PrivKey) {
	t.Helper()
	key, _ := newKey(t)
	tmpl, err := certTemplate(time.Now(), certBackdate)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}.withDefaults(), key, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, key
}

func emptyStore(t testing.TB) *fragstore.Store {
	t.Helper()
	st, err := fragstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
