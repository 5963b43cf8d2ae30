package tracker_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/metrics/metricstest"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
)

// TestMetrics: the tracker's metrics count its requests by operation and
// status, and each site's peers, relays and leases.
func TestMetrics(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	a, b, r := e.peer("branch-a"), e.peer("branch-a"), e.relay("branch-b")
	e.mustAnnounce(a, peerAnnounce("10.0.0.1:1", holding("p", 8, 0)))
	e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
	e.mustAnnounce(r, proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.1.0.9:8090"})
	if got, code := e.lease(b, leaseReq([]int{1, 2}, 2)); code != http.StatusOK || len(got.Granted) != 2 {
		t.Fatalf("lease = %+v, %d", got, code)
	}
	if _, code := e.lookup(b, "a%5Cb"); code != http.StatusBadRequest {
		t.Fatalf("bad lookup: %d", code)
	}
	reg := metrics.NewRegistry()
	reg.MustRegister(e.srv.Metrics())
	srv := httptest.NewServer(metrics.Handler(reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()
	code, m := metricstest.Scrape(t, nil, srv.URL, "")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := map[string]float64{
		`shoal_tracker_peers{site="branch-a"}`:                   2,
		`shoal_tracker_relays{site="branch-a"}`:                  0,
		`shoal_tracker_leases{site="branch-a"}`:                  2,
		`shoal_tracker_peers{site="branch-b"}`:                   1,
		`shoal_tracker_relays{site="branch-b"}`:                  1,
		`shoal_tracker_leases{site="branch-b"}`:                  0,
		`shoal_tracker_requests_total{code="200",op="announce"}`: 3,
		`shoal_tracker_requests_total{code="200",op="lease"}`:    1,
		`shoal_tracker_requests_total{code="400",op="lookup"}`:   1,
	}
	got := map[string]float64{}
	for k := range want {
		if v, ok := m[k]; ok {
			got[k] = v
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
}
