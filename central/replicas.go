package central

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/central/notify"
	"github.com/shoal-project/shoal/central/packages"
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
	s.hub.Subscribe(notify.TopicPackages, func(ev notify.Event) {
		if ev.From == self || ev.Topic != notify.TopicPackages {
			return
		}
		select {
		case s.deleted <- ev.Data:
		default:
			s.log.Warn("package deleted by another replica: too many at once, this copy stays", "package", ev.Data)
		}
	})
	s.hub.Subscribe(notify.TopicSites, func(ev notify.Event) {
		if ev.From != self {
			s.st.InvalidateSites()
		}
	})
	pub := s.pk.SigningPublicKey()
	s.hub.Subscribe(notify.TopicReplica, func(ev notify.Event) {
		if ev.From == self || ev.Topic != notify.TopicReplica {
			return
		}
		url, err := openBeat(pub, ev.Data, ev.Leaving, time.Now())
		if err != nil {
			s.log.Warn("replica heartbeat refused", "err", err)
			return
		}
		if s.route.seen(url, ev.Leaving, time.Now()) {
			s.log.Info("replicas changed: sites move between trackers", "tracker", url, "leaving", ev.Leaving)
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
			case id := <-s.deleted:
				s.dropDeleted(gctx, id)
				continue
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
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	for {
		s.hub.Publish(ctx, notify.Event{Topic: notify.TopicReplica, Data: sealBeat(s.pk.SigningKey, s.rt.TrackerURL, false, time.Now())})
		select {
		case <-ctx.Done():
			s.hub.Publish(context.WithoutCancel(ctx), notify.Event{Topic: notify.TopicReplica, Leaving: true,
				Data: sealBeat(s.pk.SigningKey, s.rt.TrackerURL, true, time.Now())})
			return nil
		case <-tick.C:
		}
		if s.route.expire(time.Now()) {
			s.log.Info("a replica went silent: sites move between trackers")
			s.hub.WakeAll()
		}
	}
}

// Heartbeats are signed with the manifest key, which every replica holds:
// anyone who can connect to the database can NOTIFY, and a forged
// heartbeat would send a site's agents to a tracker of its choosing. The
// signed text is beatContext, "join" or "leave", the time in Unix
// milliseconds and the URL; a heartbeat older than memberTTL is refused
// (replay).
const beatContext = "shoal-replica-heartbeat-v1"

func beatMessage(url string, leaving bool, ms int64) []byte {
	kind := "join"
	if leaving {
		kind = "leave"
	}
	return []byte(beatContext + "\x00" + kind + "\x00" + strconv.FormatInt(ms, 10) + "\x00" + url)
}

// sealBeat returns a heartbeat's Data: "<ms> <signature> <url>".
func sealBeat(key ed25519.PrivateKey, url string, leaving bool, now time.Time) string {
	ms := now.UnixMilli()
	sig := ed25519.Sign(key, beatMessage(url, leaving, ms))
	return strconv.FormatInt(ms, 10) + " " + base64.RawStdEncoding.EncodeToString(sig) + " " + url
}

// openBeat verifies a heartbeat's Data and returns its tracker URL.
func openBeat(pub ed25519.PublicKey, data string, leaving bool, now time.Time) (string, error) {
	f := strings.SplitN(data, " ", 3)
	if len(f) != 3 {
		return "", errors.New("heartbeat: malformed")
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return "", fmt.Errorf("heartbeat: time: %w", err)
	}
	sig, err := base64.RawStdEncoding.DecodeString(f[1])
	if err != nil {
		return "", fmt.Errorf("heartbeat: signature: %w", err)
	}
	if !ed25519.Verify(pub, beatMessage(f[2], leaving, ms), sig) {
		return "", errors.New("heartbeat: bad signature")
	}
	if age := now.Sub(time.UnixMilli(ms)); age > memberTTL || age < -memberTTL {
		return "", fmt.Errorf("heartbeat: %s old", age.Round(time.Millisecond))
	}
	return f[2], nil
}

// dropDeleted removes this replica's copy of package id, which another
// replica deleted, once the database says the package is gone.
func (s *Server) dropDeleted(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, settingsReloadTimeout)
	defer cancel()
	if _, err := s.st.Package(ctx, id); !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			s.log.Warn("package deleted by another replica", "package", id, "err", err)
		}
		return
	}
	switch err := s.builder.Delete(id); {
	case err == nil:
		s.log.Info("removed the copy of a package another replica deleted", "package", id)
	case !errors.Is(err, packages.ErrNotFound) && !errors.Is(err, packages.ErrInvalidID):
		s.log.Warn("remove the copy of a package another replica deleted", "package", id, "err", err)
	}
}
