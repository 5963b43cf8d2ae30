package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/api"
)

func TestAPIRelays(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := &store.Relay{Name: "r1", SiteID: site.ID, PeerID: "peer1", SecretHash: "aa", HTTPURL: "http://10.9.0.2:8090",
		RecordExpires: now.Add(time.Hour)}
	storetest.EnrollRelay(t, e.store, r, now)
	report := `{"version":"v9","started_at":1700000000,"disk_used":300,"disk_quota":1000,"wan_rate_bits":50000000,` +
		`"packages":[{"package_id":"7","bytes_upstream":100,"bytes_served":300,"hits":2,"misses":1,"cached_bytes":100,"complete":true}]}`
	if err := e.store.TouchRelay(ctx, r.ID, report, time.Time{}, now); err != nil {
		t.Fatal(err)
	}

	var l api.List[api.Relay]
	e.api("GET", "/api/v1/relays", "", "token", http.StatusOK, &l)
	if len(l.Items) != 1 {
		t.Fatalf("relays %+v", l)
	}
	got := l.Items[0]
	want := api.RelayPackageStats{BytesUpstream: 100, BytesServed: 300, Hits: 2, Misses: 1, CachedBytes: 100}
	if diff := cmp.Diff(want, got.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if !got.Online || got.SiteName != "branch" || got.Version != "v9" || got.DiskQuota != 1000 || got.WANRateBits != 50000000 ||
		len(got.Packages) != 1 || !got.Packages[0].Complete {
		t.Errorf("relay %+v", got)
	}

	p := e.uploadPackage("purged")
	var res api.PurgeResult
	e.api("POST", "/api/v1/packages/"+p.ID+"/purge", "", "token", http.StatusOK, &res)
	if res.Relays != 1 || res.Kept != 0 || res.PackageID != p.ID {
		t.Errorf("purge %+v", res)
	}
	if ids, err := e.store.Purges(ctx, now.Add(-time.Minute)); err != nil || !cmp.Equal(ids, []string{p.ID}) {
		t.Errorf("purges %v, %v", ids, err)
	}
	e.api("POST", "/api/v1/packages/999999/purge", "", "token", http.StatusNotFound, nil)

	e.api("DELETE", "/api/v1/relays/"+itoa(r.ID), "", "token", http.StatusNoContent, nil)
	e.api("DELETE", "/api/v1/relays/"+itoa(r.ID), "", "token", http.StatusNotFound, nil)
	if ids, err := e.store.RevokedPeerIDs(ctx, now); err != nil || !cmp.Equal(ids, []string{"peer1"}) {
		t.Errorf("revoked after delete %v, %v", ids, err)
	}
	var audit api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?action=relay.", "", "token", http.StatusOK, &audit)
	if len(audit.Items) != 1 || audit.Items[0].Target != "r1" {
		t.Errorf("audit %+v", audit.Items)
	}
	e.api("GET", "/api/v1/audit?action=package.purge", "", "token", http.StatusOK, &audit)
	if len(audit.Items) != 1 || audit.Items[0].Target != p.ID {
		t.Errorf("audit %+v", audit.Items)
	}
}
