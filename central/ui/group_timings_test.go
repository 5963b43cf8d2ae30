package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestGroupTimingsEdit: the group page edits an existing group's window,
// OCS timings and download latencies (CSRF required), keeps its members,
// and explains a bad value next to the form.
func TestGroupTimingsEdit(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	id := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", nil)
	r := b.post(uiPrefix+"/groups", url.Values{"name": {"branch"}, "computers": {fmt.Sprint(id)}, "cycle_latency": {"45"}}, true)
	wantCode(t, "create", r, http.StatusSeeOther)
	page := r.header.Get("Location")
	wantBody(t, "created", b.get(page), "cycle 45 s", `id="group-timings-form"`)
	path := page + "/timings"
	form := url.Values{"window": {"daily 01:00-03:00"}, "prolog_freq_hours": {"3"}, "ocs_timings": {"default"},
		"cycle_latency": {"30"}, "frag_latency": {"4"}, "period_latency": {"2"}}
	wantCode(t, "no csrf", b.post(path, form, false), http.StatusForbidden)
	r = b.post(path, form, true)
	wantCode(t, "save timings", r, http.StatusSeeOther)
	wantBody(t, "after save", b.get(page), "<code>daily 01:00-03:00</code>",
		"PROLOG every 3 h · default download latencies · cycle 30 s · fragment 4 s · period 2 s", `<span id="member-count">1</span>`)
	r = b.post(path, url.Values{"cycle_latency": {"soon"}}, true)
	wantCode(t, "bad latency", r, http.StatusBadRequest)
	wantBody(t, "bad latency", r, "cycle latency &#34;soon&#34; is not a positive whole number")
	r = b.post(path, url.Values{"period_latency": {"100000"}}, true)
	wantCode(t, "latency too long", r, http.StatusBadRequest)
	wantBody(t, "latency too long", r, "period_latency must be 0")
	wantCode(t, "unknown group", b.post(uiPrefix+"/groups/999/timings", form, true), http.StatusNotFound)
}
