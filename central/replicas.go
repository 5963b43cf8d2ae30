package central

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/central/notify"
	"github.com/shoal-project/shoal/central/store"
)

// Several replicas of central may serve one PostgreSQL database behind a
// load balancer (docs/ARCHITECTURE.md, "Running several centrals"). What
// a replica keeps in memory and another may change is kept in step by
// the notification hub (central/notify): held jobs long-polls wake up on
// any replica's change, and caches are dropped.

// newHub builds the notification hub for the configured database: LISTEN
// and NOTIFY on PostgreSQL, in-process on SQLite.
func newHub(db store.Config, s *Server) *notify.Hub {
	dsn := ""
	if db.WithDefaults().Driver == store.DriverPostgres {
		dsn = db.DSN
	}
	return notify.New(dsn, s.log)
}

// subscribe drops the caches other replicas' changes make stale. The
// callbacks run on the hub's goroutine: the settings reload, which reads
// the database, is handed to runHub's loop.
func (s *Server) subscribe() {
	self := s.hub.ID()
	s.hub.Subscribe(notify.TopicSettings, func(ev notify.Event) {
		if ev.From != self {
			select {
			case s.reloadSettings <- struct{}{}:
			default:
			}
		}
	})
	s.hub.Subscribe(notify.TopicSites, func(ev notify.Event) {
		if ev.From != self {
			s.st.InvalidateSites()
		}
	})
	s.hub.Subscribe(notify.TopicRevocations, func(ev notify.Event) {
		if ev.From != self || ev.Topic == notify.TopicResync {
			s.trk.Invalidate()
		}
	})
}

// settingsReloadTimeout bounds one reload of the stored agent settings.
const settingsReloadTimeout = 10 * time.Second

// runHub runs the hub and reloads the agent settings when another replica
// changed them, until ctx ends.
func (s *Server) runHub(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.hub.Run(gctx) })
	g.Go(func() error {
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-s.reloadSettings:
			}
			rctx, cancel := context.WithTimeout(gctx, settingsReloadTimeout)
			err := s.dep.LoadStoredConfig(rctx)
			cancel()
			if err != nil && gctx.Err() == nil {
				s.log.Warn("reload agent settings changed by another replica", "err", err)
			}
		}
	})
	return g.Wait()
}
