// Package embedded runs the tracker inside central: it reads central's
// `tracker:` configuration section, feeds the tracker the peer IDs central
// revoked (refreshed from the database) and mounts it at
// proto.TrackerPathPrefix in front of central's HTTPS handler. Only central
// imports it; agents and relays use package tracker alone.
package embedded

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
)

// Config is central's `tracker:` section.
type Config struct {
	// Enabled serves the tracker inside central (default true).
	Enabled *bool `yaml:"enabled"`
	// RevocationRefresh is how often revoked peer IDs are re-read from the
	// database (default 10s).
	RevocationRefresh time.Duration `yaml:"revocation_refresh"`
	// Standalone lists the base URLs (…/tracker/v1) of standalone
	// shoal-tracker instances. When set, central tells each site's agents
	// one of them, chosen by consistent hashing of the site; when empty,
	// each site goes to the embedded tracker of one live replica of
	// central the same way (docs/ARCHITECTURE.md, "Running several
	// centrals").
	Standalone []string `yaml:"standalone"`
	// The tracker's own settings sit next to the ones above.
	tracker.Config `yaml:",inline"`
}

func (c Config) withDefaults() Config {
	if c.Enabled == nil {
		on := true
		c.Enabled = &on
	}
	if c.RevocationRefresh == 0 {
		c.RevocationRefresh = 10 * time.Second
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.RevocationRefresh < 100*time.Millisecond {
		return fmt.Errorf("tracker: revocation_refresh %s: want at least 100ms", c.RevocationRefresh)
	}
	for _, u := range c.Standalone {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("tracker: standalone %q: want an http(s) base URL", u)
		}
	}
	return c.Config.Validate()
}

// revocations is what the tracker needs of central's store.
type revocations interface {
	RevokedPeerIDs(ctx context.Context, now time.Time) ([]string, error)
}

// Tracker is the embedded tracker. A nil *Tracker (disabled) mounts
// nothing and runs until its context ends.
type Tracker struct {
	cfg     Config
	log     *slog.Logger
	store   revocations
	srv     *tracker.Server
	revoked atomic.Pointer[map[string]struct{}] // replaced whole by refresh
	// kick asks Run to re-read the revocations now (Invalidate).
	kick chan struct{}
}

// New returns the embedded tracker, or nil when cfg disables it. key is
// central's manifest public key, which signs peer records.
func New(cfg Config, st revocations, key ed25519.PublicKey, logger *slog.Logger) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tracker config: %w", err)
	}
	cfg = cfg.withDefaults()
	if !*cfg.Enabled {
		return nil, nil
	}
	t := &Tracker{cfg: cfg, log: logger.With("component", "tracker"), store: st, kick: make(chan struct{}, 1)}
	t.revoked.Store(&map[string]struct{}{})
	srv, err := tracker.New(cfg.Config, logger, tracker.Verifier{Key: key, Revoked: t.isRevoked})
	if err != nil {
		return nil, err
	}
	t.srv = srv
	return t, nil
}

// Invalidate asks Run to re-read the revoked peers now (a revocation on
// another replica of central). It does not block.
func (t *Tracker) Invalidate() {
	if t == nil {
		return
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *Tracker) isRevoked(peerID string) bool {
	_, ok := (*t.revoked.Load())[peerID]
	return ok
}

// refresh re-reads the revoked peer IDs.
func (t *Tracker) refresh(ctx context.Context) error {
	ids, err := t.store.RevokedPeerIDs(ctx, time.Now())
	if err != nil {
		return err
	}
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	t.revoked.Store(&m)
	return nil
}

// Run loads the revocations, then sweeps the tracker and refreshes them
// until ctx ends.
func (t *Tracker) Run(ctx context.Context) error {
	if t == nil {
		<-ctx.Done()
		return nil
	}
	if err := t.refresh(ctx); err != nil {
		t.log.Warn("read revoked peers", "err", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return t.srv.Run(gctx) })
	g.Go(func() error {
		tick := time.NewTicker(t.cfg.RevocationRefresh)
		defer tick.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-tick.C:
			case <-t.kick:
			}
			if err := t.refresh(gctx); err != nil && gctx.Err() == nil {
				t.log.Warn("read revoked peers", "err", err)
			}
		}
	})
	return g.Wait()
}

// Mount returns a handler that serves the tracker under
// proto.TrackerPathPrefix and everything else with next.
func (t *Tracker) Mount(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	h := http.StripPrefix(proto.TrackerPathPrefix, t.srv.Handler())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, proto.TrackerPathPrefix+"/") {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// URL returns the tracker's base URL on central's HTTPS listener, or ""
// when the tracker is disabled.
func (t *Tracker) URL(httpsURL string) string {
	if t == nil {
		return ""
	}
	return strings.TrimRight(httpsURL, "/") + proto.TrackerPathPrefix
}

// Stats counts the tracker's state.
func (t *Tracker) Stats() tracker.Stats {
	if t == nil {
		return tracker.Stats{}
	}
	return t.srv.Stats()
}

// Metrics returns the tracker's metrics for central's registry, or nil
// when the tracker is disabled.
func (t *Tracker) Metrics() *metrics.Tracker {
	if t == nil {
		return nil
	}
	return t.srv.Metrics()
}
