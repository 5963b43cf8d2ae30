package lan

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// testCentral is the record-signing side of central for tests.
type testCentral struct {
	key ed25519.PrivateKey
	pub ed25519.PublicKey
}

func newTestCentral(t testing.TB) testCentral {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testCentral{key: key, pub: pub}
}

func (c testCentral) record(t testing.TB, peerID, site string, expires time.Time) proto.SignedPeerRecord {
	t.Helper()
	s, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: peerID, DeviceID: "dev-" + peerID, Site: site, Role: proto.RoleAgent, Issued: time.Now(), Expires: expires}, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newGossipKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, gossipKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// testSite is one site: its name and gossip key, signed by central.
type testSite struct {
	central   testCentral
	name      string
	gossipKey []byte
}

func newTestSite(t testing.TB, central testCentral, name string) testSite {
	return testSite{central: central, name: name, gossipKey: newGossipKey(t)}
}

// identity returns a valid identity of peerID in the site.
func (s testSite) identity(t testing.TB, peerID string) Identity {
	t.Helper()
	return Identity{
		PeerID:    peerID,
		Site:      s.name,
		Version:   "v1.2.3",
		Record:    s.central.record(t, peerID, s.name, time.Now().Add(time.Hour)),
		RecordKey: s.central.pub,
		GossipKey: s.gossipKey,
	}
}

func testConfig() Config { return Config{Bind: "127.0.0.1:0"} }

// testNode is a running Cluster; t.Cleanup stops it.
type testNode struct {
	*Cluster
	cancel context.CancelFunc
	done   chan error
}

// startNode runs a cluster built by New(cfg, id) after mutate (which may
// be nil) has had a go at it, and waits until it is ready.
func startNode(t testing.TB, cfg Config, id Identity, mutate func(*Cluster)) *testNode {
	t.Helper()
	c, err := New(cfg, slog.New(slog.DiscardHandler), id)
	if err != nil {
		t.Fatalf("New(%s): %v", id.PeerID, err)
	}
	if mutate != nil {
		mutate(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{Cluster: c, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- c.Run(ctx) }()
	t.Cleanup(func() { n.close(t) })
	select {
	case <-c.Ready():
	case err := <-n.done:
		t.Fatalf("Run(%s) = %v before ready", id.PeerID, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Run(%s) not ready after 10s", id.PeerID)
	}
	return n
}

// close cancels Run and waits for it to return.
func (n *testNode) close(t testing.TB) {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("Run(%s) = %v", n.id.PeerID, err)
		}
		n.done <- nil // Later closes return at once.
	case <-time.After(15 * time.Second):
		t.Errorf("Run(%s) did not return 15s after cancel", n.id.PeerID)
	}
}

// kill stops the node like a crash: no leave message.
func (n *testNode) kill() {
	n.stop(false)
	n.cancel()
}

// join joins seeds, trying again for 15 s: under load one exchange can
// miss its TCPTimeout (3 s), and an agent tries again too.
func (n *testNode) join(t testing.TB, seeds ...*testNode) {
	t.Helper()
	var addrs []string
	for _, s := range seeds {
		addrs = append(addrs, s.LocalAddr())
	}
	if err := n.joinAgain(15*time.Second, addrs); err != nil {
		t.Fatalf("%s: Join: %v", n.id.PeerID, err)
	}
}

// joinAgain calls Join until it succeeds or timeout passes, and returns
// its last error.
func (n *testNode) joinAgain(timeout time.Duration, addrs []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return testwait.Until(timeout, func() error {
		_, err := n.Join(ctx, addrs)
		return err
	})
}

func memberIDs(c *Cluster) []string {
	var ids []string
	for _, m := range c.Members() {
		ids = append(ids, m.PeerID)
	}
	return ids
}

// joinWait bounds the wait for joins to converge. A join normally shows
// everywhere within a second, but under load memberlist can spend its few
// retransmits of a node's alive message before a third node is known, and
// then only the next push-pull (every 15 s) tells that node: the wait
// covers one. The functional tests are about who is admitted, not how fast;
// BenchmarkMembership20 measures the speed.
const joinWait = 20 * time.Second

// waitMembers waits until every node lists exactly the others as members.
func waitMembers(t testing.TB, timeout time.Duration, nodes ...*testNode) {
	t.Helper()
	testwait.For(t, timeout, "full membership", func() error {
		for _, n := range nodes {
			var want []string
			for _, o := range nodes {
				if o != n {
					want = append(want, o.id.PeerID)
				}
			}
			slices.Sort(want)
			if got := memberIDs(n.Cluster); !slices.Equal(got, want) {
				return fmt.Errorf("%s sees %v, want %v", n.id.PeerID, got, want)
			}
		}
		return nil
	})
}

// inTableFor reports how long memberlist has listed peer as alive at c
// (0 when it does not).
func inTableFor(c *Cluster, peer string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[peer]
	if !ok {
		return 0
	}
	return time.Since(n.since)
}

func hasCachedRecord(c *Cluster, peer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.records[peer]
	return ok
}
