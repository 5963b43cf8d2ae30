package deploy

import "github.com/shoal-project/shoal/internal/metrics"

// SetMetrics makes the service count recorded results by final state in
// m. Central calls it once, before serving.
func (s *Service) SetMetrics(m *metrics.Central) { s.metrics = m }
