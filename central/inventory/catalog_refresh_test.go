package inventory_test

import (
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestCatalogSlowCountsRefreshedInBackground checks that once reading the
// per-name counts is slow (every read counts as slow here), a page finds
// the expired counts at once while one background read replaces them, and
// that the next pages get the new counts.
func TestCatalogSlowCountsRefreshedInBackground(t *testing.T) {
	t.Cleanup(inventory.SetSlowStatsRead(0))
	s := storetest.Open(t)
	ctx := t.Context()
	cat, err := inventory.NewCatalog(inventory.Config{CatalogCacheTTL: time.Nanosecond}, s, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int) {
		snap := storetest.Snapshot(devID("slow", n), 0)
		snap.Softwares = []store.Software{{Name: "7-Zip", Version: "24.08"}}
		mustIngest(t, s, snap)
	}
	computers := func() int64 {
		t.Helper()
		titles, err := cat.Titles(ctx, inventory.TitleFilter{Text: "7-zip"})
		if err != nil || len(titles) != 1 {
			t.Fatalf("titles = %+v, %v; want 7-Zip", titles, err)
		}
		return titles[0].Computers
	}
	add(1)
	if n := computers(); n != 1 {
		t.Fatalf("first read: 7-Zip on %d computers, want 1", n)
	}
	add(2)
	if n := computers(); n != 1 {
		t.Fatalf("expired counts: 7-Zip on %d computers, want the previous 1 while they are re-read", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for computers() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the background read never brought 7-Zip's second computer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
