package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// pendingStates are the states in which a deployment is advertised.
var pendingStates = []string{store.StateWaiting, store.StateNotified}

// activeStates are the deployment states a Shoal agent is working on.
var activeStates = []string{store.StateDownloading, store.StateDownloaded, store.StateRunning}

// AffectComputers assigns a package to computers, active or not. It is
// idempotent: computers that already have a deployment of the package keep
// it as it is, unless force is set, in which case finished deployments
// (success, error, cancelled) go back to waiting and every deployment gets
// Force (it ignores the history). It returns the number of deployments
// created or changed. Unknown package or computer IDs give
// store.ErrNotFound and change nothing.
func (s *Service) AffectComputers(ctx context.Context, packageID string, computerIDs []uint, force bool) (int, error) {
	ids := slices.Clone(computerIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := s.now().UTC()
	changed := 0
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		changed = 0
		if _, err := tx.Package(ctx, packageID); err != nil {
			return err
		}
		known, err := tx.ExistingComputerIDs(ctx, ids)
		if err != nil {
			return err
		}
		if len(known) != len(ids) {
			for _, id := range ids {
				if !slices.Contains(known, id) {
					return fmt.Errorf("computer %d: %w", id, store.ErrNotFound)
				}
			}
		}
		existing, err := tx.DeploymentsOfPackage(ctx, packageID, ids)
		if err != nil {
			return err
		}
		has := make(map[uint]bool, len(existing))
		var reset, forced []uint
		var events []store.DeploymentEvent
		for _, d := range existing {
			has[d.ComputerID] = true
			if !force {
				continue
			}
			state, err := next(d.State, event{kind: evForce})
			if err != nil {
				return err
			}
			switch {
			case state != d.State:
				reset = append(reset, d.ID)
				events = append(events, store.DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
					ToState: state, Code: store.EventForced, Detail: "re-affected with force"})
			case !d.Force:
				forced = append(forced, d.ID)
				events = append(events, store.DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
					ToState: d.State, Code: store.EventForced, Detail: "force set"})
			}
		}
		var fresh []uint
		for _, id := range ids {
			if !has[id] {
				fresh = append(fresh, id)
			}
		}
		created, err := tx.CreateDeployments(ctx, packageID, fresh, force, now)
		if err != nil {
			return err
		}
		if err := tx.ResetDeployments(ctx, reset); err != nil {
			return err
		}
		if err := tx.SetDeploymentsForce(ctx, forced); err != nil {
			return err
		}
		if err := tx.AddDeploymentEvents(ctx, events...); err != nil {
			return err
		}
		changed = len(created) + len(reset) + len(forced)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("affect package %s: %w", packageID, err)
	}
	if changed > 0 {
		s.jobsChanged(ctx, ids)
	}
	return changed, nil
}

// PendingForComputer returns the deployments to advertise to a computer:
// those of active packages in state waiting or notified, ordered by package
// priority (lower first) then package ID. A deployment whose package is in
// the computer's download history and that is not forced is not returned;
// it is marked success with code SUCCESS_ALREADY_IN_HISTORY at now.
func (s *Service) PendingForComputer(ctx context.Context, computerID uint, now time.Time) ([]store.Pending, error) {
	now = now.UTC()
	pend, err := s.store.ComputerDeployments(ctx, computerID, pendingStates...)
	if err != nil {
		return nil, fmt.Errorf("pending for computer %d: %w", computerID, err)
	}
	if len(pend) == 0 {
		return nil, nil
	}
	history, err := s.store.History(ctx, computerID)
	if err != nil {
		return nil, fmt.Errorf("pending for computer %d: %w", computerID, err)
	}
	var installed []uint
	kept := pend[:0]
	for _, p := range pend {
		if !p.Deployment.Force && slices.Contains(history, p.Deployment.PackageID) {
			installed = append(installed, p.Deployment.ID)
			continue
		}
		kept = append(kept, p)
	}
	if len(installed) > 0 {
		if err := s.markInstalled(ctx, installed, now); err != nil {
			return nil, fmt.Errorf("pending for computer %d: %w", computerID, err)
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return kept, nil
}

// markInstalled closes deployments whose package is already in the history,
// unless they changed (or were forced) since they were read.
func (s *Service) markInstalled(ctx context.Context, ids []uint, now time.Time) error {
	return s.store.Tx(ctx, func(tx *store.Store) error {
		deps, err := tx.DeploymentsByID(ctx, ids)
		if err != nil {
			return err
		}
		var events []store.DeploymentEvent
		for _, d := range deps {
			if d.Force {
				continue
			}
			state, err := next(d.State, event{kind: evInstalled})
			if err != nil {
				return err
			}
			if state == d.State {
				continue
			}
			if err := tx.FinishDeployment(ctx, d.ID, state, store.CodeAlreadyInHistory, now); err != nil {
				return err
			}
			events = append(events, store.DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
				ToState: state, Code: store.CodeAlreadyInHistory, Detail: "package in the computer's download history"})
		}
		return tx.AddDeploymentEvents(ctx, events...)
	})
}

// MarkNotified moves waiting deployments to notified (counting an attempt
// and writing an event). Deployments in any other state, and unknown IDs,
// are left alone.
func (s *Service) MarkNotified(ctx context.Context, deploymentIDs []uint, at time.Time) error {
	if len(deploymentIDs) == 0 {
		return nil
	}
	at = at.UTC()
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		deps, err := tx.DeploymentsByID(ctx, deploymentIDs)
		if err != nil {
			return err
		}
		var ids []uint
		var events []store.DeploymentEvent
		for _, d := range deps {
			state, err := next(d.State, event{kind: evNotify})
			if err != nil {
				return err
			}
			if state == d.State {
				continue
			}
			ids = append(ids, d.ID)
			events = append(events, store.DeploymentEvent{DeploymentID: d.ID, At: at, FromState: d.State,
				ToState: state, Code: store.EventNotified})
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.NotifyDeployments(ctx, ids, at); err != nil {
			return err
		}
		return tx.AddDeploymentEvents(ctx, events...)
	})
	if err != nil {
		return fmt.Errorf("mark notified: %w", err)
	}
	return nil
}

// AgentJobs returns what a Shoal agent that does not honour a held install
// should be working on: Jobs without holds, as store.Pending.
func (s *Service) AgentJobs(ctx context.Context, computerID uint, now time.Time) ([]store.Pending, error) {
	jobs, err := s.Jobs(ctx, computerID, now, false)
	if err != nil {
		return nil, err
	}
	out := make([]store.Pending, len(jobs))
	for i, j := range jobs {
		out[i] = j.Pending
	}
	return out, nil
}

// AgentJob is a deployment of an agent's job list; InstallAfter, when not
// zero, holds its install until then (its window is closed).
type AgentJob struct {
	store.Pending
	InstallAfter time.Time
}

// Jobs returns what a Shoal agent should be working on: the pending
// deployments of PendingForComputer (same history rule) plus those it has
// started (downloading, downloaded, running), all of active packages,
// ordered by package priority then package ID. Deployments outside their
// window: without hold they are left out until it opens (those already
// started go on); with hold (an agent that honours proto.Job.InstallAfter)
// they are listed with the time their window opens, so that the agent
// downloads now and installs then, and so is a started deployment that has
// not begun installing.
func (s *Service) Jobs(ctx context.Context, computerID uint, now time.Time, hold bool) ([]AgentJob, error) {
	pend, err := s.PendingForComputer(ctx, computerID, now)
	if err != nil {
		return nil, fmt.Errorf("agent jobs: %w", err)
	}
	started, err := s.store.ComputerDeployments(ctx, computerID, activeStates...)
	if err != nil {
		return nil, fmt.Errorf("agent jobs: %w", err)
	}
	var out []AgentJob
	gated := slices.Clip(pend)
	for _, p := range started {
		if hold && p.Deployment.State != store.StateRunning {
			gated = append(gated, p)
		} else {
			out = append(out, AgentJob{Pending: p})
		}
	}
	if len(gated) > 0 {
		var siteID *uint
		if s.anyGates(ctx, now) { // else gateHeld lets everything through unread
			comp, err := s.store.Computer(ctx, computerID)
			if err != nil {
				return nil, fmt.Errorf("agent jobs: %w", err)
			}
			siteID = comp.SiteID
		}
		open, held, err := s.gateHeld(ctx, siteID, gated, now)
		if err != nil {
			return nil, fmt.Errorf("agent jobs: %w", err)
		}
		for _, g := range open {
			out = append(out, AgentJob{Pending: g.Pending})
		}
		for _, g := range held {
			if hold {
				out = append(out, AgentJob{Pending: g.Pending, InstallAfter: g.Until})
			}
		}
	}
	slices.SortFunc(out, func(a, b AgentJob) int {
		return cmp.Or(cmp.Compare(a.Package.Priority, b.Package.Priority), strings.Compare(a.Package.ID, b.Package.ID))
	})
	return out, nil
}
