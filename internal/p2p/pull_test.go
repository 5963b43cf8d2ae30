package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
)

// upstreamHook plays a relay's upstream: Pull stores the fragment's bytes
// from data (by CID) into the node's store, or fails as told.
type upstreamHook struct {
	mu     sync.Mutex
	data   map[string][]byte
	pulls  atomic.Int64
	fail   error         // returned instead of pulling
	block  chan struct{} // when set, Pull waits for it (or ctx)
	served map[string]int64
	hits   atomic.Int64 // fragments served without a pull
}

func (u *upstreamHook) pull(ctx context.Context, st *fragstore.Store, pkg, cid string, size int64) error {
	u.pulls.Add(1)
	if u.block != nil {
		select {
		case <-u.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if u.fail != nil {
		return u.fail
	}
	u.mu.Lock()
	b, ok := u.data[cid]
	u.mu.Unlock()
	if !ok || int64(len(b)) != size {
		return fmt.Errorf("fragment %s of %s: %w", cid, pkg, ErrNotFound)
	}
	w, err := st.Create(cid, size)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func (u *upstreamHook) countServed(pkg, _ string, n int64, pulled bool) {
	if !pulled {
		u.hits.Add(1)
	}
	u.mu.Lock()
	u.served[pkg] += n
	u.mu.Unlock()
}

// startRelayNode starts a node whose Pull hook is u (its store set).
func startRelayNode(t *testing.T, c *central, cfg Config, u *upstreamHook) *testNode {
	t.Helper()
	var st atomic.Pointer[fragstore.Store]
	u.served = map[string]int64{}
	n := startNodeDeps(t, c, cfg, Deps{
		Pull: func(ctx context.Context, pkg, cid string, size int64) error {
			return u.pull(ctx, st.Load(), pkg, cid, size)
		},
		Served: u.countServed,
	})
	st.Store(n.store)
	return n
}

func TestRelayPullThrough(t *testing.T) {
	c := newCentral(t)
	data := randomBytes(300<<10, 7)
	f := proto.Fragment{Size: int64(len(data)), CID: proto.FragmentCID(data).String()}
	u := &upstreamHook{data: map[string][]byte{f.CID: data}}
	relay := startRelayNode(t, c, Config{}, u)
	agent := startNode(t, c, Config{})
	src, err := agent.RelaySource("branch-relay", relay.PeerID().String(), relay.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind() != fetch.KindRelay || !strings.Contains(src.String(), "relay branch-relay") {
		t.Fatalf("relay source kind %q, name %q", src.Kind(), src.String())
	}
	ctx := t.Context()
	for range 2 {
		got, err := fetchBytes(ctx, src, f)
		if err != nil {
			t.Fatalf("fetch through relay: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("relay served other bytes")
		}
	}
	// The Served hook runs once a stream is done, which may be just
	// after the fetcher has read the last byte.
	testwait.For(t, 10*time.Second, "the Served hook for both requests", func() error {
		u.mu.Lock()
		served := u.served["pkg-1"]
		u.mu.Unlock()
		if n, hits := u.pulls.Load(), u.hits.Load(); n != 1 || hits != 1 || served != 2*f.Size {
			return fmt.Errorf("upstream pulled %d times, %d hits, Served counted %d bytes; want 1, 1 (the second request is a hit) and %d",
				n, hits, served, 2*f.Size)
		}
		return nil
	})

	// A plain peer (no Pull hook) answers "not found" without asking anyone.
	plain := startNode(t, c, Config{})
	if _, err := fetchBytes(ctx, agent.source(t, plain), f); !errors.Is(err, ErrNotFound) {
		t.Errorf("fetch from a peer without the fragment: %v, want ErrNotFound", err)
	}
}

func TestRelayPullRefusals(t *testing.T) {
	c := newCentral(t)
	data := randomBytes(64<<10, 8)
	f := proto.Fragment{Size: int64(len(data)), CID: proto.FragmentCID(data).String()}
	ctx := t.Context()

	t.Run("unknown", func(t *testing.T) {
		u := &upstreamHook{data: map[string][]byte{}}
		relay := startRelayNode(t, c, Config{}, u)
		agent := startNode(t, c, Config{})
		src, _ := agent.RelaySource("r", relay.PeerID().String(), relay.Addrs())
		if _, err := fetchBytes(ctx, src, f); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown fragment: %v, want ErrNotFound", err)
		}
	})
	t.Run("upstream-fails", func(t *testing.T) {
		u := &upstreamHook{data: map[string][]byte{f.CID: data}, fail: errors.New("central answered 502")}
		relay := startRelayNode(t, c, Config{}, u)
		agent := startNode(t, c, Config{})
		src, _ := agent.RelaySource("r", relay.PeerID().String(), relay.Addrs())
		_, err := fetchBytes(ctx, src, f)
		if !errors.Is(err, ErrPeer) || !strings.Contains(err.Error(), "upstream failed") {
			t.Errorf("failing upstream: %v, want ErrPeer naming the upstream", err)
		}
		if strings.Contains(err.Error(), "502") {
			t.Errorf("the relay's upstream error leaked to the peer: %v", err)
		}
	})
	t.Run("slow-upstream-busy", func(t *testing.T) {
		u := &upstreamHook{data: map[string][]byte{f.CID: data}, block: make(chan struct{})}
		relay := startRelayNode(t, c, Config{PullTimeout: 200 * time.Millisecond}, u)
		agent := startNode(t, c, Config{})
		src, _ := agent.RelaySource("r", relay.PeerID().String(), relay.Addrs())
		if _, err := fetchBytes(ctx, src, f); !errors.Is(err, ErrBusy) {
			t.Errorf("upstream slower than pull_timeout: %v, want ErrBusy", err)
		}
		close(u.block)
		if got, err := fetchBytes(ctx, src, f); err != nil || !bytes.Equal(got, data) {
			t.Errorf("fetch once upstream answers: %v", err)
		}
	})
	t.Run("other-site", func(t *testing.T) {
		u := &upstreamHook{data: map[string][]byte{f.CID: data}}
		relay := startRelayNode(t, c, Config{}, u)
		agent := startNode(t, c, Config{})
		agent.forceRecord(c.record(t, agent.PeerID(), "branch-2", time.Hour))
		src, _ := agent.RelaySource("r", relay.PeerID().String(), relay.Addrs())
		if _, err := fetchBytes(ctx, src, f); !errors.Is(err, ErrForbidden) {
			t.Errorf("peer of another site: %v, want ErrForbidden", err)
		}
		if n := u.pulls.Load(); n != 0 {
			t.Errorf("a peer of another site made the relay pull %d times", n)
		}
	})
}

// TestRelayWait: a relay source waits for a pull longer than the
// stream timeout that bounds requests to plain peers.
func TestRelayWait(t *testing.T) {
	c := newCentral(t)
	data := randomBytes(64<<10, 9)
	f := proto.Fragment{Size: int64(len(data)), CID: proto.FragmentCID(data).String()}
	u := &upstreamHook{data: map[string][]byte{f.CID: data}, block: make(chan struct{})}
	relay := startRelayNode(t, c, Config{}, u)
	const streamTimeout = 200 * time.Millisecond
	agent := startNode(t, c, Config{StreamTimeout: streamTimeout})
	ctx := t.Context()

	if _, err := fetchBytes(ctx, agent.source(t, relay), f); err == nil {
		t.Fatal("a plain peer source waited past its stream timeout")
	}
	src, _ := agent.RelaySource("r", relay.PeerID().String(), relay.Addrs())
	start := time.Now()
	release := time.AfterFunc(3*streamTimeout, func() { close(u.block) })
	defer release.Stop()
	got, err := fetchBytes(ctx, src, f)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("relay source: %v", err)
	}
	if el := time.Since(start); el < 2*streamTimeout {
		t.Errorf("relay answered after %s; the test meant it to wait for the upstream", el)
	}
}
