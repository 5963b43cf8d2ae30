package groups

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// released returns the members of assignment id that have a deployment,
// by computer, with its state.
func (f *fixture) released(t *testing.T, id uint) map[uint]string {
	t.Helper()
	rows, err := f.st.AssignmentMembers(t.Context(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint]string{}
	for _, r := range rows {
		if r.DeploymentID != nil {
			d, err := f.st.Deployment(t.Context(), *r.DeploymentID)
			if err != nil {
				t.Fatal(err)
			}
			out[r.ComputerID] = d.State
		}
	}
	return out
}

func (f *fixture) result(t *testing.T, cid uint, pkg, code string) {
	t.Helper()
	if err := f.dep.RecordResult(t.Context(), deploy.Report{ComputerID: cid, PackageID: pkg, Code: code, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestStagedRollout: waves of one computer per site, the next wave once a
// site's wave finished, a pause when failures pass the threshold (with the
// failing codes), and a resume that accepts the failures seen so far.
func TestStagedRollout(t *testing.T) {
	st := storetest.Open(t)
	f := newFixture(t, st)
	ctx := t.Context()
	f.pkg(t, "500")
	var sites []uint
	for i, cidr := range []string{"10.31.0.0/16", "10.32.0.0/16"} {
		s := &store.Site{Name: []string{"a", "b"}[i], CIDRs: []store.SiteCIDR{{CIDR: cidr}}}
		if err := st.CreateSite(ctx, s); err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s.ID)
	}
	var a, b []uint
	for i := range 4 {
		a = append(a, f.computer(t, inventorytest.DevID("sa", i), "sa"+string(rune('0'+i)), &sites[0]))
	}
	for i := range 2 {
		b = append(b, f.computer(t, inventorytest.DevID("sb", i+10), "sb"+string(rune('0'+i)), &sites[1]))
	}
	g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "all", Members: append(append([]uint{}, a...), b...)})
	if err != nil {
		t.Fatal(err)
	}
	st1, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "500", GroupID: &g.ID, Stage: 1, MaxFailurePercent: 30})
	if err != nil {
		t.Fatal(err)
	}
	id := st1.Assignment.ID
	if st1.Members != 6 || st1.Pending != 2 || st1.Held != 4 {
		t.Fatalf("first wave: %+v, want 6 members, 2 pending, 4 held", st1)
	}
	rel := f.released(t, id)
	if _, ok := rel[a[0]]; !ok {
		t.Errorf("site a's first wave is not its first computer: %v", rel)
	}
	if _, ok := rel[b[0]]; !ok {
		t.Errorf("site b's first wave is not its first computer: %v", rel)
	}
	// A site's next wave waits until its wave finished.
	f.result(t, a[0], "500", "SUCCESS")
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if rel := f.released(t, id); len(rel) != 3 || rel[a[1]] != store.StateWaiting {
		t.Errorf("after a's first success: %v, want a[1] released, b waiting", rel)
	}
	f.result(t, a[1], "500", "EXIT_CODE_1")
	f.result(t, b[0], "500", "SUCCESS")
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Assignment(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Assignment.Paused || !strings.Contains(got.Assignment.PausedReason, "1 of 3 finished deployments failed") ||
		!strings.Contains(got.Assignment.PausedReason, "EXIT_CODE_1 ×1") {
		t.Errorf("after 1 failure of 3 (33 %% > 30 %%): paused %v %q", got.Assignment.Paused, got.Assignment.PausedReason)
	}
	if rel := f.released(t, id); len(rel) != 3 {
		t.Errorf("paused rollout released more: %v", rel)
	}
	// Resume accepts that failure; the next waves go out.
	if _, err := f.svc.Resume(ctx, admin, id); err != nil {
		t.Fatal(err)
	}
	rel = f.released(t, id)
	if len(rel) != 5 || rel[a[2]] != store.StateWaiting || rel[b[1]] != store.StateWaiting {
		t.Errorf("after resume: %v, want a[2] and b[1] released", rel)
	}
	if _, err := f.svc.Resume(ctx, admin, id); err != nil {
		t.Errorf("resume of a running rollout: %v", err)
	}
}

func TestStagedPercent(t *testing.T) {
	st := storetest.Open(t)
	f := newFixture(t, st)
	ctx := t.Context()
	f.pkg(t, "600")
	var ids []uint
	for i := range 5 {
		ids = append(ids, f.computer(t, inventorytest.DevID("pp", i), "pp"+string(rune('0'+i)), nil))
	}
	g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "five", Members: ids})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "600", GroupID: &g.ID, StagePercent: 40})
	if err != nil {
		t.Fatal(err)
	}
	if a.Pending != 2 || a.Held != 3 {
		t.Errorf("40 %% of 5: %+v, want 2 pending, 3 held", a)
	}
	if _, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "600", SiteID: new(uint), Stage: 1, StagePercent: 5}); err == nil {
		t.Error("stage and stage_percent together were accepted")
	}
}
