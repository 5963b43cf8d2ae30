package enroll

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// TestRunVerifiesBeforeSaving runs the enrollment flow against answers a
// role's Post returns: only an answer with a usable manifest key, a peer
// record it signed for this identity and the role's own checks is saved,
// and the identity stays the same from one enrollment to the next.
func TestRunVerifiesBeforeSaving(t *testing.T) {
	p := loadPKI(t)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CACert.Raw})
	mk, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	record := func(peerID string, k ed25519.PrivateKey) proto.SignedPeerRecord {
		t.Helper()
		s, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: peerID, DeviceID: "d", Site: "s", Role: proto.RoleAgent,
			Issued: time.Now(), Expires: time.Now().Add(time.Hour)}, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	errCheck := errors.New("role check failed")
	tests := []struct {
		name   string
		answer func(id Identity) Answer
		check  error
		ok     bool
	}{
		{name: "good", answer: func(id Identity) Answer {
			return Answer{ManifestPublicKey: mk, ManifestKeyID: proto.KeyID(mk), PeerRecord: record(id.PeerID, key)}
		}, ok: true},
		{name: "short-manifest-key", answer: func(id Identity) Answer {
			return Answer{ManifestPublicKey: mk[:8], ManifestKeyID: proto.KeyID(mk), PeerRecord: record(id.PeerID, key)}
		}},
		{name: "wrong-key-id", answer: func(id Identity) Answer {
			return Answer{ManifestPublicKey: mk, ManifestKeyID: "other", PeerRecord: record(id.PeerID, key)}
		}},
		{name: "record-signed-by-another-key", answer: func(id Identity) Answer {
			return Answer{ManifestPublicKey: mk, ManifestKeyID: proto.KeyID(mk), PeerRecord: record(id.PeerID, otherKey)}
		}},
		{name: "role-check-fails", answer: func(id Identity) Answer {
			return Answer{ManifestPublicKey: mk, ManifestKeyID: proto.KeyID(mk), PeerRecord: record(id.PeerID, key)}
		}, check: errCheck},
	}
	dir := t.TempDir()
	var first string
	peers := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := false
			id, _, err := Run(context.Background(), Steps[Answer]{
				CAPEM:        caPEM,
				IdentityFile: filepath.Join(dir, "identity.key"),
				Post: func(_ context.Context, roots *x509.CertPool, id Identity) (Answer, error) {
					if roots == nil {
						t.Error("Post got no roots")
					}
					peers[id.PeerID] = true
					return tt.answer(id), nil
				},
				Answer: func(a Answer) Answer { return a },
				Check:  func(*x509.CertPool, Answer) error { return tt.check },
				Save: func(Identity, ed25519.PublicKey, Answer) error {
					saved = true
					return nil
				},
			})
			if (err == nil) != tt.ok || saved != tt.ok {
				t.Fatalf("Run = %v, saved %t; want ok=%t", err, saved, tt.ok)
			}
			if tt.check != nil && !errors.Is(err, tt.check) {
				t.Errorf("Run = %v, want the role's check error", err)
			}
			if tt.ok {
				first = id.PeerID
			}
		})
	}
	if first == "" {
		t.Fatal("no enrollment succeeded")
	}
	if len(peers) != 1 {
		t.Errorf("%d identities over %d enrollments, want the one kept in identity.key", len(peers), len(tests))
	}
	if _, _, err := Run(context.Background(), Steps[Answer]{CAPEM: []byte("not a certificate"), IdentityFile: filepath.Join(dir, "x")}); err == nil {
		t.Error("Run with a CA that is no PEM certificate succeeded")
	}
}
