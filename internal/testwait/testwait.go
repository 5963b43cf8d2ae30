// Package testwait is the one polling helper of Shoal's tests: it checks a
// condition on a ticker until it holds or a deadline passes, so no test waits
// with a bare sleep.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often For checks its condition.
const Interval = 20 * time.Millisecond

// For calls cond until it returns nil, checking every Interval, and fails
// the test with the last error when timeout passes first.
func For(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Until(timeout, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
}

// Until calls cond until it returns nil or timeout passes, and returns the
// last error (nil when the condition held).
func Until(timeout time.Duration, cond func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-deadline.C:
			return err
		case <-tick.C:
		}
	}
}
