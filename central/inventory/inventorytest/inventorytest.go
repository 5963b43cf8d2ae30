// Package inventorytest holds test helpers that record inventories through
// central/inventory into a real store, for the tests of the store and of
// the services above it.
package inventorytest

import (
	"fmt"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
)

// DevID returns an OCS-style device ID for host, varied by n.
func DevID(host string, n int) string {
	return fmt.Sprintf("%s-2026-11-%02d-07-24-08", host, n%28+1)
}

// MustIngest records snap as central does an agent's inventory, failing
// the test on error.
func MustIngest(t testing.TB, s *store.Store, snap *store.InventorySnapshot) *store.IngestResult {
	t.Helper()
	res, err := inventory.Record(t.Context(), s, snap)
	if err != nil {
		t.Fatalf("inventory.Record(%s): %v", snap.Computer.DeviceID, err)
	}
	return res
}

// MustCount returns the store's row counts per table.
func MustCount(t testing.TB, s *store.Store) map[string]int64 {
	t.Helper()
	n, err := s.CountRows(t.Context())
	if err != nil {
		t.Fatalf("CountRows: %v", err)
	}
	return n
}
