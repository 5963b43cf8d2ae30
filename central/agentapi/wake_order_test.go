package agentapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/notify"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/proto"
)

// TestJobsWakeOrder: a held jobs request of an awake Shoal agent answers
// at once with the wake order of a sleeping computer of its site, and the
// order is handed to no other sender.
func TestJobsWakeOrder(t *testing.T) {
	e := newEnvConfig(t, agentapi.Config{PollInterval: 30 * time.Second, MaxWait: time.Minute})
	site := &store.Site{Name: "loopback", CIDRs: []store.SiteCIDR{{CIDR: "127.0.0.0/8"}}}
	if err := e.store.CreateSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	hub := notify.New("", storetest.Logger(t))
	w := watchSignal{Hub: hub, watching: make(chan uint, 1)}
	e.api.SetWaker(w, hub)
	wk, err := wake.New(wake.Config{}, e.store, e.deploy, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	wk.SetChanges(hub)
	e.api.SetWake(wk)
	cl := e.agentClient("sender-host")
	first, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	snap := storetest.Snapshot("sleeper-2026-12-05-07-00-00", 1)
	snap.Computer.SiteID = &site.ID
	sleeper := inventorytest.MustIngest(t, e.store, snap).ComputerID

	type answer struct {
		jobs *proto.JobsResponse
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := cl.Jobs(context.Background(), first.Tag, 50*time.Second)
		got <- answer{r, err}
	}()
	select {
	case <-w.watching:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not watch its computer")
	}
	asked := time.Now()
	if _, err := wk.Request(context.Background(), audit.Actor{Name: "admin"}, []uint{sleeper}, store.WakeManual); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatal(a.err)
		}
		c, err := e.store.Computer(context.Background(), sleeper)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.jobs.Wake) != 1 || a.jobs.Wake[0].MAC != c.FirstMAC || a.jobs.Wake[0].Broadcast == "" {
			t.Fatalf("wake orders %+v, want MAC %s", a.jobs.Wake, c.FirstMAC)
		}
		if d := time.Since(asked); d > 5*time.Second {
			t.Fatalf("answered %s after the request", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held request did not answer with the wake order (poll interval 30s)")
	}
	ws, err := wk.Requests(context.Background(), sleeper)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].State != wake.StateSent || ws[0].SentBy == "" {
		t.Fatalf("requests %+v", ws)
	}
	again, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Wake) != 0 {
		t.Fatalf("order handed out twice: %+v", again.Wake)
	}
}
