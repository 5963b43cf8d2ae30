package swarm_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/agent/p2p"
	"github.com/shoal-project/shoal/agent/swarm"
	"github.com/shoal-project/shoal/agent/swarm/swarmtest"
	"github.com/shoal-project/shoal/proto"
)

// grantExcluding grants idx, as the tracker does, only to a request that
// excludes holder: while the holder counts, it is the fragments' owner.
func grantExcluding(holder string, idx ...int) func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
	return func(req proto.TrackerLeaseRequest) proto.TrackerLeaseResponse {
		if !slices.Contains(req.Exclude, holder) {
			return proto.TrackerLeaseResponse{Granted: []int{}, TTL: 60}
		}
		return grantOnly(idx...)(req)
	}
}

// TestSlowOwnerExcluded: the only holder of fragments 4-7 (their WAN
// owner) delivers nothing, answers busy for ever, or fails every request. Progress decides: the
// download leaves it alone, excludes it from its lease requests, gets the
// lease and fetches the four fragments from upstream once, instead of
// waiting for the owner forever.
func TestSlowOwnerExcluded(t *testing.T) {
	tests := []struct {
		name      string
		owner     func(s *swarmtest.Source)
		wantAfter time.Duration // the least time the download takes
		within    time.Duration
	}{
		{name: "delivers-nothing", owner: func(s *swarmtest.Source) { s.SetHold(func(int) bool { return true }) },
			wantAfter: time.Second, within: 3 * time.Second},
		{name: "always-busy", owner: func(s *swarmtest.Source) { s.SetFail(fmt.Errorf("upload slots taken: %w", p2p.ErrBusy)) },
			wantAfter: time.Second, within: 3 * time.Second},
		{name: "fails-every-request", owner: func(s *swarmtest.Source) { s.SetFail(errors.New("connection reset by peer")) },
			within: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const n = 8
				e := newSwarm(t, n, swarm.Config{ProgressMin: time.Second, StallTimeout: 10 * time.Second}, map[string][]int{
					"owner": swarmtest.Range(4, 8),
					"peerA": swarmtest.Range(0, 4),
				})
				owner, peerA := e.peers[0], e.peers[1]
				peerA.SetDelay(func(int) time.Duration { return 10 * time.Millisecond })
				tt.owner(owner)
				e.tracker.SetGrant(grantExcluding("owner", 4, 5, 6, 7))
				start := time.Now()
				if _, err := e.fetch(t); err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				took := time.Since(start)
				e.checkStored(t)
				if took < tt.wantAfter || took > tt.within {
					t.Errorf("took %s, want %s..%s (the progress bound, not the stall timeout)", took, tt.wantAfter, tt.within)
				}
				up := e.upstream.Requests()
				slices.Sort(up)
				if diff := cmp.Diff([]int{4, 5, 6, 7}, up); diff != "" {
					t.Errorf("upstream requests (-want +got):\n%s", diff)
				}
				if got := owner.Served(); len(got) != 0 {
					t.Errorf("owner served %v, want nothing", got)
				}
				excluded := false
				for _, l := range e.tracker.Leases() {
					excluded = excluded || slices.Contains(l.Exclude, "owner")
				}
				if !excluded {
					t.Errorf("no lease request excluded the owner: %+v", e.tracker.Leases())
				}
			})
		})
	}
}
