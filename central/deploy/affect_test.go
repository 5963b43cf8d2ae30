package deploy

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// bareComputers creates n computers without hardware, so that no two are
// duplicates of each other.
func bareComputers(t *testing.T, s *store.Store, prefix string, n int) []uint {
	t.Helper()
	ids := make([]uint, n)
	for i := range n {
		snap := &store.InventorySnapshot{Computer: store.Computer{DeviceID: fmt.Sprintf("%s%04d-2026-11-24-07-24-08", prefix, i)}}
		ids[i] = mustIngest(t, s, snap).ComputerID
	}
	return ids
}

func rowCount(t *testing.T, s *store.Store, table string) int64 {
	t.Helper()
	n, err := s.CountRows(t.Context())
	if err != nil {
		t.Fatalf("CountRows: %v", err)
	}
	return n[table]
}

func lastEvent(t *testing.T, s *store.Store, deploymentID uint) store.DeploymentEvent {
	t.Helper()
	evs, err := s.DeploymentEvents(t.Context(), deploymentID)
	if err != nil || len(evs) == 0 {
		t.Fatalf("DeploymentEvents(%d) = %v, %v", deploymentID, evs, err)
	}
	return evs[len(evs)-1]
}

func TestNextPendingEvents(t *testing.T) {
	all := []string{store.StateWaiting, store.StateNotified, store.StateDownloading, store.StateDownloaded,
		store.StateRunning, store.StateSuccess, store.StateError, store.StateCancelled}
	want := map[eventKind]map[string]string{
		evNotify:    {store.StateWaiting: store.StateNotified},
		evInstalled: {store.StateWaiting: store.StateSuccess, store.StateNotified: store.StateSuccess},
		evForce: {store.StateSuccess: store.StateWaiting, store.StateError: store.StateWaiting,
			store.StateCancelled: store.StateWaiting},
	}
	for kind, moves := range want {
		for _, from := range all {
			to, ok := moves[from]
			if !ok {
				to = from // every other state is left as it is
			}
			got, err := next(from, event{kind: kind})
			if err != nil || got != to {
				t.Errorf("next(%s, %d) = %q, %v; want %q", from, kind, got, err, to)
			}
		}
	}
}

func TestAffectComputersErrors(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
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
				for _, force := range []bool{false, true} {
					if _, err := svc.AffectComputers(t.Context(), tt.pkg, tt.ids, force); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("AffectComputers(force %v) = %v, want ErrNotFound", force, err)
					}
				}
			})
		}
		if n := rowCount(t, s, "deployments"); n != 0 {
			t.Errorf("failed AffectComputers left %d deployments", n)
		}
		if n, err := svc.AffectComputers(t.Context(), "42", nil, true); err != nil || n != 0 {
			t.Errorf("AffectComputers(no computer) = %d, %v; want 0, nil", n, err)
		}

		// A forced affectation refused for an unknown computer re-opens
		// nothing on the known ones.
		affect(t, s, "42", c)
		if err := svc.RecordResult(t.Context(), Report{ComputerID: c, PackageID: "42", Code: "SUCCESS", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		before := storetest.DeploymentOf(t, s, c, "42")
		events := rowCount(t, s, "deployment_events")
		if _, err := svc.AffectComputers(t.Context(), "42", []uint{c, c + 1000}, true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("forced AffectComputers = %v, want ErrNotFound", err)
		}
		if diff := cmp.Diff(before, storetest.DeploymentOf(t, s, c, "42")); diff != "" {
			t.Errorf("refused forced affectation changed the deployment (-before +after):\n%s", diff)
		}
		if n := rowCount(t, s, "deployment_events"); n != events {
			t.Errorf("refused forced affectation: events %d, want %d", n, events)
		}
	})
}

// TestAffectComputersForce puts one deployment in each state, then affects
// the package again without and with force.
func TestAffectComputersForce(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := t.Context()
		createActive(t, s, "50", 5, true)
		states := []string{store.StateWaiting, store.StateNotified, store.StateDownloading,
			store.StateSuccess, store.StateError, store.StateCancelled, "none"}
		ids := bareComputers(t, s, "f", len(states))
		byState := map[string]uint{}
		for i, st := range states {
			byState[st] = ids[i]
		}
		if n := affect(t, s, "50", ids[:len(ids)-1]...); n != len(ids)-1 {
			t.Fatalf("affect = %d, want %d", n, len(ids)-1)
		}
		at := time.Now()
		if err := svc.MarkNotified(ctx, []uint{storetest.DeploymentOf(t, s, byState[store.StateNotified], "50").ID}, at); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordProgress(ctx, byState[store.StateDownloading], "50", store.Progress{State: store.StateDownloading}, at); err != nil {
			t.Fatal(err)
		}
		for st, code := range map[string]string{store.StateSuccess: "SUCCESS", store.StateError: "ERR_EXECUTE"} {
			if err := svc.RecordResult(ctx, Report{ComputerID: byState[st], PackageID: "50", Code: code, At: at}); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.Cancel(ctx, storetest.DeploymentOf(t, s, byState[store.StateCancelled], "50").ID); err != nil {
			t.Fatal(err)
		}

		// Without force only the computer with no deployment changes.
		if n, err := svc.AffectComputers(ctx, "50", ids, false); err != nil || n != 1 {
			t.Fatalf("AffectComputers = %d, %v; want 1, nil", n, err)
		}
		for _, st := range states[:len(states)-1] {
			if d := storetest.DeploymentOf(t, s, byState[st], "50"); d.State != st || d.Force {
				t.Errorf("unforced affectation changed the %s deployment: %+v", st, d)
			}
		}
		if d := storetest.DeploymentOf(t, s, byState["none"], "50"); d.State != store.StateWaiting || d.Force {
			t.Errorf("new deployment: %+v, want waiting without force", d)
		}

		// With force, finished deployments go back to waiting and every
		// deployment gets Force, each with a FORCED event.
		if n, err := svc.AffectComputers(ctx, "50", ids, true); err != nil || n != len(ids) {
			t.Fatalf("forced AffectComputers = %d, %v; want %d, nil", n, err, len(ids))
		}
		for _, st := range states {
			want := st
			detail := "force set"
			switch st {
			case store.StateSuccess, store.StateError, store.StateCancelled:
				want, detail = store.StateWaiting, "re-affected with force"
			case "none":
				want = store.StateWaiting
			}
			d := storetest.DeploymentOf(t, s, byState[st], "50")
			if d.State != want || !d.Force || d.ResultCode != "" || d.FinishedAt != nil {
				t.Errorf("forced %s deployment: %+v, want %s with force and no result", st, d, want)
			}
			from := st
			if st == "none" {
				from = store.StateWaiting
			}
			ev := lastEvent(t, s, d.ID)
			if ev.Code != store.EventForced || ev.FromState != from || ev.ToState != want || ev.Detail != detail {
				t.Errorf("forced %s deployment: last event %+v", st, ev)
			}
		}

		// Forcing again changes nothing: every deployment is forced and none
		// is finished.
		events := rowCount(t, s, "deployment_events")
		if n, err := svc.AffectComputers(ctx, "50", ids, true); err != nil || n != 0 {
			t.Errorf("second forced AffectComputers = %d, %v; want 0, nil", n, err)
		}
		if n := rowCount(t, s, "deployment_events"); n != events {
			t.Errorf("second forced AffectComputers: events %d, want %d", n, events)
		}
	})
}

// TestAffectComputersMany affects more computers than one IN list holds.
func TestAffectComputersMany(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ids := bareComputers(t, s, "m", 600)
		createActive(t, s, "7", 5, true)
		if n, err := svc.AffectComputers(t.Context(), "7", append(ids, ids[0]), false); err != nil || n != len(ids) {
			t.Fatalf("AffectComputers = %d, %v; want %d", n, err, len(ids))
		}
		counts, err := s.DeploymentCounts(t.Context(), "7")
		if err != nil {
			t.Fatalf("DeploymentCounts: %v", err)
		}
		if counts[store.StateWaiting] != int64(len(ids)) {
			t.Errorf("waiting = %d, want %d", counts[store.StateWaiting], len(ids))
		}
		if n := rowCount(t, s, "deployment_events"); n != int64(len(ids)) {
			t.Errorf("events = %d, want %d", n, len(ids))
		}
		if n, err := svc.AffectComputers(t.Context(), "7", ids, true); err != nil || n != len(ids) {
			t.Fatalf("forced AffectComputers = %d, %v; want %d", n, err, len(ids))
		}
		if n := rowCount(t, s, "deployment_events"); n != 2*int64(len(ids)) {
			t.Errorf("events after force = %d, want %d", n, 2*len(ids))
		}
	})
}

// TestMarkNotifiedOnlyWaiting checks that only waiting deployments become
// notified, once, and that other states and unknown IDs are left alone.
func TestMarkNotifiedOnlyWaiting(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := t.Context()
		createActive(t, s, "60", 5, true)
		ids := bareComputers(t, s, "n", 4)
		affect(t, s, "60", ids...)
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := svc.RecordProgress(ctx, ids[1], "60", store.Progress{State: store.StateRunning}, at); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordResult(ctx, Report{ComputerID: ids[2], PackageID: "60", Code: "SUCCESS", At: at}); err != nil {
			t.Fatal(err)
		}
		if err := svc.Cancel(ctx, storetest.DeploymentOf(t, s, ids[3], "60").ID); err != nil {
			t.Fatal(err)
		}
		var depIDs []uint
		before := map[uint]store.Deployment{}
		for _, c := range ids {
			d := storetest.DeploymentOf(t, s, c, "60")
			depIDs = append(depIDs, d.ID)
			before[c] = d
		}
		if err := svc.MarkNotified(ctx, nil, at); err != nil {
			t.Errorf("MarkNotified(none) = %v", err)
		}
		events := rowCount(t, s, "deployment_events")
		for i := range 2 {
			if err := svc.MarkNotified(ctx, append(depIDs, 999999), at.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatalf("MarkNotified #%d: %v", i, err)
			}
		}
		if n := rowCount(t, s, "deployment_events"); n != events+1 {
			t.Errorf("events = %d, want %d (one notification)", n, events+1)
		}
		d := storetest.DeploymentOf(t, s, ids[0], "60")
		if d.State != store.StateNotified || d.Attempts != 1 || d.NotifiedAt == nil || !d.NotifiedAt.Equal(at) {
			t.Errorf("waiting deployment after notify: %+v, want notified once at %v", d, at)
		}
		if ev := lastEvent(t, s, d.ID); ev.Code != store.EventNotified || ev.FromState != store.StateWaiting || ev.ToState != store.StateNotified {
			t.Errorf("notify event %+v", ev)
		}
		for _, c := range ids[1:] {
			if diff := cmp.Diff(before[c], storetest.DeploymentOf(t, s, c, "60")); diff != "" {
				t.Errorf("MarkNotified changed a %s deployment (-before +after):\n%s", before[c].State, diff)
			}
		}
	})
}

// TestPendingAlreadyInHistory checks the history rule on each kind of
// deployment whose package the computer already has.
func TestPendingAlreadyInHistory(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := t.Context()
		snap := storetest.Snapshot(devID("pc", 1), 1)
		snap.History = []string{"71", "72", "73", "74", "75"}
		c := mustIngest(t, s, snap).ComputerID
		for _, p := range []string{"71", "72", "73", "74", "76"} {
			createActive(t, s, p, 5, true)
		}
		createActive(t, s, "75", 5, false)
		for _, p := range []string{"71", "73", "74", "75", "76"} {
			affect(t, s, p, c)
		}
		if n, err := svc.AffectComputers(ctx, "72", []uint{c}, true); err != nil || n != 1 {
			t.Fatalf("forced AffectComputers = %d, %v", n, err)
		}
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := svc.MarkNotified(ctx, []uint{storetest.DeploymentOf(t, s, c, "73").ID}, at); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordProgress(ctx, c, "74", store.Progress{State: store.StateDownloading}, at); err != nil {
			t.Fatal(err)
		}

		// 71 (waiting) and 73 (notified) are closed; 72 is forced; 74 has
		// started and 75 is inactive, so neither is pending nor closed.
		pend, err := svc.PendingForComputer(ctx, c, at.Add(time.Hour))
		if err != nil {
			t.Fatalf("PendingForComputer: %v", err)
		}
		var got []string
		for _, p := range pend {
			got = append(got, p.Package.ID)
		}
		if diff := cmp.Diff([]string{"72", "76"}, got); diff != "" {
			t.Errorf("pending (-want +got):\n%s", diff)
		}
		for p, from := range map[string]string{"71": store.StateWaiting, "73": store.StateNotified} {
			d := storetest.DeploymentOf(t, s, c, p)
			if d.State != store.StateSuccess || d.ResultCode != store.CodeAlreadyInHistory || d.FinishedAt == nil || !d.FinishedAt.Equal(at.Add(time.Hour)) {
				t.Errorf("deployment of %s in the history: %+v", p, d)
			}
			ev := lastEvent(t, s, d.ID)
			if ev.Code != store.CodeAlreadyInHistory || ev.FromState != from || ev.ToState != store.StateSuccess {
				t.Errorf("deployment of %s: last event %+v", p, ev)
			}
		}
		for p, want := range map[string]string{"74": store.StateDownloading, "75": store.StateWaiting} {
			if d := storetest.DeploymentOf(t, s, c, p); d.State != want {
				t.Errorf("deployment of %s = %s, want %s", p, d.State, want)
			}
		}

		// A deployment forced or started since it was read is not closed.
		forced, started := storetest.DeploymentOf(t, s, c, "72"), storetest.DeploymentOf(t, s, c, "74")
		if err := svc.markInstalled(ctx, []uint{forced.ID, started.ID, 999999}, at); err != nil {
			t.Fatalf("markInstalled: %v", err)
		}
		if diff := cmp.Diff(forced, storetest.DeploymentOf(t, s, c, "72")); diff != "" {
			t.Errorf("markInstalled closed a forced deployment (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(started, storetest.DeploymentOf(t, s, c, "74")); diff != "" {
			t.Errorf("markInstalled closed a started deployment (-before +after):\n%s", diff)
		}

		// The Shoal agent's job list applies the same rule and adds the
		// started deployment.
		jobs, err := svc.AgentJobs(ctx, c, at)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, j := range jobs {
			got = append(got, j.Package.ID+":"+j.Deployment.State)
		}
		if diff := cmp.Diff([]string{"72:waiting", "74:downloading", "76:waiting"}, got); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}
	})
}
