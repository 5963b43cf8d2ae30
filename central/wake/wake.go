// Package wake wakes sleeping computers with Wake-on-LAN. Central cannot
// send the magic packet itself (it is a LAN broadcast), so it stores a
// request per computer and hands it to one sender of the computer's site:
// a relay (its jobs long-poll, proto.RelayJobs.Wake) or an awake Shoal
// agent (its jobs long-poll, proto.JobsResponse.Wake), which sends the
// packet (internal/wol). Requests come from an admin (UI computer page,
// REST API, shoalctl) and from Run, which wakes the computers whose held
// deployments' window opens within `before` and that have not contacted
// central for `asleep_after`. A computer counts as woken when it contacts
// central (PROLOG, jobs poll) after the request, within `woken_within`.
package wake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/wol"
	"github.com/shoal-project/shoal/proto"
)

// ErrNoMAC reports a computer whose inventory has no usable MAC address.
var ErrNoMAC = errkind.New(errkind.Unprocessable, "computer has no MAC address in its inventory")

// ErrInvalid reports a request that does not make sense.
var ErrInvalid = errkind.New(errkind.Invalid, "invalid wake request")

// Config holds the Wake-on-LAN tunables (central's `wake:` section).
type Config struct {
	// Before is how long before a deployment window opens the sleeping
	// computers it holds are woken (default 15m; negative: never).
	Before time.Duration `yaml:"before"`
	// AsleepAfter is how long without contact makes a computer with held
	// deployments a candidate for a wake before its window (default 15m).
	AsleepAfter time.Duration `yaml:"asleep_after"`
	// WokenWithin is how soon after the request a contact counts as woken
	// (default 10m).
	WokenWithin time.Duration `yaml:"woken_within"`
	// SendWithin is how long a request waits for a relay or an awake agent
	// of the site to take it (default 10m).
	SendWithin time.Duration `yaml:"send_within"`
	// Interval is how often windows are checked (default 1m).
	Interval time.Duration `yaml:"interval"`
}

func (c Config) withDefaults() Config {
	if c.Before == 0 {
		c.Before = 15 * time.Minute
	}
	if c.AsleepAfter == 0 {
		c.AsleepAfter = 15 * time.Minute
	}
	if c.WokenWithin == 0 {
		c.WokenWithin = 10 * time.Minute
	}
	if c.SendWithin == 0 {
		c.SendWithin = 10 * time.Minute
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	return c
}

// WithDefaults returns c with every unset value at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Before > 24*time.Hour || c.AsleepAfter < 0 || c.WokenWithin < time.Second || c.SendWithin < time.Second || c.Interval < 100*time.Millisecond {
		return errors.New("wake: before must be at most 24h, asleep_after not negative, woken_within and send_within at least 1s, interval at least 100ms")
	}
	return nil
}

// changes is told who should re-read its jobs (central/notify.Hub).
type changes interface {
	RelaysChanged(ctx context.Context)
	JobsChanged(ctx context.Context, ids []uint)
}

// Service keeps wake requests.
type Service struct {
	cfg     Config
	store   *store.Store
	deploy  *deploy.Service
	audit   *audit.Log
	log     *slog.Logger
	now     func() time.Time
	changes changes // set once before serving; may be nil

	mu     sync.Mutex // guards openAt and open
	openAt time.Time
	open   bool
}

// New returns a Service; it starts nothing (Run does).
func New(cfg Config, st *store.Store, dep *deploy.Service, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := logger.With("component", "wake")
	return &Service{cfg: cfg.withDefaults(), store: st, deploy: dep, audit: audit.New(st, log), log: log, now: time.Now}, nil
}

// SetChanges sets who is told that senders should re-read their jobs.
func (s *Service) SetChanges(c changes) { s.changes = c }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Status is one wake request and what came of it.
type Status struct {
	ID          uint       `json:"id"`
	ComputerID  uint       `json:"computer_id"`
	MAC         string     `json:"mac"`
	Reason      string     `json:"reason"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	SentBy      string     `json:"sent_by,omitempty"`
	WokenAt     *time.Time `json:"woken_at,omitempty"`
	// State is StateWaiting, StateSent, StateWoken, StateNotWoken or
	// StateNoSender.
	State string `json:"state"`
}

// Wake request states.
const (
	StateWaiting  = "waiting"   // no sender took it yet
	StateSent     = "sent"      // sent, the computer has not come back yet
	StateWoken    = "woken"     // the computer contacted central after it
	StateNotWoken = "not woken" // sent, no contact within woken_within
	StateNoSender = "no sender" // no relay or awake agent of the site took it
)

// statusOf says what came of r for a computer last seen at lastContact.
func (s *Service) statusOf(r store.WakeRequest, lastContact, now time.Time) Status {
	st := Status{ID: r.ID, ComputerID: r.ComputerID, MAC: r.MAC, Reason: r.Reason, RequestedBy: r.RequestedBy,
		RequestedAt: r.RequestedAt, SentAt: r.SentAt, SentBy: r.SentBy, WokenAt: r.WokenAt}
	deadline := r.RequestedAt.Add(s.cfg.WokenWithin)
	switch {
	case r.WokenAt != nil:
		st.State = StateWoken
	case lastContact.After(r.RequestedAt) && !lastContact.After(deadline):
		at := lastContact
		st.WokenAt, st.State = &at, StateWoken
	case r.SentAt == nil && now.Before(r.ExpiresAt):
		st.State = StateWaiting
	case r.SentAt == nil:
		st.State = StateNoSender
	case now.Before(deadline):
		st.State = StateSent
	default:
		st.State = StateNotWoken
	}
	return st
}

// Request asks for the computers ids to be woken, for reason
// (store.WakeManual, store.WakeWindow). A computer without a MAC address
// fails the whole request with ErrNoMAC when it is the only one, and is
// left out otherwise.
func (s *Service) Request(ctx context.Context, who audit.Actor, ids []uint, reason string) ([]Status, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("no computer to wake: %w", ErrInvalid)
	}
	targets, err := s.store.WakeTargets(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("wake computer %d: %w", ids[0], store.ErrNotFound)
	}
	now := s.now()
	var reqs []*store.WakeRequest
	var skipped []string
	for _, t := range targets {
		hw, err := wol.ParseMAC(t.FirstMAC)
		if err != nil {
			skipped = append(skipped, t.Name)
			continue
		}
		reqs = append(reqs, &store.WakeRequest{ComputerID: t.ID, SiteID: t.SiteID, MAC: hw.String(),
			Broadcast: wol.Broadcast(t.IPAddr, t.Mask), Reason: reason, RequestedBy: who.Name,
			RequestedAt: now, ExpiresAt: now.Add(s.cfg.SendWithin)})
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("wake %s: %w", strings.Join(skipped, ", "), ErrNoMAC)
	}
	if err := s.store.CreateWakeRequests(ctx, reqs); err != nil {
		return nil, err
	}
	s.opened(now)
	s.kick(ctx, reqs)
	out := make([]Status, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, s.statusOf(*r, time.Time{}, now))
	}
	detail := fmt.Sprintf("%d computers (%s)", len(reqs), reason)
	if len(reqs) == 1 {
		detail = fmt.Sprintf("computer %d, MAC %s (%s)", reqs[0].ComputerID, reqs[0].MAC, reason)
	}
	if len(skipped) > 0 {
		detail += fmt.Sprintf("; without MAC: %s", strings.Join(skipped, ", "))
	}
	s.audit.Record(ctx, who, "computer.wake", fmt.Sprint(reqs[0].ComputerID), detail)
	return out, nil
}

// kick makes the relays and a few awake Shoal agents of the requests'
// sites re-read their jobs now.
func (s *Service) kick(ctx context.Context, reqs []*store.WakeRequest) {
	if s.changes == nil {
		return
	}
	s.changes.RelaysChanged(ctx)
	sites := map[uint]bool{}
	var noSite bool
	for _, r := range reqs {
		if r.SiteID == nil {
			noSite = true
		} else {
			sites[*r.SiteID] = true
		}
	}
	var ids []uint
	for id := range sites {
		got, err := s.store.AwakeAgents(ctx, &id, s.now().Add(-awakeWithin), kickAgents)
		if err != nil {
			s.log.Warn("awake agents", "err", err)
			continue
		}
		ids = append(ids, got...)
	}
	if noSite {
		got, err := s.store.AwakeAgents(ctx, nil, s.now().Add(-awakeWithin), kickAgents)
		if err != nil {
			s.log.Warn("awake agents", "err", err)
		}
		ids = append(ids, got...)
	}
	if len(ids) > 0 {
		s.changes.JobsChanged(ctx, ids)
	}
}

// awakeWithin is how recent a Shoal agent's poll must be for it to count as
// awake; kickAgents is how many of a site's are told of a new request.
const (
	awakeWithin = 3 * time.Minute
	kickAgents  = 3
)

// openTTL is how long "no request waits for a sender" is trusted, so that
// a jobs poll reads nothing more while there is none.
const openTTL = 10 * time.Second

func (s *Service) opened(now time.Time) {
	s.mu.Lock()
	s.openAt, s.open = now, true
	s.mu.Unlock()
}

// anyOpen reports whether some request may wait for a sender.
func (s *Service) anyOpen(ctx context.Context, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.openAt.IsZero() || now.Sub(s.openAt) >= openTTL || now.Before(s.openAt) {
		open, err := s.store.AnyOpenWakes(ctx, now)
		if err != nil {
			s.log.Warn("open wake requests", "err", err)
			return true
		}
		s.openAt, s.open = now, open
	}
	return s.open
}

// maxOrders bounds the orders of one jobs answer.
const maxOrders = 256

// Claim hands the open requests of a site (nil: no site) to sender ("relay
// NAME", "agent COMPUTER"), leaving out exclude (the sender's own computer;
// 0 for a relay). While no request waits anywhere it reads nothing (the
// answer is cached for openTTL, and reset at once by a request on this
// replica).
func (s *Service) Claim(ctx context.Context, siteID *uint, exclude uint, sender string) ([]proto.WakeOrder, error) {
	now := s.now()
	if !s.anyOpen(ctx, now) {
		return nil, nil
	}
	reqs, err := s.store.ClaimWakes(ctx, siteID, exclude, sender, now, maxOrders)
	if err != nil || len(reqs) == 0 {
		return nil, err
	}
	out := make([]proto.WakeOrder, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, proto.WakeOrder{ID: r.ID, MAC: r.MAC, Broadcast: r.Broadcast})
		s.log.Info("wake order handed out", "computer", r.ComputerID, "mac", r.MAC, "sender", sender)
	}
	return out, nil
}

// historyDays is how long requests are kept and shown.
const historyDays = 30

// Requests returns a computer's wake requests of the last 30 days, newest
// first, with their state.
func (s *Service) Requests(ctx context.Context, computerID uint) ([]Status, error) {
	c, err := s.store.Computer(ctx, computerID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	reqs, err := s.store.WakeRequests(ctx, computerID, now.AddDate(0, 0, -historyDays))
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, s.statusOf(r, c.LastContact, now))
	}
	return out, nil
}

// Run wakes the computers whose deployment window opens soon, every
// interval, records which requested computers came back, and prunes old
// requests; it returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("wake check", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tick is one round of Run.
func (s *Service) tick(ctx context.Context) error {
	now := s.now()
	errs := []error{s.store.MarkWoken(ctx, now.Add(-s.cfg.WokenWithin))}
	if now.Minute() == 0 && now.Second() < int(s.cfg.Interval/time.Second)+1 {
		errs = append(errs, s.store.PruneWakeRequests(ctx, now.AddDate(0, 0, -historyDays)))
	}
	if s.cfg.Before > 0 {
		errs = append(errs, s.wakeBeforeWindows(ctx, now))
	}
	return errors.Join(errs...)
}

// wakeBeforeWindows requests a wake for every computer that sleeps (no
// contact for asleep_after), has a deployment its window holds and that the
// window lets through within `before`, and has no request of its own
// since before + woken_within.
func (s *Service) wakeBeforeWindows(ctx context.Context, now time.Time) error {
	ids, err := s.store.HeldComputers(ctx, now.Add(-s.cfg.AsleepAfter))
	if err != nil || len(ids) == 0 {
		return err
	}
	recent, err := s.store.LastWakes(ctx, ids, now.Add(-(s.cfg.Before + s.cfg.WokenWithin)))
	if err != nil {
		return err
	}
	targets, err := s.store.WakeTargets(ctx, ids)
	if err != nil {
		return err
	}
	var due []uint
	for _, t := range targets {
		if _, ok := recent[t.ID]; ok || t.FirstMAC == "" {
			continue
		}
		soon, err := s.deploy.OpensWithin(ctx, t.ID, t.SiteID, now, s.cfg.Before)
		if err != nil {
			return err
		}
		if soon {
			due = append(due, t.ID)
		}
	}
	if len(due) == 0 {
		return nil
	}
	_, err = s.Request(ctx, audit.Actor{Name: "central"}, due, store.WakeWindow)
	if errors.Is(err, ErrNoMAC) {
		return nil
	}
	return err
}
