package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestShoalComputersOutOfReach: inside the ingest transaction (behind the
// OCS edge's own check), an anonymous inventory naming a Shoal agent's
// computer, or carrying a reserved device ID, is refused with nothing
// stored; and no inventory, anonymous or a Shoal agent's, merges, renames
// or deletes a Shoal computer through the duplicate rule.
func TestShoalComputersOutOfReach(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		tok := &store.EnrollmentToken{Name: "t", Hash: hexHash("t")}
		if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		const dev = "victim-2026-01-01-00-00-00"
		victim, err := s.EnrollAgent(ctx, tok.Hash, storetest.Snapshot(dev, 2), &store.AgentIdentity{PeerID: "pv", SecretHash: hexHash("sv")}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rowsBefore, err := s.CountRows(ctx)
		if err != nil {
			t.Fatal(err)
		}

		same := storetest.Snapshot(dev, 5)
		same.Anonymous = true
		reserved := storetest.Snapshot("relay:r1-2026-01-01-00-00-00", 1)
		reserved.Anonymous = true
		oldID := storetest.Snapshot("other-2026-01-01-00-00-00", 1)
		oldID.Anonymous, oldID.OldDeviceID = true, "relay:r1"
		tests := []struct {
			name string
			snap *store.InventorySnapshot
			want error
		}{
			{name: "same-device-id", snap: same, want: store.ErrShoalManaged},
			{name: "reserved-device-id", snap: reserved, want: store.ErrInvalid},
			{name: "reserved-old-device-id", snap: oldID, want: store.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.IngestInventory(ctx, tt.snap); !errors.Is(err, tt.want) {
					t.Fatalf("ingest: %v, want %v", err, tt.want)
				}
				rows, err := s.CountRows(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(rowsBefore, rows); diff != "" {
					t.Errorf("a refused ingest changed rows (-before +after):\n%s", diff)
				}
			})
		}
		if managed, err := s.ShoalManaged(ctx, dev); err != nil || !managed {
			t.Errorf("ShoalManaged(%s) = %t, %v", dev, managed, err)
		}

		// Another Shoal agent (and an OCS inventory) with the victim's
		// name, serial and MAC under their own device IDs.
		thief := storetest.Snapshot(dev, 1)
		thief.Computer.DeviceID = "thief-2026-01-02-00-00-00"
		thief.Computer.Name = storetest.Snapshot(dev, 1).Computer.Name
		res, err := s.EnrollAgent(ctx, tok.Hash, thief, &store.AgentIdentity{PeerID: "pt", SecretHash: hexHash("st")}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		again := storetest.Snapshot(dev, 1)
		again.Computer.DeviceID = "thief-2026-01-02-00-00-00"
		again.Computer.Source = store.SourceShoal
		if res2, err := s.IngestInventory(ctx, again); err != nil || len(res2.MergedFrom) != 0 {
			t.Fatalf("thief's inventory: %+v %v", res2, err)
		}
		anon := storetest.Snapshot(dev, 1)
		anon.Computer.DeviceID, anon.Anonymous = "anon-2026-01-02-00-00-00", true
		if res3, err := s.IngestInventory(ctx, anon); err != nil || res3.PreviousDeviceID != "" || !res3.Created {
			t.Fatalf("anonymous duplicate: %+v %v", res3, err)
		}
		c, err := s.Computer(ctx, victim.ComputerID)
		if err != nil || c.DeviceID != dev || res.ComputerID == victim.ComputerID {
			t.Errorf("victim after duplicates: %+v %v (thief computer %d)", c, err, res.ComputerID)
		}
		if rev, err := s.RevokedPeerIDs(ctx, time.Now()); err != nil || len(rev) != 0 {
			t.Errorf("revoked peers: %v %v", rev, err)
		}
	})
}
