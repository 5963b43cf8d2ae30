package proto

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRevocationList(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now().Truncate(time.Second)
	s, err := SignRevocationList(RevocationList{Issued: now, Peers: []string{"12D3KooWa", "12D3KooWb"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := VerifyRevocationList(s, pub)
	if err != nil || !l.Issued.Equal(now) || !slices.Equal(l.Peers, []string{"12D3KooWa", "12D3KooWb"}) {
		t.Fatalf("verify = %+v, %v", l, err)
	}
	rec, err := SignPeerRecord(PeerRecord{PeerID: "12D3KooWa", DeviceID: "d", Site: "s", Role: RoleAgent, Issued: now, Expires: now.Add(time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	tampered := s
	tampered.List = []byte(`{"issued":"` + now.UTC().Format(time.RFC3339) + `","peers":[]}`)
	tests := []struct {
		name string
		s    SignedRevocationList
		pub  ed25519.PublicKey
	}{
		{"other-key", s, otherPub},
		{"tampered", tampered, pub},
		{"peer-record-as-list", SignedRevocationList{List: rec.Record, KeyID: rec.KeyID, Signature: rec.Signature}, pub},
		{"empty", SignedRevocationList{KeyID: s.KeyID}, pub},
	}
	for _, tt := range tests {
		if _, err := VerifyRevocationList(tt.s, tt.pub); !errors.Is(err, ErrBadRevocationList) {
			t.Errorf("%s: %v, want ErrBadRevocationList", tt.name, err)
		}
	}
	if _, err := SignRevocationList(RevocationList{}, key); err == nil {
		t.Error("a list without an issue time was signed")
	}
}
