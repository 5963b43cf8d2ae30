package proto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RevokedPeersPath is where central serves its signed revocation list on
// both listeners, without authentication (the list is signed): trackers
// run apart from central (shoal-tracker) poll it.
const RevokedPeersPath = "/shoal/v1/revoked-peers"

// ErrBadRevocationList reports a revocation list that does not verify.
var ErrBadRevocationList = errors.New("bad revocation list")

// RevocationList names the peers whose central-signed peer records must
// no longer be honoured although they have not expired (revoked or
// deleted computers, removed relays). Issued orders lists: a holder
// never goes back to an older one.
type RevocationList struct {
	Issued time.Time `json:"issued"`
	Peers  []string  `json:"peers"`
}

// SignedRevocationList is a RevocationList with central's Ed25519
// signature (the manifest key) over revocationContext and the exact
// bytes of List, so that no manifest or peer record can pass for one.
type SignedRevocationList struct {
	List      json.RawMessage `json:"list"`
	KeyID     string          `json:"key_id"`
	Signature []byte          `json:"signature"`
}

const revocationContext = "shoal-revocations-v1\x00"

func revocationMessage(raw []byte) []byte {
	return append([]byte(revocationContext), raw...)
}

// SignRevocationList encodes l and signs it with key.
func SignRevocationList(l RevocationList, key ed25519.PrivateKey) (SignedRevocationList, error) {
	if len(key) != ed25519.PrivateKeySize {
		return SignedRevocationList{}, fmt.Errorf("sign revocation list: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if l.Issued.IsZero() {
		return SignedRevocationList{}, errors.New("sign revocation list: issued is required")
	}
	if l.Peers == nil {
		l.Peers = []string{}
	}
	l.Issued = l.Issued.UTC()
	raw, err := json.Marshal(l)
	if err != nil {
		return SignedRevocationList{}, fmt.Errorf("sign revocation list: encode: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	return SignedRevocationList{List: raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, revocationMessage(raw))}, nil
}

// VerifyRevocationList checks the signature of s with pub and parses the
// list. Failures wrap ErrBadRevocationList.
func VerifyRevocationList(s SignedRevocationList, pub ed25519.PublicKey) (*RevocationList, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verify revocation list: public key has %d bytes: %w", len(pub), ErrBadRevocationList)
	}
	raw := s.List
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	if s.KeyID != KeyID(pub) || len(raw) == 0 || !ed25519.Verify(pub, revocationMessage(raw), s.Signature) {
		return nil, fmt.Errorf("verify revocation list: signature: %w", ErrBadRevocationList)
	}
	var l RevocationList
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("verify revocation list: parse: %w: %w", ErrBadRevocationList, err)
	}
	if l.Issued.IsZero() {
		return nil, fmt.Errorf("verify revocation list: no issue time: %w", ErrBadRevocationList)
	}
	return &l, nil
}
