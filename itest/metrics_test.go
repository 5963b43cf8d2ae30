//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/metrics/metricstest"
)

// scrape reads central's /metrics with the test's API token.
func (c *Central) scrape() map[string]float64 {
	c.t.Helper()
	code, m := metricstest.Scrape(c.t, c.client, c.HTTPSURL+"/metrics", "Bearer "+c.Token)
	if code != http.StatusOK {
		c.t.Fatalf("GET /metrics: status %d", code)
	}
	return m
}

// TestCentralMetrics: the real shoal-central counts a Shoal agent's
// long-poll while it waits, the deployment it ran by state
// and result, and the bytes it fetched by source, on /metrics.
func TestCentralMetrics(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ag := newAgent(t, a, "shoal-metrics", a.URL, "")
	cid := a.computerOf("shoal-metrics")
	ag.Start()
	waitFor(t, 20*time.Second, "the agent's long-poll", func() error {
		if n := c.scrape()["shoal_central_long_polls"]; n < 1 {
			return fmt.Errorf("%v long-polls open", n)
		}
		return nil
	})
	payload := randomBytes(1<<20, 7)
	id := c.publish(PackageSpec{"name": "m", "action": "EXECUTE", "priority": "5", "command": "true"},
		targz(t, map[string]string{"x.bin": string(payload)}))
	c.affectTo(id, cid)
	c.waitState(id, "success", 60*time.Second)
	m := c.scrape()
	for series, want := range map[string]float64{
		`shoal_central_deployments{state="success"}`:              1,
		`shoal_central_deployment_results_total{state="success"}`: 1,
	} {
		if v := m[series]; v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	for _, series := range []string{
		`shoal_central_deployment_bytes{source="central"}`,
		`shoal_central_served_bytes_total{route="agent_fragments"}`,
		`shoal_central_store_query_duration_seconds_count{op="update"}`,
	} {
		if m[series] <= 0 {
			t.Errorf("%s = %v, want > 0", series, m[series])
		}
	}
}
