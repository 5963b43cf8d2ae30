package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestEnrollmentTokens(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		tok := &store.EnrollmentToken{Name: "lab", Hash: hexHash("tok"), MaxUses: 2}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []*store.EnrollmentToken{{Name: "", Hash: hexHash("x")}, {Name: "x", Hash: "nothex"}, {Name: "x", Hash: hexHash("y"), MaxUses: -1}} {
			if err := s.CreateEnrollmentToken(ctx, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateEnrollmentToken(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		enroll := func(device, peer, secret, tokenHash string) error {
			_, err := s.EnrollAgent(ctx, tokenHash, storetest.Snapshot(device, 2),
				&store.AgentIdentity{PeerID: peer, SecretHash: hexHash(secret)}, now)
			return err
		}
		if err := enroll("a-2026-01-01-00-00-00", "peerA", "sa", tok.Hash); err != nil {
			t.Fatalf("first enrollment: %v", err)
		}
		if err := enroll("b-2026-01-01-00-00-00", "peerB", "sb", tok.Hash); err != nil {
			t.Fatalf("second enrollment: %v", err)
		}
		if err := enroll("c-2026-01-01-00-00-00", "peerC", "sc", tok.Hash); !errors.Is(err, store.ErrEnrollRefused) {
			t.Fatalf("third enrollment with a 2-use token: %v, want ErrEnrollRefused", err)
		}
		if err := enroll("c-2026-01-01-00-00-00", "peerC", "sc", hexHash("unknown")); !errors.Is(err, store.ErrEnrollRefused) {
			t.Fatalf("unknown token: %v, want ErrEnrollRefused", err)
		}
		if _, err := s.ComputerByDeviceID(ctx, "c-2026-01-01-00-00-00"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused enrollment created a computer: %v", err)
		}

		open := &store.EnrollmentToken{Name: "open", Hash: hexHash("open")}
		if err := s.CreateEnrollmentToken(ctx, open); err != nil {
			t.Fatal(err)
		}
		// Another key cannot take over the enrolled computer (issue 13,
		// attack 4); the computer's identity and secret stay.
		if err := enroll("a-2026-01-01-00-00-00", "peerA2", "sx", open.Hash); !errors.Is(err, store.ErrAlreadyEnrolled) || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("re-enrollment with another key: %v, want ErrAlreadyEnrolled", err)
		}
		if id, _, err := s.AgentBySecretHash(ctx, hexHash("sa")); err != nil || id.PeerID != "peerA" {
			t.Fatalf("after a refused takeover: identity %+v, %v; want peerA's", id, err)
		}
		// Enrolling again with the same key replaces the secret.
		if err := enroll("a-2026-01-01-00-00-00", "peerA", "sa2", open.Hash); err != nil {
			t.Fatalf("re-enrollment: %v", err)
		}
		if _, _, err := s.AgentBySecretHash(ctx, hexHash("sa")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old secret still valid: %v", err)
		}
		id, comp, err := s.AgentBySecretHash(ctx, hexHash("sa2"))
		if err != nil {
			t.Fatal(err)
		}
		if id.PeerID != "peerA" || comp.DeviceID != "a-2026-01-01-00-00-00" || comp.Source != store.SourceShoal {
			t.Errorf("identity %+v computer %s source %s", id, comp.DeviceID, comp.Source)
		}
		agents, err := s.ListAgents(ctx)
		if err != nil || len(agents) != 2 {
			t.Errorf("ListAgents = %d agents, %v; want 2", len(agents), err)
		}

		if err := s.SetComputerRevoked(ctx, comp.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := enroll("a-2026-01-01-00-00-00", "peerA", "sa3", open.Hash); !errors.Is(err, store.ErrRevoked) {
			t.Errorf("enrolling a revoked computer: %v, want ErrRevoked", err)
		}

		if err := s.RevokeEnrollmentToken(ctx, open.ID); err != nil {
			t.Fatal(err)
		}
		if err := enroll("d-2026-01-01-00-00-00", "peerD", "sd", open.Hash); !errors.Is(err, store.ErrEnrollRefused) {
			t.Errorf("revoked token: %v, want ErrEnrollRefused", err)
		}
		toks, err := s.ListEnrollmentTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var uses []int
		for _, tk := range toks {
			uses = append(uses, tk.Uses)
		}
		if diff := cmp.Diff([]int{2, 1}, uses); diff != "" {
			t.Errorf("token uses (-want +got):\n%s", diff)
		}
	})
}

func TestPeerRecordUpsert(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	for _, site := range []string{"paris", "lyon"} {
		if err := s.SavePeerRecord(ctx, &store.AgentPeerRecord{ComputerID: 7, PeerID: "p", Site: site, Expires: exp, Signed: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.PeerRecord(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if r.Site != "lyon" || !r.Expires.Equal(exp) {
		t.Errorf("peer record %+v", r)
	}
}
