package store_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func cidrs(list ...string) []store.SiteCIDR {
	out := make([]store.SiteCIDR, len(list))
	for i, c := range list {
		out[i] = store.SiteCIDR{CIDR: c}
	}
	return out
}

func cidrTexts(s store.Site) []string {
	var out []string
	for _, c := range s.CIDRs {
		out = append(out, c.CIDR)
	}
	return out
}

func TestSiteForIP(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		sites := []*store.Site{
			{Name: "region", CIDRs: cidrs("10.0.0.0/8")},
			{Name: "branch", CIDRs: cidrs("10.1.0.0/16", "192.168.0.0/16")},
			{Name: "floor", CIDRs: cidrs("10.1.2.0/24"), FragmentLocation: "relay.floor:8443/download"},
			{Name: "v6", CIDRs: cidrs("2001:db8::/32")},
		}
		for _, site := range sites {
			if err := s.CreateSite(t.Context(), site); err != nil {
				t.Fatalf("CreateSite(%s): %v", site.Name, err)
			}
		}
		tests := []struct {
			ip   string
			want string // "" for ErrNotFound
		}{
			{"10.1.2.3", "floor"},
			{"10.1.9.9", "branch"},
			{"192.168.4.4", "branch"},
			{"10.200.0.1", "region"},
			{"::ffff:10.1.2.3", "floor"},
			{"2001:db8:1::1", "v6"},
			{"172.16.0.1", ""},
			{"2001:db9::1", ""},
		}
		for _, tt := range tests {
			t.Run(tt.ip, func(t *testing.T) {
				got, err := s.SiteForIP(t.Context(), netip.MustParseAddr(tt.ip))
				if tt.want == "" {
					if !errors.Is(err, store.ErrNotFound) {
						t.Errorf("SiteForIP = %v, %v; want ErrNotFound", got, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("SiteForIP: %v", err)
				}
				if got.Name != tt.want {
					t.Errorf("SiteForIP = %s, want %s", got.Name, tt.want)
				}
			})
		}
		if _, err := s.SiteForIP(t.Context(), netip.Addr{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SiteForIP(zero) = %v, want ErrInvalid", err)
		}

		// The cache follows changes made through the store.
		floor := sites[2]
		floor.CIDRs = cidrs("172.16.0.0/12")
		if err := s.UpdateSite(t.Context(), floor); err != nil {
			t.Fatalf("UpdateSite: %v", err)
		}
		if got, err := s.SiteForIP(t.Context(), netip.MustParseAddr("10.1.2.3")); err != nil || got.Name != "branch" {
			t.Errorf("after update SiteForIP(10.1.2.3) = %v, %v; want branch", got, err)
		}
		if got, err := s.SiteForIP(t.Context(), netip.MustParseAddr("172.16.0.1")); err != nil || got.Name != "floor" {
			t.Errorf("after update SiteForIP(172.16.0.1) = %v, %v; want floor", got, err)
		}
		if err := s.DeleteSite(t.Context(), sites[1].ID); err != nil {
			t.Fatalf("DeleteSite: %v", err)
		}
		if got, err := s.SiteForIP(t.Context(), netip.MustParseAddr("192.168.4.4")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete SiteForIP = %v, %v; want ErrNotFound", got, err)
		}
	})
}

func TestSiteCRUD(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		a := &store.Site{Name: " paris ", Description: "HQ", CIDRs: cidrs("10.1.2.3/16", "10.1.0.0/16", "fd00::1/64")}
		if err := s.CreateSite(ctx, a); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		got, err := s.Site(ctx, a.ID)
		if err != nil {
			t.Fatalf("Site: %v", err)
		}
		if got.Name != "paris" || got.Description != "HQ" {
			t.Errorf("Site = %+v", got)
		}
		if diff := cmp.Diff([]string{"10.1.0.0/16", "fd00::/64"}, cidrTexts(*got)); diff != "" {
			t.Errorf("canonical cidrs (-want +got):\n%s", diff)
		}

		tests := []struct {
			name    string
			site    *store.Site
			wantErr error
		}{
			{name: "empty-name", site: &store.Site{Name: " "}, wantErr: store.ErrInvalid},
			{name: "bad-cidr", site: &store.Site{Name: "x", CIDRs: cidrs("10.0.0.0/40")}, wantErr: store.ErrInvalid},
			{name: "not-a-cidr", site: &store.Site{Name: "x", CIDRs: cidrs("10.0.0.1")}, wantErr: store.ErrInvalid},
			{name: "scheme-in-location", site: &store.Site{Name: "x", FragmentLocation: "https://relay/download"}, wantErr: store.ErrInvalid},
			{name: "duplicate-name", site: &store.Site{Name: "paris"}, wantErr: store.ErrConflict},
			{name: "cidr-of-other-site", site: &store.Site{Name: "lyon", CIDRs: cidrs("10.1.0.0/16")}, wantErr: store.ErrConflict},
			{name: "nil", site: nil, wantErr: store.ErrInvalid},
			{name: "ok", site: &store.Site{Name: "lyon", CIDRs: cidrs("10.2.0.0/16"), FragmentLocation: "relay.lyon/download"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.CreateSite(ctx, tt.site)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("CreateSite = %v, want %v", err, tt.wantErr)
				}
			})
		}

		list, err := s.ListSites(ctx)
		if err != nil {
			t.Fatalf("ListSites: %v", err)
		}
		var names []string
		for _, site := range list {
			names = append(names, site.Name)
		}
		if diff := cmp.Diff([]string{"lyon", "paris"}, names); diff != "" {
			t.Errorf("ListSites (-want +got):\n%s", diff)
		}

		c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
		if err := s.SetComputerSite(ctx, c, &a.ID); err != nil {
			t.Fatalf("SetComputerSite: %v", err)
		}
		if err := s.UpdateSite(ctx, &store.Site{ID: a.ID + 100, Name: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateSite(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteSite(ctx, a.ID); err != nil {
			t.Fatalf("DeleteSite: %v", err)
		}
		if err := s.DeleteSite(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteSite = %v, want ErrNotFound", err)
		}
		comp, err := s.Computer(ctx, c)
		if err != nil {
			t.Fatalf("Computer: %v", err)
		}
		if comp.SiteID != nil {
			t.Errorf("computer still in deleted site %d", *comp.SiteID)
		}
		if n := mustCount(t, s)["site_cidrs"]; n != 1 {
			t.Errorf("site_cidrs rows = %d, want 1", n)
		}
	})
}
