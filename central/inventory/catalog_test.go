package inventory_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto/api"
)

// TestCatalog checks the software catalog over real inventories: names
// merge into titles automatically, a rule merges more and gives a
// category, a title counts its computers per version (newest first) and
// per site, lists its computers (optionally of one version), and a bad
// rule is refused with ErrInvalid.
func TestCatalog(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		site := &store.Site{Name: "paris"}
		if err := s.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		add := func(n int, siteID *uint, sw ...store.Software) {
			snap := storetest.Snapshot(devID("cat", n), 0)
			snap.Computer.SiteID, snap.Computer.Name = siteID, fmt.Sprintf("cat-%d", n)
			snap.Softwares = sw
			mustIngest(t, s, snap)
		}
		add(1, &site.ID, store.Software{Name: "Mozilla Firefox (x64 fr)", Version: "131.0", Publisher: "Mozilla"},
			store.Software{Name: "7-Zip 24.08 (x64)", Version: "24.08"})
		add(2, &site.ID, store.Software{Name: "Mozilla Firefox 133.0", Version: "133.0", Publisher: "Mozilla"})
		add(3, nil, store.Software{Name: "firefox-esr", Version: "128.5.0esr-1~deb12u1"},
			store.Software{Name: "7-Zip", Version: "9.20"})

		cat, err := inventory.NewCatalog(inventory.Config{}, s, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		titles, err := cat.Titles(ctx, inventory.TitleFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := titleNames(titles), []string{"7-Zip", "firefox-esr", "Mozilla Firefox"}; !cmp.Equal(got, want) {
			t.Fatalf("titles = %q, want %q", got, want)
		}

		who := audit.Actor{Name: "admin"}
		if _, err := cat.SaveRule(ctx, who, 0, api.SoftwareRuleRequest{Pattern: "(", Title: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("SaveRule with a bad pattern: %v, want ErrInvalid", err)
		}
		if _, err := cat.SaveRule(ctx, who, 0, api.SoftwareRuleRequest{Pattern: `^(mozilla )?firefox`, Title: "Mozilla Firefox", Category: "Browsers"}); err != nil {
			t.Fatal(err)
		}
		titles, err = cat.Titles(ctx, inventory.TitleFilter{Category: "browsers"})
		if err != nil {
			t.Fatal(err)
		}
		if len(titles) != 1 || titles[0].Title != "Mozilla Firefox" || titles[0].Computers != 3 || len(titles[0].Names) != 3 || titles[0].Publisher != "Mozilla" {
			t.Fatalf("browsers = %+v, want Mozilla Firefox on 3 computers from 3 names", titles)
		}
		if titles[0].FirstSeen == nil || titles[0].LastSeen == nil {
			t.Errorf("first/last seen missing: %+v", titles[0])
		}

		d, err := cat.Title(ctx, titles[0].Key, map[uint]string{site.ID: "paris"})
		if err != nil {
			t.Fatal(err)
		}
		var versions []string
		for _, v := range d.Versions {
			versions = append(versions, v.Version)
		}
		if want := []string{"133.0", "131.0", "128.5.0esr-1~deb12u1"}; !cmp.Equal(versions, want) {
			t.Errorf("versions = %q, want %q", versions, want)
		}
		wantSites := []api.SoftwareSite{{SiteID: &site.ID, SiteName: "paris", Computers: 2}, {Computers: 1}}
		if diff := cmp.Diff(wantSites, d.Sites); diff != "" {
			t.Errorf("sites (-want +got):\n%s", diff)
		}

		zip, err := cat.Title(ctx, "7-zip", nil)
		if err != nil {
			t.Fatal(err)
		}
		holders, total, err := cat.Computers(ctx, zip.Key, "9.20", 50, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(holders) != 1 || holders[0].ComputerName != "cat-3" {
			t.Fatalf("7-Zip 9.20 computers = %d %+v, want cat-3", total, holders)
		}
		var csv bytes.Buffer
		if err := api.WriteHoldersCSV(&csv, holders); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(csv.String(), "computer_id,computer,site,name,version,publisher,last_inventory\n") ||
			!strings.Contains(csv.String(), ",cat-3,,7-Zip,9.20,,") {
			t.Errorf("CSV:\n%s", csv.String())
		}
		if _, err := cat.Title(ctx, "no such title", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown title: %v, want ErrNotFound", err)
		}
	})
}

func titleNames(ts []api.SoftwareTitle) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Title)
	}
	return out
}

// TestCatalogCountsComputersOnceAndInScope checks that a title counts a
// computer that has two of its names (or one name twice, x86 and x64)
// once, in the list, per version and per site, and that a user scoped to
// a site or a TAG sees only their computers' counts, names, versions and
// sites, from the same fleet index.
func TestCatalogCountsComputersOnceAndInScope(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		paris, lyon, empty := &store.Site{Name: "paris"}, &store.Site{Name: "lyon"}, &store.Site{Name: "empty"}
		for _, site := range []*store.Site{paris, lyon, empty} {
			if err := s.CreateSite(ctx, site); err != nil {
				t.Fatal(err)
			}
		}
		siteNames := map[uint]string{paris.ID: "paris", lyon.ID: "lyon", empty.ID: "empty"}
		add := func(n int, siteID *uint, tag string, sw ...store.Software) {
			snap := storetest.Snapshot(devID("once", n), 0)
			snap.Computer.SiteID, snap.Computer.Name = siteID, fmt.Sprintf("once-%d", n)
			snap.AccountInfo = []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: tag}}
			snap.Softwares = sw
			mustIngest(t, s, snap)
		}
		fr := func(v string) store.Software {
			return store.Software{Name: "Mozilla Firefox (x64 fr)", Version: v, Publisher: "Mozilla"}
		}
		plain := store.Software{Name: "Mozilla Firefox 131.0", Version: "131.0", Publisher: "Mozilla"}
		add(1, &paris.ID, "office", fr("131.0"), plain)
		x86 := fr("133.0")
		x86.Architecture = "x86"
		add(2, &lyon.ID, "office", fr("133.0"), x86)
		add(3, nil, "shop", plain)

		cat, err := inventory.NewCatalog(inventory.Config{}, s, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		type version struct {
			Version   string
			Computers int64
			Sites     map[string]int64
		}
		type summary struct {
			Names     []string
			Computers int64
			Installs  int64
			Versions  []version
			Sites     map[string]int64
		}
		sites := func(ss []api.SoftwareSite) map[string]int64 {
			out := map[string]int64{}
			for _, s := range ss {
				out[s.SiteName] += s.Computers
			}
			return out
		}
		both := []string{"Mozilla Firefox (x64 fr)", "Mozilla Firefox 131.0"}
		tests := []struct {
			name  string
			scope store.Scope
			want  *summary // nil: the title is not found
		}{
			{name: "fleet", want: &summary{Names: both, Computers: 3, Installs: 5,
				Versions: []version{{"133.0", 1, map[string]int64{"lyon": 1}}, {"131.0", 2, map[string]int64{"paris": 1, "": 1}}},
				Sites:    map[string]int64{"paris": 1, "lyon": 1, "": 1}}},
			{name: "site-paris", scope: store.Scope{SiteIDs: []uint{paris.ID}}, want: &summary{Names: both, Computers: 1, Installs: 2,
				Versions: []version{{"131.0", 1, map[string]int64{"paris": 1}}}, Sites: map[string]int64{"paris": 1}}},
			{name: "tag-shop", scope: store.Scope{Tags: []string{"shop"}}, want: &summary{Names: []string{"Mozilla Firefox 131.0"}, Computers: 1, Installs: 1,
				Versions: []version{{"131.0", 1, map[string]int64{"": 1}}}, Sites: map[string]int64{"": 1}}},
			{name: "site-lyon-or-tag-shop", scope: store.Scope{SiteIDs: []uint{lyon.ID}, Tags: []string{"shop"}}, want: &summary{Names: both, Computers: 2, Installs: 3,
				Versions: []version{{"133.0", 1, map[string]int64{"lyon": 1}}, {"131.0", 1, map[string]int64{"": 1}}},
				Sites:    map[string]int64{"lyon": 1, "": 1}}},
			{name: "empty-site", scope: store.Scope{SiteIDs: []uint{empty.ID}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				titles, err := cat.Titles(ctx, inventory.TitleFilter{Scope: tt.scope})
				if err != nil {
					t.Fatal(err)
				}
				d, err := cat.TitleIn(ctx, "Mozilla Firefox", tt.scope, siteNames)
				if tt.want == nil {
					if len(titles) != 0 || !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("titles %+v, title page error %v; want none and ErrNotFound", titles, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(titles) != 1 || titles[0].Computers != tt.want.Computers || titles[0].Installs != tt.want.Installs ||
					!cmp.Equal(titles[0].Names, tt.want.Names) {
					t.Errorf("titles = %+v, want one with %+v", titles, tt.want)
				}
				got := summary{Names: d.Names, Computers: d.Computers, Installs: d.Installs, Sites: sites(d.Sites)}
				for _, v := range d.Versions {
					got.Versions = append(got.Versions, version{v.Version, v.Computers, sites(v.Sites)})
				}
				if diff := cmp.Diff(*tt.want, got); diff != "" {
					t.Errorf("title page (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestCatalogShowsANewInventoryAtOnce: the fleet index is cached for
// CatalogCacheTTL, but an inventory that changed software makes a small
// fleet's index stale at once: the README's quick start adds a dictionary
// rule and asks for "openssl" seconds after the first inventory, and
// central reads the index when it starts.
func TestCatalogShowsANewInventoryAtOnce(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		cat, err := inventory.NewCatalog(inventory.Config{CatalogCacheTTL: time.Hour}, s, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		titles, err := cat.Titles(ctx, inventory.TitleFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(titles) != 0 {
			t.Fatalf("titles of an empty fleet = %q", titleNames(titles))
		}
		snap := storetest.Snapshot(devID("fresh", 1), 0)
		snap.Softwares = []store.Software{{Name: "openssl", Version: "3.0.19-1~deb12u2"}}
		mustIngest(t, s, snap)
		// The re-read waits ten times the last read's duration (an empty
		// fleet's: a few milliseconds), not the hour of the cache.
		testwait.For(t, 10*time.Second, "the catalog to show the first inventory's software", func() error {
			titles, err := cat.Titles(ctx, inventory.TitleFilter{})
			if err != nil {
				return err
			}
			if got := titleNames(titles); !cmp.Equal(got, []string{"openssl"}) {
				return fmt.Errorf("titles = %q, want [openssl]", got)
			}
			return nil
		})
	})
}
