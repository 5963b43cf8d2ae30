package groups

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// sweepState is where Sweep resumes; Service.mu owns it.
type sweepState struct {
	since time.Time
	// seen holds the change times already handled within sweepOverlap of
	// since: a change written by a transaction that committed late has
	// an older time than rows already seen, so each sweep looks back.
	seen map[uint]time.Time
}

// sweepOverlap is how far back a sweep looks for changes committed late.
const sweepOverlap = 10 * time.Second

// sweepBatch bounds the computers one page of a sweep reads and applies
// (Service.batch; tests make it smaller).
const sweepBatch = 5000

// Sweep applies groups and assignments to the computers whose row
// changed since the last sweep (an inventory, a site move), then releases
// the members that waited for a package that has now succeeded. It pages
// through the changes s.batch at a time: a page that held only rows
// already seen (more than a page of changes within sweepOverlap, as a
// site edit moving thousands of computers at once makes) must not stop
// it, or the later changes would wait for the next full evaluation.
func (s *Service) Sweep(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sweep.seen == nil {
		s.sweep.seen = map[uint]time.Time{}
	}
	from := s.sweep.since.Add(-sweepOverlap)
	latest := s.sweep.since
	var after *store.ComputerChange
	for {
		rows, err := s.store.ChangedComputers(ctx, from, after, s.batch)
		if err != nil {
			return err
		}
		var changed []uint
		for _, r := range rows {
			if t, ok := s.sweep.seen[r.ID]; !ok || !t.Equal(r.UpdatedAt) {
				changed = append(changed, r.ID)
				s.sweep.seen[r.ID] = r.UpdatedAt
			}
			if r.UpdatedAt.After(latest) {
				latest = r.UpdatedAt
			}
		}
		if len(changed) > 0 {
			if err := s.apply(ctx, changed); err != nil {
				return err
			}
		}
		if len(rows) < s.batch {
			break
		}
		after = &rows[len(rows)-1]
	}
	s.sweep.since = latest
	for id, t := range s.sweep.seen {
		if t.Before(latest.Add(-sweepOverlap)) {
			delete(s.sweep.seen, id)
		}
	}
	return s.releaseHeld(ctx)
}

// apply evaluates every dynamic group and assignment for computers ids.
func (s *Service) apply(ctx context.Context, ids []uint) error {
	ids = dedup(ids)
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Dynamic() {
			if err := s.evaluateGroup(ctx, &g.Group, ids); err != nil {
				s.log.Warn("evaluate group", "group", g.Name, "err", err)
			}
		}
	}
	as, err := s.store.Assignments(ctx, store.AssignmentFilter{})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.reconcile(ctx, &a, ids, false); err != nil {
			s.log.Warn("reconcile assignment", "assignment", a.ID, "package", a.PackageID, "err", err)
		}
	}
	return nil
}

// EvaluateAll evaluates every dynamic group and reconciles every
// assignment over all computers, after dropping the rows of deleted
// computers and packages.
func (s *Service) EvaluateAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.PruneMembers(ctx); err != nil {
		return err
	}
	groups, err := s.store.Groups(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Dynamic() {
			if err := s.evaluateGroup(ctx, &g.Group, nil); err != nil {
				s.log.Warn("evaluate group", "group", g.Name, "err", err)
			}
		}
	}
	as, err := s.store.Assignments(ctx, store.AssignmentFilter{})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.reconcile(ctx, &a, nil, false); err != nil {
			s.log.Warn("reconcile assignment", "assignment", a.ID, "package", a.PackageID, "err", err)
		}
	}
	return s.releaseHeld(ctx)
}

// evaluateGroup sets a dynamic group's members among computers ids (nil:
// all) to those its search selects. s.mu is held.
func (s *Service) evaluateGroup(ctx context.Context, g *store.Group, among []uint) error {
	matched, err := s.search(ctx, g.Filter, among)
	if err != nil {
		return fmt.Errorf("group %q: %w", g.Name, err)
	}
	current, err := s.store.GroupMemberIDs(ctx, g.ID, among)
	if err != nil {
		return err
	}
	add, remove := diff(matched, current)
	if err := s.store.AddGroupMembers(ctx, g.ID, add, s.now()); err != nil {
		return err
	}
	if err := s.store.RemoveGroupMembers(ctx, g.ID, remove); err != nil {
		return err
	}
	if among == nil {
		if err := s.store.SetGroupEvaluated(ctx, g.ID, s.now()); err != nil {
			return err
		}
	}
	if len(add)+len(remove) > 0 {
		s.log.Info("group members changed", "group", g.Name, "joined", len(add), "left", len(remove))
	}
	return nil
}

// setMembers replaces a static group's members. s.mu is held.
func (s *Service) setMembers(ctx context.Context, id uint, ids []uint) error {
	current, err := s.store.GroupMemberIDs(ctx, id, nil)
	if err != nil {
		return err
	}
	add, remove := diff(ids, current)
	if err := s.store.AddGroupMembers(ctx, id, add, s.now()); err != nil {
		return err
	}
	return s.store.RemoveGroupMembers(ctx, id, remove)
}

// reconcileGroup reconciles the assignments of a group. s.mu is held.
func (s *Service) reconcileGroup(ctx context.Context, id uint) error {
	as, err := s.store.Assignments(ctx, store.AssignmentFilter{GroupID: &id})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.reconcile(ctx, &a, nil, false); err != nil {
			return err
		}
	}
	return nil
}

// search returns the computers a saved search selects among ids (nil:
// all), ascending.
func (s *Service) search(ctx context.Context, q string, among []uint) ([]uint, error) {
	f, err := storeFilter(q, s.now())
	if err != nil {
		return nil, err
	}
	if among == nil {
		return s.store.FindComputerIDs(ctx, f, maxMembers)
	}
	var out []uint
	for chunk := range slices.Chunk(among, 5000) {
		f.IDs = chunk
		ids, err := s.store.FindComputerIDs(ctx, f, maxMembers)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

// target returns the computers assignment a targets among ids (nil: all).
func (s *Service) target(ctx context.Context, a *store.Assignment, among []uint) ([]uint, error) {
	switch a.Target {
	case store.TargetGroup:
		return s.store.GroupMemberIDs(ctx, *a.GroupID, among)
	case store.TargetSite:
		if among == nil {
			return s.store.FindComputerIDs(ctx, store.ComputerFilter{SiteID: a.SiteID}, maxMembers)
		}
		sites, err := s.store.ComputerSites(ctx, among)
		if err != nil {
			return nil, err
		}
		var out []uint
		for _, id := range among {
			if sid, ok := sites[id]; ok && sid != nil && *sid == *a.SiteID {
				out = append(out, id)
			}
		}
		return out, nil
	case store.TargetSearch:
		return s.search(ctx, a.Filter, among)
	}
	return nil, fmt.Errorf("assignment %d: target %q: %w", a.ID, a.Target, ErrInvalid)
}

// reconcile makes assignment a's members among ids (nil: all) match its
// target: joiners get the package (unless held by After, or skipped
// because they were in a baseline assignment's site when it was made),
// leavers lose their member row and their pending deployment. s.mu is
// held.
func (s *Service) reconcile(ctx context.Context, a *store.Assignment, among []uint, initial bool) error {
	if among != nil && len(among) == 0 {
		return nil
	}
	pkg, err := s.store.Package(ctx, a.PackageID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // EvaluateAll prunes it.
	}
	if err != nil {
		return err
	}
	want, err := s.target(ctx, a, among)
	if err != nil {
		return err
	}
	if want, _, err = s.dep.PlatformKeep(ctx, pkg, want); err != nil {
		return err
	}
	rows, err := s.store.AssignmentMembers(ctx, a.ID, among)
	if err != nil {
		return err
	}
	have := make([]uint, len(rows))
	for i, r := range rows {
		have[i] = r.ComputerID
	}
	joins, leaves := diff(want, have)
	now := s.now().UTC()
	var ready, held, skipped []uint
	switch {
	case initial && a.Baseline:
		skipped = joins
	case a.Staged():
		held = joins // release hands out the waves
	case a.AfterPackageID != "":
		ok, err := s.store.Succeeded(ctx, a.AfterPackageID, joins)
		if err != nil {
			return err
		}
		for _, id := range joins {
			if slices.Contains(ok, id) {
				ready = append(ready, id)
			} else {
				held = append(held, id)
			}
		}
	default:
		ready = joins
	}
	deps, err := s.dep.Ensure(ctx, a.PackageID, ready, fmt.Sprintf("joined assignment %d", a.ID))
	if err != nil {
		return err
	}
	add := make([]store.AssignmentMember, 0, len(joins))
	for _, id := range ready {
		d := deps[id]
		add = append(add, store.AssignmentMember{AssignmentID: a.ID, ComputerID: id, DeploymentID: &d, Since: now})
	}
	for _, id := range held {
		add = append(add, store.AssignmentMember{AssignmentID: a.ID, ComputerID: id, Since: now})
	}
	for _, id := range skipped {
		add = append(add, store.AssignmentMember{AssignmentID: a.ID, ComputerID: id, Skipped: true, Since: now})
	}
	if err := s.store.AddAssignmentMembers(ctx, add); err != nil {
		return err
	}
	var gone []store.AssignmentMember
	for _, r := range rows {
		if slices.Contains(leaves, r.ComputerID) {
			gone = append(gone, r)
		}
	}
	if err := s.store.RemoveAssignmentMembers(ctx, a.ID, leaves); err != nil {
		return err
	}
	cancelled, err := s.cancelLeavers(ctx, a, gone, fmt.Sprintf("left the target of assignment %d", a.ID))
	if err != nil {
		return err
	}
	if len(joins)+len(leaves) > 0 {
		s.log.Info("assignment applied", "assignment", a.ID, "package", a.PackageID, "joined", len(ready),
			"held", len(held), "skipped", len(skipped), "left", len(leaves), "cancelled", cancelled)
	}
	return nil
}

// cancelLeavers cancels the pending deployments of member rows that no
// other assignment references. s.mu is held.
func (s *Service) cancelLeavers(ctx context.Context, a *store.Assignment, rows []store.AssignmentMember, why string) (int, error) {
	var ids []uint
	for _, r := range rows {
		if r.DeploymentID != nil {
			ids = append(ids, *r.DeploymentID)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	kept, err := s.store.OtherAssignmentHolds(ctx, a.ID, ids)
	if err != nil {
		return 0, err
	}
	ids = slices.DeleteFunc(ids, func(id uint) bool { return slices.Contains(kept, id) })
	return s.dep.CancelPending(ctx, ids, why)
}

// releaseHeld releases the held members of every assignment that holds
// some back (After, staged rollout). s.mu is held.
func (s *Service) releaseHeld(ctx context.Context) error {
	as, err := s.store.Assignments(ctx, store.AssignmentFilter{})
	if err != nil {
		return err
	}
	for _, a := range as {
		if err := s.release(ctx, &a); err != nil {
			return err
		}
	}
	return nil
}

// release gives their deployment to the held members of a that may go:
// those whose After package has succeeded, and, in a staged rollout, the
// next wave of each site whose released deployments have all finished.
// s.mu is held.
func (s *Service) release(ctx context.Context, a *store.Assignment) error {
	if a.AfterPackageID == "" && !a.Staged() {
		return nil
	}
	held, err := s.store.HeldMembers(ctx, a.ID)
	if err != nil || len(held) == 0 {
		return err
	}
	ok := held
	if a.AfterPackageID != "" {
		if ok, err = s.store.Succeeded(ctx, a.AfterPackageID, held); err != nil {
			return err
		}
		ok = dedup(ok)
	}
	if a.Staged() && len(ok) > 0 {
		if ok, err = s.nextWave(ctx, a, ok); err != nil {
			return err
		}
	}
	if len(ok) == 0 {
		return nil
	}
	why := fmt.Sprintf("released by assignment %d", a.ID)
	if a.AfterPackageID != "" {
		why = fmt.Sprintf("package %s done (assignment %d)", a.AfterPackageID, a.ID)
	}
	deps, err := s.dep.Ensure(ctx, a.PackageID, ok, why)
	if err != nil {
		return err
	}
	for cid, did := range deps {
		if err := s.store.SetAssignmentDeployment(ctx, a.ID, cid, did); err != nil {
			return err
		}
	}
	s.log.Info("held members released", "assignment", a.ID, "package", a.PackageID, "after", a.AfterPackageID, "count", len(deps))
	return nil
}

// nextWave returns the members of eligible that the staged rollout of a
// releases now, or pauses a when too many released deployments failed.
// s.mu is held.
func (s *Service) nextWave(ctx context.Context, a *store.Assignment, eligible []uint) ([]uint, error) {
	if a.Paused {
		return nil, nil
	}
	rows, err := s.store.AssignmentMembers(ctx, a.ID, nil)
	if err != nil {
		return nil, err
	}
	var ids, depIDs []uint
	for _, r := range rows {
		if r.Skipped {
			continue
		}
		ids = append(ids, r.ComputerID)
		if r.DeploymentID != nil {
			depIDs = append(depIDs, *r.DeploymentID)
		}
	}
	deps, err := s.store.DeploymentsByID(ctx, depIDs)
	if err != nil {
		return nil, err
	}
	sites, err := s.store.ComputerSites(ctx, ids)
	if err != nil {
		return nil, err
	}
	site := func(id uint) uint {
		if p := sites[id]; p != nil {
			return *p
		}
		return 0
	}
	size := map[uint]int{}
	for _, id := range ids {
		size[site(id)]++
	}
	busy := map[uint]bool{}
	done, failed := 0, 0
	codes := map[string]int{}
	for _, d := range deps {
		switch d.State {
		case store.StateSuccess:
			done++
		case store.StateError:
			failed++
			codes[d.ResultCode]++
		case store.StateCancelled:
		default:
			busy[site(d.ComputerID)] = true
		}
	}
	if counted := failed - a.ForgivenFailures; counted > 0 && counted*100 > a.MaxFailurePercent*(done+counted) {
		reason := pauseReason(done, counted, a.MaxFailurePercent, codes)
		if err := s.store.SetAssignmentPaused(ctx, a.ID, true, reason, a.ForgivenFailures); err != nil {
			return nil, err
		}
		a.Paused, a.PausedReason = true, reason
		s.log.Warn("staged rollout paused", "assignment", a.ID, "package", a.PackageID, "reason", reason)
		return nil, nil
	}
	taken := map[uint]int{}
	var out []uint
	for _, id := range eligible {
		k := site(id)
		wave := a.StageSize
		if wave == 0 {
			wave = max(1, (a.StagePercent*size[k]+99)/100)
		}
		if busy[k] || taken[k] >= wave {
			continue
		}
		taken[k]++
		out = append(out, id)
	}
	return out, nil
}

// pauseReason tells why a staged rollout paused, most frequent codes
// first.
func pauseReason(done, failed, maxPct int, codes map[string]int) string {
	type kv struct {
		code string
		n    int
	}
	var list []kv
	for c, n := range codes {
		list = append(list, kv{c, n})
	}
	slices.SortFunc(list, func(x, y kv) int {
		if x.n != y.n {
			return y.n - x.n
		}
		return strings.Compare(x.code, y.code)
	})
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s ×%d", e.code, e.n)
	}
	return fmt.Sprintf("%d of %d finished deployments failed (%d %%, more than %d %%): %s",
		failed, done+failed, failed*100/(done+failed), maxPct, strings.Join(parts, ", "))
}

// diff returns the IDs of want missing from have, and those of have
// missing from want.
func diff(want, have []uint) (add, remove []uint) {
	w := make(map[uint]bool, len(want))
	for _, id := range want {
		w[id] = true
	}
	h := make(map[uint]bool, len(have))
	for _, id := range have {
		h[id] = true
		if !w[id] {
			remove = append(remove, id)
		}
	}
	for _, id := range want {
		if !h[id] {
			add = append(add, id)
		}
	}
	return add, remove
}
