package enroll

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
)

// ErrNoCA reports an enrollment given neither a CA file nor a CA
// fingerprint.
var ErrNoCA = errors.New("no CA file or fingerprint")

// CA returns central's CA certificate: read from file when it is set, else
// fetched from server and pinned by fingerprint (FetchCA). With neither it
// returns ErrNoCA.
func CA(ctx context.Context, server, file, fingerprint string) ([]byte, error) {
	switch {
	case file != "":
		return os.ReadFile(file)
	case fingerprint != "":
		return FetchCA(ctx, server, fingerprint)
	}
	return nil, ErrNoCA
}

// Identity is a node's libp2p identity as enrolling proves it to central.
type Identity struct {
	Key       crypto.PrivKey
	PeerID    string
	PublicKey []byte // the marshalled libp2p public key
}

// Sign signs a proof message (proto.EnrollProof, proto.RelayEnrollProof)
// with the identity key.
func (id Identity) Sign(msg []byte) ([]byte, error) {
	sig, err := id.Key.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("sign proof: %w", err)
	}
	return sig, nil
}

// Answer is what every enrollment answer carries: central's manifest key
// and the peer record it signed with it.
type Answer struct {
	ManifestPublicKey []byte
	ManifestKeyID     string
	PeerRecord        proto.SignedPeerRecord
}

// Steps are one role's part of an enrollment; Run does the common rest.
// Resp is the role's answer type.
type Steps[Resp any] struct {
	// CAPEM is central's CA certificate (CA), the only root the request
	// trusts.
	CAPEM []byte
	// IdentityFile holds the identity key, created on first use.
	IdentityFile string
	// Post builds the role's request for id, signs its proof and sends it
	// with its token to central over TLS trusting only roots.
	Post func(ctx context.Context, roots *x509.CertPool, id Identity) (Resp, error)
	// Answer returns the common part of the answer.
	Answer func(Resp) Answer
	// Check, when set, verifies what only the role's answer carries.
	Check func(roots *x509.CertPool, resp Resp) error
	// Save persists the enrollment (with statefile, atomically); Run calls
	// it only once the answer verified.
	Save func(id Identity, manifestKey ed25519.PublicKey, resp Resp) error
}

// Run enrolls: it parses central's CA, loads or creates the identity,
// posts the role's request, verifies the answer (a usable manifest key, a
// peer record it signed, the role's Check) and saves it. Errors start
// with "enroll: ".
func Run[Resp any](ctx context.Context, s Steps[Resp]) (Identity, Resp, error) {
	var zero Resp
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.CAPEM) {
		return Identity{}, zero, errors.New("enroll: CA: no PEM certificate")
	}
	key, err := LoadIdentity(s.IdentityFile)
	if err != nil {
		return Identity{}, zero, err
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return Identity{}, zero, fmt.Errorf("enroll: peer id: %w", err)
	}
	pub, err := crypto.MarshalPublicKey(key.GetPublic())
	if err != nil {
		return Identity{}, zero, fmt.Errorf("enroll: public key: %w", err)
	}
	id := Identity{Key: key, PeerID: pid.String(), PublicKey: pub}
	resp, err := s.Post(ctx, roots, id)
	if err != nil {
		return Identity{}, zero, fmt.Errorf("enroll: %w", err)
	}
	a := s.Answer(resp)
	mk := ed25519.PublicKey(a.ManifestPublicKey)
	if len(mk) != ed25519.PublicKeySize || proto.KeyID(mk) != a.ManifestKeyID {
		return Identity{}, zero, errors.New("enroll: central sent an unusable manifest key")
	}
	if _, err := proto.VerifyPeerRecord(a.PeerRecord, mk, time.Now()); err != nil {
		return Identity{}, zero, fmt.Errorf("enroll: peer record: %w", err)
	}
	if s.Check != nil {
		if err := s.Check(roots, resp); err != nil {
			return Identity{}, zero, fmt.Errorf("enroll: %w", err)
		}
	}
	if err := s.Save(id, mk, resp); err != nil {
		return Identity{}, zero, err
	}
	return id, resp, nil
}

// HTTPClient returns a client that trusts only roots, for a role that
// posts its request itself.
func HTTPClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
}
