package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// apiFixture ingests three computers with known contact times, two of them
// in site "hq", affects package 100 to all of them and records results.
func apiFixture(t *testing.T, s *store.Store) (siteID uint, ids []uint) {
	t.Helper()
	site := &store.Site{Name: "hq", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := s.CreateSite(t.Context(), site); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, m := range []struct {
		name, ip string
		site     bool
		contact  time.Time
	}{
		{"ant", "10.9.0.1", true, base.Add(-48 * time.Hour)},
		{"bee", "10.9.0.2", true, base.Add(-1 * time.Hour)},
		{"cat", "192.168.1.3", false, base},
	} {
		snap := storetest.Snapshot(devID(m.name, i), 1)
		snap.Computer.Name, snap.Computer.IPAddr = m.name, m.ip
		snap.Networks = []store.Network{{Description: "eth0", IPAddress: m.ip}}
		snap.Computer.LastInventory, snap.Computer.LastContact = m.contact, m.contact
		if m.site {
			snap.Computer.SiteID = &site.ID
		}
		ids = append(ids, mustIngest(t, s, snap).ComputerID)
	}
	createActive(t, s, "100", 5, true)
	affect(t, s, "100", ids...)
	progress(t, s, ids[0], "100", store.Progress{State: store.StateDownloading, FragmentsDone: 1,
		FragmentsTotal: 4, BytesPeer: 300, BytesRelay: 20, BytesCentral: 1}, base)
	finish(t, s, ids[1], "100", store.StateSuccess, "SUCCESS", base.Add(time.Minute))
	finish(t, s, ids[2], "100", store.StateError, "ERR_BAD_DIGEST", base.Add(2*time.Minute))
	return site.ID, ids
}

func TestFindComputers(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		siteID, ids := apiFixture(t, s)
		base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		tests := []struct {
			name string
			q    store.ComputerFilter
			want []uint
		}{
			{name: "all", q: store.ComputerFilter{}, want: ids},
			{name: "since", q: store.ComputerFilter{ContactSince: base.Add(-2 * time.Hour)}, want: ids[1:]},
			{name: "before", q: store.ComputerFilter{ContactBefore: base.Add(-2 * time.Hour)}, want: ids[:1]},
			{name: "window", q: store.ComputerFilter{ContactSince: base.Add(-2 * time.Hour), ContactBefore: base}, want: ids[1:2]},
			{name: "since_and_site", q: store.ComputerFilter{SiteID: &siteID,
				ContactSince: base.Add(-72 * time.Hour)}, want: ids[:2]},
			{name: "since_and_cidr", q: store.ComputerFilter{IP: "10.9.0.0/24",
				ContactSince: base.Add(-2 * time.Hour)}, want: ids[1:2]},
			{name: "since_and_name", q: store.ComputerFilter{Name: "CA",
				ContactSince: base.Add(-2 * time.Hour)}, want: ids[2:]},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				comps, total, err := s.SearchComputers(t.Context(), tt.q)
				if err != nil {
					t.Fatalf("SearchComputers: %v", err)
				}
				var got []uint
				for _, c := range comps {
					got = append(got, c.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" || total != int64(len(tt.want)) {
					t.Errorf("SearchComputers (-want +got):\n%s total %d", diff, total)
				}
				idList, err := s.FindComputerIDs(t.Context(), tt.q, 10)
				if err != nil {
					t.Fatalf("FindComputerIDs: %v", err)
				}
				if diff := cmp.Diff(tt.want, idList); diff != "" {
					t.Errorf("FindComputerIDs (-want +got):\n%s", diff)
				}
			})
		}
		if _, err := s.FindComputerIDs(t.Context(), store.ComputerFilter{}, 2); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("FindComputerIDs over max: %v, want ErrInvalid", err)
		}
		if _, err := s.FindComputerIDs(t.Context(), store.ComputerFilter{IP: "10.9.0.0/8"}, 1); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("FindComputerIDs by prefix over max: %v, want ErrInvalid", err)
		}
	})
}

func TestDeploymentRowsAndAggregates(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		siteID, ids := apiFixture(t, s)
		ctx := t.Context()
		rows, total, err := s.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: "100", SiteID: &siteID})
		if err != nil {
			t.Fatalf("DeploymentRows: %v", err)
		}
		if total != 2 || len(rows) != 2 || rows[0].ComputerName != "ant" || rows[0].PackageName != "pkg 100" ||
			rows[0].SiteID == nil || *rows[0].SiteID != siteID || rows[0].BytesPeer != 300 || rows[0].FragmentsTotal != 4 {
			t.Fatalf("rows of site hq: total %d %+v", total, rows)
		}
		rows, _, err = s.DeploymentRows(ctx, store.DeploymentRowFilter{PackageID: "100", NoSite: true})
		if err != nil || len(rows) != 1 || rows[0].ComputerID != ids[2] || rows[0].ResultCode != "ERR_BAD_DIGEST" {
			t.Fatalf("rows without site: %+v, %v", rows, err)
		}
		rows, _, err = s.DeploymentRows(ctx, store.DeploymentRowFilter{State: store.StateError, Recent: true, Limit: 10})
		if err != nil || len(rows) != 1 || rows[0].State != store.StateError {
			t.Fatalf("recent failures: %+v, %v", rows, err)
		}

		counts, err := s.DeploymentRowCounts(ctx, store.DeploymentRowFilter{PackageID: "100", SiteID: &siteID})
		if err != nil {
			t.Fatalf("DeploymentRowCounts: %v", err)
		}
		if diff := cmp.Diff(map[string]int64{store.StateDownloading: 1, store.StateSuccess: 1}, counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}

		done, err := s.Completions(ctx, "100")
		if err != nil || len(done) != 2 || done[0].State != store.StateSuccess || done[1].State != store.StateError ||
			!done[0].FinishedAt.Before(done[1].FinishedAt) {
			t.Fatalf("Completions: %+v, %v", done, err)
		}

		bytes, err := s.BytesBySite(ctx, "100")
		if err != nil {
			t.Fatalf("BytesBySite: %v", err)
		}
		want := []store.SiteBytes{
			{SiteID: nil, Deployments: 1},
			{SiteID: &siteID, SiteName: "hq", Deployments: 2, BytesPeer: 300, BytesRelay: 20, BytesCentral: 1},
		}
		if diff := cmp.Diff(want, bytes); diff != "" {
			t.Errorf("BytesBySite (-want +got):\n%s", diff)
		}

		perSite, err := s.ComputerCountsBySite(ctx)
		if err != nil || perSite[siteID] != 2 {
			t.Errorf("ComputerCountsBySite: %v, %v", perSite, err)
		}

		o, err := s.Overview(ctx)
		if err != nil {
			t.Fatalf("Overview: %v", err)
		}
		if o.Computers != 3 || o.Sites != 1 || o.Packages != 1 || o.ActivePackages != 1 || len(o.Active) != 1 ||
			o.Active[0].Counts[store.StateDownloading] != 1 || o.DeploymentCounts[store.StateError] != 1 {
			t.Errorf("Overview: %+v", o)
		}
	})
}

func TestDeploymentRowsByComputer(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		site, ids, base := uiFixture(t, s)
		tests := []struct {
			name      string
			f         store.DeploymentRowFilter
			wantNames []string
			wantSites []string
		}{
			{"package", store.DeploymentRowFilter{ByComputer: true, PackageID: "100"}, []string{"ant", "bee", "cat"}, []string{"hq", "hq", ""}},
			{"state", store.DeploymentRowFilter{ByComputer: true, PackageID: "100", State: store.StateError}, []string{"cat"}, []string{""}},
			{"site", store.DeploymentRowFilter{ByComputer: true, PackageID: "100", SiteID: &site}, []string{"ant", "bee"}, []string{"hq", "hq"}},
			{"no-site", store.DeploymentRowFilter{ByComputer: true, PackageID: "100", NoSite: true}, []string{"cat"}, []string{""}},
			{"computer", store.DeploymentRowFilter{ByComputer: true, ComputerID: ids[0]}, []string{"ant", "ant"}, []string{"hq", "hq"}},
			{"page", store.DeploymentRowFilter{ByComputer: true, PackageID: "100", Limit: 1, Offset: 1}, []string{"bee"}, []string{"hq"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rows, _, err := s.DeploymentRows(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				var names, sites []string
				for _, r := range rows {
					names, sites = append(names, r.ComputerName), append(sites, r.SiteName)
				}
				if diff := cmp.Diff(tt.wantNames, names); diff != "" {
					t.Errorf("names (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantSites, sites); diff != "" {
					t.Errorf("sites (-want +got):\n%s", diff)
				}
			})
		}
		rows, total, err := s.DeploymentRows(ctx, store.DeploymentRowFilter{ByComputer: true, State: store.StateError, Recent: true})
		if err != nil || total != 1 || rows[0].PackageName != "pkg 100" || rows[0].ResultCode != "ERR_BAD_DIGEST" {
			t.Errorf("recent failures %+v (%d), %v", rows, total, err)
		}
		counts, err := s.DeploymentRowCounts(ctx, store.DeploymentRowFilter{ByComputer: true, PackageID: "100", SiteID: &site, State: "ignored"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int64{store.StateDownloading: 1, store.StateSuccess: 1}, counts); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}

		finishes, err := s.Completions(ctx, "100")
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Completion{{State: store.StateSuccess, FinishedAt: base.Add(time.Minute)}, {State: store.StateError, FinishedAt: base.Add(2 * time.Minute)}}
		if diff := cmp.Diff(want, finishes, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("finishes (-want +got):\n%s", diff)
		}
		if start, err := s.FirstDeploymentAt(ctx, "100"); err != nil || start.IsZero() {
			t.Errorf("no first deployment time: %v", err)
		}
		if f, err := s.Completions(ctx, "999"); err != nil || len(f) != 0 {
			t.Errorf("finishes of an unknown package: %v %v", f, err)
		}
		if start, err := s.FirstDeploymentAt(ctx, "999"); err != nil || !start.IsZero() {
			t.Errorf("first deployment of an unknown package: %v %v", start, err)
		}

		bytes, err := s.BytesBySite(ctx, "100")
		if err != nil {
			t.Fatal(err)
		}
		wantBytes := []store.SiteBytes{
			{SiteID: nil, Deployments: 1},
			{SiteID: &site, SiteName: "hq", Deployments: 2, BytesPeer: 300, BytesRelay: 20, BytesCentral: 1},
		}
		if diff := cmp.Diff(wantBytes, bytes); diff != "" {
			t.Errorf("bytes by site (-want +got):\n%s", diff)
		}
	})
}

// uiFixture ingests ant and bee in site "hq" and cat without a site,
// affects package 100 to all three and 200 to ant, and records progress
// and results.
func uiFixture(t *testing.T, s *store.Store) (site uint, ids []uint, base time.Time) {
	t.Helper()
	ctx := t.Context()
	hq := &store.Site{Name: "hq", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := s.CreateSite(ctx, hq); err != nil {
		t.Fatal(err)
	}
	base = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i, name := range []string{"ant", "bee", "cat"} {
		snap := storetest.Snapshot(devID(name, i), 1)
		snap.Computer.Name = name
		snap.Computer.LastContact = base.Add(-time.Duration(i) * 24 * time.Hour)
		if i < 2 {
			snap.Computer.SiteID = &hq.ID
		}
		ids = append(ids, mustIngest(t, s, snap).ComputerID)
	}
	createActive(t, s, "100", 5, true)
	createActive(t, s, "200", 5, false)
	affect(t, s, "100", ids...)
	affect(t, s, "200", ids[0])
	progress(t, s, ids[0], "100", store.Progress{State: store.StateDownloading, FragmentsDone: 1,
		FragmentsTotal: 4, BytesPeer: 300, BytesRelay: 20, BytesCentral: 1}, base)
	finish(t, s, ids[1], "100", store.StateSuccess, "SUCCESS", base.Add(time.Minute))
	finish(t, s, ids[2], "100", store.StateError, "ERR_BAD_DIGEST", base.Add(2*time.Minute))
	return hq.ID, ids, base
}

func TestUIDeploymentQueries(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, ids, base := uiFixture(t, s)
		pkgs, err := s.UIUnfinishedPackages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantPkgs := []store.UIPackageStates{
			{PackageID: "100", PackageName: "pkg 100", Active: true, Counts: map[string]int64{store.StateDownloading: 1, store.StateSuccess: 1, store.StateError: 1}},
			{PackageID: "200", PackageName: "pkg 200", Counts: map[string]int64{store.StateWaiting: 1}},
		}
		if diff := cmp.Diff(wantPkgs, pkgs); diff != "" {
			t.Errorf("unfinished packages (-want +got):\n%s", diff)
		}

		// ids[0] has two unfinished deployments: one computer in progress.
		c, err := s.UIDashboardCounts(ctx, base.Add(-36*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&store.UICounts{Computers: 3, Sites: 1, Packages: 2, ActivePackages: 1, SeenSince: 2, ComputersInProgress: 1}, c); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		tags, err := s.UIComputerTags(ctx, ids)
		if err != nil || len(tags) != 3 || tags[ids[0]] != "lab" {
			t.Errorf("tags %v, %v", tags, err)
		}
	})
}
