package p2p

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// fakeHaves is a downloader for have sessions: what it holds per package,
// and the claims it was told.
type fakeHaves struct {
	mu     sync.Mutex
	local  map[string]proto.Bitfield
	claims map[string][]int // "pkg peer" → indexes, in order
}

func newFakeHaves() *fakeHaves {
	return &fakeHaves{local: map[string]proto.Bitfield{}, claims: map[string][]int{}}
}

func (f *fakeHaves) set(pkg string, total int, idx ...int) {
	b := proto.NewBitfield(total)
	for _, i := range idx {
		b.Set(i)
	}
	f.mu.Lock()
	f.local[pkg] = b
	f.mu.Unlock()
}

func (f *fakeHaves) Local(pkg string, total int) (proto.Bitfield, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.local[pkg]
	if !ok || len(b) != (total+7)/8 {
		return nil, false
	}
	return slices.Clone(b), true
}

func (f *fakeHaves) Claim(pkg, peerID string, addrs []string, idx []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := pkg + " " + peerID
	f.claims[k] = append(f.claims[k], idx...)
}

func (f *fakeHaves) claimed(pkg string, from *testNode) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.claims[pkg+" "+from.PeerID().String()])
}

// waitClaims waits until f was told exactly want by peer from.
func waitClaims(t *testing.T, f *fakeHaves, pkg string, from *testNode, want []int) {
	t.Helper()
	testwait.For(t, 10*time.Second, "have claims", func() error {
		if diff := cmp.Diff(want, f.claimed(pkg, from)); diff != "" {
			return fmt.Errorf("claims of %s (-want +got):\n%s", pkg, diff)
		}
		return nil
	})
}

// TestHaveExchange: a session carries both sides' bitfields at once, then
// each fragment either side publishes, only to a peer that lacks it, and
// ends with the opener's context.
func TestHaveExchange(t *testing.T) {
	c := newCentral(t)
	a, b := startNode(t, c, Config{}), startNode(t, c, Config{})
	ha, hb := newFakeHaves(), newFakeHaves()
	ha.set("pkg", 20, 1, 2)
	hb.set("pkg", 20, 7)
	a.SetHaves(ha)
	b.SetHaves(hb)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.WatchHaves(ctx, "pkg", 20, b.PeerID().String(), b.Addrs()); err != nil {
		t.Fatal(err)
	}
	waitClaims(t, hb, "pkg", a, []int{1, 2})
	waitClaims(t, ha, "pkg", b, []int{7})
	// A second watch while one is open opens nothing.
	if err := a.WatchHaves(ctx, "pkg", 20, b.PeerID().String(), b.Addrs()); err != nil {
		t.Fatal(err)
	}
	if n := a.HaveSessions(); n != 1 {
		t.Errorf("a has %d have sessions, want 1", n)
	}
	a.PublishHave("pkg", 3)
	b.PublishHave("pkg", 4)
	a.PublishHave("pkg", 7) // b's bitfield claims it: not sent.
	// (b publishing 3 too would race with a's claim of 3 reaching b: sent
	// or not depending on which comes first.)
	waitClaims(t, hb, "pkg", a, []int{1, 2, 3})
	waitClaims(t, ha, "pkg", b, []int{7, 4})
	cancel()
	testwait.For(t, 10*time.Second, "sessions closed", func() error {
		if na, nb := a.HaveSessions(), b.HaveSessions(); na != 0 || nb != 0 {
			return fmt.Errorf("open sessions: a %d, b %d", na, nb)
		}
		return nil
	})
}

// TestHaveRefused: a peer of another site, or one that does not fetch the
// package, gets no session and tells nothing.
func TestHaveRefused(t *testing.T) {
	c := newCentral(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, b *testNode, hb *fakeHaves)
	}{
		{name: "other-site", setup: func(t *testing.T, b *testNode, hb *fakeHaves) {
			b.forceRecord(c.record(t, b.PeerID(), "branch-2", time.Hour))
			b.SetSite("branch-2", nil)
		}},
		{name: "not-interested", setup: func(t *testing.T, b *testNode, hb *fakeHaves) {
			hb.mu.Lock()
			delete(hb.local, "pkg")
			hb.mu.Unlock()
		}},
		{name: "no-haves", setup: func(t *testing.T, b *testNode, hb *fakeHaves) {
			b.SetHaves(nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := startNode(t, c, Config{}), startNode(t, c, Config{})
			ha, hb := newFakeHaves(), newFakeHaves()
			ha.set("pkg", 20, 1)
			a.SetHaves(ha)
			b.SetHaves(hb)
			hb.set("pkg", 20, 5)
			tt.setup(t, b, hb)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := a.WatchHaves(ctx, "pkg", 20, b.PeerID().String(), b.Addrs()); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 10*time.Second, "session refused", func() error {
				a.hvMu.Lock()
				defer a.hvMu.Unlock()
				if len(a.hv) != 0 || len(a.hvFailed) != 1 {
					return fmt.Errorf("a: %d sessions, %d failed, want 0 and 1", len(a.hv), len(a.hvFailed))
				}
				return nil
			})
			if got := ha.claimed("pkg", b); len(got) != 0 {
				t.Errorf("a was told %v by a refused peer", got)
			}
			if got := hb.claimed("pkg", a); len(got) != 0 {
				t.Errorf("b was told %v by a refused session", got)
			}
		})
	}
}

// TestHaveMisbehavingPeer plays a peer on a raw stream with a valid
// record: a flood of have messages is cut off once past the configured
// rate and burst, and an index out of range resets the stream at once;
// either way the node takes in no more than the limit allows.
func TestHaveMisbehavingPeer(t *testing.T) {
	c := newCentral(t)
	const rate = 10
	tests := []struct {
		name string
		msgs func(i int) haveMsg
		// most claims the node may take in
		most int
	}{
		{name: "flood", msgs: func(i int) haveMsg { return haveMsg{Have: []int{i % 100}} }, most: 2 * rate},
		{name: "out-of-range", msgs: func(i int) haveMsg { return haveMsg{Have: []int{100 + i}} }, most: 0},
		{name: "too-many-indexes", msgs: func(i int) haveMsg { return haveMsg{Have: make([]int, 101)} }, most: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := startNode(t, c, Config{HaveRate: rate})
			hs := newFakeHaves()
			hs.set("pkg", 100)
			server.SetHaves(hs)
			h, _ := rawHost(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := h.Connect(ctx, peerInfo(t, server)); err != nil {
				t.Fatal(err)
			}
			s, err := h.NewStream(ctx, server.PeerID(), proto.HaveProtocol)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			rec := c.record(t, h.ID(), testSite, time.Hour)
			if err := writeHeader(s, haveHello{Record: rec, Package: "pkg", Total: 100, Have: proto.NewBitfield(100)}); err != nil {
				t.Fatal(err)
			}
			var rep haveReply
			if err := readHeader(s, &rep); err != nil || rep.Status != statusOK {
				t.Fatalf("reply %+v, %v; want ok", rep, err)
			}
			// The node resets the stream; a write blocked on a full
			// window need not notice, so the node's side is checked.
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.SetWriteDeadline(time.Now().Add(10 * time.Second))
				for i := range 10000 {
					if writeHeader(s, tt.msgs(i)) != nil {
						return
					}
				}
			}()
			testwait.For(t, 10*time.Second, "stream cut off", func() error {
				if n := server.HaveSessions(); n != 0 {
					return fmt.Errorf("%d have sessions open", n)
				}
				return nil
			})
			s.Reset()
			<-done
			var got int
			hs.mu.Lock()
			for _, idx := range hs.claims {
				got += len(idx)
			}
			hs.mu.Unlock()
			if got > tt.most {
				t.Errorf("node took in %d claims, want at most %d", got, tt.most)
			}
		})
	}
}
