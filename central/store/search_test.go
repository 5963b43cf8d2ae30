package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// searchFixture ingests five computers and returns their IDs by name.
func searchFixture(t *testing.T, s *store.Store, siteID uint) map[string]uint {
	t.Helper()
	type machine struct {
		name, os, ip, secondIP, tag string
		softwares                   []store.Software
		site                        bool
	}
	machines := []machine{
		{name: "Alpha", os: "Debian GNU/Linux 12", ip: "10.1.2.3", tag: "paris",
			softwares: []store.Software{{Name: "Firefox-ESR", Version: "115.5"}, {Name: "curl", Version: "7.88"}}, site: true},
		{name: "bravo", os: "Debian GNU/Linux 11", ip: "10.1.200.4", secondIP: "192.168.7.9", tag: "paris",
			softwares: []store.Software{{Name: "firefox", Version: "128.0"}}},
		{name: "charlie", os: "Microsoft Windows 11 Pro", ip: "10.2.0.5", tag: "lyon",
			softwares: []store.Software{{Name: "Mozilla Firefox (x64 en-US)", Version: "128.0"}, {Name: "100%_tool", Version: "1"}}},
		{name: "delta", os: "Ubuntu 24.04", ip: "2001:db8::15", tag: "",
			softwares: []store.Software{{Name: "curl", Version: "8.5"}}, site: true},
		{name: "echo_1", os: "Debian GNU/Linux 12", ip: "172.16.0.1", tag: "lyon"},
	}
	ids := make(map[string]uint)
	for i, m := range machines {
		snap := storetest.Snapshot(devID(m.name, i), 0)
		snap.Computer.Name = m.name
		snap.Computer.OSName = m.os
		snap.Computer.IPAddr = m.ip
		snap.Networks = []store.Network{{Description: "eth0", IPAddress: m.ip, MACAddr: "52:54:00:00:00:0" + string(rune('1'+i))}}
		if m.secondIP != "" {
			snap.Networks = append(snap.Networks, store.Network{Description: "eth1", IPAddress: m.secondIP})
		}
		snap.Softwares = m.softwares
		snap.AccountInfo = nil
		if m.tag != "" {
			snap.AccountInfo = []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: m.tag}}
		}
		if m.site {
			snap.Computer.SiteID = &siteID
		}
		ids[m.name] = mustIngest(t, s, snap).ComputerID
	}
	return ids
}

func TestSearchComputers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		site := &store.Site{Name: "hq"}
		if err := s.CreateSite(t.Context(), site); err != nil {
			t.Fatalf("CreateSite: %v", err)
		}
		ids := searchFixture(t, s, site.ID)
		tests := []struct {
			name      string
			f         store.ComputerFilter
			want      []string
			wantTotal int64 // when it differs from len(want)
		}{
			{name: "all", f: store.ComputerFilter{}, want: []string{"Alpha", "bravo", "charlie", "delta", "echo_1"}},
			{name: "name-case-insensitive", f: store.ComputerFilter{Name: "ALP"}, want: []string{"Alpha"}},
			{name: "name-underscore-literal", f: store.ComputerFilter{Name: "o_"}, want: []string{"echo_1"}},
			{name: "os", f: store.ComputerFilter{OS: "debian"}, want: []string{"Alpha", "bravo", "echo_1"}},
			{name: "os-and-name", f: store.ComputerFilter{OS: "debian gnu/linux 12", Name: "a"}, want: []string{"Alpha"}},
			{name: "software", f: store.ComputerFilter{Software: "firefox"}, want: []string{"Alpha", "bravo", "charlie"}},
			{name: "software-version", f: store.ComputerFilter{Software: "FIREFOX", SoftwareVersion: "128.0"}, want: []string{"bravo", "charlie"}},
			{name: "software-percent-literal", f: store.ComputerFilter{Software: "100%"}, want: []string{"charlie"}},
			{name: "software-percent-not-wildcard", f: store.ComputerFilter{Software: "%fox"}, want: nil},
			{name: "software-paged", f: store.ComputerFilter{Software: "firefox", Limit: 1, Offset: 1}, want: []string{"bravo"}, wantTotal: 3},
			{name: "software-first-of-page", f: store.ComputerFilter{Software: "firefox", Limit: 1}, want: []string{"Alpha"}, wantTotal: 3},
			{name: "software-offset-past-end", f: store.ComputerFilter{Software: "firefox", Offset: 5}, want: nil, wantTotal: 3},
			{name: "no-software-paged", f: store.ComputerFilter{NoSoftware: "curl", Limit: 1, Offset: 1}, want: []string{"charlie"}, wantTotal: 3},
			{name: "software-and-tag", f: store.ComputerFilter{Software: "firefox", Tag: "paris"}, want: []string{"Alpha", "bravo"}},
			{name: "software-version-and-tag", f: store.ComputerFilter{Software: "firefox", SoftwareVersion: ">= 128", Tag: "paris"}, want: []string{"bravo"}},
			{name: "version-and-tag", f: store.ComputerFilter{SoftwareVersion: "8.5", Tag: "paris"}, want: nil},
			{name: "software-tag-and-no-software", f: store.ComputerFilter{Software: "firefox", Tag: "lyon", NoSoftware: "tool"}, want: nil},
			{name: "tag", f: store.ComputerFilter{Tag: "paris"}, want: []string{"Alpha", "bravo"}},
			{name: "tag-exact", f: store.ComputerFilter{Tag: "par"}, want: nil},
			{name: "ip-exact", f: store.ComputerFilter{IP: "10.2.0.5"}, want: []string{"charlie"}},
			{name: "ip-secondary-network", f: store.ComputerFilter{IP: "192.168.7.9"}, want: []string{"bravo"}},
			{name: "cidr-16", f: store.ComputerFilter{IP: "10.1.0.0/16"}, want: []string{"Alpha", "bravo"}},
			{name: "cidr-unmasked-17", f: store.ComputerFilter{IP: "10.1.128.1/17"}, want: []string{"bravo"}},
			{name: "cidr-8", f: store.ComputerFilter{IP: "10.0.0.0/8"}, want: []string{"Alpha", "bravo", "charlie"}},
			{name: "cidr-4", f: store.ComputerFilter{IP: "0.0.0.0/1"}, want: []string{"Alpha", "bravo", "charlie"}},
			{name: "cidr-secondary", f: store.ComputerFilter{IP: "192.168.0.0/16"}, want: []string{"bravo"}},
			{name: "cidr-v6", f: store.ComputerFilter{IP: "2001:db8::/32"}, want: []string{"delta"}},
			{name: "cidr-none", f: store.ComputerFilter{IP: "10.9.0.0/16"}, want: nil},
			{name: "cidr-with-tag", f: store.ComputerFilter{IP: "10.0.0.0/8", Tag: "lyon"}, want: []string{"charlie"}},
			{name: "cidr-paged", f: store.ComputerFilter{IP: "10.0.0.0/8", Limit: 1, Offset: 1}, want: []string{"bravo"}, wantTotal: 3},
			{name: "cidr-offset-past-end", f: store.ComputerFilter{IP: "10.0.0.0/8", Offset: 10}, want: nil, wantTotal: 3},
			{name: "site", f: store.ComputerFilter{SiteID: &site.ID}, want: []string{"Alpha", "delta"}},
			{name: "ids", f: store.ComputerFilter{IDs: []uint{ids["charlie"], ids["echo_1"], 999999}}, want: []string{"charlie", "echo_1"}},
			{name: "paged", f: store.ComputerFilter{Limit: 2, Offset: 2}, want: []string{"charlie", "delta"}, wantTotal: 5},
			{name: "limit-capped", f: store.ComputerFilter{Limit: 5000}, want: []string{"Alpha", "bravo", "charlie", "delta", "echo_1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.SearchComputers(t.Context(), tt.f)
				if err != nil {
					t.Fatalf("SearchComputers: %v", err)
				}
				var names []string
				for _, c := range got {
					names = append(names, c.Name)
				}
				if diff := cmp.Diff(tt.want, names); diff != "" {
					t.Errorf("names (-want +got):\n%s", diff)
				}
				wantTotal := tt.wantTotal
				if wantTotal == 0 {
					wantTotal = int64(len(tt.want))
				}
				if total != wantTotal {
					t.Errorf("total = %d, want %d", total, wantTotal)
				}
			})
		}

		bad := []store.ComputerFilter{{IP: "10.1.2"}, {IP: "10.0.0.0/33"}, {Limit: -1}, {Offset: -5}}
		for _, f := range bad {
			if _, _, err := s.SearchComputers(t.Context(), f); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("SearchComputers(%+v) error = %v, want ErrInvalid", f, err)
			}
		}
	})
}

// TestSoftwareSearchReadsOnlyTheIndex checks SQLite's plan of the software
// searches: the computers that have a name (in a version range) come from
// the (name_id, version_key, computer_id) index alone, never from a scan
// of the software rows nor from the rows themselves (docs/BENCHMARKS.md,
// "Inventory search").
func TestSoftwareSearchReadsOnlyTheIndex(t *testing.T) {
	s := storetest.Open(t)
	site := &store.Site{Name: "hq"}
	if err := s.CreateSite(t.Context(), site); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	searchFixture(t, s, site.ID)
	if err := store.Analyze(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    store.ComputerFilter
	}{
		{"has", store.ComputerFilter{Software: "firefox"}},
		{"version-below", store.ComputerFilter{Software: "firefox", SoftwareVersion: "< 200"}},
		{"version-not", store.ComputerFilter{Software: "curl", SoftwareVersion: "!= 8.5"}},
		{"has-not", store.ComputerFilter{NoSoftware: "curl"}},
		{"version-equal", store.ComputerFilter{Software: "curl", SoftwareVersion: "8.5"}},
		{"version-equal-op", store.ComputerFilter{Software: "firefox", SoftwareVersion: "= 128.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := store.ExplainForBench(s, tt.f)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			if !strings.Contains(plan, "USING COVERING INDEX idx_softwares_name_version") || strings.Contains(plan, "SCAN softwares") {
				t.Errorf("the software rows are read, not only the index:\n%s", plan)
			}
		})
	}
}

// TestSearchDensePageWalksNameIndex: a software search matching most of
// the fleet reads its page by walking the computers' name index on SQLite
// (stopping after the page) instead of sorting every match, and gives the
// same pages and totals as the sorted read on both backends.
func TestSearchDensePageWalksNameIndex(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		const n = 200
		f := store.BulkFleet{}
		var want []string
		for i := range n {
			// Names out of ID order; every fourth computer lacks 7-Zip.
			name := fmt.Sprintf("pc-%03d", (i*7919)%n)
			f.Computers = append(f.Computers, store.Computer{DeviceID: fmt.Sprintf("%s-2026-12-05-00-00-00", name), Name: name, OSName: "Windows"})
			sw := []store.Software{{Name: "curl", Version: "8.5"}}
			if i%4 != 0 {
				sw = append(sw, store.Software{Name: "7-Zip 24.08 (x64)", Version: []string{"23.01", "24.08", "24.8"}[i%3]})
				want = append(want, name)
			}
			f.Softwares = append(f.Softwares, sw)
			f.Tags = append(f.Tags, "t")
		}
		if err := store.BulkInsertForBench(t.Context(), s, f); err != nil {
			t.Fatal(err)
		}
		if err := store.Analyze(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		for _, off := range []int{0, 50, 100, 140, 149, 150} {
			got, total, err := s.SearchComputers(t.Context(), store.ComputerFilter{Software: "7-zip", Offset: off})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			if diff := cmp.Diff(want[off:min(off+50, len(want))], names, cmpopts.EquateEmpty()); diff != "" || total != int64(len(want)) {
				t.Errorf("offset %d: total %d, want %d; names (-want +got):\n%s", off, total, len(want), diff)
			}
		}
		// "=" is version-aware: 24.8 equals 24.08.
		_, total, err := s.SearchComputers(t.Context(), store.ComputerFilter{Software: "7-zip", SoftwareVersion: "= 24.08"})
		if err != nil || total != 100 {
			t.Errorf("7-zip = 24.08: %d computers (%v), want 100", total, err)
		}
		if s.Driver() != store.DriverSQLite {
			return
		}
		plan, err := store.ExplainPageForBench(s, store.ComputerFilter{Software: "7-zip"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "SCAN computers USING INDEX idx_computers_name") || strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("the dense page sorts its matches instead of walking the name index:\n%s", plan)
		}
		// A rare match is looked up and sorted, not found by a walk.
		plan, err = store.ExplainPageForBench(s, store.ComputerFilter{Software: "7-zip", Name: "pc-01"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, "idx_computers_name") {
			t.Errorf("a sparse page walks the name index:\n%s", plan)
		}
	})
}

// TestTagSearchUsesIndex: a TAG search finds its computers through
// idx_account_infos_value (migration 00015), not a scan of account infos.
func TestTagSearchUsesIndex(t *testing.T) {
	s := storetest.Open(t)
	site := &store.Site{Name: "hq"}
	if err := s.CreateSite(t.Context(), site); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	searchFixture(t, s, site.ID)
	if err := store.Analyze(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	plan, err := store.ExplainForBench(s, store.ComputerFilter{Tag: "paris"})
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	if !strings.Contains(plan, "idx_account_infos_value") || strings.Contains(plan, "SCAN account_infos") {
		t.Errorf("the TAG search scans the account infos:\n%s", plan)
	}
}
