// Package metrics holds the Prometheus metrics of Shoal's servers (central,
// relay, tracker) in one place, so that every name is defined once, every
// replica of central exports the same names, and a test can check that the
// example dashboard and alerts in docs/ only name metrics that exist.
//
// Each component owns one *prometheus.Registry (never the global default,
// so that several components can run in one test process) and serves it
// with Handler. Figures that a component already counts (the relay's cache
// counters, the tracker's state, deployments in the database) are read at
// scrape time by collectors built here from a snapshot function; events
// (requests, query and ingest latencies, open long-polls) are observed as
// they happen through nil-safe methods, so a component built without
// metrics (in unit tests) needs no checks.
//
// The package imports no role and only client_golang, so the relay binary
// links no server dependency through it.
package metrics

import (
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors (go_*, process_*).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// scrapeTimeout bounds one scrape, database queries of collectors included.
const scrapeTimeout = 10 * time.Second

// Handler serves reg in the Prometheus text (or OpenMetrics) format. A
// collector that fails is logged and left out of the answer; the others are
// still served.
func Handler(reg *prometheus.Registry, logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.With("component", "metrics").Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Timeout:       scrapeTimeout,
	})
}

// durationBuckets are the latency buckets of request and query histograms,
// in seconds: 1 ms to 30 s.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// fqName reads a metric name out of a Desc (client_golang keeps it
// unexported; its String form is stable: Desc{fqName: "…", …}).
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Names lists every metric name Shoal's servers export, histogram series
// (_bucket, _sum, _count) included, plus those of NewRegistry's Go and
// process collectors: what dashboards and alerts may query.
func Names() []string {
	reg := NewRegistry()
	cs := []prometheus.Collector{NewCentral(CentralSources{}), NewRelay(nil), NewTracker(nil)}
	var names []string
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				names = append(names, m[1])
			}
		}
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	var out []string
	for _, n := range names {
		out = append(out, n, n+"_bucket", n+"_sum", n+"_count")
	}
	slices.Sort(out)
	return slices.Compact(out)
}
