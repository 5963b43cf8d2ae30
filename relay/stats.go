package relay

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoal-project/shoal/internal/metrics"
)

// pkgCounters count one package (or the total); each field is atomic.
type pkgCounters struct {
	hits          atomic.Int64 // requests answered without an upstream fetch
	misses        atomic.Int64 // upstream fragment fetches started
	upstreamBytes atomic.Int64 // bytes read from upstream
	servedBytes   atomic.Int64 // body bytes sent to clients
	corrupt       atomic.Int64 // upstream answers rejected by verification
}

// stats are the relay's counters since start.
type stats struct {
	total     pkgCounters
	evictions atomic.Int64

	mu   sync.Mutex // guards pkgs (not the counters inside)
	pkgs map[string]*pkgCounters
}

func newStats() *stats { return &stats{pkgs: map[string]*pkgCounters{}} }

func (s *stats) pkg(id string) *pkgCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.pkgs[id]
	if !ok {
		c = &pkgCounters{}
		s.pkgs[id] = c
	}
	return c
}

func (s *stats) hit(id string) { s.total.hits.Add(1); s.pkg(id).hits.Add(1) }
func (s *stats) miss(id string) {
	s.total.misses.Add(1)
	s.pkg(id).misses.Add(1)
}
func (s *stats) upstream(id string, n int64) {
	s.total.upstreamBytes.Add(n)
	s.pkg(id).upstreamBytes.Add(n)
}
func (s *stats) served(id string, n int64) {
	s.total.servedBytes.Add(n)
	s.pkg(id).servedBytes.Add(n)
}
func (s *stats) corruptEvent(id string) {
	s.total.corrupt.Add(1)
	s.pkg(id).corrupt.Add(1)
}

// Stats is a snapshot of the relay's total counters.
type Stats struct {
	Hits          int64
	Misses        int64
	UpstreamBytes int64
	ServedBytes   int64
	Corrupt       int64
}

func (c *pkgCounters) snapshot() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), UpstreamBytes: c.upstreamBytes.Load(),
		ServedBytes: c.servedBytes.Load(), Corrupt: c.corrupt.Load()}
}

// Stats returns a snapshot of the total counters.
func (r *Relay) Stats() Stats { return r.stats.total.snapshot() }

// PackageStats returns a snapshot of one package's counters.
func (r *Relay) PackageStats(id string) Stats { return r.stats.pkg(id).snapshot() }

// packageIDs returns the packages with counters or a cached manifest.
func (r *Relay) packageIDs() []string {
	ids := map[string]bool{}
	r.stats.mu.Lock()
	for id := range r.stats.pkgs {
		ids[id] = true
	}
	r.stats.mu.Unlock()
	r.mu.Lock()
	for id := range r.manifests {
		ids[id] = true
	}
	r.mu.Unlock()
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// metricsSnapshot is what /metrics reports (internal/metrics names it).
func (r *Relay) metricsSnapshot() metrics.RelaySnapshot {
	s := r.Stats()
	r.mu.Lock()
	used, quota := r.used, int64(r.cfg.Cache.QuotaBytes)
	r.mu.Unlock()
	out := metrics.RelaySnapshot{Hits: s.Hits, Misses: s.Misses, UpstreamBytes: s.UpstreamBytes, ServedBytes: s.ServedBytes,
		P2PServedBytes: r.p2pServed.Load(), Corrupt: s.Corrupt, Evictions: r.stats.evictions.Load(),
		CacheBytes: used, CacheQuotaBytes: quota, WANRateBits: int64(r.wan.current()), UpstreamStreams: int64(r.fetches.Limit()),
		UpstreamCuts: r.endgame.cuts.Load()}
	for _, id := range r.packageIDs() {
		ps := r.PackageStats(id)
		p := metrics.RelayPackage{ID: id, Hits: ps.Hits, Misses: ps.Misses, UpstreamBytes: ps.UpstreamBytes,
			ServedBytes: ps.ServedBytes, Corrupt: ps.Corrupt}
		if m, ok := r.cachedManifest(id); ok {
			p.CachedBytes, p.Complete = r.cacheStatus(m)
		}
		out.Packages = append(out.Packages, p)
	}
	return out
}

// metricsHandler serves the relay's counters (shoal_relay_*) and the Go
// runtime's on /metrics, through prometheus/client_golang.
func (r *Relay) metricsHandler() http.Handler {
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewRelay(r.metricsSnapshot))
	return metrics.Handler(reg, r.log)
}
