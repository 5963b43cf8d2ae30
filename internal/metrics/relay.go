package metrics

import "github.com/prometheus/client_golang/prometheus"

// RelaySnapshot is what the relay counted since it started, read at
// scrape time.
type RelaySnapshot struct {
	Hits, Misses, UpstreamBytes, ServedBytes, P2PServedBytes, Corrupt, Evictions int64
	// CacheBytes and CacheQuotaBytes (0: none) describe the disk cache.
	CacheBytes, CacheQuotaBytes int64
	// WANRateBits is the current upstream cap (0: none); UpstreamStreams
	// the upstream fetches allowed at once now.
	WANRateBits, UpstreamStreams int64
	// UpstreamCuts counts the upstream responses cut short by an endgame
	// split (an idle stream took the rest of their range).
	UpstreamCuts int64
	Packages     []RelayPackage
}

// RelayPackage is one package's counters and cache state.
type RelayPackage struct {
	ID                                                string
	Hits, Misses, UpstreamBytes, ServedBytes, Corrupt int64
	CachedBytes                                       int64
	Complete                                          bool
}

// relayDesc is one metric of the relay, with how it reads a snapshot.
type relayDesc struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	total func(*RelaySnapshot) int64
	pkg   func(*RelayPackage) int64
}

// Relay exports a relay's counters under the names the relay has always
// used (shoal_relay_*).
type Relay struct {
	snap  func() RelaySnapshot
	descs []relayDesc
}

// NewRelay returns the relay's collector; snap is called once per scrape.
func NewRelay(snap func() RelaySnapshot) *Relay {
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	tot := func(name, help string, typ prometheus.ValueType, f func(*RelaySnapshot) int64) relayDesc {
		return relayDesc{desc: prometheus.NewDesc(name, help, nil, nil), typ: typ, total: f}
	}
	per := func(name, help string, typ prometheus.ValueType, f func(*RelayPackage) int64) relayDesc {
		return relayDesc{desc: prometheus.NewDesc(name, help, []string{"package"}, nil), typ: typ, pkg: f}
	}
	return &Relay{snap: snap, descs: []relayDesc{
		tot("shoal_relay_hits_total", "Requests answered from the cache.", c, func(s *RelaySnapshot) int64 { return s.Hits }),
		tot("shoal_relay_misses_total", "Upstream fragment fetches started.", c, func(s *RelaySnapshot) int64 { return s.Misses }),
		tot("shoal_relay_upstream_bytes_total", "Bytes read from upstream.", c, func(s *RelaySnapshot) int64 { return s.UpstreamBytes }),
		tot("shoal_relay_served_bytes_total", "Body bytes sent to clients.", c, func(s *RelaySnapshot) int64 { return s.ServedBytes }),
		tot("shoal_relay_p2p_served_bytes_total", "Fragment bytes sent to Shoal agents over libp2p (included in served).", c,
			func(s *RelaySnapshot) int64 { return s.P2PServedBytes }),
		tot("shoal_relay_corrupt_total", "Upstream answers rejected by verification.", c, func(s *RelaySnapshot) int64 { return s.Corrupt }),
		tot("shoal_relay_evictions_total", "Fragments evicted by the quota.", c, func(s *RelaySnapshot) int64 { return s.Evictions }),
		tot("shoal_relay_cache_bytes", "Bytes of fragments on disk.", g, func(s *RelaySnapshot) int64 { return s.CacheBytes }),
		tot("shoal_relay_cache_quota_bytes", "Cache quota in bytes (0: none).", g, func(s *RelaySnapshot) int64 { return s.CacheQuotaBytes }),
		tot("shoal_relay_wan_rate_bits", "Current upstream cap in bit/s (0: none).", g, func(s *RelaySnapshot) int64 { return s.WANRateBits }),
		tot("shoal_relay_upstream_streams", "Upstream fragment fetches allowed at once now (grows with the measured goodput).", g,
			func(s *RelaySnapshot) int64 { return s.UpstreamStreams }),
		tot("shoal_relay_upstream_cuts_total", "Upstream responses cut short because an idle stream took the rest of their range (the endgame); what upstream had sent beyond the cut crossed the WAN for nothing.", c,
			func(s *RelaySnapshot) int64 { return s.UpstreamCuts }),
		per("shoal_relay_package_hits_total", "Requests answered from the cache, per package.", c, func(p *RelayPackage) int64 { return p.Hits }),
		per("shoal_relay_package_misses_total", "Upstream fragment fetches, per package.", c, func(p *RelayPackage) int64 { return p.Misses }),
		per("shoal_relay_package_upstream_bytes_total", "Bytes read from upstream, per package.", c,
			func(p *RelayPackage) int64 { return p.UpstreamBytes }),
		per("shoal_relay_package_served_bytes_total", "Body bytes sent to clients, per package.", c,
			func(p *RelayPackage) int64 { return p.ServedBytes }),
		per("shoal_relay_package_corrupt_total", "Upstream answers rejected, per package.", c, func(p *RelayPackage) int64 { return p.Corrupt }),
		per("shoal_relay_package_cached_bytes", "Bytes of the package's fragments held.", g, func(p *RelayPackage) int64 { return p.CachedBytes }),
		per("shoal_relay_package_complete", "1 when every fragment of the package is held.", g, func(p *RelayPackage) int64 {
			if p.Complete {
				return 1
			}
			return 0
		}),
	}}
}

// Describe implements prometheus.Collector.
func (r *Relay) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range r.descs {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (r *Relay) Collect(ch chan<- prometheus.Metric) {
	if r.snap == nil {
		return
	}
	s := r.snap()
	for _, d := range r.descs {
		if d.total != nil {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, float64(d.total(&s)))
			continue
		}
		for i := range s.Packages {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, float64(d.pkg(&s.Packages[i])), s.Packages[i].ID)
		}
	}
}
