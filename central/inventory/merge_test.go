package inventory_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestMergeRules checks what the duplicate rule does to the computer it
// deletes: the survivor keeps its own deployment of a package both have and
// takes the others, takes the account info only when it has none, keeps the
// earlier first-seen time, inherits the site only from an OCS inventory, and
// the merge is audited.
func TestMergeRules(t *testing.T) {
	tests := []struct {
		name     string
		source   string
		wantSite bool
	}{
		{name: "ocs-inherits-site", source: store.SourceOCS, wantSite: true},
		{name: "shoal-keeps-no-site", source: store.SourceShoal, wantSite: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Open(t)
			ctx := t.Context()
			site := &store.Site{Name: "lab"}
			if err := s.CreateSite(ctx, site); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

			// x is the older computer, in a site, with account info.
			xSnap := storetest.Snapshot(devID("pc", 1), 1)
			xSnap.Computer.SiteID, xSnap.Computer.LastInventory = &site.ID, t0
			xSnap.AccountInfo = []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: "x-tag"}}
			x := mustIngest(t, s, xSnap).ComputerID

			// y is not yet a duplicate (another serial), has no account
			// info and no site.
			ySnap := func(at time.Time) *store.InventorySnapshot {
				snap := storetest.Snapshot(devID("pc", 1), 1)
				snap.Computer.DeviceID, snap.Computer.LastInventory = devID("pc", 2), at
				snap.AccountInfo = []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: "y-tag"}}
				return snap
			}
			first := ySnap(t0.Add(24 * time.Hour))
			first.BIOS.SystemSerial, first.AccountInfo = "NOT-YET", nil
			y := mustIngest(t, s, first).ComputerID

			for _, id := range []string{"11", "12"} {
				if err := s.CreatePackage(ctx, &store.Package{ID: id, Name: "p" + id}); err != nil {
					t.Fatal(err)
				}
			}
			affect(t, s, "11", x)
			affect(t, s, "12", x, y)
			depID := func(c uint, pkg string) uint {
				t.Helper()
				deps, err := s.DeploymentsOf(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(deps, func(d store.Deployment) bool { return d.PackageID == pkg })
				if i < 0 {
					t.Fatalf("computer %d has no deployment of %s", c, pkg)
				}
				return deps[i].ID
			}
			x11, x12, y12 := depID(x, "11"), depID(x, "12"), depID(y, "12")

			snap := ySnap(t0.Add(48 * time.Hour))
			snap.Computer.Source = tt.source
			res := mustIngest(t, s, snap)
			if res.ComputerID != y || res.Created || !cmp.Equal(res.MergedFrom, []uint{x}) {
				t.Fatalf("result = %+v, want computer %d absorbing %d", res, y, x)
			}
			if _, err := s.Computer(ctx, x); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("merged computer: %v, want ErrNotFound", err)
			}

			deps, err := s.DeploymentsOf(ctx, y)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range deps {
				got = append(got, fmt.Sprintf("%s:%d", d.PackageID, d.ID))
			}
			want := []string{fmt.Sprintf("11:%d", x11), fmt.Sprintf("12:%d", y12)}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("survivor's deployments (-want +got):\n%s", diff)
			}
			if _, err := s.Deployment(ctx, x12); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the duplicate's deployment of a package both had: %v, want deleted", err)
			}
			if n := mustCount(t, s)["deployment_events"]; n != 2 {
				t.Errorf("deployment events = %d, want 2 (the deleted deployment's went with it)", n)
			}

			// The account info moved (y had none); the server's wins over
			// what the agent sent.
			if !res.AccountUpdate || !cmp.Equal(accountPairs(res.AccountInfo), map[string]string{store.AccountTag: "x-tag"}) {
				t.Errorf("account info %v, update %v; want x-tag and an update", accountPairs(res.AccountInfo), res.AccountUpdate)
			}
			c, err := s.Computer(ctx, y)
			if err != nil {
				t.Fatal(err)
			}
			if !c.FirstSeen.Equal(t0) {
				t.Errorf("first seen %v, want the duplicate's %v", c.FirstSeen, t0)
			}
			if gotSite := c.SiteID != nil && *c.SiteID == site.ID; gotSite != tt.wantSite {
				t.Errorf("survivor's site %v, want inherited %v", c.SiteID, tt.wantSite)
			}

			audit, _, err := s.ListAudit(ctx, store.AuditFilter{Action: "computer.merge"})
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 1 || audit[0].Target != fmt.Sprint(x) || audit[0].Actor != "inventory "+tt.source {
				t.Errorf("audit = %+v, want one merge of computer %d by inventory %s", audit, x, tt.source)
			}
		})
	}
}

// TestMergeKeepsAccountInfo checks that a survivor with account info keeps
// it and the duplicate's is deleted with the duplicate.
func TestMergeKeepsAccountInfo(t *testing.T) {
	s := storetest.Open(t)
	ctx := t.Context()
	x := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
	ySnap := storetest.Snapshot(devID("pc", 1), 1)
	ySnap.Computer.DeviceID = devID("pc", 2)
	ySnap.BIOS.SystemSerial = "NOT-YET"
	ySnap.AccountInfo = []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: "y-tag"}}
	y := mustIngest(t, s, ySnap).ComputerID

	ySnap = storetest.Snapshot(devID("pc", 1), 1)
	ySnap.Computer.DeviceID = devID("pc", 2)
	res, err := inventory.Record(ctx, s, ySnap)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(res.MergedFrom, []uint{x}) || res.ComputerID != y {
		t.Fatalf("result = %+v, want %d merged into %d", res, x, y)
	}
	if diff := cmp.Diff(map[string]string{store.AccountTag: "y-tag"}, accountPairs(res.AccountInfo)); diff != "" {
		t.Errorf("account info (-want +got):\n%s", diff)
	}
	if n := mustCount(t, s)["account_infos"]; n != 1 {
		t.Errorf("account info rows = %d, want 1", n)
	}
}
