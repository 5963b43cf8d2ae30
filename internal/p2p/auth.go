package p2p

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
)

// maxCachedRecords bounds the cache of verified peer records.
const maxCachedRecords = 4096

// Reasons a peer record is refused. They are internal: the server answers
// "forbidden" and the fetcher returns ErrUntrusted, both naming the reason.
var (
	errOtherSite    = errors.New("record is for another site")
	errRevoked      = errors.New("peer is revoked")
	errWrongPeer    = errors.New("record names another peer than the connection's")
	errNoSite       = errors.New("we have no site")
	errRecordForged = errors.New("record does not verify")
)

// recordHash identifies a signed record by all of its bytes.
func recordHash(s proto.SignedPeerRecord) [32]byte {
	h := sha256.New()
	h.Write([]byte(s.KeyID))
	h.Write([]byte{0})
	h.Write(s.Record)
	h.Write([]byte{0})
	h.Write(s.Signature)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// checkPeer decides whether the peer authenticated as remote by the
// connection's TLS handshake may exchange fragments with us, given the
// record it presented: central's signature (checked once per distinct
// record, then cached by the hash of its bytes), not expired at now, our
// site, not revoked, and naming remote itself, so that a record copied
// from another peer is worthless. Site, revocation, expiry and the peer
// binding are checked on every call.
func (n *Node) checkPeer(s proto.SignedPeerRecord, remote peer.ID, now time.Time) (*proto.PeerRecord, error) {
	key := recordHash(s)
	n.mu.Lock()
	site := n.site
	r, cached := n.cache[key]
	revoked := n.revoked
	n.mu.Unlock()
	if site == "" {
		return nil, errNoSite
	}
	if !cached {
		v, err := proto.VerifyPeerRecord(s, n.central, now)
		if errors.Is(err, proto.ErrPeerRecordExpired) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errRecordForged, err)
		}
		r = *v
		n.mu.Lock()
		if len(n.cache) >= maxCachedRecords {
			n.pruneCacheLocked(now)
		}
		n.cache[key] = r
		n.mu.Unlock()
	}
	switch {
	case !now.Before(r.Expires):
		return nil, fmt.Errorf("record of %s expired at %s: %w", r.PeerID, r.Expires.Format(time.RFC3339), proto.ErrPeerRecordExpired)
	case r.PeerID != remote.String():
		return nil, fmt.Errorf("record of %s presented by %s: %w", r.PeerID, remote, errWrongPeer)
	case r.Site != site:
		return nil, fmt.Errorf("record of %s is for site %q, ours is %q: %w", r.PeerID, r.Site, site, errOtherSite)
	case revoked[r.PeerID]:
		return nil, fmt.Errorf("record of %s: %w", r.PeerID, errRevoked)
	}
	return &r, nil
}

// pruneCacheLocked drops expired records, or all of them if none has
// expired. n.mu must be held.
func (n *Node) pruneCacheLocked(now time.Time) {
	for k, r := range n.cache {
		if !now.Before(r.Expires) {
			delete(n.cache, k)
		}
	}
	if len(n.cache) >= maxCachedRecords {
		clear(n.cache)
	}
}

// refusalReason names why a record was refused, for the refused peer,
// without our site's name or other details.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, proto.ErrPeerRecordExpired):
		return "peer record expired"
	case errors.Is(err, errOtherSite):
		return "peer record is for another site"
	case errors.Is(err, errRevoked):
		return "peer revoked"
	case errors.Is(err, errWrongPeer):
		return "peer record names another peer"
	case errors.Is(err, errNoSite):
		return "server has no site"
	}
	return "peer record does not verify"
}
