package groups

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
)

// AssignInput makes an assignment: exactly one of GroupID, SiteID and
// Search names its target.
type AssignInput struct {
	PackageID string
	GroupID   *uint
	SiteID    *uint
	// Search is a saved search (query parameters of GET /computers).
	Search url.Values
	// After holds each member's deployment until this package succeeded
	// on the member (or is in its history).
	After string
	// Baseline (site targets only) gives the package only to computers
	// that join the site from now on.
	Baseline bool
	// Stage or StagePercent (at most one) roll the package out in waves
	// of that many computers (or that share) per site; MaxFailurePercent
	// of the finished deployments may fail before the rollout pauses.
	Stage, StagePercent, MaxFailurePercent int
	// Reboot asks OCS agents to reboot after a successful install
	// (POSTCMD=REBOOT; Windows agents only).
	Reboot bool
}

// AssignmentStatus is an assignment and what its members reached.
type AssignmentStatus struct {
	Assignment store.Assignment
	// TargetName is the group's or site's name, or the saved search.
	TargetName string
	Members    int64
	// Done succeeded, Failed ended in error, Pending are waiting,
	// notified or under way; Held wait for After; Cancelled were
	// cancelled by an admin; Skipped were in the site before a baseline
	// assignment.
	Done, Failed, Pending, Held, Cancelled, Skipped int64
}

// Assign records desired state and applies it at once: every computer of
// the target (of the package's platform) gets a deployment, unless it is
// held back by After or skipped by Baseline.
func (s *Service) Assign(ctx context.Context, who audit.Actor, in AssignInput) (*AssignmentStatus, error) {
	pkg, err := s.store.Package(ctx, in.PackageID)
	if err != nil {
		return nil, fmt.Errorf("assign package %s: %w", in.PackageID, err)
	}
	if !pkg.Active {
		return nil, fmt.Errorf("assign package %s: %w", in.PackageID, deploy.ErrNotActive)
	}
	switch {
	case in.Stage < 0 || in.StagePercent < 0 || in.StagePercent > 100 || in.MaxFailurePercent < 0 || in.MaxFailurePercent > 100:
		return nil, fmt.Errorf("stage must be positive, stage_percent and max_failure_percent within 0..100: %w", ErrInvalid)
	case in.Stage > 0 && in.StagePercent > 0:
		return nil, fmt.Errorf("give a stage as a number of computers or as a percentage, not both: %w", ErrInvalid)
	case in.MaxFailurePercent > 0 && in.Stage == 0 && in.StagePercent == 0:
		return nil, fmt.Errorf("max_failure_percent applies to a staged rollout: give stage or stage_percent: %w", ErrInvalid)
	}
	a := &store.Assignment{PackageID: pkg.ID, AfterPackageID: in.After, Baseline: in.Baseline, CreatedAt: s.now().UTC(),
		StageSize: in.Stage, StagePercent: in.StagePercent, MaxFailurePercent: in.MaxFailurePercent, Reboot: in.Reboot}
	q, err := s.filterQuery(in.Search)
	if err != nil {
		return nil, err
	}
	targets := 0
	if in.GroupID != nil {
		targets++
		if _, err := s.store.Group(ctx, *in.GroupID); err != nil {
			return nil, fmt.Errorf("assign to group %d: %w", *in.GroupID, err)
		}
		a.Target, a.GroupID = store.TargetGroup, in.GroupID
	}
	if in.SiteID != nil {
		targets++
		if _, err := s.store.Site(ctx, *in.SiteID); err != nil {
			return nil, fmt.Errorf("assign to site %d: %w", *in.SiteID, err)
		}
		a.Target, a.SiteID = store.TargetSite, in.SiteID
	}
	if q != "" {
		targets++
		a.Target, a.Filter = store.TargetSearch, q
	}
	if targets != 1 {
		return nil, fmt.Errorf("an assignment targets exactly one group, site or saved search (got %d): %w", targets, ErrInvalid)
	}
	if in.Baseline && a.Target != store.TargetSite {
		return nil, fmt.Errorf("baseline applies to a site's new computers: target a site: %w", ErrInvalid)
	}
	if in.After != "" {
		if in.After == pkg.ID {
			return nil, fmt.Errorf("a package cannot come after itself: %w", ErrInvalid)
		}
		if _, err := s.store.Package(ctx, in.After); err != nil {
			return nil, fmt.Errorf("after package %s: %w", in.After, err)
		}
	}
	existing, err := s.store.Assignments(ctx, store.AssignmentFilter{PackageID: pkg.ID})
	if err != nil {
		return nil, err
	}
	for _, e := range existing {
		if e.Target == a.Target && eqPtr(e.GroupID, a.GroupID) && eqPtr(e.SiteID, a.SiteID) && e.Filter == a.Filter {
			return nil, fmt.Errorf("package %s is already assigned to this target (assignment %d): %w", pkg.ID, e.ID, store.ErrConflict)
		}
	}
	if err := s.store.CreateAssignment(ctx, a); err != nil {
		return nil, err
	}
	s.mu.Lock()
	err = s.reconcile(ctx, a, nil, true)
	if err == nil {
		err = s.release(ctx, a)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	st, err := s.status(ctx, *a)
	if err != nil {
		return nil, err
	}
	s.dep.GroupTimingsChanged()
	s.audit.Record(ctx, who, "assignment.create", pkg.ID, fmt.Sprintf("%s %s, %d members", a.Target, st.TargetName, st.Members))
	return st, nil
}

func eqPtr(a, b *uint) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// Unassign deletes an assignment: its members keep what they installed,
// and their pending deployments that no other assignment wants are
// cancelled.
func (s *Service) Unassign(ctx context.Context, who audit.Actor, id uint) error {
	a, err := s.store.Assignment(ctx, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.store.AssignmentMembers(ctx, id, nil)
	if err != nil {
		return err
	}
	if err := s.store.DeleteAssignment(ctx, id); err != nil {
		return err
	}
	n, err := s.cancelLeavers(ctx, a, rows, "assignment removed")
	if err != nil {
		return err
	}
	s.audit.Record(ctx, who, "assignment.delete", a.PackageID, fmt.Sprintf("assignment %d, %d pending deployments cancelled", id, n))
	return nil
}

// Resume lifts the pause of a staged rollout; the next waves go out at
// the next sweep (failed deployments stay failed: redeploy them to try
// again).
func (s *Service) Resume(ctx context.Context, who audit.Actor, id uint) (*AssignmentStatus, error) {
	a, err := s.store.Assignment(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Staged() {
		return nil, fmt.Errorf("assignment %d is not a staged rollout: %w", id, ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The failures seen so far are accepted: only later ones count.
	st, err := s.status(ctx, *a)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetAssignmentPaused(ctx, id, false, "", int(st.Failed)); err != nil {
		return nil, err
	}
	a.Paused, a.PausedReason, a.ForgivenFailures = false, "", int(st.Failed)
	if err := s.release(ctx, a); err != nil {
		return nil, err
	}
	s.audit.Record(ctx, who, "assignment.resume", a.PackageID, fmt.Sprintf("assignment %d", id))
	return s.status(ctx, *a)
}

// Assignments lists the assignments f selects with their counts.
func (s *Service) Assignments(ctx context.Context, f store.AssignmentFilter) ([]AssignmentStatus, error) {
	as, err := s.store.Assignments(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]AssignmentStatus, 0, len(as))
	for _, a := range as {
		st, err := s.status(ctx, a)
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// Assignment returns one assignment with its counts.
func (s *Service) Assignment(ctx context.Context, id uint) (*AssignmentStatus, error) {
	a, err := s.store.Assignment(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.status(ctx, *a)
}

func (s *Service) status(ctx context.Context, a store.Assignment) (*AssignmentStatus, error) {
	c, err := s.store.AssignmentStateCounts(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	st := &AssignmentStatus{Assignment: a, Members: c.Members, Held: c.Held, Skipped: c.Skipped,
		Done: c.States[store.StateSuccess], Failed: c.States[store.StateError], Cancelled: c.States[store.StateCancelled]}
	for _, state := range []string{store.StateWaiting, store.StateNotified, store.StateDownloading, store.StateDownloaded, store.StateRunning} {
		st.Pending += c.States[state]
	}
	switch a.Target {
	case store.TargetGroup:
		if g, err := s.store.Group(ctx, *a.GroupID); err == nil {
			st.TargetName = g.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	case store.TargetSite:
		if site, err := s.store.Site(ctx, *a.SiteID); err == nil {
			st.TargetName = site.Name
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	case store.TargetSearch:
		st.TargetName = a.Filter
	}
	return st, nil
}
