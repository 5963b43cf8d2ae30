package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/proto"
)

// MaxHaveTotal bounds the fragments of a package in a have session: its
// bitfield (8 KiB) fits a header.
const MaxHaveTotal = 1 << 16

// Have session limits that are not configuration.
const (
	maxHavePackage = 256 // bytes of a package ID
	maxHaveAddrs   = 16  // addresses in a hello
	maxHaveAddr    = 256 // bytes of one address
	// haveRetry is how long after a failed session to a peer no new one
	// is opened for the same package.
	haveRetry = 30 * time.Second
)

// Have reply statuses besides the fragment protocol's.
const statusNotInterested = "not_interested"

// Haves is what a node's have sessions need from the downloader
// (agent/swarm's Scheduler), set with SetHaves: the node's own fragments
// of a package, and where the claims of peers go.
type Haves interface {
	// Local returns the fragments of pkg (of total) the node holds; ok is
	// false when it neither fetches nor seeds pkg.
	Local(pkg string, total int) (have proto.Bitfield, ok bool)
	// Claim tells that peerID (reachable at addrs, as it says) claims to
	// hold the fragments idx of pkg: all it holds when a session starts
	// (possibly none: the session is up), then each new one. A claim is a hint: the bytes are verified
	// against their CID when fetched, and a peer that claims what it does
	// not serve answers "not found".
	Claim(pkg, peerID string, addrs []string, idx []int)
}

// haveHello opens a have stream: the opener's record, the package and
// what the opener holds of it.
type haveHello struct {
	Record  proto.SignedPeerRecord `json:"record"`
	Package string                 `json:"package"`
	Total   int                    `json:"total"`
	Have    proto.Bitfield         `json:"have"`
	// Addrs are the opener's listen addresses (the accepting side sees
	// only the connection's).
	Addrs []string `json:"addrs,omitempty"`
}

// haveReply answers a hello. With status ok, Record is the acceptor's
// record and Have what it holds of the package.
type haveReply struct {
	Status  string                  `json:"status"`
	Record  *proto.SignedPeerRecord `json:"record,omitempty"`
	Have    proto.Bitfield          `json:"have,omitempty"`
	Message string                  `json:"message,omitempty"`
}

// haveMsg is every later message, either way: fragments newly stored. An
// empty one keeps the stream alive.
type haveMsg struct {
	Have []int `json:"have"`
}

// haveKey names a session: one per package, peer and direction.
type haveKey struct {
	pkg string
	id  peer.ID
	out bool
}

// haveSession is one have stream. s, remote and pending are guarded by
// Node.hvMu; the session's own goroutines read and write the stream.
type haveSession struct {
	key     haveKey
	total   int
	s       network.Stream // nil until the hello is answered
	remote  proto.Bitfield // what the peer claimed so far
	pending []int          // our new fragments not sent yet
	wake    chan struct{}  // pending grew (buffered, 1)
}

// SetHaves sets where have sessions read the node's fragments and deliver
// peers' claims. Without it the node refuses have streams and opens none.
func (n *Node) SetHaves(h Haves) {
	n.hvMu.Lock()
	n.haves = h
	n.hvMu.Unlock()
}

// WatchHaves opens, in the background, a have session with peerID
// (reachable at addrs) for pkg of total fragments, unless one is open
// either way or one failed within haveRetry. It lasts until ctx ends, the
// peer closes it or Run returns. Claims arrive through Haves.Claim.
func (n *Node) WatchHaves(ctx context.Context, pkg string, total int, peerID string, addrs []string) error {
	id, err := peer.Decode(peerID)
	if err != nil {
		return fmt.Errorf("p2p: watch haves of %q: %w", peerID, err)
	}
	if id == n.id || pkg == "" || len(pkg) > maxHavePackage || total < 1 || total > MaxHaveTotal {
		return fmt.Errorf("p2p: watch haves of %s for %q (%d fragments): out of range", peerID, pkg, total)
	}
	mas, err := parseAddrs(id, addrs)
	if err != nil {
		return err
	}
	k := haveKey{pkg: pkg, id: id, out: true}
	now := time.Now()
	n.hvMu.Lock()
	_, outOpen := n.hv[k]
	_, inOpen := n.hv[haveKey{pkg: pkg, id: id}]
	if n.haves == nil || outOpen || inOpen || now.Before(n.hvFailed[k]) {
		n.hvMu.Unlock()
		return nil
	}
	sess := &haveSession{key: k, total: total, remote: proto.NewBitfield(total), wake: make(chan struct{}, 1)}
	n.addSessionLocked(sess)
	n.hvMu.Unlock()

	n.hmu.Lock()
	if n.closing || n.runningHost() == nil {
		n.hmu.Unlock()
		n.endSession(sess, nil)
		return fmt.Errorf("p2p: watch haves: %w", ErrNotRunning)
	}
	n.handlers.Add(1)
	n.hmu.Unlock()
	go func() {
		defer n.handlers.Done()
		err := n.openHaves(ctx, sess, peer.AddrInfo{ID: id, Addrs: mas})
		if err != nil && ctx.Err() == nil {
			n.log.Debug("have session ended", "peer", peerID, "package", pkg, "err", err)
		}
		n.endSession(sess, err)
	}()
	return nil
}

// PublishHave tells every have session of pkg whose peer does not claim
// fragment idx that this node now holds it.
func (n *Node) PublishHave(pkg string, idx int) {
	n.hvMu.Lock()
	defer n.hvMu.Unlock()
	for sess := range n.hvPkg[pkg] {
		if idx < 0 || idx >= sess.total || sess.remote.Has(idx) || slices.Contains(sess.pending, idx) {
			continue
		}
		sess.pending = append(sess.pending, idx)
		select {
		case sess.wake <- struct{}{}:
		default:
		}
	}
}

// HaveSessions returns the number of open have sessions (both ways).
func (n *Node) HaveSessions() int {
	n.hvMu.Lock()
	defer n.hvMu.Unlock()
	c := 0
	for _, s := range n.hv {
		if s.s != nil {
			c++
		}
	}
	return c
}

// addSessionLocked registers sess; n.hvMu must be held.
func (n *Node) addSessionLocked(sess *haveSession) {
	if n.hv == nil {
		n.hv, n.hvPkg, n.hvFailed = map[haveKey]*haveSession{}, map[string]map[*haveSession]struct{}{}, map[haveKey]time.Time{}
	}
	n.hv[sess.key] = sess
	if n.hvPkg[sess.key.pkg] == nil {
		n.hvPkg[sess.key.pkg] = map[*haveSession]struct{}{}
	}
	n.hvPkg[sess.key.pkg][sess] = struct{}{}
}

// endSession forgets sess; an outbound one that failed is not opened
// again for haveRetry.
func (n *Node) endSession(sess *haveSession, err error) {
	n.hvMu.Lock()
	defer n.hvMu.Unlock()
	if n.hv[sess.key] == sess {
		delete(n.hv, sess.key)
	}
	if m := n.hvPkg[sess.key.pkg]; m != nil {
		delete(m, sess)
		if len(m) == 0 {
			delete(n.hvPkg, sess.key.pkg)
		}
	}
	if sess.key.out && err != nil {
		n.hvFailed[sess.key] = time.Now().Add(haveRetry)
	}
	for k, t := range n.hvFailed {
		if time.Now().After(t) {
			delete(n.hvFailed, k)
		}
	}
}

// local returns the node's Haves and its bitfield of pkg.
func (n *Node) local(pkg string, total int) (Haves, proto.Bitfield, bool) {
	n.hvMu.Lock()
	h := n.haves
	n.hvMu.Unlock()
	if h == nil {
		return nil, nil, false
	}
	have, ok := h.Local(pkg, total)
	if !ok {
		return h, nil, false
	}
	if len(have) != (total+7)/8 {
		have = proto.NewBitfield(total)
	}
	return h, have, true
}

// openHaves runs an outbound session: dial, hello, the peer's answer,
// then the exchange until ctx ends.
func (n *Node) openHaves(ctx context.Context, sess *haveSession, ai peer.AddrInfo) error {
	own, err := n.ownRecord()
	if err != nil {
		return err
	}
	h := n.runningHost()
	if h == nil {
		return ErrNotRunning
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	err = h.Connect(dctx, ai)
	cancel()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, n.cfg.StreamTimeout)
	st, err := h.NewStream(network.WithNoDial(sctx, "connected above"), ai.ID, proto.HaveProtocol)
	cancel()
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	haves, mine, ok := n.local(sess.key.pkg, sess.total)
	if !ok {
		st.Reset()
		return errors.New("package no longer fetched or seeded")
	}
	if err := st.SetDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
		st.Reset()
		return err
	}
	if err := writeHeader(st, haveHello{Record: own, Package: sess.key.pkg, Total: sess.total, Have: mine, Addrs: n.Addrs()}); err != nil {
		st.Reset()
		return err
	}
	var rep haveReply
	if err := readHeader(st, &rep); err != nil {
		st.Reset()
		return fmt.Errorf("%w: %w", ErrPeer, err)
	}
	switch {
	case rep.Status == statusNotInterested:
		st.Close()
		return errors.New("peer neither fetches nor seeds the package")
	case rep.Status != statusOK:
		st.Reset()
		return fmt.Errorf("%w: status %s: %s", ErrPeer, quote(rep.Status), quote(rep.Message))
	case rep.Record == nil:
		st.Reset()
		return fmt.Errorf("%w: no peer record", ErrUntrusted)
	case len(rep.Have) != (sess.total+7)/8:
		st.Reset()
		return fmt.Errorf("%w: bitfield of %d bytes for %d fragments", ErrPeer, len(rep.Have), sess.total)
	}
	if _, err := n.checkPeer(*rep.Record, st.Conn().RemotePeer(), time.Now()); err != nil {
		n.log.Warn("peer record refused", "peer", ai.ID.String(), "err", err)
		st.Reset()
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	addrs := make([]string, 0, len(ai.Addrs))
	for _, a := range ai.Addrs {
		addrs = append(addrs, a.String())
	}
	return n.exchange(ctx, sess, st, haves, addrs, rep.Have)
}

// handleHave serves one inbound have stream.
func (n *Node) handleHave(s network.Stream) {
	release, ok := n.enter(s, &n.haveIn, n.cfg.MaxHaveStreams)
	if !ok {
		return
	}
	defer release()

	remote := s.Conn().RemotePeer()
	log := n.log.With("peer", remote.String())
	if err := s.SetDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
		s.Reset()
		return
	}
	var hello haveHello
	if err := readHeader(s, &hello); err != nil {
		log.Debug("bad have hello", "err", err)
		s.Reset()
		return
	}
	refuse := func(status, msg string) {
		if err := writeHeader(s, haveReply{Status: status, Message: msg}); err != nil {
			s.Reset()
			return
		}
		s.Close()
	}
	own, err := n.ownRecord()
	if err != nil {
		refuse(statusError, "not ready")
		return
	}
	if _, err := n.checkPeer(hello.Record, remote, time.Now()); err != nil {
		log.Warn("have stream refused", "err", err)
		refuse(statusForbidden, refusalReason(err))
		return
	}
	if err := checkHello(hello, remote); err != nil {
		log.Debug("bad have hello", "err", err)
		refuse(statusError, "bad hello")
		return
	}
	k := haveKey{pkg: hello.Package, id: remote}
	sess := &haveSession{key: k, total: hello.Total, s: s, remote: proto.NewBitfield(hello.Total), wake: make(chan struct{}, 1)}
	n.hvMu.Lock()
	if old := n.hv[k]; old != nil && old.s != nil {
		old.s.Reset() // The peer opened it again: the old one is dead to it.
	}
	n.addSessionLocked(sess)
	n.hvMu.Unlock()
	haves, mine, ok := n.local(hello.Package, hello.Total)
	if !ok {
		n.endSession(sess, nil)
		refuse(statusNotInterested, "")
		return
	}
	if err := writeHeader(s, haveReply{Status: statusOK, Record: &own, Have: mine}); err != nil {
		n.endSession(sess, err)
		s.Reset()
		return
	}
	err = n.exchange(n.ctx, sess, s, haves, hello.Addrs, hello.Have)
	if err != nil && n.ctx.Err() == nil {
		log.Debug("have session ended", "package", hello.Package, "err", err)
	}
	n.endSession(sess, err)
}

// checkHello bounds what a hello may carry.
func checkHello(h haveHello, remote peer.ID) error {
	switch {
	case h.Package == "" || len(h.Package) > maxHavePackage:
		return fmt.Errorf("package ID of %d bytes", len(h.Package))
	case h.Total < 1 || h.Total > MaxHaveTotal:
		return fmt.Errorf("total %d out of range 1..%d", h.Total, MaxHaveTotal)
	case len(h.Have) != (h.Total+7)/8:
		return fmt.Errorf("bitfield of %d bytes for %d fragments", len(h.Have), h.Total)
	case len(h.Addrs) > maxHaveAddrs:
		return fmt.Errorf("%d addresses", len(h.Addrs))
	}
	for _, a := range h.Addrs {
		if len(a) > maxHaveAddr {
			return fmt.Errorf("address of %d bytes", len(a))
		}
	}
	if _, err := parseAddrs(remote, h.Addrs); err != nil {
		return err
	}
	return nil
}

// exchange runs an answered have stream: it delivers the peer's first
// bitfield and every later message to haves, and sends this node's new
// fragments, until ctx ends, the peer closes or anything fails. A peer
// that sends more than HaveRate messages a second (burst twice that), or
// an index out of range, is cut off: the stream is reset.
func (n *Node) exchange(ctx context.Context, sess *haveSession, s network.Stream, haves Haves, addrs []string, first proto.Bitfield) error {
	n.hvMu.Lock()
	sess.s = s
	n.hvMu.Unlock()
	peerID := sess.key.id.String()
	pkg := sess.key.pkg
	// The first claim goes out even when empty: it tells that the
	// session is up.
	haves.Claim(pkg, peerID, addrs, n.claim(sess, bitIndexes(first, sess.total)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	werr := make(chan error, 1)
	go func() {
		err := n.sendHaves(ctx, sess, s)
		if err != nil {
			s.Reset() // Ends the read below.
		}
		werr <- err
	}()

	lim := rate.NewLimiter(rate.Limit(n.cfg.HaveRate), 2*n.cfg.HaveRate)
	var err error
	for {
		if err = s.SetReadDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
			break
		}
		var m haveMsg
		if err = readHeader(s, &m); err != nil {
			break
		}
		if !lim.Allow() {
			err = fmt.Errorf("%w: more than %d have messages a second", ErrPeer, n.cfg.HaveRate)
			n.log.Warn("peer floods have messages; cut off", "peer", peerID, "package", pkg, "limit", n.cfg.HaveRate)
			break
		}
		if len(m.Have) > sess.total || slices.ContainsFunc(m.Have, func(i int) bool { return i < 0 || i >= sess.total }) {
			err = fmt.Errorf("%w: have index out of range 0..%d", ErrPeer, sess.total-1)
			break
		}
		if idx := n.claim(sess, m.Have); len(idx) > 0 {
			haves.Claim(pkg, peerID, addrs, idx)
		}
	}
	ended := ctx.Err() != nil // Ours to end: the download is over, or the node stops.
	cancel()
	wErr := <-werr
	switch {
	case errors.Is(err, errHeader) || errors.Is(err, ErrPeer):
		s.Reset()
		return err
	case ended || errors.Is(err, io.EOF):
		s.Close()
		return nil
	}
	s.Reset()
	return errors.Join(err, wErr)
}

// claim records idx as claimed by the session's peer and returns those
// it had not claimed before.
func (n *Node) claim(sess *haveSession, idx []int) []int {
	n.hvMu.Lock()
	defer n.hvMu.Unlock()
	var out []int
	for _, i := range idx {
		if !sess.remote.Has(i) {
			sess.remote.Set(i)
			out = append(out, i)
		}
	}
	return out
}

// sendHaves writes the session's pending fragments as they come, and an
// empty message every third of StreamTimeout so the peer's read deadline
// holds, until ctx ends.
func (n *Node) sendHaves(ctx context.Context, sess *haveSession, s network.Stream) error {
	keep := time.NewTicker(n.cfg.StreamTimeout / 3)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sess.wake:
		case <-keep.C:
		}
		n.hvMu.Lock()
		batch := sess.pending
		sess.pending = nil
		n.hvMu.Unlock()
		if err := s.SetWriteDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
			return err
		}
		if err := writeHeader(s, haveMsg{Have: batch}); err != nil {
			return err
		}
	}
}

// bitIndexes lists the indexes set in b below total.
func bitIndexes(b proto.Bitfield, total int) []int {
	var out []int
	for i := range total {
		if b.Has(i) {
			out = append(out, i)
		}
	}
	return out
}
