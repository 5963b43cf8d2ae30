package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

func affect(t *testing.T, s *store.Store, pkg string, ids ...uint) int {
	t.Helper()
	deps, err := s.CreateDeployments(t.Context(), pkg, ids, false, time.Now())
	if err != nil {
		t.Fatalf("CreateDeployments(%s, %v): %v", pkg, ids, err)
	}
	return len(deps)
}

func createActive(t *testing.T, s *store.Store, id string, priority int, active bool) {
	t.Helper()
	p := &store.Package{ID: id, Name: "pkg " + id, Priority: priority, Action: "EXECUTE", Command: "true"}
	if err := s.CreatePackage(t.Context(), p); err != nil {
		t.Fatalf("CreatePackage(%s): %v", id, err)
	}
	if active {
		if err := s.SetPackageActivation(t.Context(), id, true, "central:443/download", "central/download", store.ProtoHTTPS, time.Now()); err != nil {
			t.Fatalf("SetPackageActivation(%s): %v", id, err)
		}
	}
}

// TestCreateDeploymentsMany creates more deployments than one IN list
// holds; a second deployment of the package on a computer is a conflict.
func TestCreateDeploymentsMany(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		var ids []uint
		for i := range 600 {
			snap := &store.InventorySnapshot{Computer: store.Computer{DeviceID: fmt.Sprintf("m%04d-2026-11-24-07-24-08", i)}}
			ids = append(ids, mustIngest(t, s, snap).ComputerID)
		}
		createActive(t, s, "7", 5, true)
		if deps, err := s.CreateDeployments(t.Context(), "7", ids, false, time.Now()); err != nil || len(deps) != len(ids) {
			t.Fatalf("CreateDeployments = %d, %v; want %d", len(deps), err, len(ids))
		}
		counts, err := s.DeploymentCounts(t.Context(), "7")
		if err != nil {
			t.Fatalf("DeploymentCounts: %v", err)
		}
		if counts[store.StateWaiting] != int64(len(ids)) {
			t.Errorf("waiting = %d, want %d", counts[store.StateWaiting], len(ids))
		}
		if n := mustCount(t, s)["deployment_events"]; n != int64(len(ids)) {
			t.Errorf("events = %d, want %d", n, len(ids))
		}
		if _, err := s.CreateDeployments(t.Context(), "7", ids[:1], true, time.Now()); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second CreateDeployments = %v, want ErrConflict", err)
		}
		got, err := s.DeploymentsOfPackage(t.Context(), "7", ids)
		if err != nil || len(got) != len(ids) {
			t.Errorf("DeploymentsOfPackage = %d, %v; want %d", len(got), err, len(ids))
		}
		known, err := s.ExistingComputerIDs(t.Context(), append(ids, ids[len(ids)-1]+1000))
		if err != nil || len(known) != len(ids) {
			t.Errorf("ExistingComputerIDs = %d, %v; want %d", len(known), err, len(ids))
		}
	})
}

// finish stores a deployment's result as central/deploy records one: state,
// code, finish time, Force cleared and an event.
func finish(t *testing.T, s *store.Store, computerID uint, pkg, state, code string, at time.Time) {
	t.Helper()
	err := s.Tx(t.Context(), func(tx *store.Store) error {
		d, err := tx.DeploymentFor(t.Context(), computerID, pkg)
		if err != nil {
			return err
		}
		if err := tx.FinishDeployment(t.Context(), d.ID, state, code, at); err != nil {
			return err
		}
		return tx.AddDeploymentEvents(t.Context(), store.DeploymentEvent{DeploymentID: d.ID, At: at.UTC(),
			FromState: d.State, ToState: state, Code: code})
	})
	if err != nil {
		t.Fatalf("finish %s on %d: %v", pkg, computerID, err)
	}
}

// progress stores a progress report as central/deploy records one.
func progress(t *testing.T, s *store.Store, computerID uint, pkg string, p store.Progress, at time.Time) {
	t.Helper()
	err := s.Tx(t.Context(), func(tx *store.Store) error {
		d, err := tx.DeploymentFor(t.Context(), computerID, pkg)
		if err != nil {
			return err
		}
		if err := tx.SaveProgress(t.Context(), d.ID, p); err != nil || d.State == p.State {
			return err
		}
		return tx.AddDeploymentEvents(t.Context(), store.DeploymentEvent{DeploymentID: d.ID, At: at.UTC(),
			FromState: d.State, ToState: p.State, Code: store.EventProgress})
	})
	if err != nil {
		t.Fatalf("progress %s on %d: %v", pkg, computerID, err)
	}
}
