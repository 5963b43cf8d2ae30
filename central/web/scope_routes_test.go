package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/proto/api"
)

// scopedInventories gives the computers of scopedFleet software rows:
// 7-Zip 24.08 on pc-a (branch a), 7-Zip 9.20 on pc-b (branch b) and on the
// shop-a computer of branch b. They are recorded as OCS inventories of the
// same device IDs, so the computers keep their sites and TAG.
func scopedInventories(t *testing.T, e *env) {
	t.Helper()
	for _, sw := range []struct{ name, version string }{{"pc-a", "24.08"}, {"pc-b", "9.20"}, {"pc-b-shop", "9.20"}} {
		snap := storetest.Snapshot(sw.name+"-2026-12-05-00-00-00", 0)
		snap.AccountInfo = nil
		snap.Softwares = []store.Software{{Name: "7-Zip " + sw.version, Version: sw.version, Publisher: "Igor Pavlov"}}
		if _, err := inventory.Record(t.Context(), e.store, snap); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScopedUserNewRoutes plays the branch technician of scopedFleet on
// the routes added after the first delegation work: saved searches, the
// CSV export, the software catalog, the change history, Wake-on-LAN,
// duplicates and the stale purge, group PATCH. Fleet-wide routes are
// refused; the others show and change only its computers.
func TestScopedUserNewRoutes(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := newEnvDeps(t, func(d *Deps) {
		cat, err := inventory.NewCatalog(inventory.Config{CatalogCacheTTL: 1}, d.Store, log)
		if err != nil {
			t.Fatal(err)
		}
		d.Catalog = cat
		if d.Wake, err = wake.New(wake.Config{}, d.Store, d.Deploy, log); err != nil {
			t.Fatal(err)
		}
	})
	inA, inB, tagged, tok := scopedFleet(t, e)
	scopedInventories(t, e)
	var g api.Group
	e.api("POST", "/api/v1/groups", fmt.Sprintf(`{"name":"all-pcs","members":[%d,%d,%d]}`, inA, inB, tagged), "token", 201, &g)

	refused := []struct{ name, method, path, body string }{
		{"history_other_branch", "GET", fmt.Sprintf("/api/v1/computers/%d/history", inB), ""},
		{"history_missing", "GET", "/api/v1/computers/99999/history", ""},
		{"wakes_other_branch", "GET", fmt.Sprintf("/api/v1/computers/%d/wakes", inB), ""},
		{"wake_other_branch", "POST", fmt.Sprintf("/api/v1/computers/%d/wake", inB), ""},
		{"merges", "GET", "/api/v1/computers/merges", ""},
		{"merge_into_own", "POST", fmt.Sprintf("/api/v1/computers/%d/merge", inA), fmt.Sprintf(`{"computer_id":%d}`, inB)},
		{"split", "POST", "/api/v1/computers/merges/1/split", ""},
		{"stale_purge_read", "GET", "/api/v1/settings/stale-purge", ""},
		{"stale_purge_set", "PUT", "/api/v1/settings/stale-purge", `{"days":1}`},
		{"add_rule", "POST", "/api/v1/software/rules", `{"pattern":"zip","title":"Zip"}`},
		{"patch_group", "PATCH", fmt.Sprintf("/api/v1/groups/%d", g.ID), `{"name":"mine"}`},
		{"group_members", "POST", fmt.Sprintf("/api/v1/groups/%d/members", g.ID), fmt.Sprintf(`{"computer_ids":[%d]}`, inA)},
		{"create_role", "POST", "/api/v1/roles", `{"name":"boss","permissions":["admin"]}`},
		{"roles", "GET", "/api/v1/roles", ""},
		{"users", "GET", "/api/v1/users", ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e.api(tt.method, tt.path, tt.body, tok, http.StatusForbidden, nil)
		})
	}

	// History and wakes of its own computer work; waking it is allowed
	// (deploy), and audited under the technician's token.
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d/history", inA), "", tok, 200, nil)
	e.api("POST", fmt.Sprintf("/api/v1/computers/%d/wake", inA), "", tok, http.StatusAccepted, nil)
	var wakes api.List[api.Wake]
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d/wakes", inA), "", tok, 200, &wakes)
	if len(wakes.Items) != 1 || !strings.Contains(wakes.Items[0].RequestedBy, "tech") {
		t.Fatalf("wakes of pc-a: %+v", wakes.Items)
	}

	// The export holds its two computers only, whatever the search.
	rec := e.api("GET", "/api/v1/computers/export?name=pc", "", tok, 200, nil)
	csv := rec.Body.String()
	if !strings.Contains(csv, "pc-a,") || !strings.Contains(csv, "pc-b-shop,") || strings.Contains(csv, "pc-b,") {
		t.Fatalf("tech's export:\n%s", csv)
	}

	// A shared saved search of the admin that selects branch b finds, for
	// the technician, only what its scope holds; its own private search is
	// its own.
	var shared api.SavedSearch
	e.api("POST", "/api/v1/searches", `{"name":"old-zip","shared":true,"search":{"software":"7-Zip","software_version":"< 24"}}`, "token", 201, &shared)
	var l api.List[api.Computer]
	e.api("GET", "/api/v1/computers?saved_search=old-zip", "", tok, 200, &l)
	if len(l.Items) != 1 || l.Items[0].ID != tagged {
		t.Fatalf("tech's old-zip search: %+v, want only pc-b-shop", l.Items)
	}
	rec = e.api("GET", "/api/v1/computers/export?saved_search=old-zip", "", tok, 200, nil)
	if strings.Count(rec.Body.String(), "\n") != 2 || !strings.Contains(rec.Body.String(), "pc-b-shop,") {
		t.Fatalf("tech's export of old-zip:\n%s", rec.Body)
	}
	// Saving a search is a change: the technician's role (no
	// computers.write) may not.
	e.api("POST", "/api/v1/searches", `{"name":"mine","search":{"name":"pc"}}`, tok, http.StatusForbidden, nil)
	e.api("DELETE", fmt.Sprintf("/api/v1/searches/%d", shared.ID), "", tok, http.StatusForbidden, nil)

	// The catalog counts only its computers: 7-Zip on two of them, one
	// per version; the computers of a title are its own.
	var titles api.List[api.SoftwareTitle]
	e.api("GET", "/api/v1/software", "", tok, 200, &titles)
	if len(titles.Items) != 1 || titles.Items[0].Computers != 2 {
		t.Fatalf("tech's catalog: %+v, want 7-Zip on 2 computers", titles.Items)
	}
	var all api.List[api.SoftwareTitle]
	e.api("GET", "/api/v1/software", "", "token", 200, &all)
	if len(all.Items) != 1 || all.Items[0].Computers != 3 {
		t.Fatalf("admin's catalog: %+v, want 7-Zip on 3 computers", all.Items)
	}
	var d api.SoftwareTitleDetail
	e.api("GET", "/api/v1/software/"+titles.Items[0].Key, "", tok, 200, &d)
	var versions []string
	for _, v := range d.Versions {
		versions = append(versions, fmt.Sprintf("%s:%d", v.Version, v.Computers))
	}
	if !slices.Equal(versions, []string{"24.08:1", "9.20:1"}) {
		t.Fatalf("tech's 7-Zip versions %v, want one computer each", versions)
	}
	var holders api.List[api.SoftwareHolder]
	e.api("GET", "/api/v1/software/"+titles.Items[0].Key+"/computers", "", tok, 200, &holders)
	var names []string
	for _, h := range holders.Items {
		names = append(names, h.ComputerName)
	}
	if !slices.Equal(names, []string{"pc-a", "pc-b-shop"}) || holders.Total != 2 {
		t.Fatalf("tech's 7-Zip computers %v (total %d)", names, holders.Total)
	}
	rec = e.api("GET", "/api/v1/software/"+titles.Items[0].Key+"/computers?format=csv", "", tok, 200, nil)
	if strings.Contains(rec.Body.String(), "pc-b,") {
		t.Fatalf("tech's CSV of 7-Zip computers holds pc-b:\n%s", rec.Body)
	}
	e.api("GET", "/api/v1/software/rules", "", tok, 200, nil)
}

// TestEveryRouteHasARule checks that every API route is listed in
// routeRules: the default (fleet.read to read, admin to change, closed to
// scoped callers) is safe, but a new route should be placed on purpose.
func TestEveryRouteHasARule(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := newEnvDeps(t, func(d *Deps) {
		cat, err := inventory.NewCatalog(inventory.Config{}, d.Store, log)
		if err != nil {
			t.Fatal(err)
		}
		d.Catalog = cat
		if d.Wake, err = wake.New(wake.Config{}, d.Store, d.Deploy, log); err != nil {
			t.Fatal(err)
		}
	})
	routes := append(slices.Clone(agentAdminRoutes), e.srv.apiRoutes(nil)...)
	for _, r := range e.https.(*echo.Echo).Routes() {
		if p, ok := strings.CutPrefix(r.Path, api.BasePath+"/"); ok && p != "*" {
			p = "/" + p
			routes = append(routes, route{Method: r.Method, Path: p})
		}
	}
	for _, r := range routes {
		if _, ok := routeRules[r.Method+" "+r.Path]; !ok {
			t.Errorf("route %s %s has no rule in routeRules (central/web/perms.go): give it a permission and say whether scoped callers may use it", r.Method, r.Path)
		}
	}
}
