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
	s.hub.Subscribe(notify.TopicReplica, func(ev notify.Event) {
		if ev.From != self && ev.Topic == notify.TopicReplica && s.route.seen(ev.Data, ev.Leaving, time.Now()) {
			s.log.Info("replicas changed: sites move between trackers", "tracker", ev.Data, "leaving", ev.Leaving)
			s.hub.WakeAll()
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

// runHub runs the hub, this replica's heartbeat and the reload of the
// agent settings another replica changed, until ctx ends. The hub outlives
// the heartbeat by its last message: the replica is leaving, so its sites
// move to other trackers at once.
func (s *Server) runHub(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(gctx))
	defer stopHub()
	g.Go(func() error { return s.hub.Run(hubCtx) })
	g.Go(func() error {
		defer stopHub()
		return s.heartbeat(gctx)
	})
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

// heartbeat announces this replica's tracker to the others every
// heartbeatInterval, forgets the silent ones, and says goodbye when ctx
// ends (drain).
func (s *Server) heartbeat(ctx context.Context) error {
	if s.rt.TrackerURL == "" {
		<-ctx.Done()
		return nil
	}
	beat := notify.Event{Topic: notify.TopicReplica, Data: s.rt.TrackerURL}
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	for {
		s.hub.Publish(ctx, beat)
		select {
		case <-ctx.Done():
			beat.Leaving = true
			s.hub.Publish(context.WithoutCancel(ctx), beat)
			return nil
		case <-tick.C:
		}
		if s.route.expire(time.Now()) {
			s.log.Info("a replica went silent: sites move between trackers")
			s.hub.WakeAll()
		}
	}
}
