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
