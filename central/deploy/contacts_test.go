package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestContactsWrittenAtShutdown: contacts pending when the run context ends
// (central shutting down) are written with a context of their own, on both
// backends; before, a batch taken out of pending was written with the
// cancelled run context and lost ("touch N contacts: context canceled").
func TestContactsWrittenAtShutdown(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		svc := newService(t, s)
		dev := devID("pc", 11)
		mustIngest(t, s, storetest.Snapshot(dev, 1))
		at := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
		svc.contacts.record(dev, "OCS-NG_unified_unix_agent_v2.10.0", at)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := svc.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		c, err := s.ComputerByDeviceID(t.Context(), dev)
		if err != nil {
			t.Fatal(err)
		}
		if !c.LastContact.Equal(at) || c.UserAgent != "OCS-NG_unified_unix_agent_v2.10.0" {
			t.Errorf("last contact %v %q, want %v and the agent's user agent", c.LastContact, c.UserAgent, at)
		}
	})
}

// TestResultMovesLastContact: a download result is a contact, so the
// computer's last contact moves with it (it stayed at the last PROLOG), and
// the user agent a pending PROLOG noted is kept.
func TestResultMovesLastContact(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.computer("pc5-2026-11-26-10-00-00")
	id := f.pkg(5, true)
	if _, err := f.svc.Affect(ctx, id, AffectRequest{Filter: &store.ComputerFilter{Name: c.Name}}); err != nil {
		t.Fatal(err)
	}
	prolog := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	result := prolog.Add(7 * time.Minute)
	f.svc.now = func() time.Time { return prolog }
	if _, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: c.DeviceID, UserAgent: "OCS-NG_unified_unix_agent_v2.10.0"}); err != nil {
		t.Fatal(err)
	}
	f.svc.now = func() time.Time { return result }
	if err := f.svc.Result(ctx, c.DeviceID, id, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	cancel() // Run flushes what is pending when it stops.
	if err := f.svc.Run(runCtx); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.Computer(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastContact.Equal(result) || got.UserAgent != "OCS-NG_unified_unix_agent_v2.10.0" {
		t.Errorf("last contact %v, user agent %q; want %v and the PROLOG's user agent", got.LastContact, got.UserAgent, result)
	}
}
