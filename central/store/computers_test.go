package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestTouchContact(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		if id, known, err := s.TouchContact(t.Context(), devID("ghost", 1), "agent", at); err != nil || known || id != 0 {
			t.Fatalf("TouchContact(unknown) = %d, %v, %v; want 0, false, nil", id, known, err)
		}
		res := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1))
		tests := []struct {
			name, ua, wantUA string
		}{
			{name: "with-user-agent", ua: "OCS-NG_unified_unix_agent_v2.10.1", wantUA: "OCS-NG_unified_unix_agent_v2.10.1"},
			{name: "empty-user-agent-keeps", ua: "", wantUA: "OCS-NG_unified_unix_agent_v2.10.1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				at = at.Add(time.Minute)
				id, known, err := s.TouchContact(t.Context(), devID("pc", 1), tt.ua, at)
				if err != nil || !known || id != res.ComputerID {
					t.Fatalf("TouchContact = %d, %v, %v; want %d, true, nil", id, known, err, res.ComputerID)
				}
				c, err := s.Computer(t.Context(), id)
				if err != nil {
					t.Fatalf("Computer: %v", err)
				}
				if !c.LastContact.Equal(at) || c.UserAgent != tt.wantUA {
					t.Errorf("LastContact %v UserAgent %q, want %v %q", c.LastContact, c.UserAgent, at, tt.wantUA)
				}
			})
		}
	})
}

func TestDeleteComputer(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		snap := storetest.Snapshot(devID("pc", 1), 10)
		snap.History = []string{"5"}
		res := mustIngest(t, s, snap)
		keep := mustIngest(t, s, storetest.Snapshot(devID("keep", 2), 3))
		if err := s.CreatePackage(t.Context(), &store.Package{ID: "5", Name: "five"}); err != nil {
			t.Fatalf("CreatePackage: %v", err)
		}
		affect(t, s, "5", res.ComputerID, keep.ComputerID)
		if err := s.DeleteComputer(t.Context(), res.ComputerID); err != nil {
			t.Fatalf("DeleteComputer: %v", err)
		}
		n := mustCount(t, s)
		want := map[string]int64{"computers": 1, "softwares": 3, "download_histories": 0, "account_infos": 1,
			"deployments": 1, "deployment_events": 1, "bios": 1, "networks": 2}
		for table, w := range want {
			if n[table] != w {
				t.Errorf("rows in %s = %d, want %d", table, n[table], w)
			}
		}
		if err := s.DeleteComputer(t.Context(), res.ComputerID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteComputer = %v, want ErrNotFound", err)
		}
		if _, err := s.ComputerDetail(t.Context(), res.ComputerID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ComputerDetail after delete = %v, want ErrNotFound", err)
		}
	})
}

func TestSetComputerSite(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		res := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1))
		site := &store.Site{Name: "lyon"}
		if err := s.CreateSite(t.Context(), site); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		missing := site.ID + 100
		tests := []struct {
			name    string
			id      uint
			site    *uint
			wantErr error
			want    *uint
		}{
			{name: "set", id: res.ComputerID, site: &site.ID, want: &site.ID},
			{name: "clear", id: res.ComputerID, site: nil, want: nil},
			{name: "unknown-site", id: res.ComputerID, site: &missing, wantErr: store.ErrNotFound},
			{name: "unknown-computer", id: res.ComputerID + 100, site: &site.ID, wantErr: store.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.SetComputerSite(t.Context(), tt.id, tt.site)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SetComputerSite = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				c, err := s.Computer(t.Context(), tt.id)
				if err != nil {
					t.Fatalf("Computer: %v", err)
				}
				if diff := cmp.Diff(tt.want, c.SiteID); diff != "" {
					t.Errorf("SiteID (-want +got):\n%s", diff)
				}
			})
		}
	})
}
