// Package swarmtest provides hand-written fakes for swarm scheduler tests:
// an in-memory tracker and in-memory fragment sources standing for LAN
// peers, relays and central. They work inside testing/synctest bubbles
// (delays use timers, blocking uses channels).
package swarmtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// Have returns a bitfield of total fragments with idx set.
func Have(total int, idx ...int) proto.Bitfield {
	b := proto.NewBitfield(total)
	for _, i := range idx {
		b.Set(i)
	}
	return b
}

// Range returns the indexes from..to-1.
func Range(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// Tracker is an in-memory tracker. Its exported fields may be set before
// use; use the methods afterwards.
type Tracker struct {
	mu sync.Mutex // guards everything
	// Peers is what Lookup answers (cloned).
	peers []proto.TrackerPeer
	// grant decides lease answers; nil grants nothing.
	grant func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse
	// onLookup runs before each Lookup answer with the lookup count.
	onLookup  func(n int)
	fail      error
	announces []proto.TrackerAnnounce
	leaves    int
	leases    []proto.TrackerLeaseRequest
	lookups   int
	forgot    bool // SetForget: refuse lookups and leases until an announce
	// refusedNow: a call was refused since SetForget (an announce then
	// brings the agent back).
	refusedNow bool
	refused    int
}

// NewTracker returns a tracker that lists peers.
func NewTracker(peers ...proto.TrackerPeer) *Tracker { return &Tracker{peers: peers} }

// SetGrant sets the lease policy.
func (t *Tracker) SetGrant(f func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse) {
	t.mu.Lock()
	t.grant = f
	t.mu.Unlock()
}

// SetOnLookup sets a hook run before each lookup answer with the count
// of lookups so far (1 for the first).
func (t *Tracker) SetOnLookup(f func(n int)) {
	t.mu.Lock()
	t.onLookup = f
	t.mu.Unlock()
}

// SetFail makes every call fail with err (nil: succeed again).
func (t *Tracker) SetFail(err error) {
	t.mu.Lock()
	t.fail = err
	t.mu.Unlock()
}

// SetForget makes the tracker forget the agent, as a restarted tracker
// or one whose site members reported the agent gone does: lookups and
// leases fail with trackerclient.ErrUnknownPeer until the agent announces
// again after one was refused (an announce that was already on its way
// does not count).
func (t *Tracker) SetForget() {
	t.mu.Lock()
	t.forgot, t.refusedNow = true, false
	t.mu.Unlock()
}

// Forgotten counts the calls refused with ErrUnknownPeer.
func (t *Tracker) Forgotten() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused
}

// SetHave replaces the bitfield the tracker lists for peerID.
func (t *Tracker) SetHave(peerID string, have proto.Bitfield) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.peers {
		if t.peers[i].PeerID == peerID {
			t.peers[i].Have = slices.Clone(have)
		}
	}
}

// Announce implements swarm.Tracker.
func (t *Tracker) Announce(ctx context.Context, a proto.TrackerAnnounce) (*proto.TrackerAnnounceResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail != nil {
		return nil, t.fail
	}
	t.announces = append(t.announces, a)
	if t.refusedNow {
		t.forgot = false
	}
	return &proto.TrackerAnnounceResponse{Interval: 30, TTL: 90}, nil
}

// Lookup implements swarm.Tracker.
func (t *Tracker) Lookup(ctx context.Context, pkg string) (*proto.TrackerLookup, error) {
	t.mu.Lock()
	if t.fail != nil {
		t.mu.Unlock()
		return nil, t.fail
	}
	if t.forgot {
		t.refused++
		t.refusedNow = true
		t.mu.Unlock()
		return nil, trackerclient.ErrUnknownPeer
	}
	t.lookups++
	hook, n := t.onLookup, t.lookups
	t.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &proto.TrackerLookup{PackageID: pkg}
	for _, p := range t.peers {
		p.Have = slices.Clone(p.Have)
		out.Peers = append(out.Peers, p)
	}
	return out, nil
}

// Leave records that the agent left (trackerclient.Client's Leave).
func (t *Tracker) Leave(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaves++
	return nil
}

// Leaves returns how many times the agent left.
func (t *Tracker) Leaves() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leaves
}

// Lease implements swarm.Tracker.
func (t *Tracker) Lease(ctx context.Context, req proto.TrackerLeaseRequest) (*proto.TrackerLeaseResponse, error) {
	t.mu.Lock()
	if t.fail != nil {
		t.mu.Unlock()
		return nil, t.fail
	}
	if t.forgot {
		t.refused++
		t.refusedNow = true
		t.mu.Unlock()
		return nil, trackerclient.ErrUnknownPeer
	}
	t.leases = append(t.leases, req)
	g := t.grant
	t.mu.Unlock()
	out := proto.TrackerLeaseResponse{Granted: []int{}, TTL: 60}
	if g != nil {
		out = g(req)
	}
	return &out, nil
}

// Announces returns the announces received.
func (t *Tracker) Announces() []proto.TrackerAnnounce {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.announces)
}

// Leases returns the lease requests received.
func (t *Tracker) Leases() []proto.TrackerLeaseRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.leases)
}

// Source serves a package's fragments from memory, as a peer, a relay or
// central would.
type Source struct {
	id   string
	kind string
	data []byte

	mu sync.Mutex // guards the fields below
	// corrupt flips a byte in every fragment served.
	corrupt bool
	// fail makes every request fail with it.
	fail error
	// delay returns how long fragment i takes (nil: no time).
	delay func(i int) time.Duration
	// hold, when it returns true for a request, blocks it until its
	// context ends.
	hold func(i int) bool
	// rate paces the bytes of every fragment served (0: all at once), in
	// bytes per second.
	rate      float64
	onRequest func(id string, i int)
	requests  []int
	cancelled []int
	served    []int
}

// NewSource returns a source named id of the given fetch kind serving
// data, the whole package.
func NewSource(id, kind string, data []byte) *Source {
	return &Source{id: id, kind: kind, data: data}
}

// SetCorrupt makes the source send altered bytes.
func (s *Source) SetCorrupt(v bool) {
	s.mu.Lock()
	s.corrupt = v
	s.mu.Unlock()
}

// SetFail makes every request fail with err (nil: serve again).
func (s *Source) SetFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// SetDelay sets the time each fragment takes.
func (s *Source) SetDelay(f func(i int) time.Duration) {
	s.mu.Lock()
	s.delay = f
	s.mu.Unlock()
}

// SetRate paces the bytes of each fragment served at bytesPerSec, in
// chunks of a tenth of a second (0: all at once).
func (s *Source) SetRate(bytesPerSec float64) {
	s.mu.Lock()
	s.rate = bytesPerSec
	s.mu.Unlock()
}

// SetHold sets which requests block until cancelled.
func (s *Source) SetHold(f func(i int) bool) {
	s.mu.Lock()
	s.hold = f
	s.mu.Unlock()
}

// SetOnRequest sets a hook run at every request with the source's ID.
func (s *Source) SetOnRequest(f func(id string, i int)) {
	s.mu.Lock()
	s.onRequest = f
	s.mu.Unlock()
}

// Kind implements fetch.Source.
func (s *Source) Kind() string { return s.kind }

// String names the source.
func (s *Source) String() string { return s.kind + " " + s.id }

// PeerID returns the source's ID, as internal/p2p sources name their peer.
func (s *Source) PeerID() string { return s.id }

// ID returns the source's name (a peer ID for peers).
func (s *Source) ID() string { return s.id }

// Requests returns the fragment indexes requested, in order.
func (s *Source) Requests() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Cancelled returns the fragments whose request was cancelled while held
// or delayed.
func (s *Source) Cancelled() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cancelled)
}

// Served returns the fragments whose bytes were handed out.
func (s *Source) Served() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.served)
}

// Fetch implements fetch.Source.
func (s *Source) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	s.mu.Lock()
	s.requests = append(s.requests, f.Index)
	fail, corrupt, delay, hold, hook, rate := s.fail, s.corrupt, s.delay, s.hold, s.onRequest, s.rate
	s.mu.Unlock()
	if hook != nil {
		hook(s.id, f.Index)
	}
	if fail != nil {
		return nil, fail
	}
	wait := func(c <-chan time.Time) error {
		select {
		case <-c:
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			s.cancelled = append(s.cancelled, f.Index)
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	if hold != nil && hold(f.Index) {
		if err := wait(nil); err != nil {
			return nil, err
		}
	}
	if delay != nil {
		if d := delay(f.Index); d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			if err := wait(t.C); err != nil {
				return nil, err
			}
		}
	}
	if f.Offset < 0 || f.Offset+f.Size > int64(len(s.data)) {
		return nil, errors.New("swarmtest: fragment outside the data")
	}
	b := bytes.Clone(s.data[f.Offset : f.Offset+f.Size])
	if corrupt {
		b[len(b)/2] ^= 0x40
	}
	s.mu.Lock()
	s.served = append(s.served, f.Index)
	s.mu.Unlock()
	if rate > 0 {
		return &pacedReader{ctx: ctx, src: s, idx: f.Index, b: b, chunk: max(1, int(rate/10))}, nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// pacedReader hands out chunk bytes per tenth of a second; a read ended by
// ctx counts as cancelled at its source.
type pacedReader struct {
	ctx   context.Context
	src   *Source
	idx   int
	b     []byte
	chunk int
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.ctx.Done():
		r.src.mu.Lock()
		r.src.cancelled = append(r.src.cancelled, r.idx)
		r.src.mu.Unlock()
		return 0, r.ctx.Err()
	}
	n := copy(p[:min(len(p), r.chunk)], r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *pacedReader) Close() error { return nil }

// Peers returns a swarm.PeerSourceFunc serving the given peer sources by
// ID; an unknown ID is an error.
func Peers(srcs ...*Source) func(peerID string, addrs []string) (fetch.Source, error) {
	return func(peerID string, addrs []string) (fetch.Source, error) {
		for _, s := range srcs {
			if s.id == peerID {
				return s, nil
			}
		}
		return nil, errors.New("swarmtest: unknown peer " + peerID)
	}
}

// Peer returns the tracker entry of a peer holding have.
func Peer(id string, total int, have proto.Bitfield) proto.TrackerPeer {
	return proto.TrackerPeer{PeerID: id, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Kind: proto.HolderPeer, Have: have, Total: total}
}

// Lookups returns how many lookups were answered or refused.
func (t *Tracker) Lookups() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lookups
}

// HaveNet is an in-memory have exchange (swarm.HaveNet): it records the
// sessions asked for and the fragments published. Tests deliver peers'
// claims with the scheduler's Claim.
type HaveNet struct {
	mu        sync.Mutex // guards everything
	watched   []string
	published []int
}

// WatchHaves implements swarm.HaveNet.
func (h *HaveNet) WatchHaves(ctx context.Context, pkg string, total int, peerID string, addrs []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watched = append(h.watched, peerID)
	return nil
}

// PublishHave implements swarm.HaveNet.
func (h *HaveNet) PublishHave(pkg string, idx int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.published = append(h.published, idx)
}

// Watched returns the peers sessions were asked for, in order.
func (h *HaveNet) Watched() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.watched)
}

// Published returns the fragments published, in order.
func (h *HaveNet) Published() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.published)
}
