// Package trackertest makes swarm identities for tests: a stand-in for
// central's peer-record key and peers with libp2p Ed25519 keys and
// central-signed peer records, as enrollment would give them.
package trackertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
)

// Central is a stand-in for central's peer-record signing key.
type Central struct {
	Key ed25519.PrivateKey
}

// NewCentral returns a fresh central key.
func NewCentral(t testing.TB) *Central {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Central{Key: key}
}

// Public returns the key peers and trackers verify records with.
func (c *Central) Public() ed25519.PublicKey { return c.Key.Public().(ed25519.PublicKey) }

// Identity is a peer: its libp2p key, peer ID and signed record.
type Identity struct {
	Key    crypto.PrivKey
	PeerID peer.ID
	Record proto.SignedPeerRecord
}

// NewIdentity returns a peer of site whose record expires after ttl.
func (c *Central) NewIdentity(t testing.TB, site string, ttl time.Duration) *Identity {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ident := &Identity{Key: key, PeerID: id}
	ident.Record = c.Sign(t, proto.PeerRecord{PeerID: id.String(), DeviceID: "dev-" + id.String()[:12], Site: site, Expires: time.Now().Add(ttl)})
	return ident
}

// NewRelayIdentity returns a relay of site: its record has
// proto.RoleRelay (and a "relay:" device ID), as central signs them for
// enrolled relays.
func (c *Central) NewRelayIdentity(t testing.TB, site string, ttl time.Duration) *Identity {
	t.Helper()
	ident := c.NewIdentity(t, site, ttl)
	ident.Record = c.Sign(t, proto.PeerRecord{PeerID: ident.PeerID.String(), DeviceID: proto.RelayDeviceIDPrefix + ident.PeerID.String()[:12],
		Site: site, Role: proto.RoleRelay, Expires: time.Now().Add(ttl)})
	return ident
}

// Sign signs an arbitrary record, for tests that need odd ones. An empty
// Role becomes proto.RoleAgent and a zero Issued the current time.
func (c *Central) Sign(t testing.TB, r proto.PeerRecord) proto.SignedPeerRecord {
	t.Helper()
	if r.Role == "" {
		r.Role = proto.RoleAgent
	}
	if r.Issued.IsZero() {
		r.Issued = time.Now()
	}
	s, err := proto.SignPeerRecord(r, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
