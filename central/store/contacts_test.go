package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory/inventorytest"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestTouchContacts records a batch on both backends (one statement per
// batch on PostgreSQL): every known computer gets its time, an empty user
// agent keeps the stored one, unknown devices change nothing.
func TestTouchContacts(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var ids []string
		for i := range 3 {
			id := fmt.Sprintf("pc%d-2026-12-01-10-00-0%d", i, i)
			inventorytest.MustIngest(t, s, storetest.Snapshot(id, 1))
			ids = append(ids, id)
		}
		at := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
		batch := []store.Contact{
			{DeviceID: ids[0], UserAgent: "OCS-NG_unified_unix_agent_v2.10.0", At: at},
			{DeviceID: ids[1], At: at.Add(time.Second)},
			{DeviceID: "ghost-2026-12-01-10-00-00", UserAgent: "x", At: at},
		}
		before, err := s.ComputerByDeviceID(ctx, ids[1])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.TouchContacts(ctx, batch); err != nil {
			t.Fatalf("TouchContacts: %v", err)
		}
		tests := []struct {
			name    string
			id      string
			wantAt  time.Time
			wantUA  string
			touched bool
		}{
			{"with_user_agent", ids[0], at, "OCS-NG_unified_unix_agent_v2.10.0", true},
			{"keeps_user_agent", ids[1], at.Add(time.Second), before.UserAgent, true},
			{"not_in_batch", ids[2], time.Time{}, "", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := s.ComputerByDeviceID(ctx, tt.id)
				if err != nil {
					t.Fatal(err)
				}
				if !tt.touched {
					if c.LastContact.Equal(at) || c.LastContact.Equal(at.Add(time.Second)) {
						t.Errorf("untouched computer got last contact %v", c.LastContact)
					}
					return
				}
				if !c.LastContact.Equal(tt.wantAt) || c.UserAgent != tt.wantUA {
					t.Errorf("last contact %v user agent %q, want %v %q", c.LastContact, c.UserAgent, tt.wantAt, tt.wantUA)
				}
			})
		}
	})
}
