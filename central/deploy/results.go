package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// The deployment state machine. A deployment is created waiting
// (AffectComputers). Every transition is decided here, by next:
//
//	notify    waiting              → notified (advertised to the agent)
//	          any other state      → unchanged, nothing written
//	installed waiting or notified  → success (package already in the history)
//	          any other state      → unchanged, nothing written
//	force     finished             → waiting (re-affected with force)
//	          any other state      → unchanged (Force set)
//	result    any state            → success (SUCCESS* code) or error; a
//	          success again on success keeps the first code (event only)
//	progress  not finished         → downloading, downloaded or running
//	          finished             → refused (store.ErrInvalid)
//	cancel    cancelled            → cancelled, nothing written
//	          success or error     → refused (store.ErrInvalid)
//	          any other state      → cancelled
//	redeploy  any state            → waiting, with Force set
//
// A result is accepted in every state, cancelled included: the agent ran the
// package whatever central decided since, and the result says what happened.
// The rules that pick the deployments an event applies to (a forced
// affectation, a package already in the history) are in affect.go.

// event is what happens to a deployment.
type event struct {
	kind  eventKind
	code  string // the result code, for evResult
	state string // the reported state, for evProgress
}

type eventKind int

const (
	evResult eventKind = iota
	evProgress
	evCancel
	evRedeploy
	evNotify
	evInstalled
	evForce
)

// next returns the state a deployment in state from moves to on ev, or an
// error wrapping store.ErrInvalid when the transition is refused. A returned
// state equal to from is no change of state.
func next(from string, ev event) (string, error) {
	finished := from == store.StateSuccess || from == store.StateError || from == store.StateCancelled
	switch ev.kind {
	case evResult:
		return ResultState(ev.code), nil
	case evProgress:
		switch ev.state {
		case store.StateDownloading, store.StateDownloaded, store.StateRunning:
		default:
			return "", fmt.Errorf("state %q: %w", ev.state, store.ErrInvalid)
		}
		if finished {
			return "", fmt.Errorf("deployment is %s: %w", from, store.ErrInvalid)
		}
		return ev.state, nil
	case evCancel:
		switch from {
		case store.StateCancelled:
			return from, nil
		case store.StateSuccess, store.StateError:
			return "", fmt.Errorf("deployment is %s: %w", from, store.ErrInvalid)
		}
		return store.StateCancelled, nil
	case evRedeploy:
		return store.StateWaiting, nil
	case evNotify:
		if from == store.StateWaiting {
			return store.StateNotified, nil
		}
		return from, nil
	case evInstalled:
		if from == store.StateWaiting || from == store.StateNotified {
			return store.StateSuccess, nil
		}
		return from, nil
	case evForce:
		if finished {
			return store.StateWaiting, nil
		}
		return from, nil
	}
	return "", fmt.Errorf("event %d: %w", ev.kind, store.ErrInvalid)
}

// ResultState classifies a raw OCS result code: any SUCCESS* is
// store.StateSuccess, everything else (ERR_*, EXIT_CODE_*, UNKNOWN_CODE) is
// store.StateError.
func ResultState(code string) string {
	if strings.HasPrefix(code, "SUCCESS") {
		return store.StateSuccess
	}
	return store.StateError
}

// Report is an agent's result for the deployment of a package on a
// computer, from either agent protocol.
type Report struct {
	ComputerID uint
	PackageID  string
	// Code is the raw OCS result code; empty is store.CodeUnknown.
	Code string
	// Detail goes into the deployment event: a Shoal agent sends the error
	// or the command's output tail; an OCS agent sends none.
	Detail string
	// AddHistory adds the package to the computer's download history on
	// success. A Shoal agent's history only grows by its results; an OCS
	// agent reports its whole history in its next inventory instead.
	AddHistory bool
	At         time.Time
}

// RecordResult stores r in one transaction: the code exactly as the agent
// sent it (UNKNOWN_CODE when empty; a success reported again for a
// deployment that already succeeded only adds its event), the state by
// ResultState, the finish time, Force cleared, an event
// with r.Detail and, with r.AddHistory and a SUCCESS* code, the package in
// the computer's history. It gives store.ErrNotFound when the package is not
// affected to the computer. Both the Shoal agent API and the OCS
// QUERY=DOWNLOAD report (Result) call it.
func (s *Service) RecordResult(ctx context.Context, r Report) error {
	code := strings.TrimSpace(r.Code)
	if code == "" {
		code = store.CodeUnknown
	}
	at := r.At.UTC()
	var state string
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		d, err := tx.DeploymentFor(ctx, r.ComputerID, r.PackageID)
		if err != nil {
			return err
		}
		state, err = next(d.State, event{kind: evResult, code: code})
		if err != nil {
			return err
		}
		// A success re-reported for a deployment that already succeeded
		// (the Unix agent's SUCCESS_ALREADY_SETUP from its history, or
		// SUCCESS_ when it re-sends a result, ocs.ResultSuccessResent)
		// keeps the first code and finish time: the event below records
		// the new code exactly.
		resent := d.State == store.StateSuccess && state == store.StateSuccess && d.ResultCode != ""
		if !resent {
			if err := tx.FinishDeployment(ctx, d.ID, state, code, at); err != nil {
				return err
			}
		}
		if r.AddHistory && state == store.StateSuccess {
			if err := tx.AddHistory(ctx, r.ComputerID, r.PackageID); err != nil {
				return err
			}
		}
		return tx.AddDeploymentEvents(ctx, store.DeploymentEvent{DeploymentID: d.ID, At: at,
			FromState: d.State, ToState: state, Code: code, Detail: r.Detail})
	})
	if err != nil {
		return fmt.Errorf("record result computer %d package %s: %w", r.ComputerID, r.PackageID, err)
	}
	s.metrics.Result(state)
	return nil
}

// RecordProgress stores a Shoal agent's progress report for (computer,
// package). An event is written only when the state changes. A finished
// deployment gives store.ErrInvalid: the agent should stop.
func (s *Service) RecordProgress(ctx context.Context, computerID uint, packageID string, p store.Progress, at time.Time) error {
	if _, err := next(store.StateWaiting, event{kind: evProgress, state: p.State}); err != nil {
		return fmt.Errorf("record progress: %w", err)
	}
	if p.FragmentsDone < 0 || p.FragmentsTotal < 0 || p.BytesPeer < 0 || p.BytesRelay < 0 || p.BytesCentral < 0 {
		return fmt.Errorf("record progress: negative counter: %w", store.ErrInvalid)
	}
	at = at.UTC()
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		d, err := tx.DeploymentFor(ctx, computerID, packageID)
		if err != nil {
			return err
		}
		state, err := next(d.State, event{kind: evProgress, state: p.State})
		if err != nil {
			return fmt.Errorf("deployment %d: %w", d.ID, err)
		}
		if err := tx.SaveProgress(ctx, d.ID, p); err != nil || d.State == state {
			return err
		}
		return tx.AddDeploymentEvents(ctx, store.DeploymentEvent{DeploymentID: d.ID, At: at,
			FromState: d.State, ToState: state, Code: store.EventProgress})
	})
	if err != nil {
		return fmt.Errorf("record progress computer %d package %s: %w", computerID, packageID, err)
	}
	return nil
}

// Redeploy puts a deployment back to waiting with Force set, so it is
// advertised again even if the package is in the history.
func (s *Service) Redeploy(ctx context.Context, deploymentID uint) error {
	now := time.Now().UTC()
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		d, err := tx.Deployment(ctx, deploymentID)
		if err != nil {
			return err
		}
		state, err := next(d.State, event{kind: evRedeploy})
		if err != nil {
			return err
		}
		if err := tx.ResetDeployment(ctx, d.ID); err != nil {
			return err
		}
		return tx.AddDeploymentEvents(ctx, store.DeploymentEvent{DeploymentID: d.ID, At: now,
			FromState: d.State, ToState: state, Code: store.EventRedeploy})
	})
	if err != nil {
		return fmt.Errorf("redeploy %d: %w", deploymentID, err)
	}
	s.jobsChanged(ctx, s.computerOfDeployment(ctx, deploymentID))
	return nil
}

// Cancel moves a deployment to cancelled; it is never advertised again
// (until Redeploy or a forced Affect). Cancelling a cancelled deployment does
// nothing; cancelling one that succeeded or failed gives store.ErrInvalid.
func (s *Service) Cancel(ctx context.Context, deploymentID uint) error {
	now := time.Now().UTC()
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		d, err := tx.Deployment(ctx, deploymentID)
		if err != nil {
			return err
		}
		state, err := next(d.State, event{kind: evCancel})
		if err != nil || state == d.State {
			return err
		}
		if err := tx.CancelDeployment(ctx, d.ID, now); err != nil {
			return err
		}
		return tx.AddDeploymentEvents(ctx, store.DeploymentEvent{DeploymentID: d.ID, At: now,
			FromState: d.State, ToState: state, Code: store.EventCancelled})
	})
	if err != nil {
		return fmt.Errorf("cancel deployment %d: %w", deploymentID, err)
	}
	s.jobsChanged(ctx, s.computerOfDeployment(ctx, deploymentID))
	return nil
}
