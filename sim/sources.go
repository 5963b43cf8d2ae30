package sim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/proto"
)

// maxUploads is internal/p2p's default MaxUploads: requests beyond it
// are answered "busy".
const maxUploads = 8

// centralSource is central's fragment route as an agent of branch b sees
// it: a request costs a WAN round trip, its bytes cross the uplink (at
// most one Reno stream's rate each) and the agent's LAN port.
type centralSource struct {
	b  *branch
	to *host
}

func (c centralSource) Kind() string   { return fetch.KindCentral }
func (c centralSource) String() string { return "central" }

func (c centralSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	return c.FetchRange(ctx, pkg, f, 0, f.Size)
}

// FetchRange implements fetch.RangeSource.
func (c centralSource) FetchRange(ctx context.Context, pkg string, f proto.Fragment, off, end int64) (io.ReadCloser, error) {
	b := c.b
	if off < 0 || end > f.Size || off >= end || f.Index < 0 || f.Index >= len(b.m.Fragments) {
		return nil, fmt.Errorf("central: bad range %d-%d of fragment %d", off, end, f.Index)
	}
	b.centralReqs.Add(1)
	if err := sleep(ctx, b.rtt); err != nil {
		return nil, err
	}
	fr := b.m.Fragments[f.Index]
	data := b.data[fr.Offset+off : fr.Offset+end]
	return &flow{ctx: ctx, data: data, links: []*link{b.wanDown, c.to.down}, cap: newCap(b.perStream)}, nil
}

// peerSource is another agent's p2p node as a fragment source.
type peerSource struct {
	b        *branch
	from, to *host
}

func (p peerSource) Kind() string   { return fetch.KindPeer }
func (p peerSource) String() string { return "peer " + p.to.name }

func (p peerSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	if err := sleep(ctx, p.b.lanRTT); err != nil {
		return nil, err
	}
	to := p.to
	if !to.alive.Load() {
		return nil, fmt.Errorf("dial %s: connection refused: %w", to.name, p2p.ErrPeer)
	}
	if ok, err := to.store.Check(f.CID, f.Size); err != nil || !ok {
		return nil, p2p.ErrNotFound
	}
	seeded := func(bool) {}
	if p2p.IsSwarmRequest(ctx) && to.seeder != nil {
		ok, done := to.seeder.Admit(f.CID, time.Now())
		if !ok {
			return nil, p2p.ErrSeeding
		}
		seeded = done
	}
	if to.uploads.Add(1) > maxUploads {
		to.uploads.Add(-1)
		seeded(false)
		return nil, p2p.ErrBusy
	}
	var fl *flow
	release := sync.OnceFunc(func() {
		to.uploads.Add(-1)
		seeded(fl != nil && fl.off == len(fl.data))
	})
	fh, err := to.store.Open(f.CID)
	if err != nil {
		release()
		return nil, p2p.ErrNotFound
	}
	data, err := io.ReadAll(fh)
	fh.Close()
	if err != nil {
		release()
		return nil, fmt.Errorf("read fragment: %w", p2p.ErrPeer)
	}
	if to.corrupt {
		data[len(data)/2] ^= 0xff
	}
	to.served.Add(int64(len(data)))
	fl = &flow{ctx: ctx, data: data, links: []*link{to.up, p.from.down}}
	fl.onClose = func() {
		if to.corrupt && fl.off == len(fl.data) {
			to.corruptSent.Add(1)
		}
		release()
	}
	return fl, nil
}

// haveHub stands in for the libp2p have sessions of a branch's agents.
type haveHub struct {
	b *branch

	mu       sync.Mutex // guards sessions, byHost, failed
	sessions map[sessKey]*haveSess
	byHost   map[*host]map[*haveSess]struct{}
	failed   map[sessKey]time.Time
}

type sessKey struct {
	pkg  string
	a, b *host // a opened it
}

// haveSess is one have session; claims are what each side told the
// other it holds. Guarded by haveHub.mu.
type haveSess struct {
	key    sessKey
	up     bool
	claims map[*host]proto.Bitfield
}

func (s *haveSess) other(h *host) *host {
	if s.key.a == h {
		return s.key.b
	}
	return s.key.a
}

// haveNet is one host's view of the hub (swarm.HaveNet).
type haveNet struct {
	hub *haveHub
	h   *host
}

func bitIdx(b proto.Bitfield, total int) []int {
	var out []int
	for i := range total {
		if b.Has(i) {
			out = append(out, i)
		}
	}
	return out
}

// WatchHaves opens a session to peerID in the background, as
// internal/p2p Node.WatchHaves does.
func (n haveNet) WatchHaves(ctx context.Context, pkg string, total int, peerID string, addrs []string) error {
	hub, h := n.hub, n.h
	other := hub.b.byID[peerID]
	if other == nil || other == h {
		return fmt.Errorf("watch haves of %s: unknown peer", peerID)
	}
	k := sessKey{pkg: pkg, a: h, b: other}
	now := time.Now()
	hub.mu.Lock()
	_, out := hub.sessions[k]
	_, in := hub.sessions[sessKey{pkg: pkg, a: other, b: h}]
	if out || in || now.Before(hub.failed[k]) {
		hub.mu.Unlock()
		return nil
	}
	s := &haveSess{key: k, claims: map[*host]proto.Bitfield{}}
	hub.sessions[k] = s
	hub.mu.Unlock()
	go func() {
		fail := func() {
			hub.mu.Lock()
			delete(hub.sessions, k)
			hub.failed[k] = time.Now().Add(30 * time.Second)
			hub.mu.Unlock()
		}
		if sleep(ctx, hub.b.lanRTT) != nil || !other.alive.Load() || !h.alive.Load() {
			fail()
			return
		}
		theirs, ok := other.sched.Local(pkg, total)
		mine, ok2 := h.sched.Local(pkg, total)
		if !ok || !ok2 {
			fail()
			return
		}
		hub.mu.Lock()
		s.up = true
		s.claims[h], s.claims[other] = mine, theirs
		for _, x := range []*host{h, other} {
			if hub.byHost[x] == nil {
				hub.byHost[x] = map[*haveSess]struct{}{}
			}
			hub.byHost[x][s] = struct{}{}
		}
		hub.mu.Unlock()
		h.sched.Claim(pkg, other.id, other.addrs, bitIdx(theirs, total))
		other.sched.Claim(pkg, h.id, h.addrs, bitIdx(mine, total))
		<-ctx.Done()
		hub.mu.Lock()
		delete(hub.sessions, k)
		delete(hub.byHost[h], s)
		delete(hub.byHost[other], s)
		hub.mu.Unlock()
	}()
	return nil
}

// PublishHave pushes fragment idx to the sessions of pkg whose other side
// does not claim it, after a LAN delay.
func (n haveNet) PublishHave(pkg string, idx int) {
	hub, h := n.hub, n.h
	hub.mu.Lock()
	defer hub.mu.Unlock()
	for s := range hub.byHost[h] {
		if s.key.pkg != pkg || !s.up {
			continue
		}
		o := s.other(h)
		if s.claims[o].Has(idx) || s.claims[h].Has(idx) {
			continue
		}
		s.claims[h].Set(idx)
		hub.b.havePushes.Add(1)
		time.AfterFunc(hub.b.lanRTT/2, func() {
			if o.alive.Load() && h.alive.Load() {
				o.sched.Claim(pkg, h.id, h.addrs, []int{idx})
			}
		})
	}
}
