package deploy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
)

func TestWindowOpen(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	// 2026-12-02 is a Wednesday; Paris is UTC+1 in December.
	at := func(day, hour, min int) time.Time { return time.Date(2026, 12, day, hour, min, 0, 0, paris) }
	tests := []struct {
		name   string
		window string
		t      time.Time
		want   bool
	}{
		{"always", "", at(2, 12, 0), true},
		{"office-hours-in", "mon-fri 08:00-18:00", at(2, 9, 30), true},
		{"office-hours-end-excluded", "mon-fri 08:00-18:00", at(2, 18, 0), false},
		{"office-hours-saturday", "mon-fri 08:00-18:00", at(5, 9, 30), false},
		{"overnight-evening", "mon-fri 22:00-06:00", at(2, 23, 0), true},
		{"overnight-morning-after", "mon-fri 22:00-06:00", at(3, 5, 59), true},
		{"overnight-midday", "mon-fri 22:00-06:00", at(2, 12, 0), false},
		{"overnight-saturday-morning", "mon-fri 22:00-06:00", at(5, 5, 0), true},
		{"overnight-sunday-morning", "mon-fri 22:00-06:00", at(6, 5, 0), false},
		{"weekend-list", "sat,sun 00:00-24:00", at(6, 12, 0), true},
		{"wrapping-range", "fri-mon 10:00-11:00", at(7, 10, 30), true},
		{"two-spans", "mon 01:00-02:00; wed 12:00-13:00", at(2, 12, 30), true},
		{"daily", "daily 12:00-13:00", at(5, 12, 59), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWindow(tt.window)
			if err != nil {
				t.Fatal(err)
			}
			// The same instant read in UTC: the window is the site's.
			if got := w.Open(tt.t.UTC(), paris); got != tt.want {
				t.Errorf("Open(%s) = %v, want %v", tt.t, got, tt.want)
			}
		})
	}
	w, _ := ParseWindow("mon-fri 22:00-06:00")
	if got, want := w.NextOpen(at(2, 12, 0), paris), at(2, 22, 0); !got.Equal(want) {
		t.Errorf("NextOpen = %s, want %s", got, want)
	}
}

func TestParseWindowErrors(t *testing.T) {
	for _, bad := range []string{"mon-fri", "moon 08:00-18:00", "mon 8:00-18:00", "mon 08:00", "mon 08:00-08:00", "mon 24:30-01:00", "mon 08:60-09:00"} {
		if _, err := ParseWindow(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWindow(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestPrologWindow: outside its site's window a package is neither in the
// PROLOG reply nor in the Shoal agent's jobs, and stays waiting; inside
// it, it is; a group assignment's window overrides the site's, and its
// reboot flag becomes POSTCMD=REBOOT.
func TestPrologWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	if _, err := time.LoadLocation("Europe/Paris"); err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	c := f.computer("pcw-2026-12-02-10-00-00")
	site := &store.Site{Name: "paris", TimeZone: "Europe/Paris", Window: "mon-fri 22:00-06:00",
		CIDRs: []store.SiteCIDR{{CIDR: c.IPAddr + "/32"}}}
	if err := f.st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetComputerSite(ctx, c.ID, &site.ID); err != nil {
		t.Fatal(err)
	}
	bySite, byGroup := f.pkg(5, true), f.pkg(6, true)
	for _, id := range []string{bySite, byGroup} {
		if _, err := f.svc.AffectComputers(ctx, id, []uint{c.ID}, false); err != nil {
			t.Fatal(err)
		}
	}
	g := &store.Group{Name: "lunch", Window: "wed 12:00-14:00"}
	if err := f.st.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	a := &store.Assignment{PackageID: byGroup, Target: store.TargetGroup, GroupID: &g.ID, Reboot: true, CreatedAt: time.Now()}
	if err := f.st.CreateAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
	dep := deploymentOf(t, f, c.ID, byGroup)
	if err := f.st.AddAssignmentMembers(ctx, []store.AssignmentMember{{AssignmentID: a.ID, ComputerID: c.ID, DeploymentID: &dep.ID, Since: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	type pack struct{ ID, PostCmd string }
	paris, _ := time.LoadLocation("Europe/Paris")
	tests := []struct {
		name string
		at   time.Time
		want []pack
	}{
		{"wednesday-morning-closed", time.Date(2026, 12, 2, 9, 0, 0, 0, paris), nil},
		{"wednesday-lunch-group-open", time.Date(2026, 12, 2, 12, 30, 0, 0, paris), []pack{{byGroup, "REBOOT"}}},
		{"wednesday-night-site-open", time.Date(2026, 12, 2, 23, 0, 0, 0, paris), []pack{{bySite, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := f.svc.AgentJobs(ctx, c.ID, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			var gotJobs []string
			for _, j := range jobs {
				gotJobs = append(gotJobs, j.Package.ID)
			}
			f.svc.now = func() time.Time { return tt.at }
			r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, Remote: netip.MustParseAddr(c.IPAddr)})
			if err != nil {
				t.Fatal(err)
			}
			var got []pack
			var wantJobs []string
			for _, p := range r.Download.Packs {
				got = append(got, pack{p.ID, p.PostCmd})
			}
			for _, p := range tt.want {
				wantJobs = append(wantJobs, p.ID)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("PROLOG packs (-want +got):\n%s", d)
			}
			if d := cmp.Diff(wantJobs, gotJobs); d != "" {
				t.Errorf("agent jobs (-want +got):\n%s", d)
			}
		})
	}
	// The held package was never advertised: it is still waiting.
	for _, id := range []string{bySite, byGroup} {
		if d := deploymentOf(t, f, c.ID, id); d.State != store.StateNotified {
			t.Errorf("deployment of %s: state %s, want notified once its window opened", id, d.State)
		}
	}
}

func deploymentOf(t *testing.T, f *fixture, computerID uint, pkg string) store.Deployment {
	t.Helper()
	all, err := f.st.ComputerDeployments(context.Background(), computerID, store.StateWaiting, store.StateNotified)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Package.ID == pkg {
			return p.Deployment
		}
	}
	t.Fatalf("no deployment of %s on computer %d", pkg, computerID)
	return store.Deployment{}
}

// TestAgentJobsHeld: an agent that honours held installs gets a deployment
// outside its window listed with the time the window opens (download now,
// install then), a downloaded one too, and a running one without a hold;
// an older agent (no hold) is not told about the held one at all.
func TestAgentJobsHeld(t *testing.T) {
	ctx := context.Background()
	f, c, paris := nightSite(t, "pch-2026-12-02-10-00-00")
	waiting, downloaded, running := f.pkg(5, true), f.pkg(6, true), f.pkg(7, true)
	for _, id := range []string{waiting, downloaded, running} {
		if _, err := f.svc.AffectComputers(ctx, id, []uint{c.ID}, false); err != nil {
			t.Fatal(err)
		}
	}
	for id, state := range map[string]string{downloaded: store.StateDownloaded, running: store.StateRunning} {
		d := deploymentOf(t, f, c.ID, id)
		if err := f.st.SaveProgress(ctx, d.ID, store.Progress{State: state}); err != nil {
			t.Fatal(err)
		}
	}
	morning := time.Date(2026, 12, 2, 9, 0, 0, 0, paris) // Wednesday, closed
	opens := time.Date(2026, 12, 2, 22, 0, 0, 0, paris)

	held, err := f.svc.Jobs(ctx, c.ID, morning, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, j := range held {
		got[j.Package.ID] = j.InstallAfter
	}
	want := map[string]time.Time{waiting: opens, downloaded: opens, running: {}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("held jobs (-want +got):\n%s", d)
	}

	old, err := f.svc.AgentJobs(ctx, c.ID, morning)
	if err != nil {
		t.Fatal(err)
	}
	var oldIDs []string
	for _, j := range old {
		oldIDs = append(oldIDs, j.Package.ID)
	}
	// An older agent keeps what it started and hears nothing of the rest.
	if d := cmp.Diff([]string{downloaded, running}, oldIDs); d != "" {
		t.Errorf("jobs of an older agent (-want +got):\n%s", d)
	}

	night, err := f.svc.Jobs(ctx, c.ID, opens.Add(time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range night {
		if !j.InstallAfter.IsZero() {
			t.Errorf("%s held until %s inside its window", j.Package.ID, j.InstallAfter)
		}
	}
	if len(night) != 3 {
		t.Errorf("%d jobs inside the window, want 3", len(night))
	}
}

// TestNextOpenMatchesMinuteScan: NextOpen, which looks only at span
// starts, agrees with a scan of every minute of the week, for windows
// with overnight, wrapping and several spans, from many instants.
func TestNextOpenMatchesMinuteScan(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	scan := func(w Window, t0 time.Time) time.Time {
		if w.Open(t0, paris) {
			return t0
		}
		t1 := t0.Truncate(time.Minute).Add(time.Minute)
		for range 8 * 24 * 60 {
			if w.Open(t1, paris) {
				return t1
			}
			t1 = t1.Add(time.Minute)
		}
		return time.Time{}
	}
	for _, text := range []string{"mon-fri 22:00-06:00", "sat,sun 00:00-24:00", "fri-mon 10:00-11:00", "mon 01:00-02:00; wed 12:00-13:00", "daily 12:00-13:00"} {
		w, err := ParseWindow(text)
		if err != nil {
			t.Fatal(err)
		}
		for h := 0; h < 8*24; h += 5 {
			t0 := time.Date(2026, 12, 2, 0, 17, 30, 0, paris).Add(time.Duration(h) * time.Hour)
			if got, want := w.NextOpen(t0, paris), scan(w, t0); !got.Equal(want) {
				t.Errorf("%q from %s: NextOpen %s, minute scan %s", text, t0, got, want)
			}
		}
	}
}

// TestPrologWindowsSchedule: outside its window a package is advertised to
// the Windows OCS agent with SCHEDULE set to the window's opening in the
// site's time zone (it downloads now and installs then), and still not at
// all to the Unix agent, which ignores SCHEDULE.
func TestPrologWindowsSchedule(t *testing.T) {
	ctx := context.Background()
	f, c, paris := nightSite(t, "pcs-2026-12-02-10-00-00")
	pkg := f.pkg(5, true)
	if _, err := f.svc.AffectComputers(ctx, pkg, []uint{c.ID}, false); err != nil {
		t.Fatal(err)
	}
	f.svc.now = func() time.Time { return time.Date(2026, 12, 2, 9, 0, 0, 0, paris).UTC() }
	for _, tt := range []struct {
		agent string
		want  []string // ID SCHEDULE
	}{
		{"OCS-NG_unified_unix_agent_v2.10.0", nil},
		{"OCS-NG_WINDOWS_AGENT_v2.10.1.0", []string{pkg + " 2026/12/02 22:00"}},
	} {
		r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, UserAgent: tt.agent, Remote: netip.MustParseAddr(c.IPAddr)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range r.Download.Packs {
			got = append(got, p.ID+" "+p.Schedule)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s: packs (-want +got):\n%s", tt.agent, d)
		}
	}
}

// nightSite returns a fixture with one computer in site "paris"
// (Europe/Paris) whose window is mon-fri 22:00-06:00, and that time zone.
func nightSite(t *testing.T, deviceID string) (*fixture, *store.Computer, *time.Location) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, Config{})
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	c := f.computer(deviceID)
	site := &store.Site{Name: "paris", TimeZone: "Europe/Paris", Window: "mon-fri 22:00-06:00",
		CIDRs: []store.SiteCIDR{{CIDR: c.IPAddr + "/32"}}}
	if err := f.st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetComputerSite(ctx, c.ID, &site.ID); err != nil {
		t.Fatal(err)
	}
	return f, c, paris
}
