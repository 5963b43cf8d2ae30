package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestResultState(t *testing.T) {
	tests := []struct {
		code, want string
	}{
		{"SUCCESS", store.StateSuccess},
		{"SUCCESS_3", store.StateSuccess},
		{"SUCCESS_ALREADY_SETUP", store.StateSuccess},
		{"ERR_BAD_DIGEST", store.StateError},
		{"EXIT_CODE_2", store.StateError},
		{"UNKNOWN_CODE", store.StateError},
		{"garbage", store.StateError},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := store.ResultState(tt.code); got != tt.want {
				t.Errorf("ResultState(%q) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
		createActive(t, s, "1700000005", 5, true)
		createActive(t, s, "1700000001", 1, true)
		createActive(t, s, "1700000003", 5, true)
		createActive(t, s, "1700000009", 0, false)
		createActive(t, s, "1700000000", 0, true)
		for _, p := range []string{"1700000005", "1700000001", "1700000003", "1700000009", "1700000000"} {
			if n := affect(t, s, p, c, c); n != 1 {
				t.Errorf("Affect(%s) created %d, want 1", p, n)
			}
		}
		if n := affect(t, s, "1700000005", c); n != 0 {
			t.Errorf("second Affect created %d, want 0 (idempotent)", n)
		}

		want := []string{"1700000000", "1700000001", "1700000003", "1700000005"}
		if diff := cmp.Diff(want, pendingIDs(t, s, c)); diff != "" {
			t.Fatalf("pending by priority (-want +got):\n%s", diff)
		}

		pend, err := s.PendingForComputer(ctx, c, time.Now())
		if err != nil {
			t.Fatalf("PendingForComputer: %v", err)
		}
		var ids []uint
		for _, p := range pend {
			ids = append(ids, p.Deployment.ID)
		}
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := s.MarkNotified(ctx, ids, at); err != nil {
			t.Fatalf("MarkNotified: %v", err)
		}
		if err := s.MarkNotified(ctx, ids, at.Add(time.Hour)); err != nil {
			t.Fatalf("MarkNotified again: %v", err)
		}
		d := deploymentOf(t, s, c, "1700000001")
		if d.State != store.StateNotified || d.Attempts != 1 || d.NotifiedAt == nil || !d.NotifiedAt.Equal(at) {
			t.Errorf("after notify: %+v, want notified once at %v", d, at)
		}
		if diff := cmp.Diff(want, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("notified deployments still pending (-want +got):\n%s", diff)
		}

		results := []struct {
			pkg, code, wantState, wantCode string
		}{
			{"1700000001", "SUCCESS", store.StateSuccess, "SUCCESS"},
			{"1700000003", "", store.StateError, store.CodeUnknown},
			{"1700000005", "ERR_BAD_DIGEST", store.StateError, "ERR_BAD_DIGEST"},
			{"1700000000", "SUCCESS_3", store.StateSuccess, "SUCCESS_3"},
		}
		for _, r := range results {
			if err := s.RecordResult(ctx, c, r.pkg, r.code, at.Add(2*time.Hour)); err != nil {
				t.Fatalf("RecordResult(%s): %v", r.pkg, err)
			}
			d := deploymentOf(t, s, c, r.pkg)
			if d.State != r.wantState || d.ResultCode != r.wantCode || d.FinishedAt == nil {
				t.Errorf("after result %q: state %s code %s finished %v; want %s %s", r.code, d.State, d.ResultCode, d.FinishedAt, r.wantState, r.wantCode)
			}
		}
		if got := pendingIDs(t, s, c); len(got) != 0 {
			t.Errorf("pending after results = %v, want none", got)
		}
		if err := s.RecordResult(ctx, c, "1700000777", "SUCCESS", at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordResult(unknown) = %v, want ErrNotFound", err)
		}

		failed := deploymentOf(t, s, c, "1700000005")
		if err := s.Redeploy(ctx, failed.ID); err != nil {
			t.Fatalf("Redeploy: %v", err)
		}
		d = deploymentOf(t, s, c, "1700000005")
		if d.State != store.StateWaiting || !d.Force || d.ResultCode != "" || d.FinishedAt != nil {
			t.Errorf("after redeploy: %+v", d)
		}
		if diff := cmp.Diff([]string{"1700000005"}, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("pending after redeploy (-want +got):\n%s", diff)
		}
		if err := s.Cancel(ctx, d.ID); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if err := s.Cancel(ctx, d.ID); err != nil {
			t.Errorf("second Cancel = %v, want nil", err)
		}
		if got := pendingIDs(t, s, c); len(got) != 0 {
			t.Errorf("pending after cancel = %v, want none", got)
		}
		if err := s.Cancel(ctx, deploymentOf(t, s, c, "1700000001").ID); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Cancel(success) = %v, want ErrInvalid", err)
		}
		if err := s.Redeploy(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Redeploy(unknown) = %v, want ErrNotFound", err)
		}

		events, err := s.DeploymentEvents(ctx, d.ID)
		if err != nil {
			t.Fatalf("DeploymentEvents: %v", err)
		}
		type step struct{ From, To, Code string }
		var steps []step
		for _, e := range events {
			steps = append(steps, step{e.FromState, e.ToState, e.Code})
		}
		wantSteps := []step{
			{"", store.StateWaiting, store.EventAffected},
			{store.StateWaiting, store.StateNotified, store.EventNotified},
			{store.StateNotified, store.StateError, "ERR_BAD_DIGEST"},
			{store.StateError, store.StateWaiting, store.EventRedeploy},
			{store.StateWaiting, store.StateCancelled, store.EventCancelled},
		}
		if diff := cmp.Diff(wantSteps, steps); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}

		counts, err := s.DeploymentCounts(ctx, "")
		if err != nil {
			t.Fatalf("DeploymentCounts: %v", err)
		}
		wantCounts := map[string]int64{store.StateSuccess: 2, store.StateError: 1, store.StateCancelled: 1, store.StateWaiting: 1}
		if diff := cmp.Diff(wantCounts, counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})
}

func TestPendingHistoryExclusion(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		snap := storetest.Snapshot(devID("pc", 1), 1)
		snap.History = []string{"1700000001"}
		c := mustIngest(t, s, snap).ComputerID
		createActive(t, s, "1700000001", 5, true)
		createActive(t, s, "1700000002", 5, true)
		affect(t, s, "1700000001", c)
		affect(t, s, "1700000002", c)

		if diff := cmp.Diff([]string{"1700000002"}, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
		d := deploymentOf(t, s, c, "1700000001")
		if d.State != store.StateSuccess || d.ResultCode != store.CodeAlreadyInHistory {
			t.Errorf("installed deployment = %s %s, want success %s", d.State, d.ResultCode, store.CodeAlreadyInHistory)
		}

		n, err := s.Affect(ctx, "1700000001", []uint{c}, true)
		if err != nil || n != 1 {
			t.Fatalf("forced Affect = %d, %v; want 1, nil", n, err)
		}
		d = deploymentOf(t, s, c, "1700000001")
		if d.State != store.StateWaiting || !d.Force || d.ResultCode != "" {
			t.Errorf("after forced affect: %+v", d)
		}
		if diff := cmp.Diff([]string{"1700000001", "1700000002"}, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("pending with force (-want +got):\n%s", diff)
		}
		if err := s.RecordResult(ctx, c, "1700000001", "SUCCESS", time.Now()); err != nil {
			t.Fatalf("RecordResult: %v", err)
		}
		if d := deploymentOf(t, s, c, "1700000001"); d.Force {
			t.Errorf("Force still set after result: %+v", d)
		}
	})
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

func TestRecordProgress(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
		createActive(t, s, "9", 5, true)
		affect(t, s, "9", c)
		now := time.Now()
		tests := []struct {
			name    string
			p       store.Progress
			wantErr error
		}{
			{name: "downloading", p: store.Progress{State: store.StateDownloading, FragmentsDone: 1, FragmentsTotal: 4, BytesPeer: 10}},
			{name: "more", p: store.Progress{State: store.StateDownloading, FragmentsDone: 3, FragmentsTotal: 4, BytesPeer: 10, BytesRelay: 20}},
			{name: "bad-state", p: store.Progress{State: store.StateSuccess}, wantErr: store.ErrInvalid},
			{name: "negative", p: store.Progress{State: store.StateRunning, FragmentsDone: -1}, wantErr: store.ErrInvalid},
			{name: "running", p: store.Progress{State: store.StateRunning, FragmentsDone: 4, FragmentsTotal: 4, BytesPeer: 10, BytesRelay: 20, BytesCentral: 5}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.RecordProgress(t.Context(), c, "9", tt.p, now)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("RecordProgress = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				d := deploymentOf(t, s, c, "9")
				got := store.Progress{State: d.State, FragmentsDone: d.FragmentsDone, FragmentsTotal: d.FragmentsTotal,
					BytesPeer: d.BytesPeer, BytesRelay: d.BytesRelay, BytesCentral: d.BytesCentral}
				if diff := cmp.Diff(tt.p, got); diff != "" {
					t.Errorf("progress (-want +got):\n%s", diff)
				}
			})
		}
		d := deploymentOf(t, s, c, "9")
		events, err := s.DeploymentEvents(t.Context(), d.ID)
		if err != nil {
			t.Fatalf("DeploymentEvents: %v", err)
		}
		if len(events) != 3 {
			t.Errorf("events = %d, want 3 (affected, downloading, running)", len(events))
		}
		if err := s.RecordResult(t.Context(), c, "9", "SUCCESS", now); err != nil {
			t.Fatalf("RecordResult: %v", err)
		}
		err = s.RecordProgress(t.Context(), c, "9", store.Progress{State: store.StateRunning}, now)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordProgress on finished = %v, want ErrInvalid", err)
		}
	})
}
