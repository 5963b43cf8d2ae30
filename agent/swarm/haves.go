package swarm

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// maxBoardClaims bounds the claims a download has not taken in yet; past
// it claims are dropped and the download looks up instead.
const maxBoardClaims = 4096

// haveLies: a peer that claimed this many fragments over its have session
// and then answered "not found" for them is dropped for the package.
const haveLies = 3

// claim is one have claim of a peer (Scheduler.Claim).
type claim struct {
	peer  string
	addrs []string
	idx   []int
}

// board collects the have claims for one download until its loop takes
// them in; mu guards claims and lost.
type board struct {
	mu     sync.Mutex
	claims []claim
	lost   bool          // claims were dropped: look up
	wake   chan struct{} // claims arrived (buffered, 1)
}

// take returns the claims so far and whether some were lost.
func (b *board) take() ([]claim, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, lost := b.claims, b.lost
	b.claims, b.lost = nil, false
	return c, lost
}

// openBoard registers a board for a download of pkg.
func (s *Scheduler) openBoard(pkg string) *board {
	b := &board{wake: make(chan struct{}, 1)}
	s.boardMu.Lock()
	if s.boards[pkg] == nil {
		s.boards[pkg] = map[*board]struct{}{}
	}
	s.boards[pkg][b] = struct{}{}
	s.boardMu.Unlock()
	return b
}

func (s *Scheduler) closeBoard(pkg string, b *board) {
	s.boardMu.Lock()
	delete(s.boards[pkg], b)
	if len(s.boards[pkg]) == 0 {
		delete(s.boards, pkg)
	}
	s.boardMu.Unlock()
}

// Local implements internal/p2p's Haves: the fragments of pkg (of total)
// in the store, when pkg is fetched or seeded.
func (s *Scheduler) Local(pkg string, total int) (proto.Bitfield, bool) {
	s.mu.Lock()
	m := s.held[pkg]
	s.mu.Unlock()
	if m == nil || len(m.Fragments) != total {
		return nil, false
	}
	have := proto.NewBitfield(total)
	for _, f := range m.Fragments {
		if ok, err := s.deps.Store.Check(f.CID, f.Size); err == nil && ok {
			have.Set(f.Index)
		}
	}
	return have, true
}

// Claim implements internal/p2p's Haves: it hands a peer's have claim to
// the running downloads of pkg. Claims for a package not being fetched
// are dropped (lookups tell a later download).
func (s *Scheduler) Claim(pkg, peerID string, addrs []string, idx []int) {
	s.boardMu.Lock()
	defer s.boardMu.Unlock()
	for b := range s.boards[pkg] {
		b.mu.Lock()
		if len(b.claims) >= maxBoardClaims {
			b.lost = true
		} else {
			b.claims = append(b.claims, claim{peer: peerID, addrs: addrs, idx: idx})
		}
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// watch opens have sessions to listed peers, up to HavePeers per download.
func (d *download) watch(ctx context.Context) {
	hn := d.s.deps.Haves
	if hn == nil || d.cfg.HavePeers < 0 {
		return
	}
	for _, p := range d.peers {
		if d.watched >= d.cfg.HavePeers {
			return
		}
		if p.watched || p.relay || !p.listed || p.src == nil || p.dropped {
			continue
		}
		p.watched = true
		d.watched++
		if err := hn.WatchHaves(ctx, d.m.PackageID, len(d.m.Fragments), p.id, p.addrs); err != nil {
			d.log.Debug("have session", "peer", p.id, "err", err)
		}
	}
}

// takeClaims applies the have claims that arrived: a claimed fragment is
// held by that peer from now on (unless the peer already answered "not
// found" for it), and a peer known only from its claims becomes usable.
func (d *download) takeClaims(now time.Time) {
	claims, lost := d.board.take()
	if lost {
		d.nextLookup = now
	}
	n := len(d.m.Fragments)
	for _, c := range claims {
		if c.peer == d.self {
			continue
		}
		p := d.peers[c.peer]
		if p == nil {
			if d.s.deps.PeerSource == nil {
				continue
			}
			src, err := d.s.deps.PeerSource(c.peer, c.addrs)
			if err != nil {
				d.log.Debug("unusable peer", "peer", c.peer, "err", err)
				continue
			}
			p = &peerState{id: c.peer, addrs: slices.Clone(c.addrs), src: src}
			d.peers[c.peer] = p
		}
		if p.relay {
			continue
		}
		if !p.pushed {
			p.pushed = true
			d.pushers++
		}
		if len(p.have) != (n+7)/8 {
			p.have = proto.NewBitfield(n)
		}
		if len(p.pushHave) != (n+7)/8 {
			p.pushHave = proto.NewBitfield(n)
		}
		for _, i := range c.idx {
			if i < 0 || i >= n || p.refuted.Has(i) {
				continue
			}
			p.pushHave.Set(i)
			p.have.Set(i)
		}
	}
}

// setHave sets p's holdings from a lookup: what the tracker lists plus
// what p pushed since, less what p answered "not found" for.
func (p *peerState) setHave(listed proto.Bitfield) {
	h := slices.Clone(listed)
	for b := range h {
		if b < len(p.pushHave) {
			h[b] |= p.pushHave[b]
		}
		if b < len(p.refuted) {
			h[b] &^= p.refuted[b]
		}
	}
	p.have = h
}

// notFound takes p's "not found" for fragment i: p no longer counts as
// holding it, and a push cannot claim it again. It reports a line for
// the result when p lied once too often about what it holds (haveLies).
func (p *peerState) notFound(i, n int) (drop string) {
	unset := func(b proto.Bitfield) {
		if i/8 < len(b) {
			b[i/8] &^= 0x80 >> (i % 8)
		}
	}
	unset(p.have)
	if len(p.refuted) != (n+7)/8 {
		p.refuted = proto.NewBitfield(n)
	}
	p.refuted.Set(i)
	if p.pushHave.Has(i) {
		unset(p.pushHave)
		if p.lies++; p.lies >= haveLies {
			return fmt.Sprintf("peer %s claimed fragments it does not hold (%d times) and was dropped for this package", p.id, p.lies)
		}
	}
	return ""
}
