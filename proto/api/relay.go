package api

import "time"

// Relay is an enrolled shoal-relay with the health and counters of its last
// report: GET /relays.
type Relay struct {
	ID       uint   `json:"id"`
	Name     string `json:"name"`
	SiteID   uint   `json:"site_id"`
	SiteName string `json:"site_name"`
	PeerID   string `json:"peer_id"`
	// HTTPURL is the base URL the site's agents fetch from; HTTPSURL the
	// optional TLS one.
	HTTPURL  string `json:"http_url"`
	HTTPSURL string `json:"https_url,omitempty"`
	Version  string `json:"version"`
	// Online: the relay called central within the staleness window, so
	// its site uses it as fragment location and source.
	Online   bool       `json:"online"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// StartedAt is when the relay process started (from its report).
	StartedAt *time.Time `json:"started_at,omitempty"`
	Enrolled  time.Time  `json:"enrolled"`
	// DiskUsed and DiskQuota are the cache's bytes (quota 0: none);
	// WANRateBits the upstream cap in bits/s (0: none).
	DiskUsed    int64 `json:"disk_used"`
	DiskQuota   int64 `json:"disk_quota"`
	WANRateBits int64 `json:"wan_rate_bits"`
	Evictions   int64 `json:"evictions"`
	// Totals sums Packages.
	Totals   RelayPackageStats   `json:"totals"`
	Packages []RelayPackageStats `json:"packages"`
	// Errors are the relay's recent problems.
	Errors []string `json:"errors,omitempty"`
	// P2PAddrs are the libp2p addresses the relay serves Shoal agents on
	// (empty: libp2p off, HTTP only); P2PServed the fragment bytes served
	// over libp2p since it started (included in the served totals).
	P2PAddrs  []string `json:"p2p_addrs,omitempty"`
	P2PServed int64    `json:"p2p_served"`
}

// RelayPackageStats counts one package at a relay since the relay started.
// BytesUpstream crossed the WAN; BytesServed went to the branch.
type RelayPackageStats struct {
	PackageID       string `json:"package_id,omitempty"`
	BytesUpstream   int64  `json:"bytes_upstream"`
	BytesServed     int64  `json:"bytes_served"`
	Hits            int64  `json:"hits"`
	Misses          int64  `json:"misses"`
	CorruptUpstream int64  `json:"corrupt_upstream"`
	CachedBytes     int64  `json:"cached_bytes"`
	Complete        bool   `json:"complete"`
}

// HitRatio is the share of requests answered from the cache, 0..1.
func (s RelayPackageStats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// PurgeResult answers POST /packages/{id}/purge: every relay drops the
// package at its next job poll.
type PurgeResult struct {
	PackageID string `json:"package_id"`
	// Relays is the number of relays that will be told.
	Relays int `json:"relays"`
	// Kept is how many of them keep the package anyway because their
	// site still has unfinished deployments of it; they drop it at their
	// first poll after those finish if that is within a day of the purge,
	// else their cache evicts it like any inactive package.
	Kept int `json:"kept"`
}
