// Package notify carries change events between the replicas of central.
//
// Several replicas of central share one PostgreSQL database; what one
// replica changes, the others must learn of at once: a jobs long-poll
// held on replica B must answer when an admin affects a package on
// replica A, and caches (agent settings, the site index, revoked peers)
// must be dropped. A Hub publishes each event to its own subscribers at
// once and, on PostgreSQL, with NOTIFY on the channel "shoal_events"; a
// dedicated connection LISTENs on that channel and hands the other
// replicas' events to the local subscribers.
//
// Notifications are a hint, never the truth: the database is. While the
// listening connection is down (Live is false), consumers fall back to
// polling, and when it comes back every subscriber gets a TopicResync
// event, since events may have been lost in between. With SQLite (one
// replica) the Hub is in-process only and always live.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel.
const Channel = "shoal_events"

// Topics.
const (
	// TopicJobs: the job lists of Event.IDs (computer IDs; none: of every
	// computer) may have changed.
	TopicJobs = "jobs"
	// TopicSettings: the stored agent settings changed.
	TopicSettings = "settings"
	// TopicSites: sites or their ranges changed.
	TopicSites = "sites"
	// TopicRevocations: a computer or relay was revoked or removed.
	TopicRevocations = "revocations"
	// TopicRelays: the relays' job lists may have changed (a purge was
	// asked); every TopicJobs event may change them too.
	TopicRelays = "relays"
	// TopicReplica: a replica's heartbeat (Data: its tracker URL) or, with
	// Leaving, its departure.
	TopicReplica = "replica"
	// TopicPackages: a package was deleted (Data: its ID); replicas with
	// package storage of their own remove their copy.
	TopicPackages = "packages"
	// TopicResync is local only: events may have been lost (the listening
	// connection came back), so drop every cache and re-read.
	TopicResync = "resync"
)

// maxIDs bounds the computer IDs of one event: PostgreSQL caps a
// notification's payload at 8000 bytes. Past it, the event names every
// computer.
const maxIDs = 500

// Event is one change. It travels as JSON in a notification's payload.
type Event struct {
	Topic string `json:"t"`
	// From is the publishing replica's ID.
	From string `json:"f"`
	// IDs are computer IDs for TopicJobs; empty means all.
	IDs []uint `json:"ids,omitempty"`
	// Data is the topic's payload (TopicReplica: the tracker URL).
	Data string `json:"d,omitempty"`
	// Leaving marks a replica's last TopicReplica event.
	Leaving bool `json:"l,omitempty"`
}

// Hub publishes events and dispatches them to subscribers. The zero Hub
// is not usable; build one with New.
type Hub struct {
	id  string
	dsn string // "" in-process only
	log *slog.Logger

	pool *pgxpool.Pool // publishing connections (PostgreSQL), built by Run
	live atomic.Bool

	mu      sync.Mutex // owns the fields below
	waiters map[uint]map[*waiter]struct{}
	all     map[*waiter]struct{} // every waiter, for events naming all computers
	relays  map[*waiter]struct{} // relay job lists' waiters: woken by every TopicJobs and TopicRelays event
	subs    map[string][]func(Event)
	poolSet chan struct{} // closed once pool is set (or Run gave up)
}

type waiter struct {
	id uint
	ch chan struct{}
}

// New returns a Hub. dsn is the PostgreSQL connection string; empty keeps
// events in this process (SQLite). It starts nothing: Run listens.
func New(dsn string, logger *slog.Logger) *Hub {
	var b [8]byte
	_, _ = rand.Read(b[:])
	h := &Hub{id: hex.EncodeToString(b[:]), dsn: dsn, log: logger.With("component", "notify"),
		waiters: map[uint]map[*waiter]struct{}{}, all: map[*waiter]struct{}{}, relays: map[*waiter]struct{}{}, subs: map[string][]func(Event){},
		poolSet: make(chan struct{})}
	if dsn == "" {
		h.live.Store(true)
		close(h.poolSet)
	}
	return h
}

// ID is this replica's random ID, the From of its events.
func (h *Hub) ID() string { return h.id }

// Live reports whether events of other replicas arrive: always with
// SQLite, while the listening connection is up with PostgreSQL. While it
// is false, consumers poll.
func (h *Hub) Live() bool { return h.live.Load() }

// WatchComputer returns a channel that receives a value when the job list
// of the computer id may have changed (or events were lost), and a
// function that stops watching. Watch before reading the database, so no
// change falls between the read and the wait.
func (h *Hub) WatchComputer(id uint) (<-chan struct{}, func()) {
	w := &waiter{id: id, ch: make(chan struct{}, 1)}
	h.mu.Lock()
	m := h.waiters[id]
	if m == nil {
		m = map[*waiter]struct{}{}
		h.waiters[id] = m
	}
	m[w] = struct{}{}
	h.all[w] = struct{}{}
	h.mu.Unlock()
	return w.ch, func() {
		h.mu.Lock()
		delete(h.all, w)
		if m := h.waiters[id]; m != nil {
			delete(m, w)
			if len(m) == 0 {
				delete(h.waiters, id)
			}
		}
		h.mu.Unlock()
	}
}

// WatchRelays returns a channel that receives a value when relays' job
// lists may have changed: on every job list change, whatever computers it
// names (a relay's list is its site's unfinished deployments), on
// TopicRelays (purges) and when events were lost. The function stops
// watching. Watch before reading the database.
func (h *Hub) WatchRelays() (<-chan struct{}, func()) {
	w := &waiter{ch: make(chan struct{}, 1)}
	h.mu.Lock()
	h.relays[w] = struct{}{}
	h.all[w] = struct{}{}
	h.mu.Unlock()
	return w.ch, func() {
		h.mu.Lock()
		delete(h.all, w)
		delete(h.relays, w)
		h.mu.Unlock()
	}
}

// RelaysChanged publishes that the relays' job lists may have changed.
func (h *Hub) RelaysChanged(ctx context.Context) { h.Changed(ctx, TopicRelays) }

// Subscribe calls fn for every event of topic, local or from another
// replica, and for TopicResync. fn runs on the dispatching goroutine and
// must be quick (drop a cache, start a reload in the background).
func (h *Hub) Subscribe(topic string, fn func(Event)) {
	h.mu.Lock()
	h.subs[topic] = append(h.subs[topic], fn)
	h.mu.Unlock()
}

// JobsChanged publishes that the job lists of the computers ids (none:
// all) may have changed.
func (h *Hub) JobsChanged(ctx context.Context, ids []uint) {
	if len(ids) > maxIDs {
		ids = nil
	}
	h.Publish(ctx, Event{Topic: TopicJobs, IDs: ids})
}

// WakeAll wakes every held jobs request of this replica only (its own
// view changed: the tracker of some sites moved).
func (h *Hub) WakeAll() { h.dispatch(Event{Topic: TopicJobs, From: h.id}) }

// Changed publishes a change of topic without data.
func (h *Hub) Changed(ctx context.Context, topic string) {
	h.Publish(ctx, Event{Topic: topic})
}

// PackageDeleted publishes that package id was deleted.
func (h *Hub) PackageDeleted(ctx context.Context, id string) {
	h.Publish(ctx, Event{Topic: TopicPackages, Data: id})
}

// SettingsChanged publishes a change of the stored agent settings.
func (h *Hub) SettingsChanged(ctx context.Context) { h.Changed(ctx, TopicSettings) }

// SitesChanged publishes a change of sites.
func (h *Hub) SitesChanged(ctx context.Context) { h.Changed(ctx, TopicSites) }

// RevocationsChanged publishes a revocation; held jobs requests of every
// computer re-read (a revoked one must answer at once).
func (h *Hub) RevocationsChanged(ctx context.Context) {
	h.Changed(ctx, TopicRevocations)
	h.JobsChanged(ctx, nil)
}

// publishTimeout bounds one NOTIFY.
const publishTimeout = 2 * time.Second

// Publish delivers ev to this replica's subscribers at once and, on
// PostgreSQL, to the other replicas. A failed NOTIFY is logged: the others
// then see the change at their next poll.
func (h *Hub) Publish(ctx context.Context, ev Event) {
	ev.From = h.id
	h.dispatch(ev)
	if h.dsn == "" {
		return
	}
	select {
	case <-h.poolSet:
	default:
		return // Run has not connected yet: the others poll.
	}
	if h.pool == nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		h.log.Warn("encode event", "topic", ev.Topic, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if _, err := h.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, string(b)); err != nil {
		h.log.Warn("notify other replicas", "topic", ev.Topic, "err", err)
	}
}

// dispatch hands ev to the local waiters and subscribers.
func (h *Hub) dispatch(ev Event) {
	h.mu.Lock()
	switch ev.Topic {
	case TopicJobs:
		if len(ev.IDs) == 0 {
			for w := range h.all {
				wake(w.ch)
			}
		}
		for _, id := range ev.IDs {
			for w := range h.waiters[id] {
				wake(w.ch)
			}
		}
		for w := range h.relays {
			wake(w.ch)
		}
	case TopicRelays:
		for w := range h.relays {
			wake(w.ch)
		}
	case TopicResync:
		for w := range h.all {
			wake(w.ch)
		}
	}
	var fns []func(Event)
	if ev.Topic == TopicResync {
		for _, l := range h.subs {
			fns = append(fns, l...)
		}
	} else {
		fns = append(fns, h.subs[ev.Topic]...)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// connectTimeout bounds a connection attempt; retries back off from
// retryMin to retryMax.
const (
	connectTimeout = 10 * time.Second
	retryMin       = 500 * time.Millisecond
	retryMax       = 10 * time.Second
	keepAlive      = 30 * time.Second
)

// Run listens for the other replicas' events until ctx ends (PostgreSQL);
// in-process it only waits. A lost connection is re-opened with back-off.
func (h *Hub) Run(ctx context.Context) error {
	if h.dsn == "" {
		<-ctx.Done()
		return nil
	}
	pcfg, err := pgxpool.ParseConfig(h.dsn)
	if err != nil {
		close(h.poolSet)
		return fmt.Errorf("notify: parse dsn: %w", err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg) // connects lazily
	if err != nil {
		close(h.poolSet)
		return fmt.Errorf("notify: %w", err)
	}
	defer pool.Close()
	h.pool = pool
	close(h.poolSet)

	delay := retryMin
	for ctx.Err() == nil {
		began := time.Now()
		err := h.listen(ctx)
		if ctx.Err() != nil {
			break
		}
		if h.live.Swap(false) {
			// Waiters re-read and poll until the connection is back.
			h.dispatch(Event{Topic: TopicResync})
		}
		if time.Since(began) > time.Minute {
			delay = retryMin
		}
		h.log.Warn("listen for other replicas; polling until it is back", "err", err, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, retryMax)
	}
	h.live.Store(false)
	return nil
}

// listen opens the listening connection and dispatches notifications
// until it fails or ctx ends.
func (h *Hub) listen(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.Connect(cctx, h.dsn)
	if err != nil {
		cancel()
		return fmt.Errorf("connect: %w", err)
	}
	_, err = conn.Exec(cctx, "LISTEN "+Channel)
	cancel()
	defer func() {
		c, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer stop()
		_ = conn.Close(c)
	}()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h.live.Store(true)
	// Whatever happened while nobody listened is unknown.
	h.dispatch(Event{Topic: TopicResync})
	h.log.Info("listening for other replicas' events", "channel", Channel)
	for {
		// A connection that died silently must not keep the replica
		// "live": wait at most keepAlive, then ping.
		wctx, cancel := context.WithTimeout(ctx, keepAlive)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			pctx, cancel := context.WithTimeout(ctx, connectTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.Topic == "" || ev.Topic == TopicResync {
			h.log.Warn("ignored notification", "payload_bytes", len(n.Payload), "err", err)
			continue
		}
		if ev.From == h.id {
			continue // delivered locally when published
		}
		h.dispatch(ev)
	}
}
