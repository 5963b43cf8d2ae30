package inventory_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
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
