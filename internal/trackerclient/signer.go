package trackerclient

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/shoal-project/shoal/proto"
)

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
