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
	n, err := s.Affect(t.Context(), pkg, ids, false)
	if err != nil {
		t.Fatalf("Affect(%s, %v): %v", pkg, ids, err)
	}
	return n
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

func pendingIDs(t *testing.T, s *store.Store, computerID uint) []string {
	t.Helper()
	p, err := s.PendingForComputer(t.Context(), computerID, time.Now())
	if err != nil {
		t.Fatalf("PendingForComputer: %v", err)
	}
	var out []string
	for _, x := range p {
		if x.Package.ID != x.Deployment.PackageID {
			t.Errorf("pending package %s joined with deployment of %s", x.Package.ID, x.Deployment.PackageID)
		}
		out = append(out, x.Package.ID)
	}
	return out
}

func deploymentOf(t *testing.T, s *store.Store, computerID uint, pkg string) store.Deployment {
	t.Helper()
	deps, _, err := s.ListDeployments(t.Context(), store.DeploymentFilter{ComputerID: computerID, PackageID: pkg})
	if err != nil || len(deps) != 1 {
		t.Fatalf("ListDeployments(%d, %s) = %v, %v; want one", computerID, pkg, deps, err)
	}
	return deps[0]
}

func TestAffectErrors(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
		createActive(t, s, "42", 5, true)
		tests := []struct {
			name string
			pkg  string
			ids  []uint
		}{
			{name: "unknown-package", pkg: "43", ids: []uint{c}},
			{name: "unknown-computer", pkg: "42", ids: []uint{c, c + 1000}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := s.Affect(t.Context(), tt.pkg, tt.ids, false); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Affect = %v, want ErrNotFound", err)
				}
			})
		}
		if n := mustCount(t, s)["deployments"]; n != 0 {
			t.Errorf("failed Affect left %d deployments", n)
		}
	})
}

func TestAffectMany(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		var ids []uint
		for i := range 600 {
			snap := &store.InventorySnapshot{Computer: store.Computer{DeviceID: fmt.Sprintf("m%04d-2026-11-24-07-24-08", i)}}
			ids = append(ids, mustIngest(t, s, snap).ComputerID)
		}
		createActive(t, s, "7", 5, true)
		if n, err := s.Affect(t.Context(), "7", ids, false); err != nil || n != len(ids) {
			t.Fatalf("Affect = %d, %v; want %d", n, err, len(ids))
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
