package web

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/api"
)

// TestSoftwareAPI checks the catalog and history routes: they need
// authentication, bad input is a 400 with a message (format, rule
// pattern, limit), unknown titles and computers are 404, rules are
// created, replaced and deleted, and CSV is CSV.
func TestSoftwareAPI(t *testing.T) {
	var cat *inventory.Catalog
	e := newEnvDeps(t, func(d *Deps) {
		var err error
		if cat, err = inventory.NewCatalog(inventory.Config{CatalogCacheTTL: 1}, d.Store, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
			t.Fatal(err)
		}
		d.Catalog = cat
	})
	snap := storetest.Snapshot("sw-api-2026-12-01-07-24-08", 0)
	snap.Softwares = []store.Software{{Name: "7-Zip 24.08 (x64)", Version: "24.08", Publisher: "Igor Pavlov"}}
	res, err := inventory.Record(t.Context(), e.store, snap)
	if err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/api/v1/software", "/api/v1/software/rules", "/api/v1/software/7-Zip", fmt.Sprintf("/api/v1/computers/%d/history", res.ComputerID)} {
		e.api("GET", path, "", "", http.StatusUnauthorized, nil)
	}
	e.api("POST", "/api/v1/software/rules", `{"pattern":"zip"}`, "", http.StatusUnauthorized, nil)

	var list api.List[api.SoftwareTitle]
	e.api("GET", "/api/v1/software?q=zip", "", "token", http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].Title != "7-Zip" || list.Items[0].Publisher != "Igor Pavlov" {
		t.Fatalf("catalog: %+v", list.Items)
	}
	rec := e.api("GET", "/api/v1/software?format=csv", "", "token", http.StatusOK, nil)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(rec.Body.String(), "\n7-Zip,,Igor Pavlov,1,1,") {
		t.Errorf("CSV %s:\n%s", ct, rec.Body.String())
	}
	var d api.SoftwareTitleDetail
	e.api("GET", "/api/v1/software/"+list.Items[0].Key, "", "token", http.StatusOK, &d)
	if len(d.Versions) != 1 || d.Versions[0].Version != "24.08" || d.Versions[0].Computers != 1 {
		t.Errorf("title: %+v", d)
	}
	e.api("GET", "/api/v1/software/7-Zip", "", "token", http.StatusOK, &d)

	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"bad-format", "GET", "/api/v1/software?format=xml", "", http.StatusBadRequest},
		{"bad-pattern", "POST", "/api/v1/software/rules", `{"pattern":"(zip"}`, http.StatusBadRequest},
		{"empty-pattern", "POST", "/api/v1/software/rules", `{"pattern":" "}`, http.StatusBadRequest},
		{"unknown-field", "POST", "/api/v1/software/rules", `{"pattern":"zip","colour":"red"}`, http.StatusBadRequest},
		{"long-title", "POST", "/api/v1/software/rules", `{"pattern":"zip","title":"` + strings.Repeat("x", 201) + `"}`, http.StatusBadRequest},
		{"unknown-title", "GET", "/api/v1/software/no-such-title", "", http.StatusNotFound},
		{"unknown-rule", "PUT", "/api/v1/software/rules/999", `{"pattern":"zip"}`, http.StatusNotFound},
		{"delete-unknown-rule", "DELETE", "/api/v1/software/rules/999", "", http.StatusNotFound},
		{"history-unknown-computer", "GET", "/api/v1/computers/999999/history", "", http.StatusNotFound},
		{"history-bad-limit", "GET", fmt.Sprintf("/api/v1/computers/%d/history?limit=0", res.ComputerID), "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.api(tt.method, tt.path, tt.body, "token", tt.want, nil)
			var ae api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == "" {
				t.Errorf("answer %q is not an API error with a message", rec.Body.String())
			}
		})
	}

	var r api.SoftwareRule
	e.api("POST", "/api/v1/software/rules", `{"pattern":"^7-zip","title":"7-Zip","category":"Archivers"}`, "token", http.StatusCreated, &r)
	e.api("PUT", fmt.Sprintf("/api/v1/software/rules/%d", r.ID), `{"pattern":"^7-zip","category":"Compression"}`, "token", http.StatusOK, &r)
	e.api("GET", "/api/v1/software?category=compression", "", "token", http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].Category != "Compression" {
		t.Errorf("by category after the update: %+v", list.Items)
	}
	e.api("DELETE", fmt.Sprintf("/api/v1/software/rules/%d", r.ID), "", "token", http.StatusNoContent, nil)
	var rules api.List[api.SoftwareRule]
	e.api("GET", "/api/v1/software/rules", "", "token", http.StatusOK, &rules)
	if len(rules.Items) != 0 {
		t.Errorf("rules after delete: %+v", rules.Items)
	}
	var hist api.List[api.HistoryEntry]
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d/history", res.ComputerID), "", "token", http.StatusOK, &hist)
	if len(hist.Items) != 0 {
		t.Errorf("history after one inventory: %+v", hist.Items)
	}
}
