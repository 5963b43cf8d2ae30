package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CentralSources are the figures central's collector reads at scrape
// time. A nil function leaves its metric out.
type CentralSources struct {
	// Deployments counts the deployments per state, from the database
	// (the same figure on every replica: query it with max, not sum).
	Deployments func(ctx context.Context) (map[string]int64, error)
	// DeploymentBytes sums the bytes agents reported fetching, by source
	// (peer, relay, central), over the deployments in the database.
	DeploymentBytes func(ctx context.Context) (map[string]int64, error)
	// Served counts the body bytes this replica served since it started,
	// by route (download: the OCS download tree; agent_fragments: the
	// Shoal agent fragment API).
	Served func() map[string]int64
	// Groups counts the transactions that committed several inventories
	// together (group commit) and the inventories they held, since start.
	Groups func() (groups, inventories int64)
}

// Central is central's metrics. Its methods are safe on a nil *Central
// (they do nothing), so services built without metrics need no checks.
type Central struct {
	src         CentralSources
	ocsRequests *prometheus.CounterVec
	ocsDuration *prometheus.HistogramVec
	ingest      *prometheus.HistogramVec
	query       *prometheus.HistogramVec
	longPolls   prometheus.Gauge
	results     *prometheus.CounterVec
	ready       prometheus.Gauge

	deployments *prometheus.Desc
	depBytes    *prometheus.Desc
	served      *prometheus.Desc
	groups      *prometheus.Desc
	grouped     *prometheus.Desc
	scrapeErrs  prometheus.Counter
}

// NewCentral returns central's metrics; register it (it is a
// prometheus.Collector) on the replica's registry.
func NewCentral(src CentralSources) *Central {
	return &Central{
		src: src,
		ocsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_central_ocs_requests_total",
			Help: "OCS agent requests answered, by QUERY kind (prolog, inventory, download, notify, other, unknown) and HTTP status code."},
			[]string{"kind", "code"}),
		ocsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_central_ocs_request_duration_seconds",
			Help: "Time to answer an OCS agent request, by QUERY kind.", Buckets: durationBuckets}, []string{"kind"}),
		ingest: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_central_inventory_ingest_seconds",
			Help: "Time to store one inventory, by agent (ocs, shoal).", Buckets: durationBuckets}, []string{"agent"}),
		query: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shoal_central_store_query_duration_seconds",
			Help: "Database statement latency, by operation (create, query, update, delete, row, raw).", Buckets: durationBuckets},
			[]string{"op"}),
		longPolls: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoal_central_long_polls",
			Help: "Shoal agent job long-polls held open by this replica."}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_central_deployment_results_total",
			Help: "Deployment results recorded by this replica, by final state (success, error)."}, []string{"state"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: "shoal_central_ready",
			Help: "1 while this replica answers /readyz with 200, 0 while it is not ready or draining."}),
		deployments: prometheus.NewDesc("shoal_central_deployments",
			"Deployments in the database, by state (the same on every replica).", []string{"state"}, nil),
		depBytes: prometheus.NewDesc("shoal_central_deployment_bytes",
			"Bytes agents reported fetching for the deployments in the database, by source (peer, relay, central).", []string{"source"}, nil),
		served: prometheus.NewDesc("shoal_central_served_bytes_total",
			"Body bytes this replica served, by route (download, agent_fragments).", []string{"route"}, nil),
		groups: prometheus.NewDesc("shoal_central_inventory_groups_total",
			"Transactions of this replica that committed several inventories together (database.ingest_group).", nil, nil),
		grouped: prometheus.NewDesc("shoal_central_inventory_grouped_total",
			"Inventories this replica committed in a transaction shared with others.", nil, nil),
		scrapeErrs: prometheus.NewCounter(prometheus.CounterOpts{Name: "shoal_central_metrics_errors_total",
			Help: "Scrape-time database reads of the collector that failed."}),
	}
}

// Describe implements prometheus.Collector.
func (m *Central) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.deployments
	ch <- m.depBytes
	ch <- m.served
	ch <- m.groups
	ch <- m.grouped
}

func (m *Central) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.ocsRequests, m.ocsDuration, m.ingest, m.query, m.longPolls, m.results, m.ready, m.scrapeErrs}
}

// Collect implements prometheus.Collector: the event metrics, then the
// figures read from CentralSources (the database ones within a few
// seconds).
func (m *Central) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	read := func(f func(context.Context) (map[string]int64, error), d *prometheus.Desc) {
		if f == nil {
			return
		}
		v, err := f(ctx)
		if err != nil {
			m.scrapeErrs.Inc()
			return
		}
		for label, n := range v {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), label)
		}
	}
	read(m.src.Deployments, m.deployments)
	read(m.src.DeploymentBytes, m.depBytes)
	if m.src.Served != nil {
		for route, n := range m.src.Served() {
			ch <- prometheus.MustNewConstMetric(m.served, prometheus.CounterValue, float64(n), route)
		}
	}
	if m.src.Groups != nil {
		g, n := m.src.Groups()
		ch <- prometheus.MustNewConstMetric(m.groups, prometheus.CounterValue, float64(g))
		ch <- prometheus.MustNewConstMetric(m.grouped, prometheus.CounterValue, float64(n))
	}
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// OCSRequest records one answered OCS request.
func (m *Central) OCSRequest(kind string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.ocsRequests.WithLabelValues(kind, strconv.Itoa(code)).Inc()
	m.ocsDuration.WithLabelValues(kind).Observe(d.Seconds())
}

// Ingest records the time one inventory took to store; agent is "ocs" or
// "shoal".
func (m *Central) Ingest(agent string, d time.Duration) {
	if m == nil {
		return
	}
	m.ingest.WithLabelValues(agent).Observe(d.Seconds())
}

// Query records one database statement.
func (m *Central) Query(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.query.WithLabelValues(op).Observe(d.Seconds())
}

// LongPoll counts a long-poll as open; call the function it returns when
// it ends.
func (m *Central) LongPoll() (done func()) {
	if m == nil {
		return func() {}
	}
	m.longPolls.Inc()
	return m.longPolls.Dec
}

// Result counts one recorded deployment result by its final state.
func (m *Central) Result(state string) {
	if m == nil {
		return
	}
	m.results.WithLabelValues(state).Inc()
}

// SetReady sets shoal_central_ready.
func (m *Central) SetReady(ready bool) {
	if m == nil {
		return
	}
	if ready {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}
