package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// Window is a deployment window: the days and hours, in a site's time
// zone, during which agents may install. Downloads are not held by it.
// Its text form is one or more "days HH:MM-HH:MM" separated by ";",
// where days is "daily" or a comma list of days and day ranges
// ("mon-fri", "sat,sun"); an end before the start runs past midnight and
// belongs to the day it opens on ("mon-fri 22:00-06:00" ends on Saturday
// at 06:00). The zero Window (text "") is always open.
type Window struct {
	spans []span
}

type span struct {
	days       [7]bool // indexed by time.Weekday
	start, end int     // minutes after midnight; end <= start runs overnight
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindow parses the text form of a Window; "" is always open.
func ParseWindow(text string) (Window, error) {
	var w Window
	for part := range strings.SplitSeq(text, ";") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		days, hours, ok := strings.Cut(part, " ")
		if !ok {
			return Window{}, fmt.Errorf("window %q: want days and hours, like \"mon-fri 22:00-06:00\": %w", part, ErrInvalid)
		}
		sp, err := parseSpan(days, strings.TrimSpace(hours))
		if err != nil {
			return Window{}, fmt.Errorf("window %q: %w", part, err)
		}
		w.spans = append(w.spans, sp)
	}
	return w, nil
}

func parseSpan(days, hours string) (span, error) {
	var sp span
	if days == "daily" {
		sp.days = [7]bool{true, true, true, true, true, true, true}
	} else {
		for d := range strings.SplitSeq(days, ",") {
			from, to, isRange := strings.Cut(d, "-")
			a, okA := dayNames[from]
			b, okB := dayNames[to]
			if !isRange {
				b, okB = a, okA
			}
			if !okA || !okB {
				return span{}, fmt.Errorf("days %q: want daily or days among mon, tue, wed, thu, fri, sat, sun, listed and ranged as in \"mon-fri 22:00-06:00\" or \"sat,sun 00:00-24:00\": %w", days, ErrInvalid)
			}
			for i := a; ; i = (i + 1) % 7 {
				sp.days[i] = true
				if i == b {
					break
				}
			}
		}
	}
	from, to, ok := strings.Cut(hours, "-")
	if !ok {
		return span{}, fmt.Errorf("hours %q: want HH:MM-HH:MM: %w", hours, ErrInvalid)
	}
	var err error
	if sp.start, err = parseClock(from); err != nil {
		return span{}, err
	}
	if sp.end, err = parseClock(to); err != nil {
		return span{}, err
	}
	if sp.start == sp.end {
		return span{}, fmt.Errorf("hours %q: start and end are equal (use 00:00-24:00 for the whole day): %w", hours, ErrInvalid)
	}
	return sp, nil
}

func parseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 24:00: %w", s, ErrInvalid)
	}
	return h*60 + m, nil
}

// Always reports whether w is always open (no spans).
func (w Window) Always() bool { return len(w.spans) == 0 }

// Open reports whether t, read in loc (nil: UTC), falls inside w.
func (w Window) Open(t time.Time, loc *time.Location) bool {
	if w.Always() {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	mins := t.Hour()*60 + t.Minute()
	today := t.Weekday()
	yesterday := (today + 6) % 7
	for _, sp := range w.spans {
		if sp.end > sp.start {
			if sp.days[today] && mins >= sp.start && mins < sp.end {
				return true
			}
			continue
		}
		// Overnight: the evening of an opening day or the morning after.
		if (sp.days[today] && mins >= sp.start) || (sp.days[yesterday] && mins < sp.end) {
			return true
		}
	}
	return false
}

// NextOpen returns the first minute at or after t when w is open, read in
// loc; t itself when w is open at t, the zero time when w never opens. A
// closed window opens at the start of one of its spans, so only those are
// looked at: 7 days × spans, not every minute of a week (the jobs long-poll
// of an agent with a held deployment asks on every re-read).
func (w Window) NextOpen(t time.Time, loc *time.Location) time.Time {
	if w.Open(t, loc) {
		return t
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	var best time.Time
	for d := range 8 {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()+d, 0, 0, 0, 0, loc)
		for _, sp := range w.spans {
			if !sp.days[day.Weekday()] {
				continue
			}
			at := time.Date(day.Year(), day.Month(), day.Day(), sp.start/60, sp.start%60, 0, 0, loc)
			if at.After(t) && (best.IsZero() || at.Before(best)) && w.Open(at, loc) {
				best = at
			}
		}
	}
	return best
}

// Location loads a site's IANA time zone; "" and unknown zones are UTC.
func Location(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// gated is a pending deployment that may install now, with its POSTCMD.
type gated struct {
	store.Pending
	Reboot bool
	// Until is, for a held deployment, when its window opens next, in the
	// site's time zone.
	Until time.Time
}

// gate keeps the pending deployments of a computer (in site siteID, nil
// for none) whose window is open at now: a deployment of a group
// assignment follows the group's window when the group has one (open if
// any such group's is), else the site's window; the time zone is the
// site's. Held deployments stay waiting and are answered once their window
// opens. It reads the store only when pend is not empty.
func (s *Service) gate(ctx context.Context, siteID *uint, pend []store.Pending, now time.Time) ([]gated, error) {
	open, _, err := s.gateHeld(ctx, siteID, pend, now)
	return open, err
}

// gateHeld is gate that also returns the held deployments, each with
// Until, the first minute its window lets it through; one whose window
// does not open within a week is in neither list.
func (s *Service) gateHeld(ctx context.Context, siteID *uint, pend []store.Pending, now time.Time) (open, held []gated, err error) {
	if len(pend) == 0 {
		return nil, nil, nil
	}
	if !s.anyGates(ctx, now) {
		out := make([]gated, len(pend))
		for i, p := range pend {
			out[i] = gated{Pending: p}
		}
		return out, nil, nil
	}
	siteWin, loc := Window{}, time.UTC
	if siteID != nil {
		site, err := s.store.Site(ctx, *siteID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, nil, fmt.Errorf("deployment window: %w", err)
		default:
			loc = Location(site.TimeZone)
			if siteWin, err = ParseWindow(site.Window); err != nil {
				s.log.Warn("site window", "site", site.Name, "err", err)
				siteWin = Window{}
			}
		}
	}
	ids := make([]uint, len(pend))
	for i, p := range pend {
		ids[i] = p.Deployment.ID
	}
	rows, err := s.store.DeploymentGates(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("deployment window: %w", err)
	}
	type verdict struct {
		grouped, open, reboot bool
		wins                  []Window
	}
	v := make(map[uint]*verdict, len(rows))
	for _, r := range rows {
		d := v[r.DeploymentID]
		if d == nil {
			d = &verdict{}
			v[r.DeploymentID] = d
		}
		d.reboot = d.reboot || r.Reboot
		if r.GroupWindow == "" {
			continue
		}
		w, err := ParseWindow(r.GroupWindow)
		if err != nil {
			s.log.Warn("group window", "window", r.GroupWindow, "err", err)
			continue
		}
		d.grouped = true
		d.open = d.open || w.Open(now, loc)
		d.wins = append(d.wins, w)
	}
	siteOpen := siteWin.Open(now, loc)
	open = make([]gated, 0, len(pend))
	for _, p := range pend {
		d := v[p.Deployment.ID]
		isOpen := siteOpen
		if d != nil && d.grouped {
			isOpen = d.open
		}
		g := gated{Pending: p, Reboot: d != nil && d.reboot}
		if isOpen {
			open = append(open, g)
			continue
		}
		if d != nil && d.grouped {
			for _, w := range d.wins {
				if t := w.NextOpen(now, loc); !t.IsZero() && (g.Until.IsZero() || t.Before(g.Until)) {
					g.Until = t
				}
			}
		} else {
			g.Until = siteWin.NextOpen(now, loc)
		}
		if !g.Until.IsZero() {
			held = append(held, g)
		}
	}
	return open, held, nil
}

// groupTimingsTTL is how long the answer to "does any group set agent
// timings" is trusted: a group's new timings reach its agents' PROLOGs
// within it (on every replica). While no group sets any, a PROLOG reads
// nothing more than before.
const groupTimingsTTL = 10 * time.Second

// groupTimings caches whether any group sets agent timings; mu guards it.
type groupTimings struct {
	mu  sync.Mutex
	at  time.Time
	any bool
}

// groupTimingsOf returns what the computer's groups override of its
// agent timings (PROLOG_FREQ, DOWNLOAD latencies); errors are logged and
// leave the global and site timings in force.
func (s *Service) groupTimingsOf(ctx context.Context, computerID uint, now time.Time) store.GroupTimings {
	c := &s.timings
	c.mu.Lock()
	if c.at.IsZero() || now.Sub(c.at) >= groupTimingsTTL || now.Before(c.at) {
		n, err := s.store.GroupsWithTimings(ctx)
		if err != nil {
			s.log.Warn("groups with timings", "err", err)
		} else {
			c.at, c.any = now, n > 0
		}
	}
	anyTimings := c.any
	c.mu.Unlock()
	if !anyTimings {
		return store.GroupTimings{}
	}
	gt, err := s.store.TimingsOfComputer(ctx, computerID)
	if err != nil {
		s.log.Warn("group timings", "computer", computerID, "err", err)
		return store.GroupTimings{}
	}
	return gt
}

// GroupTimingsChanged makes the next PROLOG re-read whether any group
// sets timings or any window or reboot is set (central/groups calls it
// after a change to a group or an assignment).
func (s *Service) GroupTimingsChanged() {
	for _, c := range []*groupTimings{&s.timings, &s.gates} {
		c.mu.Lock()
		c.at = time.Time{}
		c.mu.Unlock()
	}
}

// anyGates reports whether any site or group sets a window or any
// assignment a reboot, re-read at most every groupTimingsTTL: while none
// does, a PROLOG or jobs poll reads nothing more for them.
func (s *Service) anyGates(ctx context.Context, now time.Time) bool {
	c := &s.gates
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || now.Sub(c.at) >= groupTimingsTTL || now.Before(c.at) {
		found, err := s.store.AnyGates(ctx)
		if err != nil {
			s.log.Warn("deployment windows", "err", err)
			return true // check each deployment
		}
		c.at, c.any = now, found
	}
	return c.any
}

// OpensWithin reports whether a computer (in site siteID) has a pending
// deployment that its window holds at now and lets through at some
// minute within d: central/wake then wakes the computer before the window
// opens. It samples every minute of d (at most a day).
func (s *Service) OpensWithin(ctx context.Context, computerID uint, siteID *uint, now time.Time, d time.Duration) (bool, error) {
	pend, err := s.PendingForComputer(ctx, computerID, now)
	if err != nil || len(pend) == 0 {
		return false, err
	}
	open, err := s.gate(ctx, siteID, pend, now)
	if err != nil || len(open) == len(pend) {
		return false, err
	}
	held := pend[:0:0]
	for _, p := range pend {
		if !slices.ContainsFunc(open, func(g gated) bool { return g.Deployment.ID == p.Deployment.ID }) {
			held = append(held, p)
		}
	}
	// gate reads the windows once per call; a day of minutes is 1,440
	// calls at most, each with one site read and one join, only for
	// computers that have held deployments and sleep.
	step := max(time.Minute, d/60)
	for t := now.Add(step); !t.After(now.Add(min(d, 24*time.Hour))); t = t.Add(step) {
		later, err := s.gate(ctx, siteID, held, t)
		if err != nil {
			return false, err
		}
		if len(later) > 0 {
			return true, nil
		}
	}
	return false, nil
}
