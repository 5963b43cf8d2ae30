package relay

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

func (r *Relay) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	s := r.Stats()
	r.mu.Lock()
	used, quota := r.used, int64(r.cfg.Cache.QuotaBytes)
	r.mu.Unlock()
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	for _, m := range []struct {
		name, typ, help string
		v               int64
	}{
		{"shoal_relay_hits_total", "counter", "Requests answered from the cache.", s.Hits},
		{"shoal_relay_misses_total", "counter", "Upstream fragment fetches started.", s.Misses},
		{"shoal_relay_upstream_bytes_total", "counter", "Bytes read from upstream.", s.UpstreamBytes},
		{"shoal_relay_served_bytes_total", "counter", "Body bytes sent to clients.", s.ServedBytes},
		{"shoal_relay_p2p_served_bytes_total", "counter", "Fragment bytes sent to Shoal agents over libp2p (included in served).", r.p2pServed.Load()},
		{"shoal_relay_corrupt_total", "counter", "Upstream answers rejected by verification.", s.Corrupt},
		{"shoal_relay_evictions_total", "counter", "Fragments evicted by the quota.", r.stats.evictions.Load()},
		{"shoal_relay_cache_bytes", "gauge", "Bytes of fragments on disk.", used},
		{"shoal_relay_cache_quota_bytes", "gauge", "Cache quota in bytes (0: none).", quota},
		{"shoal_relay_wan_rate_bits", "gauge", "Current upstream cap in bit/s (0: none).", int64(r.wan.current())},
		{"shoal_relay_upstream_streams", "gauge", "Upstream fragment fetches allowed at once now (grows with the measured goodput).", int64(r.fetches.Limit())},
	} {
		metric(m.name, m.typ, m.help)
		fmt.Fprintf(&b, "%s %d\n", m.name, m.v)
	}
	ids := r.packageIDs()
	type row struct {
		id string
		s  Stats
		c  int64
		ok bool
	}
	rows := make([]row, 0, len(ids))
	for _, id := range ids {
		rw := row{id: id, s: r.PackageStats(id)}
		if m, ok := r.cachedManifest(id); ok {
			rw.c, rw.ok = r.cacheStatus(m)
		}
		rows = append(rows, rw)
	}
	for _, m := range []struct {
		name, typ, help string
		v               func(row) int64
	}{
		{"shoal_relay_package_hits_total", "counter", "Requests answered from the cache, per package.", func(x row) int64 { return x.s.Hits }},
		{"shoal_relay_package_misses_total", "counter", "Upstream fragment fetches, per package.", func(x row) int64 { return x.s.Misses }},
		{"shoal_relay_package_upstream_bytes_total", "counter", "Bytes read from upstream, per package.", func(x row) int64 { return x.s.UpstreamBytes }},
		{"shoal_relay_package_served_bytes_total", "counter", "Body bytes sent to clients, per package.", func(x row) int64 { return x.s.ServedBytes }},
		{"shoal_relay_package_corrupt_total", "counter", "Upstream answers rejected, per package.", func(x row) int64 { return x.s.Corrupt }},
		{"shoal_relay_package_cached_bytes", "gauge", "Bytes of the package's fragments held.", func(x row) int64 { return x.c }},
		{"shoal_relay_package_complete", "gauge", "1 when every fragment of the package is held.", func(x row) int64 {
			if x.ok {
				return 1
			}
			return 0
		}},
	} {
		if len(rows) == 0 {
			break
		}
		metric(m.name, m.typ, m.help)
		for _, x := range rows {
			fmt.Fprintf(&b, "%s{package=%q} %d\n", m.name, x.id, m.v(x))
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	io.WriteString(w, b.String())
}
