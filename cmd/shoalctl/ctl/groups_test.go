package ctl

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

// TestAssignTargets: --group resolves the group, --site alone targets the
// site (by name), other search flags make a saved search, and no target
// is a usage error.
func TestAssignTargets(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.Site]{Items: []api.Site{{ID: 7, Name: "Lyon"}}, Total: 1, Limit: 1})
	})
	f.mux.HandleFunc("GET /api/v1/groups/{ref}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Group{ID: 4, Name: r.PathValue("ref")})
	})
	var mu sync.Mutex
	var got []api.AssignmentRequest
	f.mux.HandleFunc("POST /api/v1/assignments", func(w http.ResponseWriter, r *http.Request) {
		var req api.AssignmentRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		writeJSON(w, 201, api.Assignment{ID: 1, PackageID: req.PackageID, Target: "x", TargetName: "y"})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	for _, args := range [][]string{
		{"assign", "17", "--group", "web servers", "--reboot"},
		{"assign", "17", "--site", "lyon", "--baseline"},
		{"assign", "17", "--site", "lyon", "--os", "windows", "--stage", "5", "--max-failures", "10"},
	} {
		if code, out, errOut := run(t, env, args...); code != 0 {
			t.Errorf("%v: exit %d: %s %s", args, code, out, errOut)
		}
	}
	seven, four := uint(7), uint(4)
	want := []api.AssignmentRequest{
		{PackageID: "17", GroupID: &four, Reboot: true},
		{PackageID: "17", SiteID: &seven, Baseline: true},
		{PackageID: "17", Search: map[string]string{"site": "7", "os": "windows"}, Stage: 5, MaxFailurePercent: 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if code, _, errOut := run(t, env, "assign", "17"); code != exitUsage || !strings.Contains(errOut, "name a target") {
		t.Errorf("assign without a target: exit %d: %s", code, errOut)
	}
}

// TestGroupsWindow: groups window keeps the group's name and search and
// sets the window; "always" clears it.
func TestGroupsWindow(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/groups/{ref}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Group{ID: 4, Name: "night", Search: map[string]string{"os": "windows"}, Dynamic: true})
	})
	var mu sync.Mutex
	var got []api.GroupRequest
	f.mux.HandleFunc("PUT /api/v1/groups/4", func(w http.ResponseWriter, r *http.Request) {
		var req api.GroupRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		writeJSON(w, 200, api.Group{ID: 4, Name: req.Name, Search: req.Search, Window: req.Window})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "groups", "window", "night", "mon-fri 22:00-06:00")
	if code != 0 || !strings.Contains(out, "installs: mon-fri 22:00-06:00") {
		t.Errorf("groups window: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := run(t, env, "groups", "window", "night", "always"); code != 0 || !strings.Contains(out, "always") {
		t.Errorf("groups window always: exit %d: %s %s", code, out, errOut)
	}
	search := map[string]string{"os": "windows"}
	want := []api.GroupRequest{{Name: "night", Search: search, Window: "mon-fri 22:00-06:00"}, {Name: "night", Search: search}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestGroupsUpdate: groups update sends only the fields whose flags are
// given (PATCH), "always" as an empty window, and refuses no field.
func TestGroupsUpdate(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	var got []map[string]any
	f.mux.HandleFunc("PATCH /api/v1/groups/{ref}", func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		writeJSON(w, 200, api.Group{ID: 4, Name: r.PathValue("ref"), CycleLatency: 30, PrologFreqHours: 2})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "groups", "update", "night", "--cycle-latency", "30", "--prolog-freq", "2")
	if code != 0 || !strings.Contains(out, "PROLOG every 2 h, cycle latency 30 s") {
		t.Errorf("groups update: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, env, "groups", "update", "night", "--window", "always", "--frag-latency", "0"); code != 0 {
		t.Errorf("groups update --window always: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, env, "groups", "update", "night"); code != exitUsage || !strings.Contains(errOut, "at least one field") {
		t.Errorf("groups update without a field: exit %d: %s", code, errOut)
	}
	want := []map[string]any{{"cycle_latency": float64(30), "prolog_freq_hours": float64(2)}, {"window": "", "frag_latency": float64(0)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
