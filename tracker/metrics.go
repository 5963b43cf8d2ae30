package tracker

import (
	"slices"
	"strings"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/proto"
)

// Metrics returns the tracker's metrics (shoal_tracker_*): requests by
// operation and status, and peers, relays and leases per site. Whoever
// serves /metrics registers it: shoal-tracker on its own listener, central
// for the embedded tracker.
func (s *Server) Metrics() *metrics.Tracker { return s.metrics }

// siteStats counts each site's live entries, relays and leases.
func (st *state) siteStats() []metrics.TrackerSite {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]metrics.TrackerSite, 0, len(st.sites))
	for name, s := range st.sites {
		ts := metrics.TrackerSite{Site: name, Peers: len(s.entries), Leases: len(s.leases)}
		for _, e := range s.entries {
			if e.kind == proto.HolderRelay {
				ts.Relays++
			}
		}
		out = append(out, ts)
	}
	slices.SortFunc(out, func(a, b metrics.TrackerSite) int { return strings.Compare(a.Site, b.Site) })
	return out
}
