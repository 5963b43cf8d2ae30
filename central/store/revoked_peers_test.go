package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestRevokedPeerIDs(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		now := time.Now()
		tok := &store.EnrollmentToken{Name: "trk", Hash: hexHash("trk")}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		computer := map[string]uint{}
		for _, name := range []string{"a", "b", "c"} {
			res, err := inventory.EnrollAgent(ctx, s, tok.Hash, storetest.Snapshot(name+"-2026-01-01-00-00-00", 1),
				&store.AgentIdentity{PeerID: "peer" + name, SecretHash: hexHash("s" + name)}, now)
			if err != nil {
				t.Fatal(err)
			}
			computer[name] = res.ComputerID
			if err := s.SavePeerRecord(ctx, &store.AgentPeerRecord{ComputerID: res.ComputerID, PeerID: "rec" + name,
				Site: "s", Expires: now.Add(time.Hour), Signed: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.RevokedPeerIDs(ctx, now)
		if err != nil || len(got) != 0 {
			t.Fatalf("RevokedPeerIDs with nothing revoked = %v, %v", got, err)
		}
		if err := s.SetComputerRevoked(ctx, computer["a"], true); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteComputer(ctx, computer["c"]); err != nil {
			t.Fatal(err)
		}
		got, err = s.RevokedPeerIDs(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"reca", "recc"}, got); diff != "" {
			t.Errorf("revoked peer IDs (-want +got):\n%s", diff)
		}
		// Expired records no longer matter: the list does not grow with
		// every computer ever revoked.
		got, err = s.RevokedPeerIDs(ctx, now.Add(2*time.Hour))
		if err != nil || len(got) != 0 {
			t.Errorf("revoked peer IDs after the records expired = %v, %v; want none", got, err)
		}
	})
}
