package deploy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestPrologSpreadsOverLiveRelays: a site with several live relays sends
// each computer to one of them, the same one at every PROLOG, uses all of
// them across the site's computers, and never sends anyone to a stale
// relay.
func TestPrologSpreadsOverLiveRelays(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	site := &store.Site{Name: "branch"}
	if err := f.st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	var comps []*store.Computer
	for _, dev := range []string{"ws1-2026-11-26-10-00-00", "ws2-2026-11-26-10-00-00", "ws3-2026-11-26-10-00-00", "ws4-2026-11-26-10-00-00"} {
		c := f.computer(dev)
		if err := f.st.SetComputerSite(ctx, c.ID, &site.ID); err != nil {
			t.Fatal(err)
		}
		comps = append(comps, c)
	}
	relays := []struct {
		name, url string
		seen      time.Time
	}{
		{"ra", "http://10.1.0.1:8090", time.Now()},
		{"rb", "http://10.1.0.2", time.Now()},
		{"rc-stale", "http://10.1.0.3:8090", time.Now().Add(-store.RelayStale - time.Minute)},
	}
	for i, rr := range relays {
		r := &store.Relay{Name: rr.name, SiteID: site.ID, PeerID: "p" + rr.name, SecretHash: strings.Repeat(string(rune('d'+i)), 64), HTTPURL: rr.url}
		storetest.EnrollRelay(t, f.st, r, time.Now())
		if err := f.st.TouchRelay(ctx, r.ID, "", time.Time{}, rr.seen); err != nil {
			t.Fatal(err)
		}
	}
	id := f.pkg(5, true)
	if _, err := f.svc.Affect(ctx, id, AffectRequest{ComputerIDs: []uint{comps[0].ID, comps[1].ID, comps[2].ID, comps[3].ID}}); err != nil {
		t.Fatal(err)
	}
	packLoc := func(c *store.Computer) string {
		t.Helper()
		r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Download.Packs) != 1 {
			t.Fatalf("packs of %s: %+v", c.DeviceID, r.Download.Packs)
		}
		return r.Download.Packs[0].PackLoc
	}
	used := map[string]int{}
	for _, c := range comps {
		first, again := packLoc(c), packLoc(c)
		if first != again {
			t.Errorf("%s moved from %s to %s between PROLOGs", c.DeviceID, first, again)
		}
		used[first]++
	}
	want := map[string]int{"10.1.0.1:8090/download": 2, "10.1.0.2:80/download": 2}
	if diff := cmp.Diff(want, used); diff != "" {
		t.Errorf("PACK_LOCs used (-want +got):\n%s", diff)
	}
}
