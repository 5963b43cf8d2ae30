package web

import (
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto/api"
)

// TestGroupPatch: PATCH /groups/{id} changes only the fields it carries
// (timings and latencies of an existing group), keeps the others, clears
// a field sent empty, and refuses a latency out of range.
func TestGroupPatch(t *testing.T) {
	e := newEnv(t)
	var g api.Group
	e.api("POST", "/api/v1/groups", `{"name":"night","description":"branch PCs","search":{"name":"vm"},"window":"daily 01:00-03:00","ocs_timings":"short"}`, "token", 201, &g)
	e.api("PATCH", "/api/v1/groups/night", `{"prolog_freq_hours":4,"cycle_latency":30,"frag_latency":5,"period_latency":2}`, "token", 200, &g)
	want := api.Group{Name: "night", Description: "branch PCs", Window: "daily 01:00-03:00", OCSTimings: "short", PrologFreqHours: 4,
		CycleLatency: 30, FragLatency: 5, PeriodLatency: 2}
	if g.Name != want.Name || g.Description != want.Description || g.Window != want.Window || g.OCSTimings != want.OCSTimings ||
		g.PrologFreqHours != 4 || g.CycleLatency != 30 || g.FragLatency != 5 || g.PeriodLatency != 2 || !g.Dynamic || g.Search["name"] != "vm" {
		t.Errorf("after PATCH: %+v", g)
	}
	g = api.Group{} // the answer leaves out empty fields
	e.api("PATCH", "/api/v1/groups/night", `{"window":"","frag_latency":0}`, "token", 200, &g)
	if g.Window != "" || g.FragLatency != 0 || g.CycleLatency != 30 || g.OCSTimings != "short" {
		t.Errorf("after clearing window and frag_latency: %+v", g)
	}
	var apiErr api.Error
	e.api("PATCH", "/api/v1/groups/night", `{"cycle_latency":90000}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "cycle_latency must be 0") {
		t.Errorf("bad latency: %q", apiErr.Error)
	}
	e.api("PATCH", "/api/v1/groups/nothing-like-it", `{"cycle_latency":1}`, "token", 404, nil)
	e.api("PATCH", "/api/v1/groups/night", `{"cycle_latency":1}`, "", 401, nil)
}
