package relay

import (
	"context"
	"net/http"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/proto"
)

// In-process use. The scale simulator (sim) runs the relay's upstream
// side — pull-through, prefetch, the goodput-driven stream controller and
// the endgame's byte ranges (endgame.go) — inside its own process, under
// virtual time, with upstream reached through a simulated network. It
// builds the relay with New (not enrolled, so no listener, libp2p node or
// control loop) and drives it only through these methods, instead of Run.

// SetUpstreamTransport replaces the transport of upstream requests
// (fragments, byte ranges and manifests). Call it before the first fetch.
func (r *Relay) SetUpstreamTransport(rt http.RoundTripper) {
	r.client = &http.Client{Transport: rt}
}

// Pull makes fragment f of package pkg present and verified in the store,
// fetching it from upstream once however many callers ask: what a libp2p
// or HTTP request for a fragment not yet cached does.
func (r *Relay) Pull(ctx context.Context, pkg string, f proto.Fragment) error {
	_, err := r.ensure(ctx, pkg, f)
	return err
}

// FetchAll fetches every missing fragment of frags, as many at once as the
// fetch semaphore allows: what a prefetch does once it has the package's
// verified manifest.
func (r *Relay) FetchAll(ctx context.Context, pkg string, frags []proto.Fragment) error {
	return r.fetchAll(ctx, pkg, frags)
}

// FragmentStore returns the relay's fragment store (verified fragments
// only), which its listeners serve from.
func (r *Relay) FragmentStore() *fragstore.Store { return r.store }

// Stop ends a relay that was driven without Run: upstream fetches under
// way are cancelled, and Stop returns once they have ended.
func (r *Relay) Stop() {
	r.stopLife()
	r.land()
}
