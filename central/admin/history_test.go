package admin_test

import (
	"strconv"
	"testing"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestCreateSiteRecordsMoves checks that a computer a new site takes over
// by its address gets the move in its change history.
func TestCreateSiteRecordsMoves(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	snap := storetest.Snapshot("moved-2026-12-01-07-24-08", 0)
	snap.Computer.IPAddr = "10.77.0.5"
	res, err := inventory.Record(ctx, e.store, snap)
	if err != nil {
		t.Fatal(err)
	}
	site := &store.Site{Name: "branch-77", CIDRs: []store.SiteCIDR{{CIDR: "10.77.0.0/16"}}}
	moved, err := e.ops.CreateSite(ctx, audit.Actor{Name: "admin"}, site)
	if err != nil || moved != 1 {
		t.Fatalf("CreateSite: moved %d, %v; want 1", moved, err)
	}
	h, err := e.store.ComputerHistory(ctx, res.ComputerID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Kind != store.ChangeSite || h[0].Old != "" || h[0].New != strconv.FormatUint(uint64(site.ID), 10) {
		t.Fatalf("history after the move: %+v", h)
	}
}
