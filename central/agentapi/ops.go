package agentapi

import (
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/metrics"
)

// errDraining answers the long-polls of a central that is shutting down:
// 503 with Retry-After, which agents and relays retry (through the load
// balancer, on another replica).
var errDraining = errkind.New(errkind.Unavailable, "central is shutting down: retry")

// Drain ends every open jobs long-poll, of agents and relays, at once with
// errDraining and answers later ones the same. Central calls it when it
// starts to shut down; it is safe to call more than once.
func (a *API) Drain() { a.drainOnce.Do(func() { close(a.draining) }) }

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
