package wake

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

var admin = audit.Actor{Name: "admin", Remote: "127.0.0.1"}

type fixture struct {
	st  *store.Store
	dep *deploy.Service
	svc *Service
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, storetest.Open(t))
}

func newFixtureOn(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	dep, err := deploy.New(deploy.Config{}, st, nil, http.DefaultClient, deploy.Locations{InfoLoc: "central:8443/download", PackLoc: "central:8080/download"}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{}, st, dep, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Monday 7 December 2026, 21:50 UTC.
	f := &fixture{st: st, dep: dep, svc: svc, now: time.Date(2026, 12, 7, 21, 50, 0, 0, time.UTC)}
	svc.now = func() time.Time { return f.now }
	return f
}

func (f *fixture) site(t *testing.T, name, window string) uint {
	t.Helper()
	s := &store.Site{Name: name, Window: window}
	if err := f.st.CreateSite(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// computer records an inventory (MAC 52:54:00:…, network 10.x.0.0/16) and
// a last contact at lastContact.
func (f *fixture) computer(t *testing.T, dev string, site *uint, lastContact time.Time) uint {
	t.Helper()
	snap := storetest.Snapshot(dev, 1)
	snap.Computer.SiteID = site
	id := inventorytest.MustIngest(t, f.st, snap).ComputerID
	if err := f.st.TouchAgent(t.Context(), id, lastContact); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) states(t *testing.T, id uint) []string {
	t.Helper()
	ws, err := f.svc.Requests(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range ws {
		out = append(out, w.State)
	}
	return out
}

// TestRequestClaimWoken: a manual request is handed to one sender of the
// computer's site only, with the computer's MAC and directed broadcast,
// and shows woken once the computer contacts central.
func TestRequestClaimWoken(t *testing.T) {
	storetest.ForEachBackend(t, testRequestClaimWoken)
}

func testRequestClaimWoken(t *testing.T, st *store.Store) {
	f := newFixtureOn(t, st)
	a, b := f.site(t, "branch-a", ""), f.site(t, "branch-b", "")
	pc := f.computer(t, "pc-1-2026-12-01-10-00-00", &a, f.now.Add(-time.Hour))
	agent := f.computer(t, "agent-1-2026-12-01-10-00-00", &a, f.now)

	ws, err := f.svc.Request(t.Context(), admin, []uint{pc}, store.WakeManual)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].State != StateWaiting {
		t.Fatalf("request = %+v", ws)
	}
	if got, _ := f.svc.Claim(t.Context(), &b, 0, "relay b"); len(got) != 0 {
		t.Fatalf("site b got %+v", got)
	}
	if got, _ := f.svc.Claim(t.Context(), &a, pc, "agent pc"); len(got) != 0 {
		t.Fatalf("the sleeping computer itself got %+v", got)
	}
	orders, err := f.svc.Claim(t.Context(), &a, agent, "agent 2")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.st.Computer(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 || orders[0].MAC != c.FirstMAC || orders[0].Broadcast == "" {
		t.Fatalf("orders = %+v, computer MAC %s IP %s", orders, c.FirstMAC, c.IPAddr)
	}
	if got, _ := f.svc.Claim(t.Context(), &a, 0, "relay a"); len(got) != 0 {
		t.Fatalf("claimed twice: %+v", got)
	}
	if got := f.states(t, pc); len(got) != 1 || got[0] != StateSent {
		t.Fatalf("states after send = %v", got)
	}
	f.now = f.now.Add(2 * time.Minute)
	if err := f.st.TouchAgent(t.Context(), pc, f.now); err != nil {
		t.Fatal(err)
	}
	if got := f.states(t, pc); len(got) != 1 || got[0] != StateWoken {
		t.Fatalf("states after contact = %v", got)
	}
	// Recorded by Run, the state stays woken after later contacts.
	if err := f.svc.tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	if err := f.st.TouchAgent(t.Context(), pc, f.now); err != nil {
		t.Fatal(err)
	}
	ws, err = f.svc.Requests(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	if ws[0].State != StateWoken || ws[0].WokenAt == nil || ws[0].SentBy != "agent 2" {
		t.Fatalf("after an hour: %+v", ws[0])
	}
}

// TestNotWokenAndNoSender: a sent request without contact within
// woken_within is "not woken"; one no sender took is "no sender".
func TestNotWokenAndNoSender(t *testing.T) {
	f := newFixture(t)
	a := f.site(t, "branch-a", "")
	pc := f.computer(t, "pc-1-2026-12-01-10-00-00", &a, f.now.Add(-time.Hour))
	other := f.computer(t, "pc-2-2026-12-01-10-00-00", nil, f.now.Add(-time.Hour))
	if _, err := f.svc.Request(t.Context(), admin, []uint{pc, other}, store.WakeManual); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Claim(t.Context(), &a, 0, "relay a"); len(got) != 1 {
		t.Fatalf("claimed %+v", got)
	}
	f.now = f.now.Add(11 * time.Minute)
	if got := f.states(t, pc); got[0] != StateNotWoken {
		t.Fatalf("pc: %v", got)
	}
	if got := f.states(t, other); got[0] != StateNoSender {
		t.Fatalf("other: %v", got)
	}
	if got, _ := f.svc.Claim(t.Context(), nil, 0, "agent x"); len(got) != 0 {
		t.Fatalf("expired request claimed: %+v", got)
	}
}

func TestRequestWithoutMAC(t *testing.T) {
	f := newFixture(t)
	snap := storetest.Snapshot("nomac-2026-12-01-10-00-00", 1)
	for i := range snap.Networks {
		snap.Networks[i].MACAddr = ""
	}
	id := inventorytest.MustIngest(t, f.st, snap).ComputerID
	_, err := f.svc.Request(t.Context(), admin, []uint{id}, store.WakeManual)
	if !errors.Is(err, ErrNoMAC) {
		t.Fatalf("err = %v, want ErrNoMAC", err)
	}
	if _, err := f.svc.Request(t.Context(), admin, []uint{999}, store.WakeManual); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown computer: err = %v", err)
	}
}

// TestWakeBeforeWindow: a sleeping computer whose deployment the site's
// window holds is woken within `before` of the opening, once; an awake
// one and one whose window opens later are not.
func TestWakeBeforeWindow(t *testing.T) {
	storetest.ForEachBackend(t, testWakeBeforeWindow)
}

func testWakeBeforeWindow(t *testing.T, st *store.Store) {
	f := newFixtureOn(t, st)
	soon := f.site(t, "opens-22", "daily 22:00-23:00")
	late := f.site(t, "opens-23", "daily 23:00-23:30")
	asleep := f.computer(t, "asleep-2026-12-01-10-00-00", &soon, f.now.Add(-time.Hour))
	awake := f.computer(t, "awake-2026-12-01-10-00-00", &soon, f.now.Add(-time.Minute))
	later := f.computer(t, "later-2026-12-01-10-00-00", &late, f.now.Add(-time.Hour))
	p := &store.Package{ID: "1733600000001", Name: "pkg", Priority: 5, Action: "EXECUTE", Command: "true", Platform: "LINUX"}
	if err := f.st.CreatePackage(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetPackageActivation(t.Context(), "1733600000001", true, "central:443/download", "central/download", store.ProtoHTTPS, f.now); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateDeployments(t.Context(), "1733600000001", []uint{asleep, awake, later}, false, f.now); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := f.svc.tick(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.states(t, asleep); len(got) != 1 || got[0] != StateWaiting {
		t.Fatalf("asleep: %v", got)
	}
	ws, _ := f.svc.Requests(t.Context(), asleep)
	if ws[0].Reason != store.WakeWindow || ws[0].RequestedBy != "central" {
		t.Fatalf("request %+v", ws[0])
	}
	if got := f.states(t, awake); len(got) != 0 {
		t.Fatalf("awake computer woken: %v", got)
	}
	if got := f.states(t, later); len(got) != 0 {
		t.Fatalf("computer of a later window woken: %v", got)
	}
}
