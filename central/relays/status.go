// Package relays is central's view of its branch relays for the admin edges:
// their health and counters from their last report.
package relays

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// Statuses lists every relay with the health and counters of its last
// report, for the admin API and UI. A relay is online when it called
// central within store.RelayStale of now.
func Statuses(ctx context.Context, st *store.Store, now time.Time) ([]api.Relay, error) {
	relays, err := st.Relays(ctx)
	if err != nil {
		return nil, err
	}
	sites, err := st.ListSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay statuses: %w", err)
	}
	names := make(map[uint]string, len(sites))
	for _, s := range sites {
		names[s.ID] = s.Name
	}
	out := make([]api.Relay, 0, len(relays))
	for i := range relays {
		out = append(out, Status(&relays[i], names[relays[i].SiteID], now))
	}
	return out, nil
}

// Status converts a stored relay and its last report. A report that
// does not decode is shown as an error of the relay.
func Status(r *store.Relay, siteName string, now time.Time) api.Relay {
	out := api.Relay{
		ID: r.ID, Name: r.Name, SiteID: r.SiteID, SiteName: siteName, PeerID: r.PeerID, HTTPURL: r.HTTPURL,
		HTTPSURL: r.HTTPSURL, Version: r.Version, Enrolled: r.CreatedAt.UTC(), Packages: []api.RelayPackageStats{},
	}
	if r.LastSeen != nil {
		seen := r.LastSeen.UTC()
		out.LastSeen = &seen
		out.Online = now.Sub(seen) <= store.RelayStale
	}
	if r.LastReport == "" {
		return out
	}
	var rep proto.RelayReport
	if err := json.Unmarshal([]byte(r.LastReport), &rep); err != nil {
		out.Errors = []string{"central cannot read the relay's last report: " + err.Error()}
		return out
	}
	if rep.Version != "" {
		out.Version = rep.Version
	}
	if rep.StartedAt > 0 {
		t := time.Unix(rep.StartedAt, 0).UTC()
		out.StartedAt = &t
	}
	out.DiskUsed, out.DiskQuota, out.WANRateBits, out.Evictions = rep.DiskUsed, rep.DiskQuota, rep.WANRateBits, rep.Evictions
	out.Errors = rep.Errors
	out.P2PAddrs, out.P2PServed = rep.P2PAddrs, rep.P2PServed
	for _, p := range rep.Packages {
		s := api.RelayPackageStats{
			PackageID: p.PackageID, BytesUpstream: p.BytesUpstream, BytesServed: p.BytesServed, Hits: p.Hits,
			Misses: p.Misses, CorruptUpstream: p.CorruptUpstream, CachedBytes: p.CachedBytes, Complete: p.Complete,
		}
		out.Packages = append(out.Packages, s)
		t := &out.Totals
		t.BytesUpstream += s.BytesUpstream
		t.BytesServed += s.BytesServed
		t.Hits += s.Hits
		t.Misses += s.Misses
		t.CorruptUpstream += s.CorruptUpstream
		t.CachedBytes += s.CachedBytes
	}
	return out
}
