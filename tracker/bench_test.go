package tracker_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/shoal-project/shoal/tracker"
)

// BenchmarkLookup measures an authenticated lookup (two Ed25519
// verifications, the ranking of 200 holders) in a 200-peer site.
func BenchmarkLookup(b *testing.B) {
	e := newEnv(b, tracker.Config{})
	caller := e.peer("branch-a")
	e.mustAnnounce(caller, peerAnnounce("10.0.0.1:1"))
	for i := range 200 {
		frags := make([]int, i%64)
		for j := range frags {
			frags[j] = j
		}
		e.mustAnnounce(e.peer("branch-a"), peerAnnounce(fmt.Sprintf("10.0.%d.%d:1", i/250, i%250+2), holding("p", 1024, frags...)))
	}
	b.ResetTimer()
	for b.Loop() {
		if _, code := e.lookup(caller, "p"); code != http.StatusOK {
			b.Fatalf("status %d", code)
		}
	}
}
