package web

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

// TestSavedSearchesAPI: a private search is seen and used by its owner
// only, a shared one by everyone but changed by its owner only; GET
// /computers and the CSV export apply one by name, with parameters given
// beside it winning; bad input is a 400 that says why.
func TestSavedSearchesAPI(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	var other api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"other"}`, "basic", 201, &other)

	var mine, shared api.SavedSearch
	e.api("POST", "/api/v1/searches", `{"name":"vms","search":{"name":"vm","contact_since":"720h"}}`, "token", 201, &mine)
	if mine.Owner != "token:t" || mine.Shared || !cmp.Equal(mine.Search, map[string]string{"name": "vm", "contact_since": "720h"}) {
		t.Errorf("created %+v", mine)
	}
	e.api("POST", "/api/v1/searches", `{"name":"no vms","shared":true,"search":{"name":"nothing-like-it"}}`, "token", 201, &shared)

	var l api.List[api.SavedSearch]
	e.api("GET", "/api/v1/searches", "", other.Token, 200, &l)
	if len(l.Items) != 1 || l.Items[0].Name != "no vms" {
		t.Errorf("the other token sees %+v, want only the shared search", l.Items)
	}
	e.api("GET", "/api/v1/searches/vms", "", other.Token, 404, nil)
	e.api("GET", "/api/v1/computers?saved_search=vms", "", other.Token, 404, nil)
	e.api("DELETE", "/api/v1/searches/no%20vms", "", other.Token, 403, nil)

	var comps api.List[api.Computer]
	e.api("GET", "/api/v1/computers?saved_search=vms", "", "token", 200, &comps)
	if comps.Total != 1 || comps.Items[0].ID != cid {
		t.Errorf("computers of saved search vms: %+v", comps)
	}
	e.api("GET", fmt.Sprintf("/api/v1/computers?saved_search=%d&name=other", mine.ID), "", "token", 200, &comps)
	if comps.Total != 0 {
		t.Errorf("name=other beside the saved search still finds %d computers", comps.Total)
	}

	rec := e.api("GET", "/api/v1/computers/export?saved_search=vms", "", "token", 200, nil)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("export Content-Type %q", ct)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v", err)
	}
	if len(rows) != 2 || !cmp.Equal(rows[0], api.ComputerCSVHeader) || rows[1][0] != itoa(cid) || rows[1][1] != "vm" || rows[1][5] != "192.0.2.2" {
		t.Errorf("export rows %q", rows)
	}
	rec = e.api("GET", "/api/v1/computers/export?name=nothing-like-it", "", "token", 200, nil)
	if got := rec.Body.String(); got != strings.Join(api.ComputerCSVHeader, ",")+"\n" {
		t.Errorf("empty export %q", got)
	}

	var g api.Group
	e.api("POST", "/api/v1/groups", `{"name":"from-saved","search":{"saved_search":"vms","os":"linux"}}`, "token", 201, &g)
	if !g.Dynamic || g.Members != 1 || !cmp.Equal(g.Search, map[string]string{"name": "vm", "contact_since": "720h", "os": "linux"}) {
		t.Errorf("group from a saved search: %+v", g)
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{name: "group-unknown-search", method: "POST", path: "/api/v1/groups", body: `{"name":"g2","search":{"saved_search":"nope"}}`, status: 404, msg: "not found"},
		{name: "no-criteria", method: "POST", path: "/api/v1/searches", body: `{"name":"x","search":{}}`, status: 400, msg: "needs criteria"},
		{name: "unknown-criterion", method: "POST", path: "/api/v1/searches", body: `{"name":"x","search":{"colour":"red"}}`, status: 400, msg: `unknown criterion "colour"`},
		{name: "bad-time", method: "POST", path: "/api/v1/searches", body: `{"name":"x","search":{"contact_since":"yesterday"}}`, status: 400, msg: "contact_since"},
		{name: "digits-name", method: "POST", path: "/api/v1/searches", body: `{"name":"42","search":{"os":"linux"}}`, status: 400, msg: "all digits"},
		{name: "taken-name", method: "POST", path: "/api/v1/searches", body: `{"name":"vms","search":{"os":"linux"}}`, status: 409, msg: `named "vms" exists`},
		{name: "unknown-search", method: "GET", path: "/api/v1/searches/nope", status: 404, msg: "not found"},
		{name: "export-unknown-search", method: "GET", path: "/api/v1/computers/export?saved_search=nope", status: 404, msg: "not found"},
		{name: "export-bad-filter", method: "GET", path: "/api/v1/computers/export?site=paris", status: 400, msg: "site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr api.Error
			e.api(tt.method, tt.path, tt.body, "token", tt.status, &apiErr)
			if !strings.Contains(apiErr.Error, tt.msg) || strings.Contains(apiErr.Error, "record not found") || strings.Contains(apiErr.Error, "UNIQUE") {
				t.Errorf("error %q, want it to say %q without database text", apiErr.Error, tt.msg)
			}
		})
	}

	e.api("PUT", "/api/v1/searches/vms", `{"name":"vms","shared":true,"search":{"name":"vm"}}`, "token", 200, &mine)
	if !mine.Shared {
		t.Errorf("after PUT %+v", mine)
	}
	e.api("GET", "/api/v1/searches/vms", "", other.Token, 200, nil)
	e.api("DELETE", "/api/v1/searches/vms", "", "token", 204, nil)
	e.api("GET", "/api/v1/searches/vms", "", "token", 404, nil)
	var audit api.List[api.AuditEvent]
	e.api("GET", "/api/v1/audit?action=search.", "", "token", 200, &audit)
	if len(audit.Items) != 4 {
		t.Errorf("audit of searches: %+v", audit.Items)
	}
}
