package deploy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

// TestPrologRelaySiteTimings: the PROLOG reply's DOWNLOAD CONF carries 1 s
// latencies for a computer of a site served by a live relay or a fragment
// location, the agent settings' latencies elsewhere, and a site's
// ocs_timings or central's relay_site_timings override that.
func TestPrologRelaySiteTimings(t *testing.T) {
	ctx := context.Background()
	short := ocs.DownloadConf{On: true, CycleLatency: 1, FragLatency: 1, PeriodLatency: 1, PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120}
	long := ocs.DownloadConf{On: true, CycleLatency: 60, FragLatency: 10, PeriodLatency: 0, PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120}
	tests := []struct {
		name       string
		relaySites string // Config.RelaySiteTimings
		site       *store.Site
		relay      time.Duration // age of the site's relay's last contact; 0: no relay
		want       ocs.DownloadConf
	}{
		{"no-site", "", nil, 0, long},
		{"site-without-relay", "", &store.Site{Name: "s"}, 0, long},
		{"live-relay", "", &store.Site{Name: "s"}, time.Second, short},
		{"stale-relay", "", &store.Site{Name: "s"}, store.RelayStale + time.Minute, long},
		{"fragment-location", "", &store.Site{Name: "s", FragmentLocation: "fs.branch:80/download"}, 0, short},
		{"site-default", "", &store.Site{Name: "s", OCSTimings: TimingsDefault}, time.Second, long},
		{"site-short-no-relay", "", &store.Site{Name: "s", OCSTimings: TimingsShort}, 0, short},
		{"central-default", TimingsDefault, &store.Site{Name: "s"}, time.Second, long},
		{"central-default-site-short", TimingsDefault, &store.Site{Name: "s", OCSTimings: TimingsShort}, time.Second, short},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{RelaySiteTimings: tt.relaySites})
			c := f.computer("pc-2026-11-26-10-00-00")
			if tt.site != nil {
				tt.site.CIDRs = []store.SiteCIDR{{CIDR: c.IPAddr + "/32"}}
				if err := f.st.CreateSite(ctx, tt.site); err != nil {
					t.Fatal(err)
				}
				if err := f.st.SetComputerSite(ctx, c.ID, &tt.site.ID); err != nil {
					t.Fatal(err)
				}
				if tt.relay > 0 {
					r := &store.Relay{Name: "r1", SiteID: tt.site.ID, PeerID: "p1", SecretHash: strings.Repeat("a", 64), HTTPURL: "http://10.1.2.3:8090"}
					storetest.EnrollRelay(t, f.st, r, time.Now())
					if err := f.st.TouchRelay(ctx, r.ID, "", time.Time{}, time.Now().Add(-tt.relay)); err != nil {
						t.Fatal(err)
					}
				}
			}
			r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
			if err != nil {
				t.Fatal(err)
			}
			if r.Download == nil || r.Download.Conf != tt.want {
				t.Fatalf("DOWNLOAD CONF %+v, want %+v", r.Download, tt.want)
			}
			// The status page's estimate uses the same timings.
			var site *store.Site
			if tt.site != nil {
				if site, err = f.st.Site(ctx, tt.site.ID); err != nil {
					t.Fatal(err)
				}
			}
			d := f.svc.SiteDownload(ctx, site)
			if d.CycleLatency != tt.want.CycleLatency || d.FragLatency != tt.want.FragLatency || d.PeriodLatency != tt.want.PeriodLatency {
				t.Fatalf("SiteDownload %+v, want the latencies of %+v", d, tt.want)
			}
		})
	}
}

// TestRelaySiteTimingsConfig: relay_site_timings defaults to short,
// accepts short and default only, and survives the Settings page's saves,
// which do not carry it.
func TestRelaySiteTimingsConfig(t *testing.T) {
	if got := (Config{}).WithDefaults().RelaySiteTimings; got != TimingsShort {
		t.Fatalf("default relay_site_timings %q, want short", got)
	}
	if err := (Config{RelaySiteTimings: "fast"}).Validate(); err == nil {
		t.Fatal("relay_site_timings fast accepted")
	}
	f := newFixture(t, Config{RelaySiteTimings: TimingsDefault})
	if err := f.svc.SaveConfig(context.Background(), Config{PrologFreqHours: 6}); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.Config().RelaySiteTimings; got != TimingsDefault {
		t.Fatalf("relay_site_timings after a settings save %q, want default", got)
	}
	if err := f.svc.LoadStoredConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.Config().RelaySiteTimings; got != TimingsDefault {
		t.Fatalf("relay_site_timings after loading stored settings %q, want default", got)
	}
}

// TestShortTimingsExpected backs ShortLatency's comment: 10 fragments at
// priority 5 take about 55 minutes with the default timings and about 70 s
// with the short ones.
func TestShortTimingsExpected(t *testing.T) {
	d := (Config{}).WithDefaults().Download
	long, short := OCSExpected(d, 5, 10), OCSExpected(d.Short(), 5, 10)
	if long < 55*time.Minute || long > 56*time.Minute || short < 65*time.Second || short > 75*time.Second {
		t.Fatalf("expected: default %v, short %v", long, short)
	}
}

// TestPrologGroupTimings: a group's PROLOG_FREQ and DOWNLOAD latencies
// reach its members' PROLOG replies (the smallest frequency of several
// groups), and no other computer's; a change is seen once deploy is told.
func TestPrologGroupTimings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	member, other := f.computer("pc-g1-2026-12-05-05-00-00"), f.computer("pc-g2-2026-12-05-05-00-00")
	prolog := func(c *store.Computer) (int, ocs.DownloadConf) {
		t.Helper()
		r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
		if err != nil {
			t.Fatal(err)
		}
		return r.PrologFreq, r.Download.Conf
	}
	if freq, _ := prolog(member); freq != 12 {
		t.Fatalf("PROLOG_FREQ before any group timings: %d, want 12", freq)
	}
	for _, g := range []*store.Group{{Name: "fast", PrologFreqHours: 2, OCSTimings: TimingsShort}, {Name: "slower", PrologFreqHours: 6}} {
		if err := f.st.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := f.st.AddGroupMembers(ctx, g.ID, []uint{member.ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f.svc.GroupTimingsChanged()
	freq, conf := prolog(member)
	if freq != 2 || conf.CycleLatency != ShortLatency || conf.FragLatency != ShortLatency {
		t.Errorf("member: PROLOG_FREQ %d, latencies %+v; want 2 and short", freq, conf)
	}
	freq, conf = prolog(other)
	if freq != 12 || conf.CycleLatency != 60 {
		t.Errorf("other computer: PROLOG_FREQ %d, latencies %+v; want the agent settings'", freq, conf)
	}
}

// TestPrologGroupLatencies: a group's own DOWNLOAD latencies override
// each one it sets, after its OCS timings; among several groups the
// smallest set value wins; the others stay the agent settings'.
func TestPrologGroupLatencies(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	member := f.computer("pc-l1-2026-12-05-05-00-00")
	for _, g := range []*store.Group{{Name: "slow-cycle", CycleLatency: 300, PeriodLatency: 20}, {Name: "fast-cycle", CycleLatency: 30}} {
		if err := f.st.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := f.st.AddGroupMembers(ctx, g.ID, []uint{member.ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	f.svc.GroupTimingsChanged()
	r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: member.DeviceID, Remote: netip.MustParseAddr(member.IPAddr)})
	if err != nil {
		t.Fatal(err)
	}
	conf := r.Download.Conf
	if conf.CycleLatency != 30 || conf.PeriodLatency != 20 || conf.FragLatency != 10 {
		t.Errorf("latencies %+v; want cycle 30 (smallest), period 20, frag 10 (agent settings')", conf)
	}
}
