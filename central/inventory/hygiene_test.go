package inventory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestMergesRecordedAndSplit checks that the duplicate rule's merges are
// recorded for the duplicates page, that splitting one creates the merged
// computer again under its device ID, and that the rule then never merges
// the two again, on both databases.
func TestMergesRecordedAndSplit(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		x := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 3)).ComputerID
		ySnap := storetest.Snapshot(devID("pc", 1), 3)
		ySnap.Computer.DeviceID = devID("pc", 2)
		res := mustIngest(t, s, ySnap)
		y := res.ComputerID
		if y != x || res.PreviousDeviceID != devID("pc", 1) {
			t.Fatalf("result %+v: want computer %d taking over device %s", res, x, devID("pc", 1))
		}

		// A third inventory under the first device ID after a split of
		// the takeover: the rule leaves the two apart.
		ms, total, err := s.Merges(ctx, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || ms[0].Reason != store.MergeRule || ms[0].TargetID != x || ms[0].MergedID != x ||
			ms[0].MergedDeviceID != devID("pc", 1) || ms[0].TargetDeviceID != devID("pc", 2) || ms[0].Actor != "inventory ocs" {
			t.Fatalf("merges = %d %+v, want the takeover of %s by %s", total, ms, devID("pc", 1), devID("pc", 2))
		}
		split, m, err := inventory.SplitMerge(ctx, s, ms[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if split.DeviceID != devID("pc", 1) || m.SplitAt == nil || m.SplitID == nil || *m.SplitID != split.ID {
			t.Fatalf("split = %+v, merge %+v", split, m)
		}
		if _, _, err := inventory.SplitMerge(ctx, s, ms[0].ID); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second split: %v, want ErrConflict", err)
		}
		again := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 3))
		if again.ComputerID != split.ID || len(again.MergedFrom) != 0 {
			t.Errorf("inventory of the split device: %+v, want computer %d and no merge", again, split.ID)
		}
		other := mustIngest(t, s, ySnap)
		if other.ComputerID != x || len(other.MergedFrom) != 0 {
			t.Errorf("inventory of the survivor: %+v, want computer %d and no merge", other, x)
		}
		if _, total, _ := s.Merges(ctx, 10, 0); total != 1 {
			t.Errorf("merges = %d after the split, want still 1", total)
		}

		// A third computer with the same name, serial and MAC is merged
		// (and deleted) by the next inventory of one of them.
		z := mustIngest(t, s, func() *store.InventorySnapshot {
			snap := storetest.Snapshot(devID("pc", 1), 3)
			snap.Computer.DeviceID, snap.BIOS.SystemSerial = devID("pc", 3), "OTHER"
			return snap
		}()).ComputerID
		zSnap := storetest.Snapshot(devID("pc", 1), 3)
		zSnap.Computer.DeviceID = devID("pc", 3)
		res = mustIngest(t, s, zSnap)
		if res.ComputerID != z || len(res.MergedFrom) != 2 {
			t.Fatalf("result %+v: want %d absorbing the two others", res, z)
		}
		ms, total, err = s.Merges(ctx, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || ms[0].TargetID != z || ms[0].MergedID == z || ms[1].MergedID == z {
			t.Errorf("merges = %d %+v, want two more into %d", total, ms, z)
		}
	})
}

// TestManualMerge checks an administrator's merge: recorded, deployments
// moved, and never deleting a computer with a Shoal agent identity.
func TestManualMerge(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	a := mustIngest(t, s, storetest.Snapshot(devID("a", 1), 2)).ComputerID
	b := mustIngest(t, s, storetest.Snapshot(devID("b", 1), 2)).ComputerID
	if err := s.CreatePackage(ctx, &store.Package{ID: "11", Name: "p11"}); err != nil {
		t.Fatal(err)
	}
	affect(t, s, "11", b)
	if _, err := inventory.MergeComputers(ctx, s, a, a, "admin"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("merge into itself: %v, want ErrInvalid", err)
	}
	if _, err := inventory.MergeComputers(ctx, s, a, 9999, "admin"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("merge of an unknown computer: %v, want ErrNotFound", err)
	}
	m, err := inventory.MergeComputers(ctx, s, a, b, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if m.Reason != store.MergeManual || m.Actor != "admin" || m.TargetID != a || m.MergedID != b || m.MergedDeviceID != devID("b", 1) {
		t.Errorf("merge record %+v", m)
	}
	if _, err := s.Computer(ctx, b); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("merged computer: %v, want deleted", err)
	}
	deps, err := s.DeploymentsOf(ctx, a)
	if err != nil || len(deps) != 1 {
		t.Errorf("survivor's deployments %v (%v), want the merged one's", deps, err)
	}

	tok := &store.EnrollmentToken{Name: "t", Hash: hexHash("t")}
	if err := s.CreateEnrollmentToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	managed, err := inventory.EnrollAgent(ctx, s, tok.Hash, storetest.Snapshot(devID("m", 1), 1), &store.AgentIdentity{PeerID: "pm", SecretHash: hexHash("sm")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.MergeComputers(ctx, s, a, managed.ComputerID, "admin"); !errors.Is(err, store.ErrShoalManaged) {
		t.Errorf("merging away a Shoal agent's computer: %v, want ErrShoalManaged", err)
	}
}

// TestPurgeStale checks that the purge deletes only the computers not seen
// since the cut-off, longest unseen first.
func TestPurgeStale(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	now := time.Now().UTC()
	ids := map[string]uint{}
	for _, tt := range []struct {
		name string
		age  time.Duration
	}{{"fresh", time.Hour}, {"old", 40 * 24 * time.Hour}, {"older", 90 * 24 * time.Hour}} {
		snap := storetest.Snapshot(devID(tt.name, 1), 1)
		snap.Computer.LastInventory = now.Add(-tt.age)
		ids[tt.name] = mustIngest(t, s, snap).ComputerID
	}
	cut := now.Add(-30 * 24 * time.Hour)
	stale, err := inventory.StaleComputers(ctx, s, cut, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 2 || stale[0].ID != ids["older"] || stale[1].ID != ids["old"] {
		t.Fatalf("stale = %+v, want older then old", stale)
	}
	var seen []uint
	done, err := inventory.PurgeStale(ctx, s, cut, func(c store.Computer) { seen = append(seen, c.ID) })
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 || len(seen) != 2 {
		t.Errorf("purged %d (%v), want 2", len(done), seen)
	}
	if _, err := s.Computer(ctx, ids["fresh"]); err != nil {
		t.Errorf("fresh computer: %v", err)
	}
	if _, err := s.Computer(ctx, ids["old"]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old computer: %v, want purged", err)
	}
	if err := (inventory.StalePurge{Days: -1}).Validate(); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Validate(-1) = %v, want ErrInvalid", err)
	}
}
