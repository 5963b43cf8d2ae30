package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// TrackerSite is the tracker's state of one site, read at scrape time.
type TrackerSite struct {
	Site string
	// Peers are the live entries (agents and relays), Relays the relays
	// among them, Leases the WAN-owner leases held now.
	Peers, Relays, Leases int
}

// Tracker is the tracker's metrics: its requests (counted as they are
// answered) and its per-site state (read at scrape time). The same names
// serve the embedded tracker (on central's /metrics) and shoal-tracker.
type Tracker struct {
	sites    func() []TrackerSite
	requests *prometheus.CounterVec
	peers    *prometheus.Desc
	relays   *prometheus.Desc
	leases   *prometheus.Desc
}

// NewTracker returns the tracker's metrics; sites is called once per
// scrape (nil: no per-site figures).
func NewTracker(sites func() []TrackerSite) *Tracker {
	return &Tracker{
		sites: sites,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shoal_tracker_requests_total",
			Help: "Tracker requests answered, by operation (announce, lookup, lease, leave) and HTTP status code."}, []string{"op", "code"}),
		peers:  prometheus.NewDesc("shoal_tracker_peers", "Live tracker entries (agents and relays) per site.", []string{"site"}, nil),
		relays: prometheus.NewDesc("shoal_tracker_relays", "Live relay entries per site.", []string{"site"}, nil),
		leases: prometheus.NewDesc("shoal_tracker_leases", "WAN-owner fragment leases held now, per site.", []string{"site"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	t.requests.Describe(ch)
	ch <- t.peers
	ch <- t.relays
	ch <- t.leases
}

// Collect implements prometheus.Collector.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	t.requests.Collect(ch)
	if t.sites == nil {
		return
	}
	for _, s := range t.sites() {
		ch <- prometheus.MustNewConstMetric(t.peers, prometheus.GaugeValue, float64(s.Peers), s.Site)
		ch <- prometheus.MustNewConstMetric(t.relays, prometheus.GaugeValue, float64(s.Relays), s.Site)
		ch <- prometheus.MustNewConstMetric(t.leases, prometheus.GaugeValue, float64(s.Leases), s.Site)
	}
}

// Instrument counts the answers of h as requests of operation op.
func (t *Tracker) Instrument(op string, h http.HandlerFunc) http.HandlerFunc {
	if t == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		t.requests.WithLabelValues(op, strconv.Itoa(sw.code)).Inc()
	}
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
