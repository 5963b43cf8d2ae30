// Package groups keeps computer groups and desired state. A group is
// static (members an admin chose) or dynamic (a saved search). An
// assignment says that a package belongs on every computer of a group, a
// site or a saved search, now and later: computers that join the target
// get a deployment, pending deployments of computers that leave it are
// cancelled (what they installed stays).
//
// Nothing here runs at a PROLOG or a jobs long-poll: memberships are
// materialised (group_members, assignment_members) and turned into plain
// deployments, which the PROLOG and the Shoal jobs API already serve. Run
// re-evaluates the computers whose row changed (an inventory, a site move)
// every sweep_interval, and everything every evaluate_interval; an admin
// change (a group's search or members, a new assignment) is applied at
// once.
package groups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto/api"
)

// ErrInvalid reports a group or assignment that does not make sense.
var ErrInvalid = errkind.New(errkind.Invalid, "invalid group or assignment")

// ErrInUse reports a group still targeted by assignments.
var ErrInUse = errkind.New(errkind.Conflict, "group is in use")

// Config holds the evaluation intervals.
type Config struct {
	// SweepInterval is how often computers changed since the last sweep
	// (inventories, site moves) are re-evaluated (default 2s).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// EvaluateInterval is how often every dynamic group and assignment is
	// evaluated in full (default 10m): searches by last contact move with
	// time, and account info (TAG) edits do not change a computer's row.
	EvaluateInterval time.Duration `yaml:"evaluate_interval"`
}

func (c Config) withDefaults() Config {
	if c.SweepInterval == 0 {
		c.SweepInterval = 2 * time.Second
	}
	if c.EvaluateInterval == 0 {
		c.EvaluateInterval = 10 * time.Minute
	}
	return c
}

// WithDefaults returns c with every unset interval at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.SweepInterval < 100*time.Millisecond || c.EvaluateInterval < time.Second {
		return errors.New("groups: sweep_interval must be at least 100ms and evaluate_interval at least 1s")
	}
	return nil
}

// maxMembers bounds a group or an assignment target.
const maxMembers = 100000

// Service keeps groups and assignments.
type Service struct {
	cfg   Config
	store *store.Store
	dep   *deploy.Service
	audit *audit.Log
	log   *slog.Logger
	now   func() time.Time

	// mu serialises every evaluation and reconciliation, so that two never
	// diff the same members at once; it also owns sweep.
	mu    sync.Mutex
	sweep sweepState
	// batch is the page size of a sweep (sweepBatch).
	batch int
}

// New returns a Service; it starts nothing (see Run).
func New(cfg Config, st *store.Store, dep *deploy.Service, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg.withDefaults(), store: st, dep: dep, audit: audit.New(st, logger),
		log: logger.With("component", "groups"), now: time.Now, batch: sweepBatch}, nil
}

// Run sweeps changed computers and evaluates everything on schedule until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	sweep := time.NewTicker(s.cfg.SweepInterval)
	defer sweep.Stop()
	full := time.NewTicker(s.cfg.EvaluateInterval)
	defer full.Stop()
	s.mu.Lock()
	s.sweep.since = s.now().Add(-s.cfg.EvaluateInterval)
	s.mu.Unlock()
	if err := s.EvaluateAll(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("evaluate groups", "err", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sweep changed computers", "err", err)
			}
		case <-full.C:
			if err := s.EvaluateAll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("evaluate groups", "err", err)
			}
		}
	}
}

// GroupInput creates or replaces a group.
type GroupInput struct {
	Name        string
	Description string
	// Filter is the saved search of a dynamic group (query parameters of
	// GET /computers); nil or empty makes a static group.
	Filter url.Values
	// Members are the computers of a static group (replaced on update
	// only when not nil).
	Members []uint
	// Window is the deployment window of the group's assignments
	// (deploy.ParseWindow); "" follows each member's site window.
	Window string
	// PrologFreqHours (0: the agent settings') and OCSTimings ("": the
	// site's; short or default) set the group's OCS agent timings.
	PrologFreqHours int
	OCSTimings      string
	// CycleLatency, FragLatency and PeriodLatency (seconds, 0: not set)
	// override the members' OCS DOWNLOAD latencies.
	CycleLatency, FragLatency, PeriodLatency int
}

// maxLatency bounds a group's DOWNLOAD latencies (seconds).
const maxLatency = 86400

func checkLatencies(in GroupInput) error {
	for name, v := range map[string]int{"cycle_latency": in.CycleLatency, "frag_latency": in.FragLatency, "period_latency": in.PeriodLatency} {
		if v < 0 || v > maxLatency {
			return fmt.Errorf("group %s must be 0 (not set) to %d seconds, not %d: %w", name, maxLatency, v, ErrInvalid)
		}
	}
	return nil
}

func checkTimings(in GroupInput) (int, string, error) {
	t := strings.TrimSpace(in.OCSTimings)
	if t != "" && !deploy.ValidTimings(t) {
		return 0, "", fmt.Errorf("group ocs_timings %q is not short, default or empty: %w", t, ErrInvalid)
	}
	if in.PrologFreqHours < 0 {
		return 0, "", fmt.Errorf("group prolog_freq_hours must be 0 (the agent settings') or more: %w", ErrInvalid)
	}
	return in.PrologFreqHours, t, nil
}

func checkWindow(w string) (string, error) {
	w = strings.TrimSpace(w)
	if _, err := deploy.ParseWindow(w); err != nil {
		return "", fmt.Errorf("group window: %w", err)
	}
	return w, nil
}

// filterQuery checks a saved search and returns its stored form.
func (s *Service) filterQuery(v url.Values) (string, error) {
	clean := url.Values{}
	for k, vals := range v {
		if !slices.Contains(api.ComputerFilterParams(), k) {
			return "", fmt.Errorf("unknown search field %q (known: %s): %w", k, strings.Join(api.ComputerFilterParams(), ", "), ErrInvalid)
		}
		if len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
			clean.Set(k, strings.TrimSpace(vals[0]))
		}
	}
	if len(clean) == 0 {
		return "", nil
	}
	if _, err := storeFilter(clean.Encode(), s.now()); err != nil {
		return "", err
	}
	return clean.Encode(), nil
}

// storeFilter turns a stored saved search into the store's filter, with
// relative times taken from now.
func storeFilter(q string, now time.Time) (store.ComputerFilter, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return store.ComputerFilter{}, fmt.Errorf("saved search %q: %w", q, ErrInvalid)
	}
	f, err := api.ParseComputerFilter(v, now)
	if err != nil {
		return store.ComputerFilter{}, fmt.Errorf("saved search: %w: %w", err, ErrInvalid)
	}
	out := store.ComputerFilter{Name: f.Name, OS: f.OS, Software: f.Software, SoftwareVersion: f.SoftwareVersion,
		IP: f.IP, Tag: f.Tag, SiteID: f.SiteID}
	if f.ContactSince != nil {
		out.ContactSince = *f.ContactSince
	}
	if f.ContactBefore != nil {
		out.ContactBefore = *f.ContactBefore
	}
	return out, nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", fmt.Errorf("a group needs a name of 1 to 100 characters: %w", ErrInvalid)
	}
	return name, nil
}

// checkGroup validates in for CreateGroup and UpdateGroup and returns the
// group's fields it sets (not yet stored).
func (s *Service) checkGroup(ctx context.Context, in GroupInput) (*store.Group, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return nil, err
	}
	q, err := s.filterQuery(in.Filter)
	if err != nil {
		return nil, err
	}
	if q != "" && len(in.Members) > 0 {
		return nil, fmt.Errorf("a dynamic group's members come from its search; leave members out: %w", ErrInvalid)
	}
	if err := s.checkComputers(ctx, in.Members); err != nil {
		return nil, err
	}
	window, err := checkWindow(in.Window)
	if err != nil {
		return nil, err
	}
	freq, timings, err := checkTimings(in)
	if err != nil {
		return nil, err
	}
	if err := checkLatencies(in); err != nil {
		return nil, err
	}
	return &store.Group{Name: name, Description: strings.TrimSpace(in.Description), Filter: q, Window: window,
		PrologFreqHours: freq, OCSTimings: timings, CycleLatency: in.CycleLatency, FragLatency: in.FragLatency, PeriodLatency: in.PeriodLatency}, nil
}

// CreateGroup creates a group and evaluates it (and nothing targets it
// yet). A dynamic group given members, or a taken name, is refused.
func (s *Service) CreateGroup(ctx context.Context, who audit.Actor, in GroupInput) (*store.Group, error) {
	g, err := s.checkGroup(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("a group named %q exists: %w", g.Name, err)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !g.Dynamic() {
		if err := s.store.AddGroupMembers(ctx, g.ID, dedup(in.Members), s.now()); err != nil {
			return nil, err
		}
	} else if err := s.evaluateGroup(ctx, g, nil); err != nil {
		return nil, err
	}
	s.dep.GroupTimingsChanged()
	s.audit.Record(ctx, who, "group.create", g.Name, groupDetail(g, len(in.Members)))
	return g, nil
}

func groupDetail(g *store.Group, members int) string {
	if g.Dynamic() {
		return "dynamic: " + g.Filter
	}
	return fmt.Sprintf("static, %d members", members)
}

// UpdateGroup replaces a group's name, description and search (or, for a
// static group given Members, its members), then applies the change to
// the assignments that target it.
func (s *Service) UpdateGroup(ctx context.Context, who audit.Actor, id uint, in GroupInput) (*store.Group, error) {
	g, err := s.store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	want, err := s.checkGroup(ctx, in)
	if err != nil {
		return nil, err
	}
	wasDynamic := g.Dynamic()
	g.Name, g.Description, g.Filter, g.Window = want.Name, want.Description, want.Filter, want.Window
	g.PrologFreqHours, g.OCSTimings = want.PrologFreqHours, want.OCSTimings
	g.CycleLatency, g.FragLatency, g.PeriodLatency = want.CycleLatency, want.FragLatency, want.PeriodLatency
	if err := s.store.SaveGroup(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("a group named %q exists: %w", g.Name, err)
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case g.Dynamic():
		err = s.evaluateGroup(ctx, g, nil)
	case in.Members != nil || wasDynamic:
		err = s.setMembers(ctx, g.ID, dedup(in.Members))
	}
	if err != nil {
		return nil, err
	}
	if err := s.reconcileGroup(ctx, g.ID); err != nil {
		return nil, err
	}
	s.dep.GroupTimingsChanged()
	s.audit.Record(ctx, who, "group.update", g.Name, groupDetail(g, len(in.Members)))
	return g, nil
}

// AddMembers adds computers to a static group (remove: drops them) and
// applies the change to its assignments.
func (s *Service) AddMembers(ctx context.Context, who audit.Actor, id uint, ids []uint, remove bool) error {
	g, err := s.store.Group(ctx, id)
	if err != nil {
		return err
	}
	if g.Dynamic() {
		return fmt.Errorf("group %q is dynamic: change its search, not its members: %w", g.Name, ErrInvalid)
	}
	ids = dedup(ids)
	if len(ids) == 0 {
		return fmt.Errorf("no computer given: %w", ErrInvalid)
	}
	if !remove {
		if err := s.checkComputers(ctx, ids); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	action := "group.add"
	if remove {
		action = "group.remove"
		err = s.store.RemoveGroupMembers(ctx, id, ids)
	} else {
		err = s.store.AddGroupMembers(ctx, id, ids, s.now())
	}
	if err != nil {
		return err
	}
	if err := s.reconcileGroup(ctx, id); err != nil {
		return err
	}
	s.audit.Record(ctx, who, action, g.Name, fmt.Sprintf("%d computers", len(ids)))
	return nil
}

// DeleteGroup deletes a group no assignment targets.
func (s *Service) DeleteGroup(ctx context.Context, who audit.Actor, id uint) error {
	g, err := s.store.Group(ctx, id)
	if err != nil {
		return err
	}
	as, err := s.store.Assignments(ctx, store.AssignmentFilter{GroupID: &id})
	if err != nil {
		return err
	}
	if len(as) > 0 {
		return fmt.Errorf("group %q has %d assignments (package %s first): remove them first: %w", g.Name, len(as), as[0].PackageID, ErrInUse)
	}
	if err := s.store.DeleteGroup(ctx, id); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "group.delete", g.Name, "")
	return nil
}

// GroupDetail is a group, its members and the assignments that target it.
type GroupDetail struct {
	Group       store.Group
	Members     []uint
	Assignments []AssignmentStatus
}

// Group returns a group with its members and assignments.
func (s *Service) Group(ctx context.Context, id uint) (*GroupDetail, error) {
	g, err := s.store.Group(ctx, id)
	if err != nil {
		return nil, err
	}
	members, err := s.store.GroupMemberIDs(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	as, err := s.Assignments(ctx, store.AssignmentFilter{GroupID: &id})
	if err != nil {
		return nil, err
	}
	return &GroupDetail{Group: *g, Members: members, Assignments: as}, nil
}

// Groups lists the groups with their member counts.
func (s *Service) Groups(ctx context.Context) ([]store.GroupSummary, error) {
	return s.store.Groups(ctx)
}

// GroupsOfComputer returns the groups of a computer.
func (s *Service) GroupsOfComputer(ctx context.Context, id uint) ([]store.Group, error) {
	return s.store.GroupsOfComputer(ctx, id)
}

// Resolve finds a group by ID or by name.
func (s *Service) Resolve(ctx context.Context, ref string) (*store.Group, error) {
	if id, err := parseID(ref); err == nil {
		return s.store.Group(ctx, id)
	}
	return s.store.GroupByName(ctx, ref)
}

func parseID(s string) (uint, error) {
	var id uint
	if _, err := fmt.Sscanf(s, "%d", &id); err != nil || fmt.Sprint(id) != s || id == 0 {
		return 0, fmt.Errorf("%q is not an id: %w", s, ErrInvalid)
	}
	return id, nil
}

func (s *Service) checkComputers(ctx context.Context, ids []uint) error {
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > maxMembers {
		return fmt.Errorf("%d computers, at most %d: %w", len(ids), maxMembers, ErrInvalid)
	}
	ids = dedup(ids)
	known, err := s.store.ExistingComputerIDs(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return fmt.Errorf("computer %d: %w", id, store.ErrNotFound)
		}
	}
	return nil
}

func dedup(ids []uint) []uint {
	if ids == nil {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
