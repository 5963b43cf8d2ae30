package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/shoal-project/shoal/internal/source"
	"github.com/shoal-project/shoal/proto"
)

// PeerSource fetches fragments from one peer of the site. It implements
// source.Source with Kind source.KindPeer, or source.KindRelay for a relay's
// libp2p listener (RelaySource).
type PeerSource struct {
	n     *Node
	id    peer.ID
	addrs []multiaddr.Multiaddr
	kind  string
	name  string        // "peer <id>" or "relay <name>"
	wait  time.Duration // answer wait; 0: StreamTimeout
}

var _ source.Source = (*PeerSource)(nil)

// Source returns a source.Source for the peer peerID, reachable at addrs
// (multiaddrs as the tracker lists them; a /p2p part must name peerID).
func (n *Node) Source(peerID string, addrs []string) (*PeerSource, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer id %q: %w", peerID, err)
	}
	if id == n.id {
		return nil, fmt.Errorf("p2p: peer %s is this node", peerID)
	}
	mas, err := parseAddrs(id, addrs)
	if err != nil {
		return nil, err
	}
	return &PeerSource{n: n, id: id, addrs: mas, kind: source.KindPeer, name: "peer " + id.String()}, nil
}

// RelaySource returns a source.Source for the site's relay peerID (named
// name in reports) at addrs. A relay pulls a fragment it lacks from
// upstream before it answers, so the answer is awaited for
// Config.RelayWait rather than StreamTimeout; the bytes count as relay
// bytes.
func (n *Node) RelaySource(name, peerID string, addrs []string) (*PeerSource, error) {
	s, err := n.Source(peerID, addrs)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = peerID
	}
	s.kind, s.name, s.wait = source.KindRelay, "relay "+name+" (libp2p)", n.cfg.RelayWait
	return s, nil
}

// Kind returns source.KindPeer, or source.KindRelay for a RelaySource.
func (s *PeerSource) Kind() string { return s.kind }

// PeerID returns the peer the source fetches from.
func (s *PeerSource) PeerID() string { return s.id.String() }

// String names the source in logs and reports.
func (s *PeerSource) String() string { return s.name }

// Fetch asks the peer for fragment f of package pkg. It dials the peer if
// needed (DialTimeout for TCP, HandshakeTimeout for the whole connection
// set-up), checks the peer's own record, and returns exactly f.Size bytes:
// a shorter body ends in an error wrapping io.ErrUnexpectedEOF. The bytes
// are not verified here; the fetcher checks them against f.CID. Refusals
// wrap ErrNotFound, ErrBusy or ErrForbidden; a peer whose record is not
// valid for our site gives ErrUntrusted.
func (s *PeerSource) Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error) {
	n := s.n
	if f.Size <= 0 || f.Size > MaxFragmentSize {
		return nil, fmt.Errorf("p2p: fetch fragment %s: size %d out of range 1..%d", f.CID, f.Size, MaxFragmentSize)
	}
	own, err := n.ownRecord()
	if err != nil {
		return nil, fmt.Errorf("p2p: fetch fragment %s: %w", f.CID, err)
	}
	h := n.runningHost()
	if h == nil {
		return nil, fmt.Errorf("p2p: fetch fragment %s: %w", f.CID, ErrNotRunning)
	}
	dctx, cancel := context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
	err = h.Connect(dctx, peer.AddrInfo{ID: s.id, Addrs: s.addrs})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("p2p: dial %s: %w", s.id, err)
	}
	sctx, cancel := context.WithTimeout(ctx, n.cfg.StreamTimeout)
	st, err := h.NewStream(network.WithNoDial(sctx, "connected above"), s.id, proto.FragmentProtocol)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("p2p: open stream to %s: %w", s.id, err)
	}
	// Cancelling ctx resets the stream and so unblocks any read.
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	fail := func(err error) (io.ReadCloser, error) {
		stop()
		st.Reset()
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return nil, fmt.Errorf("p2p: fetch fragment %s from %s: %w", f.CID, s.id, err)
	}
	if err := st.SetDeadline(time.Now().Add(n.cfg.StreamTimeout)); err != nil {
		return fail(err)
	}
	if err := writeHeader(st, request{Record: own, Package: pkg, CID: f.CID, Size: f.Size, Swarm: IsSwarmRequest(ctx)}); err != nil {
		return fail(err)
	}
	if err := st.CloseWrite(); err != nil {
		return fail(err)
	}
	if s.wait > 0 {
		if err := st.SetReadDeadline(time.Now().Add(s.wait)); err != nil {
			return fail(err)
		}
	}
	var resp response
	if err := readHeader(st, &resp); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrPeer, err))
	}
	switch resp.Status {
	case statusOK:
	case statusNotFound:
		return fail(ErrNotFound)
	case statusBusy:
		if resp.Seeding {
			return fail(ErrSeeding)
		}
		return fail(ErrBusy)
	case statusForbidden:
		return fail(fmt.Errorf("%w: %s", ErrForbidden, quote(resp.Message)))
	default:
		return fail(fmt.Errorf("%w: status %s: %s", ErrPeer, quote(resp.Status), quote(resp.Message)))
	}
	if resp.Size != f.Size {
		return fail(fmt.Errorf("%w: announced %d bytes, want %d", ErrPeer, resp.Size, f.Size))
	}
	if resp.Record == nil {
		return fail(fmt.Errorf("%w: no peer record", ErrUntrusted))
	}
	if _, err := n.checkPeer(*resp.Record, st.Conn().RemotePeer(), time.Now()); err != nil {
		n.log.Warn("peer record refused", "peer", s.id.String(), "err", err)
		return fail(fmt.Errorf("%w: %w", ErrUntrusted, err))
	}
	return &body{n: n, s: st, peer: s.id.String(), left: f.Size, stop: stop}, nil
}

// quote bounds and quotes a peer-supplied string for an error message.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// body reads exactly left bytes of a fragment from a stream.
type body struct {
	n    *Node
	s    network.Stream
	peer string
	left int64
	got  int64
	stop func() bool
	err  error
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	if err := b.s.SetReadDeadline(time.Now().Add(b.n.cfg.StreamTimeout)); err != nil {
		b.err = fmt.Errorf("p2p: read fragment from %s: %w", b.peer, err)
		return 0, b.err
	}
	m, err := b.s.Read(p)
	b.left -= int64(m)
	b.got += int64(m)
	switch {
	case b.left == 0:
		return m, nil
	case errors.Is(err, io.EOF):
		b.err = fmt.Errorf("p2p: read fragment from %s: %d bytes missing: %w", b.peer, b.left, io.ErrUnexpectedEOF)
	case err != nil:
		b.err = fmt.Errorf("p2p: read fragment from %s: %w", b.peer, err)
	}
	if b.err != nil && m == 0 {
		return 0, b.err
	}
	return m, nil
}

// Close closes the stream after a complete body and resets it otherwise.
func (b *body) Close() error {
	if b.stop == nil {
		return nil
	}
	b.stop()
	b.stop = nil
	complete := b.left == 0 && b.err == nil
	b.n.countFetch(b.peer, b.got, complete)
	if !complete {
		return b.s.Reset()
	}
	return b.s.Close()
}
