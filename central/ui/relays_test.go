package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// seedRelays enrolls two relays of a new site "branch": "live" reporting
// now with counters, "silent" last seen ten minutes ago.
func seedRelays(t *testing.T, e *env) (live, silent *store.Relay) {
	t.Helper()
	ctx := t.Context()
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	enroll := func(name string) *store.Relay {
		r := &store.Relay{Name: name, SiteID: site.ID, PeerID: "peer-" + name, SecretHash: strings.Repeat(name[:1], 64),
			HTTPURL: "http://" + name + ".branch:8090", RecordExpires: now.Add(time.Hour)}
		storetest.EnrollRelay(t, e.store, r, now)
		return r
	}
	live, silent = enroll("live"), enroll("silent")
	report := `{"version":"1.2.3","disk_used":1048576,"disk_quota":4194304,"wan_rate_bits":50000000,"evictions":2,` +
		`"packages":[{"package_id":"42","bytes_upstream":1000,"bytes_served":3000,"hits":2,"misses":1,"corrupt_upstream":1,"cached_bytes":1000,"complete":true}],` +
		`"errors":["upstream <b>timeout</b>"],"p2p_addrs":["/ip4/10.1.0.2/tcp/4011"],"p2p_served":2048}`
	if err := e.store.TouchRelay(ctx, live.ID, report, time.Time{}, now); err != nil {
		t.Fatal(err)
	}
	if err := e.store.TouchRelay(ctx, silent.ID, "", time.Time{}, now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	return live, silent
}

func TestRelaysPage(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	wantBody(t, "empty relays page", b.get(uiPrefix+"/relays"), "No relay enrolled", "shoal-relay enroll")
	live, silent := seedRelays(t, e)

	r := b.get(uiPrefix + "/relays")
	wantCode(t, "relays page", r, http.StatusOK)
	wantBody(t, "relays page", r, `aria-current="page">Relays`, "live", "silent", `<span class="state ok">online</span>`,
		`<span class="state bad">offline</span>`, "http://live.branch:8090", "1.2.3", "50 Mbit/s", "25%", "2 evictions",
		"3.0×", "66 %", "1 corrupt fragment from upstream", `href="/ui/packages/42"`, "upstream &lt;b&gt;timeout&lt;/b&gt;",
		"<code>/ip4/10.1.0.2/tcp/4011</code>", "2.0 KiB served over libp2p", "HTTP only (no libp2p address reported)",
		fmt.Sprintf(`action="/ui/relays/%d/delete"`, live.ID))

	// Removing a relay needs the session's CSRF token.
	del := fmt.Sprintf("%s/relays/%d/delete", uiPrefix, silent.ID)
	wantCode(t, "delete without csrf", b.post(del, nil, false), http.StatusForbidden)
	wantCode(t, "delete", b.post(del, nil, true), http.StatusSeeOther)
	wantCode(t, "delete again", b.post(del, nil, true), http.StatusNotFound)
	rs, err := e.store.Relays(t.Context())
	if err != nil || len(rs) != 1 || rs[0].Name != "live" {
		t.Fatalf("relays after delete: %+v, %v", rs, err)
	}
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "relay.delete"})
	if err != nil || len(evs) != 1 || evs[0].Target != "silent" || evs[0].Actor != "admin" {
		t.Errorf("audit of the delete: %+v, %v", evs, err)
	}
}

func TestPurgeFromRelays(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	live, _ := seedRelays(t, e)
	id := seedPackage(t, e, b)
	purge := uiPrefix + "/packages/" + id + "/purge"
	wantBody(t, "package page", b.get(uiPrefix+"/packages/"+id), `action="`+purge+`"`, "Purge from relays")

	tests := []struct {
		name string
		csrf url.Values
		with bool
		want int
	}{
		{"no-token", nil, false, http.StatusForbidden},
		{"forged-token", url.Values{csrfField: {"forged"}}, false, http.StatusForbidden},
		{"with-token", nil, true, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "purge", b.post(purge, tt.csrf, tt.with), tt.want)
		})
	}
	ids, err := e.store.Purges(t.Context(), time.Now().Add(-time.Hour))
	if err != nil || !cmp.Equal(ids, []string{id}) {
		t.Errorf("purges %v, %v", ids, err)
	}
	wantBody(t, "after purge", b.get(uiPrefix+"/packages/"+id+"?done=purged"), "drops the package from its cache")
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "package.purge"})
	if err != nil || len(evs) != 1 || evs[0].Target != id || !strings.Contains(evs[0].Detail, "2 relays") {
		t.Errorf("audit of the purge: %+v, %v", evs, err)
	}
	wantCode(t, "purge of an unknown package", b.post(uiPrefix+"/packages/99999/purge", nil, true), http.StatusNotFound)

	// A package with unfinished deployments in the relays' site is kept by
	// them: the admin is told so.
	ctx := t.Context()
	res, err := inventory.Record(ctx, e.store, storetest.Snapshot("branch-ws-2026-11-26-10-00-00", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetComputerSite(ctx, res.ComputerID, &live.SiteID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dep.AffectComputers(ctx, id, []uint{res.ComputerID}, false); err != nil {
		t.Fatal(err)
	}
	pr := b.post(purge, nil, true)
	wantCode(t, "purge of an active package", pr, http.StatusSeeOther)
	loc := pr.header.Get("Location")
	if !strings.HasSuffix(loc, "?done=purged-kept") {
		t.Fatalf("purge of an active package redirects to %q", loc)
	}
	wantBody(t, "after purge of an active package", b.get(loc), "they keep it until those finish")

	// A read-only user sees the relays but cannot remove or purge.
	r := b.post(uiPrefix+"/users", url.Values{"name": {"viewer"}, "role": {"readonly"},
		"password": {"viewer-password-1"}, "confirm": {"viewer-password-1"}}, true)
	wantCode(t, "create read-only user", r, http.StatusSeeOther)
	ro := e.browser()
	ro.login("viewer", "viewer-password-1")
	for _, p := range []string{"/relays", "/packages/" + id} {
		r := ro.get(uiPrefix + p)
		wantCode(t, "read-only "+p, r, http.StatusOK)
		if strings.Contains(r.body, `method="post" action="/ui/`) {
			t.Errorf("read-only page %s offers a form", p)
		}
	}
	wantCode(t, "read-only purge", ro.post(purge, nil, true), http.StatusForbidden)
	wantCode(t, "read-only delete", ro.post(uiPrefix+"/relays/1/delete", nil, true), http.StatusForbidden)
}
