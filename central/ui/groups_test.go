package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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

// TestGroupFromSavedSearch: the new-group form offers the saved searches
// the user may use (theirs and the shared ones, not another user's
// private one); picking one makes a dynamic group with a copy of its
// criteria, fields filled in beside it win, and a search the user may not
// use is refused next to the form.
func TestGroupFromSavedSearch(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	seedComputers(t, e)
	ctx := t.Context()
	lab := &store.SavedSearch{Name: "lab pcs", Owner: "admin", Filter: url.Values{"ip": {"10.77.0.0/16"}, "name": {"pc-"}}.Encode()}
	shared := &store.SavedSearch{Name: "team pcs", Owner: "alice", Shared: true, Filter: url.Values{"name": {"pc-3"}}.Encode()}
	private := &store.SavedSearch{Name: "alice only", Owner: "alice", Filter: url.Values{"name": {"pc-1"}}.Encode()}
	for _, ss := range []*store.SavedSearch{lab, shared, private} {
		if err := e.store.SaveSearch(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	r := b.get(uiPrefix + "/groups")
	wantCode(t, "groups", r, http.StatusOK)
	wantBody(t, "groups", r, `<select id="g-saved" name="saved_search">`, fmt.Sprintf(`<option value="%d">lab pcs — `, lab.ID),
		fmt.Sprintf(`<option value="%d">team pcs (shared) — `, shared.ID))
	if strings.Contains(r.body, "alice only") {
		t.Errorf("another user's private saved search is offered")
	}

	r = b.post(uiPrefix+"/groups", url.Values{"name": {"from saved"}, "saved_search": {fmt.Sprint(lab.ID)}}, true)
	wantCode(t, "create from saved search", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "group from saved search", r, `<code id="group-search">ip=10.77.0.0/16 name=pc-</code>`, `<span id="member-count">2</span> members`)

	// A field filled in beside the saved search replaces its criterion.
	r = b.post(uiPrefix+"/groups", url.Values{"name": {"saved and name"}, "saved_search": {fmt.Sprint(lab.ID)}, "s_name": {"pc-2"}}, true)
	wantCode(t, "saved search and a field", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "saved search and a field", r, `<code id="group-search">ip=10.77.0.0/16 name=pc-2</code>`, `<span id="member-count">1</span> members`)

	for _, ref := range []string{fmt.Sprint(private.ID), "999"} {
		r = b.post(uiPrefix+"/groups", url.Values{"name": {"not mine " + ref}, "saved_search": {ref}}, true)
		wantCode(t, "saved search "+ref, r, http.StatusBadRequest)
		wantBody(t, "saved search "+ref, r, "saved search "+ref+": no such search among yours and the shared ones")
	}

	// A package assigned to a saved search reaches the computers its
	// criteria select.
	p := &store.Package{ID: "1700000000002", Name: "lab tool", Priority: 5, Action: "EXECUTE", Command: "true"}
	if err := e.store.CreatePackage(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPackageActivation(ctx, p.ID, true, "central:443/download", "central/download", store.ProtoHTTPS, time.Now()); err != nil {
		t.Fatal(err)
	}
	r = b.get(uiPrefix + "/groups")
	wantBody(t, "groups", r, `<form class="card" method="post" action="/ui/assignments" id="assign-search">`)
	r = b.post(uiPrefix+"/assignments", url.Values{"package": {p.ID}, "saved_search": {fmt.Sprint(lab.ID)}}, true)
	wantCode(t, "assign to a saved search", r, http.StatusSeeOther)
	as, err := e.store.Assignments(ctx, store.AssignmentFilter{PackageID: p.ID})
	if err != nil || len(as) != 1 || as[0].Target != store.TargetSearch || as[0].Filter != lab.Filter {
		t.Fatalf("assignments %+v, %v; want one on the saved search's criteria %q", as, err, lab.Filter)
	}
	r = b.get(uiPrefix + "/groups")
	wantBody(t, "groups after assign", r, `<td class="members">2</td><td class="done">0</td><td class="pending">2</td>`)
	r = b.post(uiPrefix+"/assignments", url.Values{"package": {p.ID}, "saved_search": {fmt.Sprint(private.ID)}}, true)
	wantCode(t, "assign to another user's private search", r, http.StatusBadRequest)
	wantBody(t, "assign to another user's private search", r, "no such search among yours and the shared ones")
}

// TestAssignSiteStaged: the groups page's site form offers what the API
// and shoalctl do for a site (after package, staged rollout, failure
// threshold): a staged site assignment gives the first wave only, and a
// bad stage is explained next to the form.
func TestAssignSiteStaged(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	seedComputers(t, e)
	ctx := t.Context()
	p := &store.Package{ID: "1700000000003", Name: "site tool", Priority: 5, Action: "EXECUTE", Command: "true"}
	if err := e.store.CreatePackage(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetPackageActivation(ctx, p.ID, true, "central:443/download", "central/download", store.ProtoHTTPS, time.Now()); err != nil {
		t.Fatal(err)
	}
	sites, err := e.store.ListSites(ctx)
	if err != nil || len(sites) != 1 {
		t.Fatalf("sites %+v %v", sites, err)
	}
	r := b.get(uiPrefix + "/groups")
	wantBody(t, "groups", r, `<input id="as-stage" name="stage" inputmode="numeric">`, `<select id="as-after" name="after">`, `<input id="as-maxfail" name="max_failure_percent"`)
	r = b.post(uiPrefix+"/assignments", url.Values{"package": {p.ID}, "site_id": {fmt.Sprint(sites[0].ID)}, "stage": {"x"}}, true)
	wantCode(t, "bad stage", r, http.StatusBadRequest)
	wantBody(t, "bad stage", r, "stage must be positive")
	r = b.post(uiPrefix+"/assignments", url.Values{"package": {p.ID}, "site_id": {fmt.Sprint(sites[0].ID)}, "stage": {"1"}, "max_failure_percent": {"10"}}, true)
	wantCode(t, "staged site assignment", r, http.StatusSeeOther)
	as, err := e.store.Assignments(ctx, store.AssignmentFilter{PackageID: p.ID})
	if err != nil || len(as) != 1 || as[0].StageSize != 1 || as[0].MaxFailurePercent != 10 || as[0].Target != store.TargetSite {
		t.Fatalf("assignments %+v, %v; want one staged on the site", as, err)
	}
	r = b.get(uiPrefix + "/groups")
	wantBody(t, "groups after a staged assign", r, `<td class="members">2</td><td class="done">0</td><td class="pending">1</td>`)
}
