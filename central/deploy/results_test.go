package deploy

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// Helpers shared with the other central tests (inventorytest).
var (
	devID      = inventorytest.DevID
	mustIngest = inventorytest.MustIngest
)

// newService returns a Service on s that records results; it checks no
// package availability and builds nothing.
func newService(t *testing.T, s *store.Store) *Service {
	t.Helper()
	svc, err := New(Config{}, s, nil, http.DefaultClient, Locations{InfoLoc: "central:8443/download", PackLoc: "central:8080/download"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func affect(t *testing.T, s *store.Store, pkg string, ids ...uint) int {
	t.Helper()
	n, err := newService(t, s).AffectComputers(t.Context(), pkg, ids, false)
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
	p, err := newService(t, s).PendingForComputer(t.Context(), computerID, time.Now())
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
			if got := ResultState(tt.code); got != tt.want {
				t.Errorf("ResultState(%q) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}

func TestDeploymentLifecycle(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
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

		pend, err := svc.PendingForComputer(ctx, c, time.Now())
		if err != nil {
			t.Fatalf("PendingForComputer: %v", err)
		}
		var ids []uint
		for _, p := range pend {
			ids = append(ids, p.Deployment.ID)
		}
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := svc.MarkNotified(ctx, ids, at); err != nil {
			t.Fatalf("MarkNotified: %v", err)
		}
		if err := svc.MarkNotified(ctx, ids, at.Add(time.Hour)); err != nil {
			t.Fatalf("MarkNotified again: %v", err)
		}
		d := storetest.DeploymentOf(t, s, c, "1700000001")
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
			if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: r.pkg, Code: r.code, At: at.Add(2 * time.Hour)}); err != nil {
				t.Fatalf("RecordResult(%s): %v", r.pkg, err)
			}
			d := storetest.DeploymentOf(t, s, c, r.pkg)
			if d.State != r.wantState || d.ResultCode != r.wantCode || d.FinishedAt == nil {
				t.Errorf("after result %q: state %s code %s finished %v; want %s %s", r.code, d.State, d.ResultCode, d.FinishedAt, r.wantState, r.wantCode)
			}
		}
		if got := pendingIDs(t, s, c); len(got) != 0 {
			t.Errorf("pending after results = %v, want none", got)
		}
		if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: "1700000777", Code: "SUCCESS", At: at}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RecordResult(unknown) = %v, want ErrNotFound", err)
		}

		failed := storetest.DeploymentOf(t, s, c, "1700000005")
		if err := svc.Redeploy(ctx, failed.ID); err != nil {
			t.Fatalf("Redeploy: %v", err)
		}
		d = storetest.DeploymentOf(t, s, c, "1700000005")
		if d.State != store.StateWaiting || !d.Force || d.ResultCode != "" || d.FinishedAt != nil {
			t.Errorf("after redeploy: %+v", d)
		}
		if diff := cmp.Diff([]string{"1700000005"}, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("pending after redeploy (-want +got):\n%s", diff)
		}
		if err := svc.Cancel(ctx, d.ID); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if err := svc.Cancel(ctx, d.ID); err != nil {
			t.Errorf("second Cancel = %v, want nil", err)
		}
		if got := pendingIDs(t, s, c); len(got) != 0 {
			t.Errorf("pending after cancel = %v, want none", got)
		}
		if err := svc.Cancel(ctx, storetest.DeploymentOf(t, s, c, "1700000001").ID); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Cancel(success) = %v, want ErrInvalid", err)
		}
		if err := svc.Redeploy(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
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
		svc := newService(t, s)
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
		d := storetest.DeploymentOf(t, s, c, "1700000001")
		if d.State != store.StateSuccess || d.ResultCode != store.CodeAlreadyInHistory {
			t.Errorf("installed deployment = %s %s, want success %s", d.State, d.ResultCode, store.CodeAlreadyInHistory)
		}

		n, err := svc.AffectComputers(ctx, "1700000001", []uint{c}, true)
		if err != nil || n != 1 {
			t.Fatalf("forced Affect = %d, %v; want 1, nil", n, err)
		}
		d = storetest.DeploymentOf(t, s, c, "1700000001")
		if d.State != store.StateWaiting || !d.Force || d.ResultCode != "" {
			t.Errorf("after forced affect: %+v", d)
		}
		if diff := cmp.Diff([]string{"1700000001", "1700000002"}, pendingIDs(t, s, c)); diff != "" {
			t.Errorf("pending with force (-want +got):\n%s", diff)
		}
		if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: "1700000001", Code: "SUCCESS", At: time.Now()}); err != nil {
			t.Fatalf("RecordResult: %v", err)
		}
		if d := storetest.DeploymentOf(t, s, c, "1700000001"); d.Force {
			t.Errorf("Force still set after result: %+v", d)
		}
	})
}

func TestRecordProgress(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
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
				err := svc.RecordProgress(t.Context(), c, "9", tt.p, now)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("RecordProgress = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					return
				}
				d := storetest.DeploymentOf(t, s, c, "9")
				got := store.Progress{State: d.State, FragmentsDone: d.FragmentsDone, FragmentsTotal: d.FragmentsTotal,
					BytesPeer: d.BytesPeer, BytesRelay: d.BytesRelay, BytesCentral: d.BytesCentral}
				if diff := cmp.Diff(tt.p, got); diff != "" {
					t.Errorf("progress (-want +got):\n%s", diff)
				}
			})
		}
		d := storetest.DeploymentOf(t, s, c, "9")
		events, err := s.DeploymentEvents(t.Context(), d.ID)
		if err != nil {
			t.Fatalf("DeploymentEvents: %v", err)
		}
		if len(events) != 3 {
			t.Errorf("events = %d, want 3 (affected, downloading, running)", len(events))
		}
		if err := svc.RecordResult(t.Context(), Report{ComputerID: c, PackageID: "9", Code: "SUCCESS", At: now}); err != nil {
			t.Fatalf("RecordResult: %v", err)
		}
		err = svc.RecordProgress(t.Context(), c, "9", store.Progress{State: store.StateRunning}, now)
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordProgress on finished = %v, want ErrInvalid", err)
		}
	})
}

func TestAgentJobsAndResult(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := t.Context()
		res, err := inventory.Record(ctx, s, storetest.Snapshot("h-2026-01-01-00-00-00", 1))
		if err != nil {
			t.Fatal(err)
		}
		cid := res.ComputerID
		createActive(t, s, "100", 5, true)
		createActive(t, s, "200", 1, true)
		createActive(t, s, "300", 9, true)
		createActive(t, s, "400", 0, false)
		affect(t, s, "100", cid)
		affect(t, s, "200", cid)
		affect(t, s, "300", cid)
		if err := svc.RecordProgress(ctx, cid, "300", store.Progress{State: store.StateDownloading, FragmentsTotal: 3}, time.Now()); err != nil {
			t.Fatal(err)
		}
		jobs, err := svc.AgentJobs(ctx, cid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Package.ID+":"+j.Deployment.State)
		}
		if diff := cmp.Diff([]string{"200:waiting", "100:waiting", "300:downloading"}, got); diff != "" {
			t.Errorf("jobs (-want +got):\n%s", diff)
		}

		if err := svc.RecordResult(ctx, Report{ComputerID: cid, PackageID: "300", Code: "SUCCESS", Detail: "exit code 0\nok", AddHistory: true, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordResult(ctx, Report{ComputerID: cid, PackageID: "200", Code: "EXIT_CODE_3", Detail: "exit code 3\nboom", AddHistory: true, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := svc.RecordResult(ctx, Report{ComputerID: cid, PackageID: "999", Code: "SUCCESS", Detail: "", AddHistory: true, At: time.Now()}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("result for an unknown deployment: %v, want ErrNotFound", err)
		}
		d := storetest.DeploymentOf(t, s, cid, "300")
		evs, err := s.DeploymentEvents(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if d.State != store.StateSuccess || last.Code != "SUCCESS" || last.Detail != "exit code 0\nok" {
			t.Errorf("deployment %s, last event %+v", d.State, last)
		}
		detail, err := s.ComputerDetail(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"300"}, detail.History); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
		if h, err := s.History(ctx, cid); err != nil || !cmp.Equal(h, []string{"300"}) {
			t.Errorf("History = %v, %v", h, err)
		}
		if d := storetest.DeploymentOf(t, s, cid, "200"); d.State != store.StateError || d.ResultCode != "EXIT_CODE_3" {
			t.Errorf("failed deployment: %s %s", d.State, d.ResultCode)
		}
	})
}

func TestNext(t *testing.T) {
	progress := func(s string) event { return event{kind: evProgress, state: s} }
	tests := []struct {
		name    string
		from    string
		ev      event
		want    string
		wantErr error
	}{
		{name: "result-success", from: store.StateNotified, ev: event{kind: evResult, code: "SUCCESS_3"}, want: store.StateSuccess},
		{name: "result-error", from: store.StateRunning, ev: event{kind: evResult, code: "EXIT_CODE_2"}, want: store.StateError},
		{name: "result-after-cancel", from: store.StateCancelled, ev: event{kind: evResult, code: "SUCCESS"}, want: store.StateSuccess},
		{name: "result-after-error", from: store.StateError, ev: event{kind: evResult, code: "ERR_BAD_DIGEST"}, want: store.StateError},
		{name: "progress-from-waiting", from: store.StateWaiting, ev: progress(store.StateDownloading), want: store.StateDownloading},
		{name: "progress-from-notified", from: store.StateNotified, ev: progress(store.StateRunning), want: store.StateRunning},
		{name: "progress-same", from: store.StateDownloading, ev: progress(store.StateDownloading), want: store.StateDownloading},
		{name: "progress-back", from: store.StateRunning, ev: progress(store.StateDownloaded), want: store.StateDownloaded},
		{name: "progress-refused-success", from: store.StateSuccess, ev: progress(store.StateRunning), wantErr: store.ErrInvalid},
		{name: "progress-refused-error", from: store.StateError, ev: progress(store.StateRunning), wantErr: store.ErrInvalid},
		{name: "progress-refused-cancelled", from: store.StateCancelled, ev: progress(store.StateDownloading), wantErr: store.ErrInvalid},
		{name: "progress-refused-bad-state", from: store.StateWaiting, ev: progress(store.StateSuccess), wantErr: store.ErrInvalid},
		{name: "cancel-waiting", from: store.StateWaiting, ev: event{kind: evCancel}, want: store.StateCancelled},
		{name: "cancel-running", from: store.StateRunning, ev: event{kind: evCancel}, want: store.StateCancelled},
		{name: "cancel-cancelled", from: store.StateCancelled, ev: event{kind: evCancel}, want: store.StateCancelled},
		{name: "cancel-refused-success", from: store.StateSuccess, ev: event{kind: evCancel}, wantErr: store.ErrInvalid},
		{name: "cancel-refused-error", from: store.StateError, ev: event{kind: evCancel}, wantErr: store.ErrInvalid},
		{name: "redeploy-error", from: store.StateError, ev: event{kind: evRedeploy}, want: store.StateWaiting},
		{name: "redeploy-running", from: store.StateRunning, ev: event{kind: evRedeploy}, want: store.StateWaiting},
		{name: "unknown-event", from: store.StateWaiting, ev: event{kind: eventKind(99)}, wantErr: store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := next(tt.from, tt.ev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("next(%s, %+v) error = %v, want %v", tt.from, tt.ev, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("next(%s, %+v) = %q, want %q", tt.from, tt.ev, got, tt.want)
			}
		})
	}
}

// TestRefusedTransitionsChangeNothing checks that a refused cancel or
// progress leaves the deployment and its events as they were.
func TestRefusedTransitionsChangeNothing(t *testing.T) {
	s := storetest.Open(t)
	svc := newService(t, s)
	ctx := t.Context()
	c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
	createActive(t, s, "9", 5, true)
	affect(t, s, "9", c)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: "9", Code: "ERR_EXECUTE", Detail: "boom", At: at}); err != nil {
		t.Fatal(err)
	}
	before := storetest.DeploymentOf(t, s, c, "9")
	evBefore, err := s.DeploymentEvents(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Cancel(ctx, before.ID); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Cancel(error) = %v, want ErrInvalid", err)
	}
	if err := svc.RecordProgress(ctx, c, "9", store.Progress{State: store.StateRunning}, at); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordProgress(error) = %v, want ErrInvalid", err)
	}
	after := storetest.DeploymentOf(t, s, c, "9")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("deployment changed by refused transitions (-before +after):\n%s", diff)
	}
	evAfter, err := s.DeploymentEvents(ctx, before.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evAfter) != len(evBefore) {
		t.Errorf("events = %d, want %d", len(evAfter), len(evBefore))
	}
	if last := evAfter[len(evAfter)-1]; last.Detail != "boom" || last.Code != "ERR_EXECUTE" {
		t.Errorf("last event %+v, want the result with its detail", last)
	}
	if h, err := s.History(ctx, c); err != nil || len(h) != 0 {
		t.Errorf("History = %v, %v; want none (an error adds no history)", h, err)
	}
}

// TestResultHistory checks the one difference between the two agent
// protocols' results: only a Shoal agent's success adds to the history.
func TestResultHistory(t *testing.T) {
	s := storetest.Open(t)
	svc := newService(t, s)
	ctx := t.Context()
	c := mustIngest(t, s, storetest.Snapshot(devID("pc", 1), 1)).ComputerID
	for _, id := range []string{"1", "2"} {
		createActive(t, s, id, 5, true)
		affect(t, s, id, c)
	}
	if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: "1", Code: "SUCCESS", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RecordResult(ctx, Report{ComputerID: c, PackageID: "2", Code: "SUCCESS", AddHistory: true, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History(ctx, c); err != nil || !cmp.Equal(h, []string{"2"}) {
		t.Errorf("History = %v, %v; want [2]", h, err)
	}
	for _, id := range []string{"1", "2"} {
		if d := storetest.DeploymentOf(t, s, c, id); d.State != store.StateSuccess || d.Force {
			t.Errorf("deployment of %s: %s force %v, want success without force", id, d.State, d.Force)
		}
	}
}

// TestResentSuccessKeepsFirstCode is the regression test of a deployment
// that ended with "SUCCESS_" over SUCCESS_ALREADY_SETUP. The Unix agent sent
// both: SUCCESS_ALREADY_SETUP at PROLOG (the package is in its history) and
// then "SUCCESS_" from its download worker, which re-sends a package whose
// first result message failed through done() without the exit-code suffix
// (ocs.ResultSuccessResent). Central records every code exactly, in the
// events; a success re-reported for a deployment that already succeeded no
// longer replaces the first code.
func TestResentSuccessKeepsFirstCode(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		ctx := t.Context()
		dev := devID("pc", 7)
		c := mustIngest(t, s, storetest.Snapshot(dev, 7)).ComputerID
		createActive(t, s, "1700000070", 5, true)
		createActive(t, s, "1700000071", 5, true)
		affect(t, s, "1700000070", c)
		affect(t, s, "1700000071", c)
		tests := []struct {
			name string
			pkg  string
			// codes are sent in order, as the agent's DOWNLOAD messages.
			codes    []string
			wantCode string
		}{
			{"already_setup_then_resent", "1700000070", []string{"SUCCESS_ALREADY_SETUP", "SUCCESS_"}, "SUCCESS_ALREADY_SETUP"},
			{"resent_first_is_recorded_exactly", "1700000071", []string{"SUCCESS_", "SUCCESS_ALREADY_SETUP"}, "SUCCESS_"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, code := range tt.codes {
					if err := svc.Result(ctx, dev, tt.pkg, code); err != nil {
						t.Fatalf("Result(%q): %v", code, err)
					}
				}
				d := storetest.DeploymentOf(t, s, c, tt.pkg)
				if d.State != store.StateSuccess || d.ResultCode != tt.wantCode {
					t.Errorf("deployment %s %q, want success %q", d.State, d.ResultCode, tt.wantCode)
				}
				evs, err := s.DeploymentEvents(ctx, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range evs {
					if e.Code != store.EventAffected {
						got = append(got, e.Code)
					}
				}
				if diff := cmp.Diff(tt.codes, got); diff != "" {
					t.Errorf("event codes (-want +got):\n%s", diff)
				}
			})
		}
	})
}
