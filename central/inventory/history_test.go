package inventory_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestHistoryOfReinventory checks the change history an inventory writes:
// nothing for a first inventory or an unchanged one; for a changed one,
// the software installed, removed, upgraded and downgraded (a row whose
// other fields changed is no change), the memory, address and site
// changes, each at the inventory's time; deleting the computer deletes
// its history, and pruning drops what is older than the cut.
func TestHistoryOfReinventory(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		site := &store.Site{Name: "branch"}
		if err := s.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		snap := func(at time.Time) *store.InventorySnapshot {
			sn := storetest.Snapshot(devID("hist", 1), 0)
			sn.Computer.LastInventory = at
			sn.Softwares = []store.Software{
				{Name: "Mozilla Firefox", Version: "131.0"},
				{Name: "7-Zip", Version: "24.08"},
				{Name: "curl", Version: "7.88.1", InstallDate: "2026/11/01"},
				{Name: "libreoffice", Version: "7.6.4"},
			}
			return sn
		}
		id := mustIngest(t, s, snap(t0)).ComputerID
		mustIngest(t, s, snap(t0.Add(time.Hour)))
		if h := history(t, s, id); len(h) != 0 {
			t.Fatalf("history after a first and an unchanged inventory: %+v", h)
		}

		t1 := t0.Add(24 * time.Hour)
		next := snap(t1)
		next.Softwares = []store.Software{
			{Name: "Mozilla Firefox", Version: "133.0.3"},
			{Name: "7-Zip", Version: "23.01"},
			{Name: "curl", Version: "7.88.1", InstallDate: "2026/12/01"},
			{Name: "VLC media player", Version: "3.0.21"},
		}
		next.Computer.MemoryMB = 16000
		next.Computer.IPAddr = "10.9.9.9"
		next.Computer.SiteID = &site.ID
		mustIngest(t, s, next)

		got := history(t, s, id)
		want := []store.HistoryEntry{
			{Kind: store.ChangeSoftwareDowngraded, Subject: "7-Zip", Old: "24.08", New: "23.01"},
			{Kind: store.ChangeSoftwareUpgraded, Subject: "Mozilla Firefox", Old: "131.0", New: "133.0.3"},
			{Kind: store.ChangeSoftwareInstalled, Subject: "VLC media player", New: "3.0.21"},
			{Kind: store.ChangeSoftwareRemoved, Subject: "libreoffice", Old: "7.6.4"},
			{Kind: store.ChangeHardware, Subject: "memory_mb", Old: "7940", New: "16000"},
			{Kind: store.ChangeNetwork, Subject: "ip", Old: snap(t0).Computer.IPAddr, New: "10.9.9.9"},
			{Kind: store.ChangeSite, Subject: "site", Old: "", New: itoa(site.ID)},
		}
		for i := range got {
			if !got[i].At.Equal(t1) {
				t.Errorf("entry %d at %s, want %s", i, got[i].At, t1)
			}
		}
		opts := []cmp.Option{cmpopts.IgnoreFields(store.HistoryEntry{}, "ID", "ComputerID", "At"),
			cmpopts.SortSlices(func(a, b store.HistoryEntry) bool { return a.Kind+a.Subject < b.Kind+b.Subject })}
		if d := cmp.Diff(want, got, opts...); d != "" {
			t.Errorf("history (-want +got):\n%s", d)
		}

		n, err := s.PruneHistory(ctx, t1)
		if err != nil || n != 0 {
			t.Fatalf("PruneHistory(t1) = %d, %v; want 0 (entries at t1 are kept)", n, err)
		}
		if n, err = s.PruneHistory(ctx, t1.Add(time.Second)); err != nil || n != int64(len(want)) {
			t.Fatalf("PruneHistory(after t1) = %d, %v; want %d", n, err, len(want))
		}
		mustIngest(t, s, snap(t1.Add(time.Hour)))
		if len(history(t, s, id)) == 0 {
			t.Fatal("no history after another change")
		}
		if err := s.DeleteComputer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if h := history(t, s, id); len(h) != 0 {
			t.Fatalf("history of a deleted computer: %+v", h)
		}
	})
}

func history(t *testing.T, s *store.Store, id uint) []store.HistoryEntry {
	t.Helper()
	h, err := s.ComputerHistory(t.Context(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }
