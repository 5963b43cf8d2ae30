package inventory_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// Helpers shared with the other central tests (inventorytest).
var (
	devID      = inventorytest.DevID
	mustIngest = inventorytest.MustIngest
	mustCount  = inventorytest.MustCount
)

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestIngestCreates(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		snap := storetest.Snapshot(devID("pc", 1), 50)
		snap.History = []string{"1700000002", " 1700000001", "1700000002", ""}
		res := mustIngest(t, s, snap)
		if !res.Created || res.ComputerID == 0 || res.AccountUpdate || len(res.MergedFrom) != 0 {
			t.Fatalf("result = %+v, want created without account update or merge", res)
		}
		d, err := s.ComputerDetail(t.Context(), res.ComputerID)
		if err != nil {
			t.Fatalf("ComputerDetail: %v", err)
		}
		got := map[string]int{
			"cpus": len(d.CPUs), "memories": len(d.Memories), "storages": len(d.Storages), "drives": len(d.Drives),
			"networks": len(d.Networks), "softwares": len(d.Softwares), "controllers": len(d.Controllers),
		}
		want := map[string]int{
			"cpus": 2, "memories": 2, "storages": 1, "drives": 3, "networks": 2, "softwares": 50, "controllers": 3,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("row counts (-want +got):\n%s", diff)
		}
		if d.BIOS == nil || d.BIOS.SystemSerial != snap.BIOS.SystemSerial {
			t.Errorf("BIOS = %+v, want serial %s", d.BIOS, snap.BIOS.SystemSerial)
		}
		if d.Serial != snap.BIOS.SystemSerial {
			t.Errorf("Serial = %q, want BIOS serial %q", d.Serial, snap.BIOS.SystemSerial)
		}
		if wantMAC := strings.ToLower(snap.Networks[0].MACAddr); d.FirstMAC != wantMAC {
			t.Errorf("FirstMAC = %q, want %q", d.FirstMAC, wantMAC)
		}
		if d.Source != store.SourceOCS || d.Name != "pc" || d.OSName != snap.Computer.OSName {
			t.Errorf("computer = %+v", d.Computer)
		}
		if !d.FirstSeen.Equal(snap.Computer.LastInventory) || !d.LastInventory.Equal(snap.Computer.LastInventory) {
			t.Errorf("FirstSeen %v LastInventory %v, want %v", d.FirstSeen, d.LastInventory, snap.Computer.LastInventory)
		}
		if diff := cmp.Diff([]string{"1700000001", "1700000002"}, d.History); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"TAG": "lab"}, accountPairs(d.AccountInfo)); diff != "" {
			t.Errorf("account info (-want +got):\n%s", diff)
		}
		sw := d.Softwares[0]
		if sw.Name != "pkg-0000" || sw.From != "deb" || sw.FileSize != 1024 || sw.ComputerID != res.ComputerID {
			t.Errorf("first software = %+v", sw)
		}
		if snap.Softwares[0].ComputerID != 0 || snap.Softwares[0].ID != 0 {
			t.Errorf("IngestInventory modified the caller's rows: %+v", snap.Softwares[0])
		}
	})
}

func TestIngestRejectsBadSnapshot(t *testing.T) {
	s := storetest.Open(t)
	tests := []struct {
		name string
		snap *store.InventorySnapshot
	}{
		{name: "nil", snap: nil},
		{name: "empty-device-id", snap: &store.InventorySnapshot{Computer: store.Computer{Name: "x"}}},
		{name: "blank-device-id", snap: &store.InventorySnapshot{Computer: store.Computer{DeviceID: "  "}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := inventory.Record(t.Context(), s, tt.snap); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("IngestInventory error = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReingestReplacesChildren(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		first := storetest.Snapshot(devID("pc", 1), 40)
		first.History = []string{"1", "2"}
		other := mustIngest(t, s, storetest.Snapshot(devID("other", 2), 5))
		res1 := mustIngest(t, s, first)
		for range 3 {
			mustIngest(t, s, first)
		}
		second := storetest.Snapshot(devID("pc", 1), 25)
		second.History = []string{"2", "3"}
		second.Computer.LastInventory = first.Computer.LastInventory.Add(time.Hour)
		second.Computer.OSVersion = "6.1.0-28-amd64"
		second.Networks = second.Networks[:1]
		res2 := mustIngest(t, s, second)
		if res2.Created || res2.ComputerID != res1.ComputerID {
			t.Fatalf("re-ingest result = %+v, want same computer %d not created", res2, res1.ComputerID)
		}
		n := mustCount(t, s)
		want := map[string]int64{
			"computers": 2, "softwares": 25 + 5, "cpus": 4, "networks": 1 + 2, "bios": 2,
			"download_histories": 2, "account_infos": 2, "controllers": 6, "drives": 6,
		}
		for table, w := range want {
			if n[table] != w {
				t.Errorf("rows in %s = %d, want %d", table, n[table], w)
			}
		}
		d, err := s.ComputerDetail(t.Context(), res1.ComputerID)
		if err != nil {
			t.Fatalf("ComputerDetail: %v", err)
		}
		if d.OSVersion != "6.1.0-28-amd64" || !d.LastInventory.Equal(second.Computer.LastInventory) {
			t.Errorf("computer not updated: %+v", d.Computer)
		}
		if !d.FirstSeen.Equal(first.Computer.LastInventory) {
			t.Errorf("FirstSeen = %v, want first inventory %v", d.FirstSeen, first.Computer.LastInventory)
		}
		if diff := cmp.Diff([]string{"2", "3"}, d.History); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		od, err := s.ComputerDetail(t.Context(), other.ComputerID)
		if err != nil {
			t.Fatalf("ComputerDetail(other): %v", err)
		}
		if len(od.Softwares) != 5 {
			t.Errorf("other computer has %d softwares, want 5", len(od.Softwares))
		}
	})
}

func TestIngestKeepsSiteAndRevoked(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		site := &store.Site{Name: "paris", CIDRs: []store.SiteCIDR{{CIDR: "10.0.0.0/8"}}}
		if err := s.CreateSite(t.Context(), site); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		res := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1))
		if err := s.SetComputerSite(t.Context(), res.ComputerID, &site.ID); err != nil {
			t.Fatalf("SetComputerSite: %v", err)
		}
		if err := s.SetComputerRevoked(t.Context(), res.ComputerID, true); err != nil {
			t.Fatalf("SetComputerRevoked: %v", err)
		}
		mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1))
		c, err := s.Computer(t.Context(), res.ComputerID)
		if err != nil {
			t.Fatalf("Computer: %v", err)
		}
		if c.SiteID == nil || *c.SiteID != site.ID || !c.Revoked {
			t.Errorf("after re-ingest SiteID=%v Revoked=%v, want %d true", c.SiteID, c.Revoked, site.ID)
		}
	})
}

func TestIngestDuplicates(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *store.Store)
	}{
		{name: "same-name-serial-mac-adopts-old-row", run: func(t *testing.T, s *store.Store) {
			old := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 3))
			snap := storetest.Snapshot(devID("pc", 1), 4)
			snap.Computer.DeviceID = devID("pc", 2)
			snap.Computer.Name = "PC"
			res := mustIngest(t, s, snap)
			if res.Created || res.ComputerID != old.ComputerID || res.PreviousDeviceID != devID("pc", 1) {
				t.Fatalf("result = %+v, want old row %d adopted", res, old.ComputerID)
			}
			c, err := s.ComputerByDeviceID(t.Context(), devID("pc", 2))
			if err != nil || c.ID != old.ComputerID {
				t.Fatalf("ComputerByDeviceID(new) = %+v, %v", c, err)
			}
			if _, err := s.ComputerByDeviceID(t.Context(), devID("pc", 1)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("old device id still found: %v", err)
			}
			if n := mustCount(t, s); n["computers"] != 1 || n["softwares"] != 4 {
				t.Errorf("rows = %v, want 1 computer with 4 softwares", n)
			}
		}},
		{name: "different-serial-is-new", run: func(t *testing.T, s *store.Store) {
			mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1))
			snap := storetest.Snapshot(devID("pc", 1), 1)
			snap.Computer.DeviceID = devID("pc", 2)
			snap.BIOS.SystemSerial = "OTHER"
			if res := mustIngest(t, s, snap); !res.Created {
				t.Errorf("result = %+v, want a new computer", res)
			}
		}},
		{name: "empty-mac-is-new", run: func(t *testing.T, s *store.Store) {
			a := storetest.Snapshot(devID("pc", 1), 1)
			a.Networks = nil
			mustIngest(t, s, a)
			b := storetest.Snapshot(devID("pc", 1), 1)
			b.Networks = nil
			b.Computer.DeviceID = devID("pc", 2)
			if res := mustIngest(t, s, b); !res.Created {
				t.Errorf("result = %+v, want a new computer", res)
			}
		}},
		{name: "device-match-absorbs-duplicate", run: func(t *testing.T, s *store.Store) {
			x := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 2))
			ySnap := storetest.Snapshot(devID("pc", 1), 2)
			ySnap.Computer.DeviceID = devID("pc", 2)
			ySnap.BIOS.SystemSerial = "NOT-YET"
			y := mustIngest(t, s, ySnap)
			if !y.Created {
				t.Fatalf("setup: second computer not created: %+v", y)
			}
			for _, id := range []string{"11", "12"} {
				if err := s.CreatePackage(t.Context(), &store.Package{ID: id, Name: "p" + id}); err != nil {
					t.Fatalf("CreatePackage: %v", err)
				}
			}
			affect(t, s, "11", x.ComputerID)
			affect(t, s, "12", x.ComputerID, y.ComputerID)

			ySnap = storetest.Snapshot(devID("pc", 1), 2)
			ySnap.Computer.DeviceID = devID("pc", 2)
			res := mustIngest(t, s, ySnap)
			if res.ComputerID != y.ComputerID || res.Created {
				t.Fatalf("result = %+v, want computer %d", res, y.ComputerID)
			}
			if diff := cmp.Diff([]uint{x.ComputerID}, res.MergedFrom); diff != "" {
				t.Errorf("MergedFrom (-want +got):\n%s", diff)
			}
			if _, err := s.Computer(t.Context(), x.ComputerID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("merged computer still exists: %v", err)
			}
			deps, total, err := s.ListDeployments(t.Context(), store.DeploymentFilter{ComputerID: y.ComputerID})
			if err != nil {
				t.Fatalf("ListDeployments: %v", err)
			}
			var pkgs []string
			for _, d := range deps {
				pkgs = append(pkgs, d.PackageID)
			}
			if diff := cmp.Diff([]string{"11", "12"}, pkgs, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" || total != 2 {
				t.Errorf("deployments of survivor (-want +got), total %d:\n%s", total, diff)
			}
			if n := mustCount(t, s); n["computers"] != 1 || n["deployments"] != 2 || n["softwares"] != 2 {
				t.Errorf("rows = %v, want 1 computer, 2 deployments, 2 softwares", n)
			}
		}},
		{name: "old-device-id-adopts", run: func(t *testing.T, s *store.Store) {
			old := mustIngest(t, s, storetest.Snapshot(devID("win", 1), 1))
			snap := storetest.Snapshot(devID("renamed", 2), 1)
			snap.OldDeviceID = devID("win", 1)
			res := mustIngest(t, s, snap)
			if res.ComputerID != old.ComputerID || res.PreviousDeviceID != devID("win", 1) {
				t.Errorf("result = %+v, want computer %d adopted", res, old.ComputerID)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEachBackend(t, tt.run)
		})
	}
}

func TestAccountUpdate(t *testing.T) {
	kv := func(pairs ...string) []store.AccountInfo {
		var out []store.AccountInfo
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, store.AccountInfo{KeyName: pairs[i], KeyValue: pairs[i+1]})
		}
		return out
	}
	tests := []struct {
		name       string
		first      []store.AccountInfo // nil: no first inventory
		second     []store.AccountInfo
		newDevice  bool // second inventory comes with a new DEVICEID (reinstall)
		wantUpdate bool
		want       map[string]string
	}{
		{name: "new-computer", second: kv("TAG", "a"), want: map[string]string{"TAG": "a"}},
		{name: "unchanged", first: kv("TAG", "a"), second: kv("TAG", "a"), want: map[string]string{"TAG": "a"}},
		{name: "agent-changed-tag", first: kv("TAG", "a"), second: kv("TAG", "b"), wantUpdate: true, want: map[string]string{"TAG": "a"}},
		{name: "agent-lost-field", first: kv("TAG", "a", "OWNER", "x"), second: kv("TAG", "a"), wantUpdate: true,
			want: map[string]string{"TAG": "a", "OWNER": "x"}},
		{name: "agent-extra-field", first: kv("TAG", "a"), second: kv("TAG", "a", "X", "1"), wantUpdate: true, want: map[string]string{"TAG": "a"}},
		{name: "nothing-stored-adopts-agent", first: []store.AccountInfo{}, second: kv("TAG", "b"), want: map[string]string{"TAG": "b"}},
		{name: "reinstall-gets-tag-back", first: kv("TAG", "a"), second: nil, newDevice: true, wantUpdate: true, want: map[string]string{"TAG": "a"}},
		{name: "duplicate-keys-last-wins", second: kv("TAG", "a", "TAG", "b", " ", "ignored"), want: map[string]string{"TAG": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
				if tt.first != nil {
					snap := storetest.Snapshot(devID("pc", 1), 1)
					snap.AccountInfo = tt.first
					mustIngest(t, s, snap)
				}
				snap := storetest.Snapshot(devID("pc", 1), 1)
				if tt.newDevice {
					snap.Computer.DeviceID = devID("pc", 2)
				}
				snap.AccountInfo = tt.second
				res := mustIngest(t, s, snap)
				if res.AccountUpdate != tt.wantUpdate {
					t.Errorf("AccountUpdate = %v, want %v", res.AccountUpdate, tt.wantUpdate)
				}
				if diff := cmp.Diff(tt.want, accountPairs(res.AccountInfo)); diff != "" {
					t.Errorf("result account info (-want +got):\n%s", diff)
				}
				d, err := s.ComputerDetail(t.Context(), res.ComputerID)
				if err != nil {
					t.Fatalf("ComputerDetail: %v", err)
				}
				if diff := cmp.Diff(tt.want, accountPairs(d.AccountInfo)); diff != "" {
					t.Errorf("stored account info (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestConcurrentIngest(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		tests := []struct {
			name      string
			workers   int
			deviceID  func(i int) string
			computers int64
		}{
			{name: "distinct-ids", workers: 32, deviceID: func(i int) string { return devID(fmt.Sprintf("host%02d", i), i) }, computers: 32},
			{name: "same-id", workers: 8, deviceID: func(int) string { return devID("same", 1) }, computers: 33},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, tt.workers)
				for i := range tt.workers {
					wg.Go(func() {
						_, err := inventory.Record(t.Context(), s, storetest.Snapshot(tt.deviceID(i), 100))
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("IngestInventory: %v", err)
					}
				}
				n := mustCount(t, s)
				if n["computers"] != tt.computers || n["softwares"] != 100*tt.computers || n["bios"] != tt.computers {
					t.Errorf("rows = computers %d softwares %d bios %d, want %d, %d, %d",
						n["computers"], n["softwares"], n["bios"], tt.computers, 100*tt.computers, tt.computers)
				}
			})
		}
	})
}

// TestConcurrentIngestTwoStores opens the same SQLite file twice (as a
// second process would) and ingests the same DeviceID from both: SQLite's
// file lock, the busy timeout and the unique index keep one computer.
func TestConcurrentIngestTwoStores(t *testing.T) {
	dir := t.TempDir()
	var stores []*store.Store
	for range 2 {
		s, err := store.Open(t.Context(), store.Config{}, dir, storetest.Logger(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			_, err := inventory.Record(t.Context(), stores[i%2], storetest.Snapshot(devID("twin", 1), 50))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("IngestInventory: %v", err)
		}
	}
	n := mustCount(t, stores[1])
	if n["computers"] != 1 || n["softwares"] != 50 {
		t.Errorf("rows = computers %d softwares %d, want 1 and 50", n["computers"], n["softwares"])
	}
}

func TestIngestKeepHistoryMerges(t *testing.T) {
	ctx := t.Context()
	st := storetest.Open(t)
	snap := storetest.Snapshot("keep-2026-11-26-10-00-00", 1)
	snap.History = []string{"100"}
	res, err := inventory.Record(ctx, st, snap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		keep bool
		sent []string
		want string
	}{
		{name: "merge", keep: true, sent: []string{"200"}, want: "[100 200]"},
		{name: "replace", keep: false, sent: []string{"300"}, want: "[300]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := storetest.Snapshot("keep-2026-11-26-10-00-00", 1)
			snap.History, snap.KeepHistory = tt.sent, tt.keep
			if _, err := inventory.Record(ctx, st, snap); err != nil {
				t.Fatal(err)
			}
			d, err := st.ComputerDetail(ctx, res.ComputerID)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(d.History); got != tt.want {
				t.Fatalf("history %s, want %s", got, tt.want)
			}
		})
	}
}

func accountPairs(in []store.AccountInfo) map[string]string {
	out := make(map[string]string, len(in))
	for _, a := range in {
		out[a.KeyName] = a.KeyValue
	}
	return out
}

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
		victim, err := inventory.EnrollAgent(ctx, s, tok.Hash, storetest.Snapshot(dev, 2), &store.AgentIdentity{PeerID: "pv", SecretHash: hexHash("sv")}, time.Now())
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
				if _, err := inventory.Record(ctx, s, tt.snap); !errors.Is(err, tt.want) {
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
		res, err := inventory.EnrollAgent(ctx, s, tok.Hash, thief, &store.AgentIdentity{PeerID: "pt", SecretHash: hexHash("st")}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		again := storetest.Snapshot(dev, 1)
		again.Computer.DeviceID = "thief-2026-01-02-00-00-00"
		again.Computer.Source = store.SourceShoal
		if res2, err := inventory.Record(ctx, s, again); err != nil || len(res2.MergedFrom) != 0 {
			t.Fatalf("thief's inventory: %+v %v", res2, err)
		}
		anon := storetest.Snapshot(dev, 1)
		anon.Computer.DeviceID, anon.Anonymous = "anon-2026-01-02-00-00-00", true
		if res3, err := inventory.Record(ctx, s, anon); err != nil || res3.PreviousDeviceID != "" || !res3.Created {
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
			_, err := inventory.EnrollAgent(ctx, s, tokenHash, storetest.Snapshot(device, 2),
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

func affect(t *testing.T, s *store.Store, pkg string, ids ...uint) int {
	t.Helper()
	deps, err := s.CreateDeployments(t.Context(), pkg, ids, false, time.Now())
	if err != nil {
		t.Fatalf("CreateDeployments(%s, %v): %v", pkg, ids, err)
	}
	return len(deps)
}
