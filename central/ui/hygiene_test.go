package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

// TestDuplicatesPage drives the duplicates page as an admin: an automatic
// merge (OLD_DEVICEID) is shown and split with the CSRF token (refused
// without), two computers are merged by hand, the stale list shows a
// computer not seen for 40 days, and the purge setting is saved and shown;
// bad input is a 400 page.
func TestDuplicatesPage(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	var oldDevice string
	first := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", func(inv *ocs.Inventory) { oldDevice = inv.DeviceID })
	again := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", func(inv *ocs.Inventory) {
		inv.DeviceID, inv.OldDeviceID = "vm-reinstalled-2026-12-05-07-00-00", oldDevice
	})
	if again != first {
		t.Fatalf("OLD_DEVICEID inventory stored computer %d, want %d taken over", again, first)
	}
	stale := storetest.Snapshot("gone-2026-10-01-00-00-00", 1)
	stale.Computer.LastInventory = time.Now().Add(-40 * 24 * time.Hour)
	if _, err := inventory.Record(t.Context(), e.store, stale); err != nil {
		t.Fatal(err)
	}

	r := b.get(duplicatesPath)
	wantCode(t, "duplicates page", r, http.StatusOK)
	wantBody(t, "duplicates page", r, "took over", oldDevice, "OLD_DEVICEID", "Not seen for 30 days: 1", ">gone</a>", `<span id="purge-days">Off</span>`)
	ms, _, err := e.store.Merges(t.Context(), 10, 0)
	if err != nil || len(ms) != 1 {
		t.Fatalf("merges %v (%v), want 1", ms, err)
	}
	split := fmt.Sprintf("%s/merges/%d/split", uiPrefix, ms[0].ID)
	wantCode(t, "split without CSRF", b.post(split, nil, false), http.StatusForbidden)
	r = b.post(split, nil, true)
	wantCode(t, "split", r, http.StatusSeeOther)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, uiPrefix+"/computers/") {
		t.Fatalf("split redirects to %q, want the new computer's page", loc)
	}
	wantCode(t, "split computer page", b.get(loc), http.StatusOK)
	newID := strings.TrimSuffix(strings.TrimPrefix(loc, uiPrefix+"/computers/"), "?done=split")
	wantBody(t, "duplicates after split", b.get(duplicatesPath), "split ", "computer "+newID)
	wantCode(t, "split twice", b.post(split, nil, true), http.StatusConflict)

	wantCode(t, "merge bad id", b.post(uiPrefix+"/duplicates/merge", url.Values{"target": {"x"}, "from": {newID}}, true), http.StatusBadRequest)
	r = b.post(uiPrefix+"/duplicates/merge", url.Values{"target": {fmt.Sprint(first)}, "from": {newID}}, true)
	wantCode(t, "merge", r, http.StatusSeeOther)
	wantBody(t, "duplicates after merge", b.get(r.header.Get("Location")), "Computers merged.", "by hand")

	wantCode(t, "purge bad days", b.post(uiPrefix+"/duplicates/purge", url.Values{"days": {"-3"}}, true), http.StatusBadRequest)
	wantCode(t, "purge", b.post(uiPrefix+"/duplicates/purge", url.Values{"days": {"90"}}, true), http.StatusSeeOther)
	wantBody(t, "duplicates after purge setting", b.get(duplicatesPath+"?days=35"), `<strong id="purge-days">90</strong>`, "Not seen for 35 days: 1")
	wantCode(t, "bad days", b.get(duplicatesPath+"?days=0"), http.StatusBadRequest)
}
