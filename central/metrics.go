package central

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-project/shoal/internal/metrics"
)

// newMetrics builds the replica's metrics (s.metrics) and the registry
// /metrics serves: central's own, the Go runtime's and, added by build, the
// embedded tracker's. The figures read at scrape time come from the
// database and from the edges' download counters, which build sets up
// before Run serves.
func (s *Server) newMetrics() *prometheus.Registry {
	s.metrics = metrics.NewCentral(metrics.CentralSources{
		Deployments:     func(ctx context.Context) (map[string]int64, error) { return s.st.DeploymentCounts(ctx, "") },
		DeploymentBytes: s.st.DeploymentBytes,
		Served: func() map[string]int64 {
			out := map[string]int64{}
			if s.web != nil {
				out["download"] = s.web.Counters().ServedBytes()
			}
			if s.agents != nil {
				out["agent_fragments"] = s.agents.ServedBytes()
			}
			return out
		},
		Groups: s.st.GroupStats,
	})
	reg := metrics.NewRegistry()
	reg.MustRegister(s.metrics)
	return reg
}
