package central

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/web"
	"github.com/shoal-project/shoal/internal/metrics/metricstest"
)

// tlsClient trusts central's CA.
func tlsClient(t *testing.T, rt Runtime) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(rt.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// readOnlyToken mints a read-only API token with the admin password.
func readOnlyToken(t *testing.T, rt Runtime, c *http.Client) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rt.HTTPSURL+"/api/v1/tokens", bytes.NewReader([]byte(`{"name":"prometheus","role":"readonly"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin", "central-test-password-1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create token: %d %v", resp.StatusCode, err)
	}
	return tok.Token
}

// TestMetricsEndpoint: central's /metrics is on the TLS listener only and
// refuses callers without an API token; with a read-only token it counts
// the OCS requests by kind and status, the inventory ingest, the database
// statements and the long-polls.
func TestMetricsEndpoint(t *testing.T) {
	rt := startCentral(t, web.Config{})
	c := tlsClient(t, rt)
	post := func(file string) int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("../proto/ocs/testdata/unix-agent-2.10.0", file))
		if err != nil {
			b = []byte(file) // not a capture: sent as is
		}
		req, _ := http.NewRequest(http.MethodPost, rt.HTTPURL+"/ocsinventory", bytes.NewReader(b))
		req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
		req.Header.Set("Content-Type", "application/x-compress")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("prolog-request.zlib"); code != http.StatusOK {
		t.Fatalf("prolog: %d", code)
	}
	if code := post("inventory-request.zlib"); code != http.StatusOK {
		t.Fatalf("inventory: %d", code)
	}
	if code := post("not zlib"); code != http.StatusBadRequest {
		t.Fatalf("garbage: %d", code)
	}

	for _, tt := range []struct {
		name, url, auth string
		want            int
	}{
		{"no-credentials", rt.HTTPSURL + "/metrics", "", http.StatusUnauthorized},
		{"unknown-token", rt.HTTPSURL + "/metrics", "Bearer shoal_nope", http.StatusUnauthorized},
		{"plain-listener", rt.HTTPURL + "/metrics", "", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := metricstest.Scrape(t, c, tt.url, tt.auth); code != tt.want {
				t.Errorf("GET %s: %d, want %d", tt.url, code, tt.want)
			}
		})
	}

	code, m := metricstest.Scrape(t, c, rt.HTTPSURL+"/metrics", "Bearer "+readOnlyToken(t, rt, c))
	if code != http.StatusOK {
		t.Fatalf("GET /metrics with a read-only token: %d", code)
	}
	for series, want := range map[string]float64{
		`shoal_central_ocs_requests_total{code="200",kind="prolog"}`:      1,
		`shoal_central_ocs_requests_total{code="200",kind="inventory"}`:   1,
		`shoal_central_ocs_requests_total{code="400",kind="unknown"}`:     1,
		`shoal_central_ocs_request_duration_seconds_count{kind="prolog"}`: 1,
		`shoal_central_inventory_ingest_seconds_count{agent="ocs"}`:       1,
		`shoal_central_long_polls`:                                        0,
		`shoal_central_served_bytes_total{route="download"}`:              0,
		`shoal_central_served_bytes_total{route="agent_fragments"}`:       0,
		`shoal_central_deployment_bytes{source="central"}`:                0,
		`shoal_central_inventory_groups_total`:                            0,
		`shoal_central_inventory_grouped_total`:                           0,
	} {
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s = %v (found %v), want %v", series, v, ok, want)
		}
	}
	if n := m[`shoal_central_store_query_duration_seconds_count{op="query"}`]; n < 1 {
		t.Errorf("no database query observed")
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Errorf("no Go runtime metrics")
	}
}
