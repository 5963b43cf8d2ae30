package lan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/testwait"
)

func TestJoinMetadataRoundTrip(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "branch-a")
	n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
	n1 := startNode(t, testConfig(), site.identity(t, "peer-1"), nil)
	id2 := site.identity(t, "peer-2")
	id2.Version = "v2.0.0-rc.1"
	n2 := startNode(t, testConfig(), id2, nil)
	n1.join(t, n0)
	n2.join(t, n1)
	waitMembers(t, joinWait, n0, n1, n2)

	want := []Member{
		{PeerID: "peer-1", Site: "branch-a", Version: "v1.2.3", Addr: n1.LocalAddr()},
		{PeerID: "peer-2", Site: "branch-a", Version: "v2.0.0-rc.1", Addr: n2.LocalAddr()},
	}
	if diff := cmp.Diff(want, n0.Members()); diff != "" {
		t.Errorf("n0.Members() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"peer-1": true, "peer-2": true}, n0.MemberIDs()); diff != "" {
		t.Errorf("n0.MemberIDs() mismatch (-want +got):\n%s", diff)
	}
	if n := n0.MemberCount(); n != 2 {
		t.Errorf("n0.MemberCount() = %d, want 2", n)
	}
}

func TestJoinErrors(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, Config{Bind: "127.0.0.1:0", TCPTimeout: 500 * time.Millisecond}, site.identity(t, "peer-0"), nil)

	// A lone node (no seeds, or only itself) is not an error.
	if n, err := n0.Join(context.Background(), []string{n0.LocalAddr(), ""}); n != 0 || err != nil {
		t.Errorf("Join(self) = %d, %v; want 0, nil", n, err)
	}
	if _, err := n0.Join(context.Background(), []string{"127.0.0.1:1"}); err == nil {
		t.Error("Join(dead seed) = nil error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n0.Join(ctx, []string{"127.0.0.1:1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Join(canceled) = %v, want context.Canceled", err)
	}
}

func TestWrongKeyCannotJoin(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
	n1 := startNode(t, testConfig(), site.identity(t, "peer-1"), nil)
	n1.join(t, n0)

	// Same site, valid record, but a gossip key the site does not use.
	bad := site.identity(t, "peer-intruder")
	bad.GossipKey = newGossipKey(t)
	nb := startNode(t, testConfig(), bad, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := nb.Join(ctx, []string{n0.LocalAddr(), n1.LocalAddr()}); err == nil {
		t.Fatalf("Join with the wrong key = %d, nil; want an error", n)
	}

	// A good node joining afterwards proves gossip went on meanwhile.
	n2 := startNode(t, testConfig(), site.identity(t, "peer-2"), nil)
	n2.join(t, n1)
	waitMembers(t, joinWait, n0, n1, n2)
	for _, n := range []*testNode{n0, n1, n2} {
		if d := inTableFor(n.Cluster, "peer-intruder"); d != 0 {
			t.Errorf("%s: memberlist lists the intruder", n.id.PeerID)
		}
	}
	if got := nb.Members(); len(got) != 0 {
		t.Errorf("intruder sees %v, want nobody", got)
	}
}

// TestInvalidRecordNotAdmitted runs its cases in parallel, each in a site
// of its own (its own gossip key): clusters that shared key, label and
// peer names could take each other's gossip. Each node joins every node
// it must know, so the set-up does not hang on best-effort gossip: under
// load, memberlist's few retransmits of a joining node's alive message can
// all go out before another node knows whom to send them to, and only the
// 15 s push-pull repairs that (this test once waited 5 s at load 35).
func TestInvalidRecordNotAdmitted(t *testing.T) {
	central := newTestCentral(t)
	forger := newTestCentral(t)
	tests := []struct {
		name string
		// identity returns the bad node's identity; mutate changes the
		// cluster after New, bypassing its own checks as an attacker would.
		identity func(t *testing.T, site testSite) Identity
		mutate   func(t *testing.T, c *Cluster)
		// inTable: the node has the key and passes memberlist's checks,
		// so it enters memberlist's table but must not become a member.
		inTable bool
		// validRecord: the record itself is fine (the metadata is not), so
		// it may be cached; it must still admit no one.
		validRecord bool
	}{
		{
			name: "forged",
			identity: func(t *testing.T, site testSite) Identity {
				id := site.identity(t, "peer-bad")
				id.Record = forger.record(t, "peer-bad", "a", time.Now().Add(time.Hour))
				return id
			},
			inTable: true,
		},
		{
			name: "expired",
			identity: func(t *testing.T, site testSite) Identity {
				id := site.identity(t, "peer-bad")
				id.Record = central.record(t, "peer-bad", "a", time.Now().Add(-time.Minute))
				return id
			},
			inTable: true,
		},
		{
			name:     "record-of-other-site",
			identity: func(t *testing.T, site testSite) Identity { return site.identity(t, "peer-bad") },
			mutate: func(t *testing.T, c *Cluster) {
				c.own = central.record(t, "peer-bad", "b", time.Now().Add(time.Hour))
			},
			inTable: true,
		},
		{
			name:     "record-of-other-peer",
			identity: func(t *testing.T, site testSite) Identity { return site.identity(t, "peer-bad") },
			mutate: func(t *testing.T, c *Cluster) {
				c.own = central.record(t, "peer-else", "a", time.Now().Add(time.Hour))
			},
			inTable: true,
		},
		{
			name: "other-site-with-leaked-key",
			identity: func(t *testing.T, site testSite) Identity {
				id := site.identity(t, "peer-bad")
				id.Site = "b"
				id.Record = central.record(t, "peer-bad", "b", time.Now().Add(time.Hour))
				return id
			},
		},
		{
			name:     "metadata-names-other-site",
			identity: func(t *testing.T, site testSite) Identity { return site.identity(t, "peer-bad") },
			mutate: func(t *testing.T, c *Cluster) {
				m, err := (meta{PeerID: "peer-bad", Site: "b", Version: "x"}).encode()
				if err != nil {
					t.Fatal(err)
				}
				c.meta = m
			},
			validRecord: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // Each case waits for the ask back-off; they share nothing.
			site := newTestSite(t, central, "a")
			n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
			n1 := startNode(t, testConfig(), site.identity(t, "peer-1"), nil)
			n1.join(t, n0)
			var mutate func(*Cluster)
			if tt.mutate != nil {
				mutate = func(c *Cluster) { tt.mutate(t, c) }
			}
			nb := startNode(t, testConfig(), tt.identity(t, site), mutate)
			if tt.inTable {
				if err := nb.joinAgain(15*time.Second, []string{n0.LocalAddr(), n1.LocalAddr()}); err != nil {
					t.Fatalf("Join = %v, want memberlist to accept the node", err)
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = nb.Join(ctx, []string{n0.LocalAddr(), n1.LocalAddr()})
			}
			n2 := startNode(t, testConfig(), site.identity(t, "peer-2"), nil)
			n2.join(t, n0, n1)
			waitMembers(t, joinWait, n0, n1, n2)
			if tt.inTable {
				// Wait until the honest nodes have had the bad node in
				// their tables long enough to ask it for its record.
				testwait.For(t, 20*time.Second, "bad node asked", func() error {
					for _, n := range []*testNode{n0, n1, n2} {
						if d := inTableFor(n.Cluster, "peer-bad"); d < askAfter+2*tickInterval {
							return fmt.Errorf("%s has had peer-bad for %v", n.id.PeerID, d)
						}
					}
					return nil
				})
			}
			for _, n := range []*testNode{n0, n1, n2} {
				if slices.Contains(memberIDs(n.Cluster), "peer-bad") {
					t.Errorf("%s admits peer-bad", n.id.PeerID)
				}
				// A replayed valid record of another peer may be cached
				// (it is that peer's), but it admits no one.
				if !tt.validRecord && hasCachedRecord(n.Cluster, "peer-bad") {
					t.Errorf("%s cached a bad record", n.id.PeerID)
				}
				if !tt.inTable && inTableFor(n.Cluster, "peer-bad") != 0 {
					t.Errorf("%s: memberlist lists peer-bad", n.id.PeerID)
				}
			}
		})
	}
}

func TestRevokedRemoved(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
	n1 := startNode(t, testConfig(), site.identity(t, "peer-1"), nil)
	n2 := startNode(t, testConfig(), site.identity(t, "peer-2"), nil)
	n1.join(t, n0)
	n2.join(t, n0)
	waitMembers(t, joinWait, n0, n1, n2)

	changes, stop := n0.Subscribe()
	defer stop()
	for _, n := range []*testNode{n0, n1} {
		n.SetRevoked([]string{"peer-2"})
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification after SetRevoked")
	}
	for _, n := range []*testNode{n0, n1} {
		if diff := cmp.Diff([]string{n.other(n0, n1)}, memberIDs(n.Cluster)); diff != "" {
			t.Errorf("%s members (-want +got):\n%s", n.id.PeerID, diff)
		}
		if hasCachedRecord(n.Cluster, "peer-2") {
			t.Errorf("%s still caches the revoked record", n.id.PeerID)
		}
	}
	// A rejoin of the revoked node is refused, and its record is not
	// taken back from gossip.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n2.Join(ctx, []string{n0.LocalAddr()}); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	if slices.Contains(memberIDs(n0.Cluster), "peer-2") || hasCachedRecord(n0.Cluster, "peer-2") {
		t.Error("n0 took the revoked peer back")
	}

	// Lifting the revocation lets the record back in at the next exchange.
	for _, n := range []*testNode{n0, n1} {
		n.SetRevoked(nil)
	}
	n2.join(t, n0, n1)
	waitMembers(t, joinWait, n0, n1, n2)
}

// other returns the peer ID of whichever of a, b is not n.
func (n *testNode) other(a, b *testNode) string {
	if n == a {
		return b.id.PeerID
	}
	return a.id.PeerID
}

func TestLeaveAndCrash(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	var nodes []*testNode
	for i := range 4 {
		nodes = append(nodes, startNode(t, testConfig(), site.identity(t, fmt.Sprintf("peer-%d", i)), nil))
	}
	for _, n := range nodes[1:] {
		n.join(t, nodes[0])
	}
	waitMembers(t, joinWait, nodes...)

	changes, stop := nodes[0].Subscribe()
	defer stop()
	nodes[3].close(t) // Leave, then shutdown.
	waitMembers(t, 3*time.Second, nodes[:3]...)
	select {
	case <-changes:
	default:
		t.Error("no change notification after a leave")
	}

	nodes[2].kill()
	waitMembers(t, 10*time.Second, nodes[:2]...)
}

func TestRecordRenewalSpreads(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
	n1 := startNode(t, testConfig(), site.identity(t, "peer-1"), nil)
	n2 := startNode(t, testConfig(), site.identity(t, "peer-2"), nil)
	n1.join(t, n0)
	n2.join(t, n1)
	waitMembers(t, joinWait, n0, n1, n2)

	later := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	if err := n2.SetRecord(site.central.record(t, "peer-2", "a", later)); err != nil {
		t.Fatal(err)
	}
	if err := n2.SetRecord(site.central.record(t, "peer-other", "a", later)); err == nil {
		t.Error("SetRecord accepted another peer's record")
	}
	testwait.For(t, 5*time.Second, "renewed record everywhere", func() error {
		for _, n := range []*testNode{n0, n1} {
			n.mu.Lock()
			exp := n.records["peer-2"].rec.Expires
			n.mu.Unlock()
			if !exp.Equal(later) {
				return fmt.Errorf("%s has peer-2 until %v", n.id.PeerID, exp)
			}
		}
		return nil
	})
}

func TestAskFallback(t *testing.T) {
	// Push-pull is pushed far out, so only a direct ask can bring back a
	// record that was lost after its gossip had ended.
	cfg := Config{Bind: "127.0.0.1:0", PushPullInterval: time.Hour}
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, cfg, site.identity(t, "peer-0"), nil)
	n1 := startNode(t, cfg, site.identity(t, "peer-1"), nil)
	n1.join(t, n0)
	waitMembers(t, joinWait, n0, n1)

	n0.mu.Lock()
	delete(n0.records, "peer-1")
	n := n0.nodes["peer-1"]
	n.since = time.Now().Add(-askAfter)
	n0.nodes["peer-1"] = n
	n0.recomputeLocked(time.Now())
	n0.mu.Unlock()
	if got := memberIDs(n0.Cluster); len(got) != 0 {
		t.Fatalf("n0 members without the record = %v, want none", got)
	}
	waitMembers(t, joinWait, n0, n1)
}

// TestKeyRotation rotates a site's key the way central hands it out
// (central/store GossipRingKey): the new key beside the old one, then the
// new key primary, then the old one gone, each step reaching the members
// one by one. The members never lose each other; a member that holds only
// the old key (a revoked agent, which gets no job lists) is cut off once
// the others send with the new key, and cannot join again after the
// overlap window, when they no longer hold the old key.
func TestKeyRotation(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	var nodes []*testNode
	for i := range 3 {
		nodes = append(nodes, startNode(t, testConfig(), site.identity(t, fmt.Sprintf("peer-%d", i)), nil))
	}
	old := startNode(t, testConfig(), site.identity(t, "peer-old"), nil)
	for _, n := range append(nodes[1:], old) {
		n.join(t, nodes[0])
	}
	waitMembers(t, joinWait, append(slices.Clone(nodes), old)...)

	// Watch the members: none may lose sight of another during the
	// rotation.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	lost := make(chan string, 16)
	for _, n := range nodes {
		ch, unsub := n.Subscribe()
		wg.Go(func() {
			defer unsub()
			for {
				select {
				case <-stop:
					return
				case <-ch:
				}
				got := memberIDs(n.Cluster)
				for _, o := range nodes {
					if o != n && !slices.Contains(got, o.id.PeerID) {
						select {
						case lost <- fmt.Sprintf("%s lost %s (sees %v)", n.id.PeerID, o.id.PeerID, got):
						default:
						}
					}
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
		close(lost)
		for l := range lost {
			t.Errorf("member lost during the rotation: %s", l)
		}
	}()

	k0, k1 := site.gossipKey, newGossipKey(t)
	setKeys := func(n *testNode, primary []byte, others ...[]byte) {
		t.Helper()
		if err := n.SetKeys(primary, others); err != nil {
			t.Fatalf("%s: SetKeys: %v", n.id.PeerID, err)
		}
	}
	// Phase 1: the new key is handed out beside the old one.
	for _, n := range nodes {
		setKeys(n, k0, k1)
		waitMembers(t, joinWait, append(slices.Clone(nodes), old)...)
	}
	// Phase 2: one window later, members send with the new key, one by
	// one. The old-key-only node stops understanding them and is
	// declared dead.
	for _, n := range nodes {
		setKeys(n, k1, k0)
		setKeys(n, k1, k0) // Idempotent.
	}
	waitMembers(t, 15*time.Second, nodes...)
	// Phase 3: two windows after the rotation, the old key is gone.
	for _, n := range nodes {
		setKeys(n, k1)
		if got := len(n.keyring.GetKeys()); got != 1 {
			t.Errorf("%s: keyring holds %d keys, want 1", n.id.PeerID, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := old.Join(ctx, []string{nodes[1].LocalAddr()}); err == nil {
		t.Error("a node with only the old key joined after the rotation")
	}
	waitMembers(t, joinWait, nodes...)

	if err := nodes[0].SetKeys([]byte("short"), nil); err == nil {
		t.Error("SetKeys(short) = nil")
	}
	if err := nodes[0].SetKeys(k1, [][]byte{[]byte("short")}); err == nil {
		t.Error("SetKeys(k1, short) = nil")
	}
}

// TestNewWithKeyRing starts a node with the primary key and another one,
// as an agent does in the middle of a rotation: it joins members still
// sending with the other key.
func TestNewWithKeyRing(t *testing.T) {
	site := newTestSite(t, newTestCentral(t), "a")
	n0 := startNode(t, testConfig(), site.identity(t, "peer-0"), nil)
	id := site.identity(t, "peer-1")
	id.GossipKey, id.GossipKeys = newGossipKey(t), [][]byte{site.gossipKey}
	n1 := startNode(t, testConfig(), id, nil)
	if err := n0.SetKeys(site.gossipKey, [][]byte{id.GossipKey}); err != nil {
		t.Fatal(err)
	}
	n1.join(t, n0)
	waitMembers(t, joinWait, n0, n1)
	bad := site.identity(t, "peer-2")
	bad.GossipKeys = [][]byte{[]byte("short")}
	if _, err := New(testConfig(), slog.New(slog.DiscardHandler), bad); err == nil {
		t.Error("New with a short other key = nil")
	}
}
