package groups

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/internal/errkind"
)

var admin = audit.Actor{Name: "admin", Remote: "127.0.0.1"}

type fixture struct {
	st  *store.Store
	dep *deploy.Service
	svc *Service
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	dep, err := deploy.New(deploy.Config{}, st, nil, http.DefaultClient, deploy.Locations{InfoLoc: "central:8443/download", PackLoc: "central:8080/download"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{}, st, dep, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, dep: dep, svc: svc}
}

func (f *fixture) pkg(t *testing.T, id string) {
	t.Helper()
	p := &store.Package{ID: id, Name: "pkg " + id, Priority: 5, Action: "EXECUTE", Command: "true", Platform: "LINUX"}
	if err := f.st.CreatePackage(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetPackageActivation(t.Context(), id, true, "central:443/download", "central/download", store.ProtoHTTPS, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// computer records an inventory of a Linux computer named name.
func (f *fixture) computer(t *testing.T, dev, name string, site *uint) uint {
	t.Helper()
	snap := storetest.Snapshot(dev, 1)
	snap.Computer.Name = name
	snap.Computer.SiteID = site
	snap.Computer.LastInventory = time.Now().UTC()
	return inventorytest.MustIngest(t, f.st, snap).ComputerID
}

// pending returns the package IDs a PROLOG would advertise to a computer.
func (f *fixture) pending(t *testing.T, id uint) []string {
	t.Helper()
	p, err := f.dep.PendingForComputer(t.Context(), id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range p {
		out = append(out, x.Package.ID)
	}
	return out
}

func (f *fixture) state(t *testing.T, cid uint, pkg string) string {
	t.Helper()
	d, err := f.st.DeploymentFor(t.Context(), cid, pkg)
	if errors.Is(err, store.ErrNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}

func counts(st *AssignmentStatus) [5]int64 {
	return [5]int64{st.Members, st.Done, st.Pending, st.Failed, st.Held}
}

func TestDynamicGroupDesiredState(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st)
		ctx := t.Context()
		f.pkg(t, "100")
		web1 := f.computer(t, inventorytest.DevID("web1", 1), "web-1", nil)
		web2 := f.computer(t, inventorytest.DevID("web2", 2), "web-2", nil)
		db1 := f.computer(t, inventorytest.DevID("db1", 3), "db-1", nil)

		g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "web servers", Filter: url.Values{"name": {"web-"}}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "100", GroupID: &g.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := counts(a), [5]int64{2, 0, 2, 0, 0}; got != want {
			t.Errorf("after assign: members, done, pending, failed, held = %v, want %v", got, want)
		}
		if diff := cmp.Diff([]string{"100"}, f.pending(t, web1)); diff != "" {
			t.Errorf("web-1 PROLOG (-want +got):\n%s", diff)
		}
		if got := f.pending(t, db1); len(got) != 0 {
			t.Errorf("db-1 PROLOG = %v, want nothing", got)
		}

		// web-2 installs it, then leaves the group (renamed): it keeps its
		// success. web-1 leaves with its deployment pending: cancelled.
		if err := f.dep.RecordResult(ctx, deploy.Report{ComputerID: web2, PackageID: "100", Code: "SUCCESS", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		f.computer(t, inventorytest.DevID("web1", 1), "app-1", nil)
		f.computer(t, inventorytest.DevID("web2", 2), "app-2", nil)
		// A new computer joins: it gets the package with no admin action.
		web3 := f.computer(t, inventorytest.DevID("web3", 4), "web-3", nil)
		if err := f.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{"web1": f.state(t, web1, "100"), "web2": f.state(t, web2, "100"), "web3": f.state(t, web3, "100"), "db1": f.state(t, db1, "100")}
		want := map[string]string{"web1": store.StateCancelled, "web2": store.StateSuccess, "web3": store.StateWaiting, "db1": "none"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("states after the sweep (-want +got):\n%s", diff)
		}
		groups, err := f.svc.GroupsOfComputer(ctx, web3)
		if err != nil || len(groups) != 1 || groups[0].Name != "web servers" {
			t.Errorf("GroupsOfComputer(web-3) = %v, %v", groups, err)
		}
		as, err := f.svc.Assignment(ctx, a.Assignment.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := counts(as), [5]int64{1, 0, 1, 0, 0}; got != want {
			t.Errorf("after the sweep: members, done, pending, failed, held = %v, want %v", got, want)
		}

		// web-1 comes back: its cancelled deployment is reopened.
		f.computer(t, inventorytest.DevID("web1", 1), "web-1", nil)
		if err := f.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.state(t, web1, "100"); got != store.StateWaiting {
			t.Errorf("web-1 back in the group: state %s, want waiting", got)
		}

		// The group is in use; removing the assignment cancels what is
		// pending and keeps the group.
		if err := f.svc.DeleteGroup(ctx, admin, g.ID); !errors.Is(err, errkind.Conflict) {
			t.Errorf("DeleteGroup in use = %v, want a conflict", err)
		}
		if err := f.svc.Unassign(ctx, admin, a.Assignment.ID); err != nil {
			t.Fatal(err)
		}
		if got := f.state(t, web3, "100"); got != store.StateCancelled {
			t.Errorf("web-3 after unassign: %s, want cancelled", got)
		}
		if err := f.svc.DeleteGroup(ctx, admin, g.ID); err != nil {
			t.Errorf("DeleteGroup: %v", err)
		}
	})
}

func TestStaticGroupSiteAfterBaseline(t *testing.T) {
	st := storetest.Open(t)
	f := newFixture(t, st)
	ctx := t.Context()
	f.pkg(t, "200")
	f.pkg(t, "201")
	f.pkg(t, "300")
	site := &store.Site{Name: "lyon", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	a := f.computer(t, inventorytest.DevID("pa", 1), "pa", nil)
	b := f.computer(t, inventorytest.DevID("pb", 2), "pb", nil)
	old := f.computer(t, inventorytest.DevID("old", 3), "old", &site.ID)

	g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "pilot", Members: []uint{a}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "pilot"}); !errors.Is(err, errkind.Conflict) {
		t.Errorf("second group named pilot: %v, want a conflict", err)
	}
	if _, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "200", GroupID: &g.ID}); err != nil {
		t.Fatal(err)
	}
	after, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "201", GroupID: &g.ID, After: "200"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := counts(after), [5]int64{1, 0, 0, 0, 1}; got != want {
		t.Errorf("201 after 200: members, done, pending, failed, held = %v, want %v", got, want)
	}
	if err := f.svc.AddMembers(ctx, admin, g.ID, []uint{b}, false); err != nil {
		t.Fatal(err)
	}
	if got := f.state(t, b, "200"); got != store.StateWaiting {
		t.Errorf("b added to pilot: 200 is %s, want waiting", got)
	}
	if err := f.dep.RecordResult(ctx, deploy.Report{ComputerID: a, PackageID: "200", Code: "SUCCESS", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := []string{f.state(t, a, "201"), f.state(t, b, "201")}; !cmp.Equal(got, []string{store.StateWaiting, "none"}) {
		t.Errorf("201 after 200 succeeded on a only: %v, want [waiting none]", got)
	}
	if err := f.svc.AddMembers(ctx, admin, g.ID, []uint{b}, true); err != nil {
		t.Fatal(err)
	}
	if got := f.state(t, b, "200"); got != store.StateCancelled {
		t.Errorf("b removed from pilot: 200 is %s, want cancelled", got)
	}

	// Baseline: only computers that join the site from now on.
	base, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "300", SiteID: &site.ID, Baseline: true})
	if err != nil {
		t.Fatal(err)
	}
	if base.Members != 1 || base.Skipped != 1 || base.Pending != 0 {
		t.Errorf("baseline at creation: %+v, want 1 member skipped", base)
	}
	fresh := f.computer(t, inventorytest.DevID("new", 4), "new", &site.ID)
	if err := f.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := []string{f.state(t, old, "300"), f.state(t, fresh, "300")}; !cmp.Equal(got, []string{"none", store.StateWaiting}) {
		t.Errorf("baseline 300 on old, new: %v, want [none waiting]", got)
	}
	if _, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "300", SiteID: &site.ID, Baseline: true}); !errors.Is(err, errkind.Conflict) {
		t.Errorf("the same assignment twice: %v, want a conflict", err)
	}
}

func TestInputErrors(t *testing.T) {
	st := storetest.Open(t)
	f := newFixture(t, st)
	ctx := t.Context()
	f.pkg(t, "400")
	g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "dyn", Filter: url.Values{"os": {"linux"}}})
	if err != nil {
		t.Fatal(err)
	}
	site := uint(1)
	tests := []struct {
		name string
		err  error
	}{
		{name: "no-name", err: func() error { _, err := f.svc.CreateGroup(ctx, admin, GroupInput{}); return err }()},
		{name: "unknown-field", err: func() error {
			_, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "x", Filter: url.Values{"colour": {"red"}}})
			return err
		}()},
		{name: "bad-time", err: func() error {
			_, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "x", Filter: url.Values{"contact_since": {"yesterday"}}})
			return err
		}()},
		{name: "dynamic-members", err: func() error { return f.svc.AddMembers(ctx, admin, g.ID, []uint{1}, false) }()},
		{name: "two-targets", err: func() error {
			_, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "400", GroupID: &g.ID, Search: url.Values{"os": {"linux"}}})
			return err
		}()},
		{name: "no-target", err: func() error { _, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "400"}); return err }()},
		{name: "baseline-group", err: func() error {
			_, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "400", GroupID: &g.ID, Baseline: true})
			return err
		}()},
		{name: "after-itself", err: func() error {
			_, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "400", GroupID: &g.ID, After: "400"})
			return err
		}()},
		{name: "unknown-site", err: func() error {
			_, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "400", SiteID: &site})
			return err
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(tt.err, errkind.Invalid) && !errors.Is(tt.err, errkind.NotFound) {
				t.Errorf("error %v is neither invalid nor not found", tt.err)
			}
		})
	}
}

// TestSweepPagesThroughBurst: more computers change within the sweep's
// look-back than one page holds (a site edit moving thousands at once):
// the sweep pages through them all instead of re-reading the first page
// forever, and a computer that changes afterwards is still picked up.
func TestSweepPagesThroughBurst(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st *store.Store) {
		f := newFixture(t, st)
		f.svc.batch = 2
		ctx := t.Context()
		f.pkg(t, "100")
		g, err := f.svc.CreateGroup(ctx, admin, GroupInput{Name: "web servers", Filter: url.Values{"name": {"web-"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Assign(ctx, admin, AssignInput{PackageID: "100", GroupID: &g.ID}); err != nil {
			t.Fatal(err)
		}
		var ids []uint
		for i := range 5 {
			ids = append(ids, f.computer(t, inventorytest.DevID(fmt.Sprintf("web%d", i), i+1), fmt.Sprintf("web-%d", i), nil))
		}
		waiting := func() int {
			n := 0
			for _, id := range ids {
				if f.state(t, id, "100") == store.StateWaiting {
					n++
				}
			}
			return n
		}
		for range 2 {
			if err := f.svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if got := waiting(); got != len(ids) {
			t.Errorf("after the sweeps %d of %d new members got the package", got, len(ids))
		}
		ids = append(ids, f.computer(t, inventorytest.DevID("web9", 9), "web-9", nil))
		if err := f.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := waiting(); got != len(ids) {
			t.Errorf("a computer changed after the burst: %d of %d members got the package", got, len(ids))
		}
	})
}
