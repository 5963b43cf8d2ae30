package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestSoftwarePages checks the catalog pages without a browser: the title
// merged from two names, a rule form refused without its CSRF token and
// with a bad pattern (400 and the message, nothing saved), a saved rule's
// category, the title page with its computer, and both CSV exports.
func TestSoftwarePages(t *testing.T) {
	e := newEnv(t, Config{})
	for i, name := range []string{"Mozilla Firefox (x64 fr)", "Mozilla Firefox 131.0"} {
		snap := storetest.Snapshot("fx-"+string(rune('a'+i))+"-2026-12-01-07-24-08", 0)
		snap.Softwares = []store.Software{{Name: name, Version: "131.0", Publisher: "=cmd|' /C calc'!A0"}}
		if _, err := inventory.Record(t.Context(), e.store, snap); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.login("admin", adminPassword)
	r := b.get("/ui/software")
	if r.code != http.StatusOK || !strings.Contains(r.body, ">Mozilla Firefox</a>") {
		t.Fatalf("software page %d:\n%s", r.code, r.body)
	}
	if r := b.post("/ui/software/rules", url.Values{"pattern": {"firefox"}, "category": {"Browsers"}}, false); r.code != http.StatusForbidden {
		t.Errorf("rule without CSRF: %d", r.code)
	}
	if r := b.post("/ui/software/rules", url.Values{"pattern": {"(firefox"}}, true); r.code != http.StatusBadRequest || !strings.Contains(r.body, "pattern") {
		t.Errorf("bad pattern: %d\n%s", r.code, r.body)
	}
	if r := b.post("/ui/software/rules", url.Values{"pattern": {"firefox"}, "category": {"Browsers"}}, true); r.code != http.StatusSeeOther {
		t.Fatalf("rule: %d\n%s", r.code, r.body)
	}
	r = b.get("/ui/software?category=Browsers")
	if !strings.Contains(r.body, "<td>Browsers</td>") {
		t.Errorf("category not shown:\n%s", r.body)
	}
	key := inventory.TitleKey("Mozilla Firefox")
	r = b.get("/ui/software/" + key)
	if r.code != http.StatusOK || !strings.Contains(r.body, `id="title-holders"`) || !strings.Contains(r.body, "/ui/computers/") {
		t.Fatalf("title page %d:\n%s", r.code, r.body)
	}
	for _, path := range []string{"/ui/software.csv?category=Browsers", "/ui/software/" + key + "/computers.csv"} {
		r := b.get(path)
		if r.code != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !strings.Contains(r.body, "'=cmd") {
			t.Errorf("%s: %d %s\n%s", path, r.code, r.header.Get("Content-Type"), r.body)
		}
	}
	if r := b.get("/ui/software/no-such-title"); r.code != http.StatusNotFound {
		t.Errorf("unknown title: %d", r.code)
	}
}
