//go:build integration

package itest

import "testing"

// heavyToken is held by the one CPU-bound test running now (see heavy).
var heavyToken = make(chan struct{}, 1)

// heavy marks a CPU-bound test (Chromium driving the UI, wine, a make
// build) that used to run alone in the sequential phase. It now runs in the
// parallel phase, beside the tests that mostly wait for OCS agent timers
// and long-polls, but never beside another heavy test: it calls t.Parallel
// and then waits for the one heavy token, which it returns when it ends.
//
// Tests whose checks measure time or count lost requests (TestBranchLab's
// shaped uplink, TestReplicasRollingUpgrade, the slow-owner and one-copy
// P2P tests) stay sequential, alone on the machine. A heavy test blocked
// on the token holds one of go test's -parallel slots, so make itest gives
// -parallel room for the waiting tests as well.
func heavy(t *testing.T) {
	t.Helper()
	t.Parallel()
	heavyToken <- struct{}{}
	t.Cleanup(func() { <-heavyToken })
}
