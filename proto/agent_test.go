package proto

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPeerRecordSignVerify(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	rec := PeerRecord{PeerID: "12D3KooWabc", DeviceID: "host-2026-11-26-10-00-00", Site: "paris", Role: RoleAgent, Issued: now, Expires: now.Add(time.Hour)}
	signed, err := SignPeerRecord(rec, key)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)

	got, err := VerifyPeerRecord(signed, pub, now)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if diff := cmp.Diff(rec, *got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}

	tampered := signed
	tampered.Record = json.RawMessage(`{"peer_id":"12D3KooWabc","device_id":"host-2026-11-26-10-00-00","site":"lyon","role":"agent","issued":"2026-11-26T10:00:00Z","expires":"2026-11-26T11:00:00Z"}`)
	// A relay role cannot be added to an agent's record.
	promoted := signed
	promoted.Record = bytes.Replace(signed.Record, []byte(`"role":"agent"`), []byte(`"role":"relay"`), 1)
	// A version 1 record: signed over the bare bytes, no role.
	v1raw := []byte(`{"peer_id":"12D3KooWabc","device_id":"relay:r1","site":"paris","expires":"2026-11-26T11:00:00Z"}`)
	v1 := SignedPeerRecord{Record: v1raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, v1raw)}
	// The same bytes signed over the v2 context but without a role.
	noRole := SignedPeerRecord{Record: v1raw, KeyID: KeyID(pub), Signature: ed25519.Sign(key, peerRecordMessage(v1raw))}
	future, err := SignPeerRecord(PeerRecord{PeerID: "p", DeviceID: "d", Role: RoleAgent, Issued: now.Add(MaxPeerRecordSkew + time.Minute),
		Expires: now.Add(MaxPeerRecordSkew + time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	nearFuture, err := SignPeerRecord(PeerRecord{PeerID: "p", DeviceID: "d", Role: RoleRelay, Issued: now.Add(MaxPeerRecordSkew - time.Minute),
		Expires: now.Add(MaxPeerRecordSkew + time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		s       SignedPeerRecord
		pub     ed25519.PublicKey
		at      time.Time
		wantErr error
	}{
		{name: "tampered", s: tampered, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "other-key", s: signed, pub: other.Public().(ed25519.PublicKey), at: now, wantErr: ErrBadPeerRecord},
		{name: "short-key", s: signed, pub: pub[:5], at: now, wantErr: ErrBadPeerRecord},
		{name: "expired", s: signed, pub: pub, at: now.Add(2 * time.Hour), wantErr: ErrPeerRecordExpired},
		{name: "empty", s: SignedPeerRecord{}, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "role-promoted", s: promoted, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "version-1", s: v1, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "no-role", s: noRole, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "issued-beyond-skew", s: future, pub: pub, at: now, wantErr: ErrBadPeerRecord},
		{name: "issued-within-skew", s: nearFuture, pub: pub, at: now, wantErr: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyPeerRecord(tt.s, tt.pub, tt.at)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}

	if _, err := SignPeerRecord(PeerRecord{PeerID: "x"}, key); !errors.Is(err, ErrBadPeerRecord) {
		t.Errorf("incomplete record: err = %v, want ErrBadPeerRecord", err)
	}
	if _, err := SignPeerRecord(PeerRecord{PeerID: "x", DeviceID: "d", Role: "admin", Issued: now, Expires: now.Add(time.Hour)}, key); !errors.Is(err, ErrBadPeerRecord) {
		t.Errorf("unknown role: err = %v, want ErrBadPeerRecord", err)
	}
}

func TestJobsTag(t *testing.T) {
	tests := []struct {
		name string
		jobs []Job
		want string
	}{
		{name: "empty", jobs: nil, want: "v1:"},
		{name: "two", jobs: []Job{{PackageID: "1"}, {PackageID: "22", Force: true}}, want: "v1:1,22!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JobsTag(tt.jobs); got != tt.want {
				t.Errorf("JobsTag = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnrollProofBindsFields(t *testing.T) {
	a := EnrollProof("t", "d", "p")
	b := EnrollProof("t", "dp", "")
	if string(a) == string(b) {
		t.Error("proofs of different fields are equal")
	}
}

// TestPeerRecordSurvivesIndentation: a signed record kept in a file
// written with json.MarshalIndent (its raw record re-indented) still
// verifies, and an altered one still does not.
func TestPeerRecordSurvivesIndentation(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	s, err := SignPeerRecord(PeerRecord{PeerID: "p", DeviceID: "d", Site: "s", Role: RoleAgent, Issued: time.Now(), Expires: time.Now().Add(time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back SignedPeerRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(back.Record, s.Record) {
		t.Fatal("indentation left the record bytes alone; the test proves nothing")
	}
	if _, err := VerifyPeerRecord(back, key.Public().(ed25519.PublicKey), time.Now()); err != nil {
		t.Errorf("indented record: %v", err)
	}
	back.Record = bytes.Replace(back.Record, []byte(`"s"`), []byte(`"x"`), 1)
	if _, err := VerifyPeerRecord(back, key.Public().(ed25519.PublicKey), time.Now()); err == nil {
		t.Error("altered indented record verified")
	}
}
