package swarm_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/internal/p2p"
)

// noLookupHelp makes lookups and stalls too rare to matter within a test:
// only have claims can tell the download anything.
var noLookupHelp = swarm.Config{LookupMin: time.Minute, LookupMax: 2 * time.Minute, StallTimeout: 5 * time.Minute}

// TestHaveClaimsWithoutLookups: the tracker lists peer a with nothing yet
// and never learns more; a and an unlisted peer b then claim what they
// store over their have sessions. The download takes the claims in at
// once, fetches from both without another lookup, opens a session to the
// listed peer and publishes every fragment it stores.
func TestHaveClaimsWithoutLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 8
		e := newSwarm(t, n, noLookupHelp, map[string][]int{"a": nil})
		b := withData(e.data, peerSources("b"))[0]
		e = newEnv(t, n, noLookupHelp, e.tracker, e.peers[0], b)
		at(t, 2*time.Second, func() {
			e.sched.Claim("42", "a", nil, swarmtest.Range(0, 4))
			e.sched.Claim("42", "b", []string{"/ip4/127.0.0.1/tcp/4002"}, swarmtest.Range(4, 8))
		})
		start := time.Now()
		if _, err := e.fetch(t); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %s, want the claims taken in at once (2 s)", took)
		}
		e.checkStored(t)
		a := e.peers[0]
		if got, want := sorted(a.Served()), swarmtest.Range(0, 4); !slices.Equal(got, want) {
			t.Errorf("a served %v, want %v", got, want)
		}
		if got, want := sorted(b.Served()), swarmtest.Range(4, 8); !slices.Equal(got, want) {
			t.Errorf("b served %v, want %v", got, want)
		}
		if got := e.tracker.Lookups(); got != 1 {
			t.Errorf("%d lookups, want only the first", got)
		}
		if diff := cmp.Diff([]string{"a"}, e.haves.Watched()); diff != "" {
			t.Errorf("have sessions asked for (-want +got):\n%s", diff)
		}
		if got, want := sorted(e.haves.Published()), swarmtest.Range(0, n); !slices.Equal(got, want) {
			t.Errorf("published %v, want %v", got, want)
		}
	})
}

// TestHaveClaimsOfALiar: a peer claims every fragment over its have
// session but holds none ("not found"), and keeps claiming them. It gets
// at most haveLies (3) requests plus one stream's worth before it is
// dropped for the package, its claims after a "not found" are ignored,
// and the package comes whole and verified from the honest peer.
func TestHaveClaimsOfALiar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 16
		e := newSwarm(t, n, noLookupHelp, map[string][]int{"honest": nil, "liar": nil})
		var honest, liar *swarmtest.Source
		for _, p := range e.peers {
			if p.ID() == "liar" {
				liar = p
			} else {
				honest = p
			}
		}
		liar.SetFail(p2p.ErrNotFound)
		honest.SetDelay(func(int) time.Duration { return 100 * time.Millisecond })
		// The liar claims every 200 ms from the start, the honest peer at
		// 1 s, the liar on until 2 s.
		for k := range 11 {
			who := "liar"
			if k == 5 {
				who = "honest"
			}
			at(t, time.Duration(k)*200*time.Millisecond, func() { e.sched.Claim("42", who, nil, swarmtest.Range(0, n)) })
		}
		st, err := e.fetch(t)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		e.checkStored(t)
		if got, most := len(liar.Requests()), 3+1; got > most {
			t.Errorf("the liar got %d requests, want at most %d", got, most)
		}
		if len(liar.Served()) != 0 || len(honest.Served()) != n {
			t.Errorf("served: liar %v, honest %v; want nothing and all %d", liar.Served(), honest.Served(), n)
		}
		if !slices.ContainsFunc(st.Notes(), func(s string) bool { return strings.Contains(s, "claimed fragments it does not hold") }) {
			t.Errorf("notes %q: want the liar named", st.Notes())
		}
	})
}

// TestHaveClaimsBounded: claims for a package nobody fetches are dropped,
// and a download's unread claims are bounded; past the bound it looks up
// instead.
func TestHaveClaimsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		e := newSwarm(t, n, noLookupHelp, map[string][]int{"a": nil})
		// No download: dropped, nothing kept.
		for range 10000 {
			e.sched.Claim("42", "a", nil, []int{0})
		}
		e.tracker.SetOnLookup(func(k int) {
			if k == 1 {
				// Flood the board before the loop reads it.
				for range 5000 {
					e.sched.Claim("42", "a", nil, []int{0})
				}
			}
			if k == 2 {
				e.tracker.SetHave("a", swarmtest.Have(n, swarmtest.Range(0, n)...))
			}
		})
		if took := e.fetchStored(t); took >= noLookupHelp.LookupMin {
			t.Errorf("took %s: want a lookup at once after claims were dropped, not after lookup_min", took)
		}
	})
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestHaveSessionsQuietLookups: a starved download with a have session up
// (the peer sent its bitfield, empty) waits for pushes and does not look
// up; one whose peers never answer a session (older versions) looks up
// with backoff as before.
func TestHaveSessionsQuietLookups(t *testing.T) {
	tests := []struct {
		name     string
		session  bool
		min, max int // lookups before the fragments appear at 9 s
	}{
		{name: "session-up", session: true, min: 1, max: 1},
		{name: "no-session", session: false, min: 3, max: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 4
				e := newSwarm(t, n, swarm.Config{LookupMin: time.Second, LookupMax: 10 * time.Second, StallTimeout: 20 * time.Second},
					map[string][]int{"a": nil})
				var mu sync.Mutex
				before := 0
				e.tracker.SetOnLookup(func(k int) {
					mu.Lock()
					before = max(before, k)
					mu.Unlock()
				})
				if tt.session {
					at(t, 100*time.Millisecond, func() { e.sched.Claim("42", "a", nil, nil) })
				}
				at(t, 9100*time.Millisecond, func() {
					mu.Lock()
					got := before
					mu.Unlock()
					if got < tt.min || got > tt.max {
						t.Errorf("%d lookups in 9 s, want %d to %d", got, tt.min, tt.max)
					}
					e.tracker.SetHave("a", swarmtest.Have(n, swarmtest.Range(0, n)...))
					e.sched.Claim("42", "a", nil, swarmtest.Range(0, n))
				})
				if _, err := e.fetch(t); err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				e.checkStored(t)
			})
		})
	}
}

// at runs f d from now on the synctest bubble's fake clock (the events a
// test schedules: claims at given moments of a download); what has not
// run when the test ends is stopped.
func at(t *testing.T, d time.Duration, f func()) {
	tm := time.AfterFunc(d, f)
	t.Cleanup(func() { tm.Stop() })
}
