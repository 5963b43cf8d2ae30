package tracker

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// Signer holds a peer's libp2p identity key and its current central-signed
// peer record, and signs tracker requests with them. The agent replaces the
// record when central renews it; a Signer is safe for concurrent use.
type Signer struct {
	key crypto.PrivKey

	mu  sync.RWMutex // guards rec and now
	rec proto.SignedPeerRecord
	now func() time.Time
}

// NewSigner returns a Signer for key and its record rec.
func NewSigner(key crypto.PrivKey, rec proto.SignedPeerRecord) *Signer {
	return &Signer{key: key, rec: rec}
}

// SetRecord replaces the peer record sent with every request.
func (s *Signer) SetRecord(rec proto.SignedPeerRecord) {
	s.mu.Lock()
	s.rec = rec
	s.mu.Unlock()
}

// SetClock makes now the time requests are signed with (default
// time.Now). Agents and relays pass central's time as they measured it
// (skew.Clock.Now), because the tracker refuses requests whose time is
// more than a few minutes off its own.
func (s *Signer) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// Now is the time requests are signed with.
func (s *Signer) Now() time.Time {
	s.mu.RLock()
	now := s.now
	s.mu.RUnlock()
	if now == nil {
		return time.Now()
	}
	return now()
}

// Record returns the current peer record.
func (s *Signer) Record() proto.SignedPeerRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rec
}

// Authorization returns the Authorization header value of a request.
func (s *Signer) Authorization(method, pathAndQuery string, body []byte, now time.Time) (string, error) {
	if s == nil || s.key == nil {
		return "", errors.New("sign tracker request: no identity key")
	}
	unix := now.Unix()
	sig, err := s.key.Sign(proto.TrackerAuthMessage(method, pathAndQuery, unix, body))
	if err != nil {
		return "", fmt.Errorf("sign tracker request: %w", err)
	}
	raw, err := json.Marshal(proto.TrackerAuth{PeerRecord: s.Record(), Time: unix, Signature: sig})
	if err != nil {
		return "", fmt.Errorf("sign tracker request: %w", err)
	}
	return proto.TrackerAuthScheme + " " + base64.RawURLEncoding.EncodeToString(raw), nil
}
