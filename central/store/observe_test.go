package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// TestObserveQueries: every statement of both pools, in a transaction or
// not, reaches the observer with its operation; DeploymentBytes sums what
// agents reported by source.
func TestObserveQueries(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		ops := map[string]int{}
		if err := s.ObserveQueries(func(op string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if d < 0 {
				t.Errorf("%s took %v", op, d)
			}
			ops[op]++
		}); err != nil {
			t.Fatal(err)
		}
		a := mustIngest(t, s, &store.InventorySnapshot{Computer: store.Computer{DeviceID: "a-2026-11-24-07-24-08"}}).ComputerID
		b := mustIngest(t, s, &store.InventorySnapshot{Computer: store.Computer{DeviceID: "b-2026-11-24-07-24-08"}}).ComputerID
		createActive(t, s, "9", 5, true)
		affect(t, s, "9", a, b)
		progress(t, s, a, "9", store.Progress{State: store.StateDownloading, BytesPeer: 100, BytesRelay: 20, BytesCentral: 3}, time.Now())
		progress(t, s, b, "9", store.Progress{State: store.StateDownloading, BytesPeer: 1000, BytesCentral: 7}, time.Now())
		got, err := s.DeploymentBytes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]int64{"peer": 1100, "relay": 20, "central": 10}, got); d != "" {
			t.Errorf("DeploymentBytes (-want +got):\n%s", d)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, op := range []string{"create", "query", "update"} {
			if ops[op] == 0 {
				t.Errorf("no %s statement observed: %v", op, ops)
			}
		}
	})
}
