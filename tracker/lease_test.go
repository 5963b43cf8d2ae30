package tracker_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

func leaseReq(want []int, max int) proto.TrackerLeaseRequest {
	return proto.TrackerLeaseRequest{PackageID: "p", Total: 8, Want: want, Max: max}
}

// leaseStep is one step of a lease scenario: a call, and the fragments
// its answer must grant.
type leaseStep struct {
	name    string
	do      func() (proto.TrackerLeaseResponse, int)
	granted []int
}

// doLeaseStep makes one step's call, checks its status and grant, and
// returns the answer.
func doLeaseStep(t *testing.T, name string, do func() (proto.TrackerLeaseResponse, int), granted []int) proto.TrackerLeaseResponse {
	t.Helper()
	got, code := do()
	if code != http.StatusOK {
		t.Fatalf("%s: status %d", name, code)
	}
	if diff := cmp.Diff(granted, got.Granted); diff != "" {
		t.Errorf("%s: granted (-want +got):\n%s", name, diff)
	}
	return got
}

// runLeaseSteps runs steps in order and checks each answer's status and
// grant.
func runLeaseSteps(t *testing.T, steps []leaseStep) {
	t.Helper()
	for _, s := range steps {
		doLeaseStep(t, s.name, s.do, s.granted)
	}
}

// heldBackStep is a leaseStep whose answer must also say whether a
// lease was held back.
type heldBackStep struct {
	name     string
	do       func() (proto.TrackerLeaseResponse, int)
	granted  []int
	heldBack bool
}

// runHeldBackSteps runs steps in order and checks each answer's status,
// grant and held-back flag.
func runHeldBackSteps(t *testing.T, steps []heldBackStep) {
	t.Helper()
	for _, s := range steps {
		got := doLeaseStep(t, s.name, s.do, s.granted)
		if got.HeldBack != s.heldBack {
			t.Errorf("%s: held back %v, want %v", s.name, got.HeldBack, s.heldBack)
		}
	}
}

// excludingReq asks for the lease of fragment want, excluding ids.
func excludingReq(want int, ids ...*trackertest.Identity) proto.TrackerLeaseRequest {
	r := leaseReq([]int{want}, 1)
	for _, id := range ids {
		r.Exclude = append(r.Exclude, id.PeerID.String())
	}
	return r
}

func TestLeaseGrantRenewRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Without credit: TestLeaseCredit tests it.
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, LeaseCredit: -1})
		holder, b, c := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(holder, peerAnnounce("10.0.0.1:1", holding("p", 8, 0)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
		e.mustAnnounce(c, peerAnnounce("10.0.0.3:1"))
		// Other sites have their own leases.
		far := e.peer("branch-b")
		e.mustAnnounce(far, peerAnnounce("10.1.0.1:1"))

		// The sleeps move the bubble's clock past lease TTLs at once; they
		// wait for nothing.
		steps := []leaseStep{
			{"held-fragment-never-granted", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, leaseReq([]int{0}, 4)) }, []int{}},
			{"b-gets-up-to-max", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, leaseReq([]int{3, 0, 1, 2}, 2)) }, []int{1, 2}},
			{"c-gets-what-is-left", func() (proto.TrackerLeaseResponse, int) { return e.lease(c, leaseReq([]int{1, 2, 3}, 2)) }, []int{3}},
			{"other-site-independent", func() (proto.TrackerLeaseResponse, int) { return e.lease(far, leaseReq([]int{0, 1}, 2)) }, []int{0, 1}},
			{"b-renews-before-new", func() (proto.TrackerLeaseResponse, int) {
				time.Sleep(15 * time.Second)
				return e.lease(b, leaseReq([]int{4, 5, 2, 1}, 2))
			}, []int{1, 2}},
			{"c-lease-expired-b-takes-it", func() (proto.TrackerLeaseResponse, int) {
				time.Sleep(10 * time.Second) // c's lease on 3 (25 s old) expired, b's (10 s) did not.
				return e.lease(b, leaseReq([]int{3}, 1))
			}, []int{3}},
			{"c-blocked-by-b", func() (proto.TrackerLeaseResponse, int) { return e.lease(c, leaseReq([]int{1, 2, 3}, 3)) }, []int{}},
			{"announce-releases", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(b, peerAnnounce("10.0.0.2:1", holding("p", 8, 1)))
				return e.lease(c, leaseReq([]int{1, 2}, 2))
			}, []int{}},
			{"max-zero-means-one", func() (proto.TrackerLeaseResponse, int) { return e.lease(c, leaseReq([]int{6, 7}, 0)) }, []int{6}},
		}
		for _, s := range steps {
			got := doLeaseStep(t, s.name, s.do, s.granted)
			if got.TTL != 20 || got.Relay {
				t.Errorf("%s: ttl %d relay %v", s.name, got.TTL, got.Relay)
			}
		}
	})
}

// TestLeaseMovesWhenHolderDies: a lease outlives nothing of its holder;
// when the holder's entry expires its leases go to the next asker.
func TestLeaseMovesWhenHolderDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{TTL: 10 * time.Second, AnnounceInterval: 5 * time.Second, LeaseTTL: time.Minute, SweepInterval: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.srv.Run(ctx) }()
		owner, other := e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1"))
		e.mustAnnounce(other, peerAnnounce("10.0.0.2:1"))
		if got, _ := e.lease(owner, leaseReq([]int{0, 1}, 2)); !cmp.Equal(got.Granted, []int{0, 1}) {
			t.Fatalf("owner granted %v", got.Granted)
		}
		// owner is killed at 0 s (its entry lives until 10 s); other keeps
		// announcing and asking.
		time.Sleep(5 * time.Second)
		e.mustAnnounce(other, peerAnnounce("10.0.0.2:1"))
		if got, _ := e.lease(other, leaseReq([]int{0, 1}, 2)); len(got.Granted) != 0 {
			t.Fatalf("lease moved while the owner was alive: %v", got.Granted)
		}
		time.Sleep(6 * time.Second)
		got, _ := e.lease(other, leaseReq([]int{0, 1}, 2))
		if diff := cmp.Diff([]int{0, 1}, got.Granted); diff != "" {
			t.Errorf("after the owner's entry expired (-want +got):\n%s", diff)
		}
		if st := e.srv.Stats(); st.Entries != 1 || st.Leases != 2 {
			t.Errorf("stats after sweep = %+v, want 1 entry and 2 leases", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func TestLeaseWithRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{TTL: 10 * time.Second, AnnounceInterval: 5 * time.Second})
		relay, a := e.relay("branch-a"), e.peer("branch-a")
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1"))
		e.mustAnnounce(relay, proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.9:8090"})
		got, _ := e.lease(a, leaseReq([]int{0, 1}, 2))
		if !got.Relay || len(got.Granted) != 0 {
			t.Errorf("with a relay: %+v, want relay=true and nothing granted", got)
		}
		// A peer that cannot reach the relay excludes it and gets leases.
		req := leaseReq([]int{0, 1}, 2)
		req.Exclude = []string{relay.PeerID.String()}
		got, _ = e.lease(a, req)
		if got.Relay || !cmp.Equal(got.Granted, []int{0, 1}) {
			t.Errorf("relay excluded: %+v, want leases", got)
		}
		// The relay dies: leases are granted again.
		time.Sleep(6 * time.Second)
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1"))
		time.Sleep(5 * time.Second)
		got, _ = e.lease(a, leaseReq([]int{0, 1}, 2))
		if got.Relay || !cmp.Equal(got.Granted, []int{0, 1}) {
			t.Errorf("after the relay expired: %+v", got)
		}
	})
}

func TestEntryExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.srv.Run(ctx) }()
		a, b := e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(a, peerAnnounce("10.0.0.1:1", holding("p", 1, 0)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
		// b announces every 30 s; a announced once.
		for i := range 3 {
			time.Sleep(30 * time.Second)
			e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
			got, _ := e.lookup(b, "p")
			wantPeers := 1
			if i == 2 { // 90 s: a's TTL has passed.
				wantPeers = 0
			}
			if len(got.Peers) != wantPeers || len(got.Members) != wantPeers {
				t.Errorf("after %ds: %d holders, %d members, want %d", (i+1)*30, len(got.Peers), len(got.Members), wantPeers)
			}
		}
		if code := e.announce(a, peerAnnounce("10.0.0.1:1")); code != http.StatusOK {
			t.Errorf("expired peer announces again: status %d", code)
		}
		if _, code := e.lookup(a, "p"); code != http.StatusOK {
			t.Errorf("re-announced peer lookup: status %d", code)
		}
		time.Sleep(100 * time.Second)
		if st := e.srv.Stats(); st.Entries != 0 || st.Sites != 0 {
			t.Errorf("stats after everyone expired: %+v", st)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func TestEntryBoundByRecordExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{})
		short := e.central.NewIdentity(t, "branch-a", 30*time.Second)
		b := e.peer("branch-a")
		e.mustAnnounce(short, peerAnnounce("10.0.0.1:1", holding("p", 1, 0)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
		time.Sleep(31 * time.Second)
		if got, _ := e.lookup(b, "p"); len(got.Peers) != 0 {
			t.Errorf("peer listed after its record expired: %v", peerIDs(got))
		}
		if code := e.announce(short, peerAnnounce("10.0.0.1:1")); code != http.StatusUnauthorized {
			t.Errorf("announce with an expired record: status %d", code)
		}
	})
}

// TestLeaseExcludesDroppedHolder: a peer that dropped a holder for a bad
// fragment can become the WAN owner of what only that holder claims.
func TestLeaseExcludesDroppedHolder(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	liar, b := e.peer("branch-a"), e.peer("branch-a")
	e.mustAnnounce(liar, peerAnnounce("10.0.0.1:1", holding("p", 8, 0, 1, 2, 3, 4, 5, 6, 7)))
	e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
	if got, _ := e.lease(b, leaseReq([]int{0, 1}, 2)); len(got.Granted) != 0 {
		t.Fatalf("granted %v while a holder is trusted, want none", got.Granted)
	}
	req := leaseReq([]int{0, 1}, 2)
	req.Exclude = []string{liar.PeerID.String()}
	got, _ := e.lease(b, req)
	if diff := cmp.Diff([]int{0, 1}, got.Granted); diff != "" {
		t.Errorf("granted with the liar excluded (-want +got):\n%s", diff)
	}
}

// TestLeave: a relay or peer that leaves stops counting at once: the
// relay is no longer the WAN owner, a leaver's leases go to the next
// asker, and a leave older than the last announce is a replay.
func TestLeave(t *testing.T) {
	e := newEnv(t, tracker.Config{})
	relay, a, b := e.relay("branch-a"), e.peer("branch-a"), e.peer("branch-a")
	e.mustAnnounce(relay, proto.TrackerAnnounce{Kind: proto.HolderRelay, RelayURL: "http://10.0.0.9:8090"})
	e.mustAnnounce(a, peerAnnounce("10.0.0.2:1"))
	e.mustAnnounce(b, peerAnnounce("10.0.0.3:1"))
	if got, _ := e.lease(a, leaseReq([]int{0, 1}, 2)); !got.Relay {
		t.Fatalf("with a live relay: %+v", got)
	}
	if code := e.call(relay, http.MethodPost, "/leave", struct{}{}, nil); code != http.StatusOK {
		t.Fatalf("relay leave: %d", code)
	}
	if got, _ := e.lease(a, leaseReq([]int{0, 1}, 2)); got.Relay || !cmp.Equal(got.Granted, []int{0, 1}) {
		t.Errorf("after the relay left: %+v, want leases", got)
	}
	if got, _ := e.lease(b, leaseReq([]int{0, 1}, 2)); len(got.Granted) != 0 {
		t.Errorf("b got %v while a holds the leases", got.Granted)
	}
	if code := e.call(a, http.MethodPost, "/leave", struct{}{}, nil); code != http.StatusOK {
		t.Fatalf("peer leave: %d", code)
	}
	if got, _ := e.lease(b, leaseReq([]int{0, 1}, 2)); !cmp.Equal(got.Granted, []int{0, 1}) {
		t.Errorf("after a left, b got %v, want its leases", got.Granted)
	}
	if _, code := e.lookup(a, "p"); code != http.StatusGone {
		t.Errorf("lookup by a peer that left: %d, want 410 (announce again)", code)
	}
	// Leaving twice is fine; a leave signed before the last announce is not.
	if code := e.call(a, http.MethodPost, "/leave", struct{}{}, nil); code != http.StatusOK {
		t.Errorf("second leave: %d", code)
	}
	old := time.Now().Add(-time.Minute).Unix()
	e.mustAnnounce(b, peerAnnounce("10.0.0.3:1"))
	body := []byte("{}")
	code, _ := e.raw(http.MethodPost, "/leave", authHeader(t, b.Key, b.Record, http.MethodPost, "/leave", old, body), body)
	if code != http.StatusConflict {
		t.Errorf("replayed older leave: %d, want 409", code)
	}
	if _, code := e.lookup(b, "p"); code != http.StatusOK {
		t.Errorf("b after a replayed leave: %d, want still there", code)
	}
}

// TestLeaseBypassesExcludedHolderBounded: a holder the requesters exclude
// (it delivers too slowly or sent bad data) stops counting, so its
// fragment is leased again; a lease that is never delivered moves without
// counting, and agents that exclude every holder cannot send one fragment
// over the WAN more than 1+MaxExtraCopies times. A bypassed holder gets
// no new leases for two lease TTLs.
func TestLeaseBypassesExcludedHolderBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, MaxExtraCopies: 2})
		owner, a, b, c, d := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8, 0, 1)))
		for i, id := range []*trackertest.Identity{a, b, c, d} {
			e.mustAnnounce(id, peerAnnounce(fmt.Sprintf("10.0.0.%d:1", i+2)))
		}
		runLeaseSteps(t, []leaseStep{
			{"owner-counts", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0)) }, []int{}},
			{"slow-owner-excluded", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0, owner)) }, []int{0}},
			{"one-lessee-at-a-time", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, excludingReq(0, owner)) }, []int{}},
			{"bypassed-owner-gets-no-new-lease", func() (proto.TrackerLeaseResponse, int) { return e.lease(owner, leaseReq([]int{5}, 1)) }, []int{}},
			{"undelivered-lease-moves", func() (proto.TrackerLeaseResponse, int) {
				time.Sleep(25 * time.Second) // a's lease expired; a never announced fragment 0.
				return e.lease(b, excludingReq(0, owner))
			}, []int{0}},
			{"copy-counts-as-holder", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8, 0)))
				return e.lease(c, excludingReq(0, owner))
			}, []int{}},
			{"second-extra-copy", func() (proto.TrackerLeaseResponse, int) { return e.lease(c, excludingReq(0, owner, b)) }, []int{0}},
			{"cap-reached", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(c, peerAnnounce("10.0.0.4:1", holding("p", 8, 0)))
				return e.lease(d, excludingReq(0, owner, b, c))
			}, []int{}},
			{"other-fragment-own-budget", func() (proto.TrackerLeaseResponse, int) { return e.lease(d, excludingReq(1, owner)) }, []int{1}},
			{"ban-ends-after-two-lease-ttls", func() (proto.TrackerLeaseResponse, int) {
				time.Sleep(45 * time.Second) // Bypassed again at 25 s: banned until 65 s.
				return e.lease(owner, leaseReq([]int{5}, 1))
			}, []int{5}},
		})
	})
}

// TestLeaseCredit: a peer gets new leases only while its unexpired leases
// plus the fragments it alone holds (while others of its site lack them)
// are fewer than LeaseCredit; renewals are not bounded, a copy by another
// peer gives the credit back, and a peer alone in its site is not bounded;
// one whose peers have not asked for the package yet is, by its leases,
// while the package is new in the site (15 s), and not after.
func TestLeaseCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, LeaseCredit: 2})
		owner, a, b := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8)))
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8)))
		alone := e.peer("branch-b")
		e.mustAnnounce(alone, peerAnnounce("10.1.0.1:1", holding("p", 8)))
		// In branch-c, first asks before its peer announced the package.
		// (They announce at their step: the package is new there then.)
		first, later := e.peer("branch-c"), e.peer("branch-c")
		all := []int{0, 1, 2, 3, 4, 5, 6, 7}

		steps := []heldBackStep{
			{"first-grant-bounded", func() (proto.TrackerLeaseResponse, int) { return e.lease(owner, leaseReq(all, 8)) }, []int{0, 1}, true},
			{"renewals-not-bounded", func() (proto.TrackerLeaseResponse, int) { return e.lease(owner, leaseReq(all, 8)) }, []int{0, 1}, true},
			{"others-still-get-credit", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, leaseReq(all, 1)) }, []int{2}, false},
			{"fetched-but-not-copied-still-owed", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8, 0)))
				return e.lease(owner, leaseReq([]int{1, 3, 4}, 8))
			}, []int{1}, true},
			{"copy-gives-credit-back", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8, 0)))
				return e.lease(owner, leaseReq([]int{1, 3, 4}, 8))
			}, []int{1, 3}, true},
			{"expired-leases-free-credit", func() (proto.TrackerLeaseResponse, int) {
				time.Sleep(25 * time.Second)
				return e.lease(owner, leaseReq([]int{5, 6, 7}, 8))
			}, []int{5, 6}, true},
			{"complete-site-owes-nothing", func() (proto.TrackerLeaseResponse, int) {
				// Fragment 7 alone at owner: owed while a and b lack it.
				time.Sleep(25 * time.Second)
				e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8, 0, 7)))
				e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8, 0, 1, 2, 3, 4, 5, 6)))
				e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8, 0, 1, 2, 3, 4, 5, 6)))
				return e.lease(owner, leaseReq([]int{1, 2}, 8))
			}, []int{}, false},
			{"alone-not-bounded", func() (proto.TrackerLeaseResponse, int) { return e.lease(alone, leaseReq(all, 8)) }, all, false},
			{"first-asker-bounded", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(first, peerAnnounce("10.2.0.1:1", holding("p", 8)))
				e.mustAnnounce(later, peerAnnounce("10.2.0.2:1"))
				return e.lease(first, leaseReq(all, 8))
			}, []int{0, 1}, true},
			{"held-fragments-owe-nothing-before-anyone-needs-them", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(first, peerAnnounce("10.2.0.1:1", holding("p", 8, 0, 1)))
				return e.lease(first, leaseReq(all[2:], 8))
			}, []int{2, 3}, true},
			{"deploying-alone-after-the-start-not-bounded", func() (proto.TrackerLeaseResponse, int) {
				// Nobody else in branch-c announced p within creditStart:
				// first deploys alone and may fetch more than LeaseCredit.
				time.Sleep(16 * time.Second)
				e.mustAnnounce(later, peerAnnounce("10.2.0.2:1"))
				return e.lease(first, leaseReq(all[2:], 8))
			}, all[2:], false},
		}
		runHeldBackSteps(t, steps)
	})
}

// TestLeaseSiteOwnersBounded: with MaxSiteOwners 2, a third peer of the
// site gets no lease while two peers hold some (held back, not refused),
// whatever its credit; an owner keeps getting leases; another site is
// not counted; a fragment only an excluded holder has is leased anyway
// (an extra copy); and once an owner's fragments are announced its place
// is free.
func TestLeaseSiteOwnersBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, LeaseCredit: -1, MaxSiteOwners: 2})
		a, b, c, slow := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		far := e.peer("branch-b")
		for i, id := range []*trackertest.Identity{a, b, c, far} {
			e.mustAnnounce(id, peerAnnounce(fmt.Sprintf("10.0.0.%d:1", i+1), holding("p", 8)))
		}
		e.mustAnnounce(slow, peerAnnounce("10.0.0.9:1", holding("p", 8, 7)))
		steps := []heldBackStep{
			{"first-owner", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, leaseReq([]int{0}, 1)) }, []int{0}, false},
			{"second-owner", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, leaseReq([]int{1}, 1)) }, []int{1}, false},
			{"third-held-back", func() (proto.TrackerLeaseResponse, int) { return e.lease(c, leaseReq([]int{2, 3}, 2)) }, []int{}, true},
			{"owner-gets-more", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, leaseReq([]int{0, 2}, 2)) }, []int{0, 2}, false},
			{"other-site-not-counted", func() (proto.TrackerLeaseResponse, int) { return e.lease(far, leaseReq([]int{0}, 1)) }, []int{0}, false},
			{"extra-copy-not-bounded", func() (proto.TrackerLeaseResponse, int) {
				return e.lease(c, excludingReq(7, slow))
			}, []int{7}, false},
			{"announced-owner-frees-its-place", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(b, peerAnnounce("10.0.0.2:1", holding("p", 8, 1)))
				e.mustAnnounce(c, peerAnnounce("10.0.0.3:1", holding("p", 8, 7)))
				return e.lease(c, leaseReq([]int{3}, 1))
			}, []int{3}, false},
		}
		runHeldBackSteps(t, steps)
	})
}

// TestLeaseCreditExtraCopy: a fragment only an excluded holder has is
// what the site waits for; its extra copy needs no credit.
func TestLeaseCreditExtraCopy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, LeaseCredit: 2})
		slow, a, b := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(slow, peerAnnounce("10.0.0.1:1", holding("p", 8, 5)))
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8)))
		if got, _ := e.lease(a, leaseReq([]int{0, 1, 2}, 8)); !slices.Equal(got.Granted, []int{0, 1}) || !got.HeldBack {
			t.Fatalf("first lease: %+v, want 0 and 1 granted, held back", got)
		}
		r := leaseReq([]int{0, 1, 2, 5}, 8)
		r.Exclude = []string{slow.PeerID.String()}
		got, code := e.lease(a, r)
		if code != http.StatusOK || !slices.Equal(got.Granted, []int{0, 1, 5}) || !got.HeldBack {
			t.Errorf("lease excluding the slow holder: %d %+v, want 0, 1 (renewed) and 5 (extra copy), 2 held back", code, got)
		}
	})
}

// TestExtraLeaseOutlivesBypassedHolderAnnounce: the slow holder an extra
// copy bypassed announces the fragment again (every few seconds); the
// extra copy's lease must survive it, or the next peer that excludes the
// slow holder leases the fragment too while the first lessee still
// fetches it. A holder the copy did not bypass ends the lease as usual.
func TestExtraLeaseOutlivesBypassedHolderAnnounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, MaxExtraCopies: 2, LeaseCredit: -1})
		slow, a, b, c := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(slow, peerAnnounce("10.0.0.1:1", holding("p", 8, 0)))
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8)))
		e.mustAnnounce(c, peerAnnounce("10.0.0.4:1", holding("p", 8)))
		runLeaseSteps(t, []leaseStep{
			{"extra-copy", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0, slow)) }, []int{0}},
			{"slow-announces-again", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(slow, peerAnnounce("10.0.0.1:1", holding("p", 8, 0)))
				return e.lease(b, excludingReq(0, slow))
			}, []int{}},
			{"lessee-renews", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0, slow)) }, []int{0}},
			{"copy-ends-the-lease", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8, 0)))
				return e.lease(c, excludingReq(0, slow, a))
			}, []int{0}},
		})
	})
}

// TestLeaseTakenOverFromSlowOwner: a lease held by a live peer that an
// extra copy already bypassed (it is slow to its site), and that the
// caller excludes, moves to the caller as an extra copy: the site does not
// wait for the slow owner's fetch. A lessee nobody bypassed, or one the
// caller does not exclude, keeps its lease.
func TestLeaseTakenOverFromSlowOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: 20 * time.Second, MaxExtraCopies: 2, LeaseCredit: -1})
		owner, a, b := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8)))
		e.mustAnnounce(a, peerAnnounce("10.0.0.2:1", holding("p", 8)))
		e.mustAnnounce(b, peerAnnounce("10.0.0.3:1", holding("p", 8)))
		runLeaseSteps(t, []leaseStep{
			{"owner-leases-0-and-1", func() (proto.TrackerLeaseResponse, int) { return e.lease(owner, leaseReq([]int{0, 1}, 2)) }, []int{0, 1}},
			{"not-bypassed-keeps-its-lease", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0, owner)) }, []int{}},
			{"owner-fetched-1-bypassed", func() (proto.TrackerLeaseResponse, int) {
				e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1", holding("p", 8, 1)))
				return e.lease(a, excludingReq(1, owner))
			}, []int{1}},
			{"not-excluded-keeps-its-lease", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, excludingReq(0)) }, []int{}},
			{"slow-owner-lease-taken-over", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, excludingReq(0, owner)) }, []int{0}},
			{"owner-renewal-refused", func() (proto.TrackerLeaseResponse, int) { return e.lease(owner, leaseReq([]int{0}, 1)) }, []int{}},
			{"taker-renews", func() (proto.TrackerLeaseResponse, int) { return e.lease(b, excludingReq(0, owner)) }, []int{0}},
			{"taker-keeps-it-from-others", func() (proto.TrackerLeaseResponse, int) { return e.lease(a, excludingReq(0, owner)) }, []int{}},
		})
	})
}

// TestLeaseReleasedWhenMembersReportOwnerGone: a WAN owner that two live
// peers report gone from their LAN membership loses its entry and leases
// at once, not after the lease TTL; one report in a larger site is not
// enough, a relay is never dropped, and an owner that announces again
// clears the reports against it.
func TestLeaseReleasedWhenMembersReportOwnerGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: time.Minute, LeaseCredit: -1})
		owner, b, c, d := e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a"), e.peer("branch-a")
		for i, p := range []*trackertest.Identity{owner, b, c, d} {
			e.mustAnnounce(p, peerAnnounce(fmt.Sprintf("10.0.0.%d:1", i+1)))
		}
		if got, _ := e.lease(owner, leaseReq([]int{0, 1}, 2)); !cmp.Equal(got.Granted, []int{0, 1}) {
			t.Fatalf("owner granted %v", got.Granted)
		}
		gone := func(p *trackertest.Identity, who ...*trackertest.Identity) []int {
			t.Helper()
			req := leaseReq([]int{0, 1}, 2)
			for _, w := range who {
				req.Exclude = append(req.Exclude, w.PeerID.String())
				req.Gone = append(req.Gone, w.PeerID.String())
			}
			got, code := e.lease(p, req)
			if code != http.StatusOK {
				t.Fatalf("lease: status %d", code)
			}
			return got.Granted
		}
		time.Sleep(time.Second)
		if got := gone(b, owner); len(got) != 0 {
			t.Fatalf("one report of three peers released the owner's leases: %v", got)
		}
		if got := gone(b, owner); len(got) != 0 {
			t.Fatalf("the same reporter twice released them: %v", got)
		}
		// The owner speaks: it is alive, the report is stale.
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1"))
		if got := gone(c, owner); len(got) != 0 {
			t.Fatalf("a report from before the owner's announce counted: %v", got)
		}
		time.Sleep(2 * time.Second)
		if got := gone(d, owner); !cmp.Equal(got, []int{0, 1}) {
			t.Fatalf("after two peers reported the owner gone: granted %v, want [0 1]", got)
		}
		if st := e.srv.Stats(); st.Entries != 3 {
			t.Errorf("entries = %d after the owner was dropped, want 3", st.Entries)
		}
		// The dropped owner, alive after all, is told to announce again.
		if _, code := e.lease(owner, leaseReq([]int{2}, 1)); code != http.StatusGone {
			t.Errorf("dropped owner's lease call: status %d, want %d", code, http.StatusGone)
		}
	})
}

// TestGoneReportOfTheOnlyOtherPeer: with one other agent in the site its
// report is enough.
// TestGoneReportOfMostOfTheSiteIgnored: reporters naming more than half
// of their site gone (cut off from their LAN, or not having admitted their
// peers yet) drop nobody, however many of them say so; two reports of one
// peer still drop it.
func TestGoneReportOfMostOfTheSiteIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: time.Minute, LeaseCredit: -1})
		var ids []*trackertest.Identity
		for i := range 6 {
			id := e.peer("branch-a")
			e.mustAnnounce(id, peerAnnounce(fmt.Sprintf("10.0.0.%d:1", i+1)))
			ids = append(ids, id)
		}
		others := func(me int) []string {
			var out []string
			for i, id := range ids {
				if i != me {
					out = append(out, id.PeerID.String())
				}
			}
			return out
		}
		for _, me := range []int{0, 1, 2} {
			req := leaseReq([]int{0}, 1)
			req.Exclude, req.Gone = others(me), others(me)
			if _, code := e.lease(ids[me], req); code != http.StatusOK {
				t.Fatalf("reporter %d: status %d", me, code)
			}
		}
		if st := e.srv.Stats(); st.Entries != 6 {
			t.Errorf("entries after three reports of everyone = %d, want 6", st.Entries)
		}
		for _, me := range []int{0, 1} {
			req := leaseReq([]int{0}, 1)
			req.Gone = []string{ids[5].PeerID.String()}
			if _, code := e.lease(ids[me], req); code != http.StatusOK {
				t.Fatalf("reporter %d: status %d", me, code)
			}
		}
		if st := e.srv.Stats(); st.Entries != 5 {
			t.Errorf("entries after two reports of one peer = %d, want 5", st.Entries)
		}
	})
}

func TestGoneReportOfTheOnlyOtherPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, tracker.Config{LeaseTTL: time.Minute, LeaseCredit: -1})
		owner, b := e.peer("branch-a"), e.peer("branch-a")
		e.mustAnnounce(owner, peerAnnounce("10.0.0.1:1"))
		e.mustAnnounce(b, peerAnnounce("10.0.0.2:1"))
		if got, _ := e.lease(owner, leaseReq([]int{0}, 1)); !cmp.Equal(got.Granted, []int{0}) {
			t.Fatalf("owner granted %v", got.Granted)
		}
		req := leaseReq([]int{0}, 1)
		req.Exclude, req.Gone = []string{owner.PeerID.String()}, []string{owner.PeerID.String()}
		if got, _ := e.lease(b, req); !cmp.Equal(got.Granted, []int{0}) {
			t.Errorf("the only other peer's report: granted %v, want [0]", got.Granted)
		}
		if st := e.srv.Stats(); st.Entries != 1 {
			t.Errorf("entries = %d, want 1", st.Entries)
		}
	})
}
