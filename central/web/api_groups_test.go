package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto/api"
)

// TestGroupsAPI: a dynamic group, an assignment to it with its counts,
// the computer's groups, and the errors a client gets for bad input.
func TestGroupsAPI(t *testing.T) {
	e := newEnv(t)
	cid := e.inventory()
	p := e.uploadPackage("agent-update")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)

	var g api.Group
	e.api("POST", "/api/v1/groups", `{"name":"vms","search":{"name":"vm","contact_since":"720h"}}`, "token", 201, &g)
	if !g.Dynamic || g.Members != 1 || len(g.MemberIDs) != 1 || g.MemberIDs[0] != cid || g.Search["contact_since"] != "720h" {
		t.Errorf("created group %+v", g)
	}
	var a api.Assignment
	e.api("POST", "/api/v1/assignments", fmt.Sprintf(`{"package_id":%q,"group_id":%d}`, p.ID, g.ID), "token", 201, &a)
	if a.Members != 1 || a.Pending != 1 || a.TargetName != "vms" || a.Target != api.TargetGroup {
		t.Errorf("assignment %+v", a)
	}
	if n := len(e.deployments("/api/v1/deployments?package=" + p.ID).Items); n != 1 {
		t.Errorf("%d deployments, want 1", n)
	}
	var byName api.Group
	e.api("GET", "/api/v1/groups/vms", "", "token", 200, &byName)
	if byName.ID != g.ID || len(byName.Assignments) != 1 || byName.Assignments[0].Pending != 1 {
		t.Errorf("GET /groups/vms = %+v", byName)
	}
	var mine api.List[api.Group]
	e.api("GET", fmt.Sprintf("/api/v1/computers/%d/groups", cid), "", "token", 200, &mine)
	if len(mine.Items) != 1 || mine.Items[0].Name != "vms" {
		t.Errorf("computer's groups %+v", mine)
	}
	var list api.List[api.Assignment]
	e.api("GET", "/api/v1/assignments?package="+p.ID, "", "token", 200, &list)
	if len(list.Items) != 1 {
		t.Errorf("assignments %+v", list)
	}

	// The search no longer matches: the pending deployment is cancelled.
	e.api("PUT", fmt.Sprintf("/api/v1/groups/%d", g.ID), `{"name":"vms","search":{"name":"nothing-like-it"}}`, "token", 200, &g)
	if d := e.deployments("/api/v1/deployments?package=" + p.ID).Items; len(d) != 1 || d[0].State != "cancelled" {
		t.Errorf("after the group emptied: %+v", d)
	}

	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{name: "unknown-field", method: "POST", path: "/api/v1/groups", body: `{"name":"x","search":{"colour":"red"}}`, status: 400, msg: `unknown search field "colour"`},
		{name: "taken-name", method: "POST", path: "/api/v1/groups", body: `{"name":"vms"}`, status: 409, msg: `a group named "vms" exists`},
		{name: "no-target", method: "POST", path: "/api/v1/assignments", body: fmt.Sprintf(`{"package_id":%q}`, p.ID), status: 400, msg: "exactly one group, site or saved search"},
		{name: "in-use", method: "DELETE", path: fmt.Sprintf("/api/v1/groups/%d", g.ID), status: 409, msg: "remove them first"},
		{name: "dynamic-members", method: "POST", path: "/api/v1/groups/vms/members", body: fmt.Sprintf(`{"computer_ids":[%d]}`, cid), status: 400, msg: "is dynamic"},
		{name: "unknown-group", method: "GET", path: "/api/v1/groups/nope", status: 404},
		{name: "bad-group-filter", method: "GET", path: "/api/v1/assignments?group=x", status: 400},
		{name: "resume-not-staged", method: "POST", path: fmt.Sprintf("/api/v1/assignments/%d/resume", a.ID), status: 400, msg: "is not a staged rollout"},
		{name: "stage-twice", method: "POST", path: "/api/v1/assignments", body: fmt.Sprintf(`{"package_id":%q,"site_id":1,"stage":1,"stage_percent":5}`, p.ID), status: 400, msg: "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr api.Error
			e.api(tt.method, tt.path, tt.body, "token", tt.status, &apiErr)
			if !strings.Contains(apiErr.Error, tt.msg) {
				t.Errorf("error %q, want it to say %q", apiErr.Error, tt.msg)
			}
		})
	}
	e.api("DELETE", fmt.Sprintf("/api/v1/assignments/%d", a.ID), "", "token", 204, nil)
	e.api("DELETE", "/api/v1/groups/vms", "", "token", 204, nil)
}

// TestWindowsAPI: sites and groups carry a deployment window, an
// assignment its reboot flag, and a malformed window is a 400 that says
// what to write.
func TestWindowsAPI(t *testing.T) {
	e := newEnv(t)
	e.inventory()
	p := e.uploadPackage("agent-update")
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)

	var site api.Site
	e.api("POST", "/api/v1/sites", `{"name":"paris","cidrs":["192.0.2.0/24"],"time_zone":"Europe/Paris","window":"mon-fri 22:00-06:00"}`, "token", 201, &site)
	if site.Window != "mon-fri 22:00-06:00" {
		t.Errorf("site window %q", site.Window)
	}
	e.api("PUT", fmt.Sprintf("/api/v1/sites/%d", site.ID), `{"name":"paris","cidrs":["192.0.2.0/24"],"time_zone":"Europe/Paris","window":"sat,sun 00:00-24:00"}`, "token", 200, &site)
	if site.Window != "sat,sun 00:00-24:00" {
		t.Errorf("site window after PUT %q", site.Window)
	}
	var g api.Group
	e.api("POST", "/api/v1/groups", `{"name":"night","window":"daily 01:00-03:00","prolog_freq_hours":2,"ocs_timings":"short"}`, "token", 201, &g)
	if g.Window != "daily 01:00-03:00" || g.PrologFreqHours != 2 || g.OCSTimings != "short" {
		t.Errorf("group %+v", g)
	}
	var apiErr api.Error
	e.api("POST", "/api/v1/groups", `{"name":"y","ocs_timings":"fast"}`, "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "not short, default or empty") {
		t.Errorf("bad ocs_timings: %q", apiErr.Error)
	}
	e.api("PUT", "/api/v1/groups/night", `{"name":"night","window":"daily 02:00-04:00"}`, "token", 200, &g)
	if g.Window != "daily 02:00-04:00" {
		t.Errorf("group window after PUT %q", g.Window)
	}
	var a api.Assignment
	e.api("POST", "/api/v1/assignments", fmt.Sprintf(`{"package_id":%q,"group_id":%d,"reboot":true}`, p.ID, g.ID), "token", 201, &a)
	if !a.Reboot {
		t.Errorf("assignment %+v, want reboot", a)
	}
	tests := []struct {
		name, method, path, body string
	}{
		{"site-bad-window", "POST", "/api/v1/sites", `{"name":"lyon","cidrs":["198.51.100.0/24"],"window":"weekdays 9-17"}`},
		{"group-bad-window", "POST", "/api/v1/groups", `{"name":"x","window":"mon 08:00"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr api.Error
			e.api(tt.method, tt.path, tt.body, "token", 400, &apiErr)
			if !strings.Contains(apiErr.Error, "mon-fri 22:00-06:00") && !strings.Contains(apiErr.Error, "HH:MM") {
				t.Errorf("error %q does not say how to write a window", apiErr.Error)
			}
		})
	}
}
