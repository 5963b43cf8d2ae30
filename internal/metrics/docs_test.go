package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// metricRef finds the metric names an expression queries: Shoal's, the Go
// and process collectors' and Prometheus's own up. Label names, functions
// and keywords never start with these prefixes.
var metricRef = regexp.MustCompile(`\b(?:(?:shoal|go|process)_[a-zA-Z0-9_:]+|up)\b`)

// checkExpr fails when expr names a metric no Shoal server exports.
func checkExpr(t *testing.T, where, expr string, known []string) int {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	for _, name := range refs {
		if name != "up" && !slices.Contains(known, name) {
			t.Errorf("%s: %s names %s, which no Shoal server exports", where, strings.Join(strings.Fields(expr), " "), name)
		}
	}
	return len(refs)
}

// TestDashboardQueriesExist: every query of the example Grafana dashboard
// names metrics that exist, and every panel has a query.
func TestDashboardQueriesExist(t *testing.T) {
	b, err := os.ReadFile("../../docs/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	known := Names()
	ids := map[int]bool{}
	refs := 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			n := checkExpr(t, "panel "+p.Title, tg.Expr, known)
			if n == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			refs += n
		}
	}
	if dash.UID == "" || refs < 20 {
		t.Errorf("dashboard uid %q with %d metric references: not the dashboard", dash.UID, refs)
	}
}

// TestAlertRulesExist: the example alerting rules name metrics that exist
// and include the two the operations section promises.
func TestAlertRulesExist(t *testing.T) {
	b, err := os.ReadFile("../../docs/monitoring/prometheus-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alert rules: %v", err)
	}
	known := Names()
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if checkExpr(t, "alert "+r.Alert, r.Expr, known) == 0 {
				t.Errorf("alert %s names no Shoal metric", r.Alert)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s lacks a severity label or a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"ShoalDeploymentsFailing", "ShoalCentralReplicaNotReady"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %v", want, alerts)
		}
	}
}

// TestNames: the list dashboards are checked against holds each
// component's metrics, histogram series included.
func TestNames(t *testing.T) {
	names := Names()
	for _, want := range []string{"shoal_central_ocs_requests_total", "shoal_central_ocs_request_duration_seconds_bucket",
		"shoal_relay_upstream_streams", "shoal_relay_package_complete", "shoal_tracker_leases", "go_goroutines",
		"process_resident_memory_bytes"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %s", want)
		}
	}
	if slices.Contains(names, "shoal_nope") {
		t.Error("Names() holds an unknown metric")
	}
}
