package tracker

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
)

// maxAuthHeader bounds the Authorization header value.
const maxAuthHeader = 8 << 10

// Verifier says whose requests the tracker accepts.
type Verifier struct {
	// Key is central's Ed25519 key, which signs peer records (the manifest
	// key).
	Key ed25519.PublicKey
	// Revoked, when set, reports peer IDs whose records must no longer be
	// honoured although they have not expired (central answers it from its
	// database). It is called with the tracker's lock held and must be
	// fast and never block.
	Revoked func(peerID string) bool
}

// authenticate checks an Authorization header value for a request with the
// given method, path and query (as sent) and body at now, and returns the
// verified caller.
func (v Verifier) authenticate(header, method, pathAndQuery string, body []byte, now time.Time, maxSkew time.Duration) (caller, error) {
	scheme, value, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, proto.TrackerAuthScheme) || len(value) > maxAuthHeader {
		return caller{}, fmt.Errorf("authorization: want %q: %w", proto.TrackerAuthScheme+" <credentials>", ErrUnauthorized)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(value), "="))
	if err != nil {
		return caller{}, fmt.Errorf("authorization: decode: %w: %w", ErrUnauthorized, err)
	}
	var a proto.TrackerAuth
	if err := json.Unmarshal(raw, &a); err != nil {
		return caller{}, fmt.Errorf("authorization: parse: %w: %w", ErrUnauthorized, err)
	}
	rec, err := proto.VerifyPeerRecord(a.PeerRecord, v.Key, now)
	if err != nil {
		return caller{}, fmt.Errorf("authorization: %w: %w", ErrUnauthorized, err)
	}
	if skew := now.Sub(time.Unix(a.Time, 0)); skew > maxSkew || skew < -maxSkew {
		return caller{}, fmt.Errorf("authorization: request time is %s off the tracker's clock: %w", skew.Round(time.Second), ErrUnauthorized)
	}
	id, err := peer.Decode(rec.PeerID)
	if err != nil {
		return caller{}, fmt.Errorf("authorization: peer ID: %w: %w", ErrUnauthorized, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return caller{}, fmt.Errorf("authorization: peer ID %s embeds no Ed25519 key: %w", rec.PeerID, ErrUnauthorized)
	}
	if ok, err := pub.Verify(proto.TrackerAuthMessage(method, pathAndQuery, a.Time, body), a.Signature); err != nil || !ok {
		return caller{}, fmt.Errorf("authorization: identity signature of %s: %w", rec.PeerID, ErrUnauthorized)
	}
	if v.Revoked != nil && v.Revoked(rec.PeerID) {
		return caller{}, fmt.Errorf("authorization: peer %s: %w", rec.PeerID, ErrRevoked)
	}
	if rec.Site == "" {
		return caller{}, fmt.Errorf("authorization: peer %s: %w", rec.PeerID, ErrNoSite)
	}
	return caller{PeerID: rec.PeerID, DeviceID: rec.DeviceID, Site: rec.Site, Relay: rec.IsRelay(), RecordExpires: rec.Expires, AuthTime: a.Time}, nil
}
