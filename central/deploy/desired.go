package deploy

import (
	"context"
	"fmt"
	"slices"

	"github.com/shoal-project/shoal/central/store"
)

// PlatformKeep returns the computers of ids that may get package pkg: those
// whose inventoried OS is not known to be of another platform (the rule of
// Affect). central/groups applies it to assignment members.
func (s *Service) PlatformKeep(ctx context.Context, pkg *store.Package, ids []uint) ([]uint, []Exclusion, error) {
	return s.checkPlatform(ctx, pkg, ids)
}

// Ensure makes package packageID deployed on computers ids, as desired
// state wants it: a computer without a deployment of it gets a waiting
// one, a cancelled deployment (the computer left and came back) goes back
// to waiting without Force, and every other deployment is kept as it is
// (a success stays done, an error stays failed). It returns each
// computer's deployment ID.
func (s *Service) Ensure(ctx context.Context, packageID string, ids []uint, why string) (map[uint]uint, error) {
	out := make(map[uint]uint, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	now := s.now().UTC()
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		clear(out)
		existing, err := tx.DeploymentsOfPackage(ctx, packageID, ids)
		if err != nil {
			return err
		}
		var reopen []uint
		for _, d := range existing {
			out[d.ComputerID] = d.ID
			if d.State == store.StateCancelled {
				reopen = append(reopen, d.ID)
			}
		}
		var fresh []uint
		for _, id := range ids {
			if _, ok := out[id]; !ok {
				fresh = append(fresh, id)
			}
		}
		created, err := tx.CreateDeployments(ctx, packageID, fresh, false, now)
		if err != nil {
			return err
		}
		for _, d := range created {
			out[d.ComputerID] = d.ID
		}
		return tx.ReopenDeployments(ctx, reopen, now, why)
	})
	if err != nil {
		return nil, fmt.Errorf("ensure package %s: %w", packageID, err)
	}
	s.jobsChanged(ctx, ids)
	return out, nil
}

// CancelPending cancels those of the deployments ids that are still
// pending (waiting or notified), with detail in their event; deployments
// an agent started or finished are left alone. It returns how many it
// cancelled.
func (s *Service) CancelPending(ctx context.Context, ids []uint, detail string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	now := s.now().UTC()
	n := 0
	var woken []uint
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		n, woken = 0, woken[:0]
		deps, err := tx.DeploymentsByID(ctx, ids)
		if err != nil {
			return err
		}
		var events []store.DeploymentEvent
		for _, d := range deps {
			if !slices.Contains(pendingStates, d.State) {
				continue
			}
			if err := tx.CancelDeployment(ctx, d.ID, now); err != nil {
				return err
			}
			events = append(events, store.DeploymentEvent{DeploymentID: d.ID, At: now, FromState: d.State,
				ToState: store.StateCancelled, Code: store.EventCancelled, Detail: detail})
			n++
			woken = append(woken, d.ComputerID)
		}
		return tx.AddDeploymentEvents(ctx, events...)
	})
	if err != nil {
		return 0, fmt.Errorf("cancel pending: %w", err)
	}
	if n > 0 {
		s.jobsChanged(ctx, woken)
	}
	return n, nil
}
