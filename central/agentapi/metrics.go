package agentapi

import "github.com/shoal-project/shoal/internal/metrics"

// SetMetrics makes the API count its open long-polls and time inventory
// ingest in m. Central calls it once, before serving.
func (a *API) SetMetrics(m *metrics.Central) { a.metrics = m }

// ServedBytes is the body bytes of fragments served to agents so far,
// all packages together.
func (a *API) ServedBytes() int64 {
	var n int64
	for _, st := range a.FragmentStats() {
		n += st.Bytes
	}
	return n
}
