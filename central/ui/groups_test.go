package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// TestGroupPages: a dynamic group made in the form gets its members, a
// package assigned to it reaches them, the computer page lists the group,
// and a mistake is shown next to the form.
func TestGroupPages(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e)
	p := &store.Package{ID: "1700000000001", Name: "agent update", Priority: 5, Action: "EXECUTE", Command: "true"}
	if err := e.store.CreatePackage(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPackageActivation(t.Context(), p.ID, true, "central:443/download", "central/download", store.ProtoHTTPS, time.Now()); err != nil {
		t.Fatal(err)
	}

	r := b.post(uiPrefix+"/groups", url.Values{"name": {"first two"}, "s_name": {"pc-"}, "ip": {"10.77.0.0/16"}}, true)
	wantCode(t, "create group", r, http.StatusSeeOther)
	group := r.header.Get("Location")
	r = b.get(group)
	wantCode(t, "group", r, http.StatusOK)
	wantBody(t, "group", r, `<span id="member-count">2</span> members`, "pc-1", "pc-2")
	r = b.post(uiPrefix+"/assignments", url.Values{"package": {p.ID}, "group_id": {group[len(uiPrefix+"/groups/"):]}}, true)
	wantCode(t, "assign", r, http.StatusSeeOther)
	r = b.get(group)
	wantBody(t, "group after assign", r, `<td class="members">2</td><td class="done">0</td><td class="pending">2</td>`)
	for _, id := range ids[:2] {
		if d, err := e.store.DeploymentFor(t.Context(), id, p.ID); err != nil || d.State != store.StateWaiting {
			t.Errorf("computer %d: deployment %+v %v", id, d, err)
		}
	}
	r = b.get(fmt.Sprintf("%s/computers/%d", uiPrefix, ids[0]))
	wantBody(t, "computer page", r, `">first two</a></dd>`)
	r = b.get(uiPrefix + "/groups")
	wantBody(t, "groups", r, "first two", "dynamic")

	r = b.post(uiPrefix+"/groups", url.Values{"name": {"first two"}}, true)
	wantCode(t, "same name", r, http.StatusBadRequest)
	wantBody(t, "same name", r, "a group named &#34;first two&#34; exists")
	r = b.post(uiPrefix+"/groups", url.Values{"name": {"static"}, "computers": {"1, x"}}, true)
	wantCode(t, "bad ids", r, http.StatusBadRequest)
	wantBody(t, "bad ids", r, "&#34;x&#34; is not a computer id")

	// A window and agent timings made in the form show on the group page;
	// a malformed window is explained next to the form.
	r = b.post(uiPrefix+"/groups", url.Values{"name": {"nightly"}, "computers": {fmt.Sprint(ids[0])}, "window": {"mon-fri 22:00-06:00"},
		"prolog_freq_hours": {"2"}, "ocs_timings": {"short"}}, true)
	wantCode(t, "group with window", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "group with window", r, "<code>mon-fri 22:00-06:00</code>", "PROLOG every 2 h · short download latencies")
	r = b.post(uiPrefix+"/groups", url.Values{"name": {"bad window"}, "window": {"weekdays 9-17"}}, true)
	wantCode(t, "bad window", r, http.StatusBadRequest)
	wantBody(t, "bad window", r, "want daily or days among")
}
