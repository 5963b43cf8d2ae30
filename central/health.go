package central

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/metrics"
)

// DrainConfig is how a replica leaves on SIGTERM (keys in the http:
// section).
type DrainConfig struct {
	// DrainDelay is how long /readyz answers 503 before the listeners
	// close, so that a load balancer stops sending new requests first
	// (default 0: close at once; set it to the balancer's check interval
	// times its fall count).
	DrainDelay time.Duration `yaml:"drain_delay"`
	// DrainTimeout is how long requests in flight (uploads, downloads) get
	// to finish once the listeners are closed (default 30s); connections
	// still open then are cut, and an upload cut short leaves nothing in
	// the catalog.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

func (c DrainConfig) withDefaults() DrainConfig {
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return c
}

// Validate checks the durations.
func (c DrainConfig) Validate() error {
	if c.DrainDelay < 0 || c.DrainTimeout < 0 || c.DrainDelay > 10*time.Minute || c.DrainTimeout > time.Hour {
		return fmt.Errorf("http: drain_delay wants 0..10m, drain_timeout 0..1h")
	}
	return nil
}

// readiness answers /readyz: the database answers a ping, the package
// storage can be written, and the replica is not draining.
type readiness struct {
	st       *store.Store
	builder  *packages.Builder
	metrics  *metrics.Central
	log      *slog.Logger
	draining atomic.Bool
}

// ready runs the checks; see web.ReadyFunc. Failures are logged with their
// error, answered with a short reason.
func (r *readiness) ready(ctx context.Context) (map[string]string, bool) {
	checks := map[string]string{"database": "ok", "storage": "ok", "draining": "no"}
	ok := true
	if r.draining.Load() {
		checks["draining"], ok = "yes", false
	}
	if err := r.st.Ping(ctx); err != nil {
		r.log.Warn("readyz: database", "err", err)
		checks["database"], ok = "unreachable", false
	}
	if err := r.builder.CheckStorage(); err != nil {
		r.log.Warn("readyz: package storage", "err", err)
		checks["storage"], ok = "not writable", false
	}
	r.metrics.SetReady(ok)
	return checks, ok
}

// drain makes the replica not ready at once.
func (r *readiness) drain() {
	r.draining.Store(true)
	r.metrics.SetReady(false)
}

// drain shuts the listeners down gracefully: /readyz answers 503 at once;
// after drain_delay (the load balancer has taken the replica out) the open
// long-polls get a "retry" answer (503, Retry-After) and the listeners
// close; requests in flight get drain_timeout to finish, then their
// connections are cut.
func (s *Server) drain(servers ...*http.Server) error {
	d := s.cfg.HTTP.Drain.withDefaults()
	s.ready.drain()
	s.log.Info("draining", "delay", d.DrainDelay, "timeout", d.DrainTimeout)
	if d.DrainDelay > 0 {
		time.Sleep(d.DrainDelay)
	}
	s.agents.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), d.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	cut := atomic.Bool{}
	for _, hs := range servers {
		wg.Go(func() {
			if err := hs.Shutdown(ctx); err != nil {
				cut.Store(true)
				hs.Close()
			}
		})
	}
	wg.Wait()
	if cut.Load() {
		// The handlers of the cut connections fail on their next read or
		// write; let them clean up (an upload removes its spool file)
		// before Run closes the database under them.
		n := s.inflight.wait(handlerGrace)
		s.log.Warn("drain timeout: cut the connections still open", "timeout", d.DrainTimeout, "handlers_left", n)
	}
	return nil
}

// handlerGrace bounds the wait for handlers whose connections drain cut.
const handlerGrace = 5 * time.Second

// inflight counts the requests being handled.
type inflight struct{ n atomic.Int64 }

// wrap counts h's requests.
func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		defer f.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// wait polls until no request is being handled or max has passed, and
// returns how many still are.
func (f *inflight) wait(max time.Duration) int64 {
	deadline := time.Now().Add(max)
	for f.n.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return f.n.Load()
}
