package agentapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/notify"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto"
)

// watchSignal is the real hub that also says when a held request starts
// watching.
type watchSignal struct {
	*notify.Hub
	watching chan uint
}

func (w watchSignal) WatchComputer(id uint) (<-chan struct{}, func()) {
	ch, stop := w.Hub.WatchComputer(id)
	w.watching <- id
	return ch, stop
}

// TestJobsWakeUp: with a waker, a held jobs request answers as soon as a
// package is affected to its computer, not at its next poll (30s here).
func TestJobsWakeUp(t *testing.T) {
	e := newEnvConfig(t, agentapi.Config{PollInterval: 30 * time.Second, MaxWait: time.Minute})
	hub := notify.New("", storetest.Logger(t))
	w := watchSignal{Hub: hub, watching: make(chan uint, 1)}
	e.api.SetWaker(w, hub)
	e.deploy.SetChanges(hub)
	e.publish(packages.Spec{ID: "202612050001", Name: "woken", Platform: "LINUX", Action: "STORE", Path: "/tmp", Priority: 5}, []byte("payload"))
	cl := e.agentClient("woken-host")
	var agents struct {
		Items []agentapi.AgentInfo `json:"items"`
	}
	e.call("GET", "/api/v1/agents", nil, &agents, http.StatusOK)
	var cid uint
	for _, a := range agents.Items {
		if strings.HasPrefix(a.DeviceID, "woken-host-") {
			cid = a.ComputerID
		}
	}
	first, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		jobs *proto.JobsResponse
		err  error
		at   time.Time
	}
	got := make(chan answer, 1)
	go func() {
		r, err := cl.Jobs(context.Background(), first.Tag, 50*time.Second)
		got <- answer{r, err, time.Now()}
	}()
	select {
	case <-w.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not watch its computer")
	}
	affected := time.Now()
	e.affect("202612050001", cid)
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if len(a.jobs.Jobs) != 1 || a.jobs.Jobs[0].PackageID != "202612050001" {
			t.Fatalf("jobs %+v, want the affected package", a.jobs.Jobs)
		}
		if d := a.at.Sub(affected); d > 2*time.Second {
			t.Fatalf("answered %s after the affectation, want within 2s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not answer within 10s of the affectation (poll interval 30s)")
	}
}

// TestJobsTrackerHandOver: when the site's tracker changes (a replica
// left), a held jobs request answers at once with the new tracker.
func TestJobsTrackerHandOver(t *testing.T) {
	e := newEnvConfig(t, agentapi.Config{PollInterval: 30 * time.Second, MaxWait: time.Minute})
	site := &store.Site{Name: "loopback", CIDRs: []store.SiteCIDR{{CIDR: "127.0.0.0/8"}}}
	if err := e.store.CreateSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	hub := notify.New("", storetest.Logger(t))
	w := watchSignal{Hub: hub, watching: make(chan uint, 1)}
	e.api.SetWaker(w, hub)
	var tracker atomic.Value
	tracker.Store("https://a:8443/tracker/v1")
	e.api.SetTrackerRoute(func(uint) string { return tracker.Load().(string) })
	cl := e.agentClient("handover-host")
	first, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if first.Site == nil || first.Site.TrackerURL != "https://a:8443/tracker/v1" {
		t.Fatalf("site info %+v, want tracker a", first.Site)
	}
	got := make(chan *proto.JobsResponse, 1)
	go func() {
		r, err := cl.Jobs(context.Background(), first.Tag, 50*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	select {
	case <-w.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not watch its computer")
	}
	tracker.Store("https://c:8443/tracker/v1")
	hub.WakeAll()
	select {
	case r := <-got:
		if r == nil || r.Site == nil || r.Site.TrackerURL != "https://c:8443/tracker/v1" {
			t.Fatalf("answer %+v, want tracker c", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not answer the hand-over within 10s (poll interval 30s)")
	}
}

// relayWatchSignal is the real hub that also says when a held relay
// request starts watching.
type relayWatchSignal struct {
	*notify.Hub
	watching chan struct{}
}

func (w relayWatchSignal) WatchRelays() (<-chan struct{}, func()) {
	ch, stop := w.Hub.WatchRelays()
	w.watching <- struct{}{}
	return ch, stop
}

// TestRelayJobsWakeUp: with a waker, a relay's held jobs request answers
// as soon as a package is affected to a computer of its site, not at its
// next poll (30s here).
func TestRelayJobsWakeUp(t *testing.T) {
	e := newEnvConfig(t, agentapi.Config{PollInterval: 30 * time.Second, MaxWait: time.Minute})
	hub := notify.New("", storetest.Logger(t))
	w := relayWatchSignal{Hub: hub, watching: make(chan struct{}, 1)}
	e.api.SetWaker(w, hub)
	e.deploy.SetChanges(hub)
	ctx := t.Context()
	site := &store.Site{Name: "branch", CIDRs: []store.SiteCIDR{{CIDR: "10.9.0.0/16"}}}
	if err := e.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	var enr proto.RelayEnrollResponse
	e.call("POST", proto.AgentAPIPath+"/relays/enroll", relayRequest(t, e.relayToken("branch", "r1"), "r1", "branch"), &enr, http.StatusOK)
	e.publish(packages.Spec{ID: "202612050002", Name: "relayed", Platform: "LINUX", Action: "STORE", Path: "/tmp", Priority: 5}, []byte("payload"))
	snap := storetest.Snapshot("ws-2026-12-05-05-00-00", 1)
	snap.Computer.SiteID = &site.ID
	res, err := inventory.Record(ctx, e.store, snap)
	if err != nil {
		t.Fatal(err)
	}
	var first proto.RelayJobs
	if code := e.relayCall(enr.Secret, "GET", "/relay/jobs", nil, &first); code != http.StatusOK {
		t.Fatalf("relay jobs: %d", code)
	}
	<-w.watching // the first, unheld request watched too
	type answer struct {
		jobs proto.RelayJobs
		code int
		at   time.Time
	}
	got := make(chan answer, 1)
	go func() {
		var j proto.RelayJobs
		code := e.relayCall(enr.Secret, "GET", "/relay/jobs?wait=50s&tag="+first.Tag, nil, &j)
		got <- answer{j, code, time.Now()}
	}()
	select {
	case <-w.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the held relay request did not watch")
	}
	affected := time.Now()
	e.affect("202612050002", res.ComputerID)
	select {
	case a := <-got:
		if a.code != http.StatusOK || len(a.jobs.Packages) != 1 || a.jobs.Packages[0].PackageID != "202612050002" {
			t.Fatalf("relay jobs %d %+v, want the affected package", a.code, a.jobs.Packages)
		}
		if d := a.at.Sub(affected); d > 2*time.Second {
			t.Fatalf("answered %s after the affectation, want within 2s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held relay request did not answer within 10s of the affectation (poll interval 30s)")
	}
}
