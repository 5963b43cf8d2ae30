package lan

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/testwait"
)

// TestMeasure20 measures the membership timings on 20 agents in
// one process on 127.0.0.1, with the default tunables: how long until a new
// agent is a member for every other one, and until a crashed agent
// (Shutdown without Leave) is gone for every survivor. It prints p50 and
// max over all observers and asserts the bounds (5 s, 10 s). It is
// skipped with -short and under the race detector, which slows 20
// in-process nodes on two shared cores beyond what the numbers mean.
func TestMeasure20(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("20-node measurement: not with -short or -race")
	}
	const (
		size    = 20
		rounds  = 5
		visible = 5 * time.Second
		exclude = 10 * time.Second
	)
	site := newTestSite(t, newTestCentral(t), "bench")
	begin := time.Now()
	var nodes []*testNode
	start := func(i int) *testNode {
		return startNode(t, testConfig(), site.identity(t, fmt.Sprintf("peer-%02d", i)), nil)
	}
	for i := range size {
		n := start(i)
		if i > 0 {
			n.join(t, nodes[i/2]) // Spread the seeds a little.
		}
		nodes = append(nodes, n)
	}
	// Close everything in parallel (the per-node cleanups then return at
	// once): sequential leaves of 20 nodes take seconds.
	all := &nodes
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range *all {
			wg.Go(func() { n.close(t) })
		}
		wg.Wait()
	})
	waitMembers(t, 60*time.Second, nodes...)
	t.Logf("%d nodes converged after %v", size, time.Since(begin).Round(time.Millisecond))

	// Joins: a new node joins an existing one; observers are the others.
	// tableTimes: when memberlist itself listed the node, before its
	// record was checked; the difference is the record exchange's cost.
	var joinTimes, tableTimes []time.Duration
	for r := range rounds {
		n := start(size + r)
		t0 := time.Now()
		n.join(t, nodes[(r*7)%len(nodes)])
		inTable := make(map[*testNode]bool)
		joinTimes = append(joinTimes, observe(t, 2*visible, nodes, func(o *testNode) bool {
			if !inTable[o] && inTableFor(o.Cluster, n.id.PeerID) > 0 {
				inTable[o] = true
				tableTimes = append(tableTimes, time.Since(t0))
			}
			return slices.Contains(memberIDs(o.Cluster), n.id.PeerID)
		}, t0, n.id.PeerID)...)
		nodes = append(nodes, n)
	}

	// Crashes: a node stops without leaving; observers are the survivors.
	var crashTimes []time.Duration
	for r := range rounds {
		victim := nodes[len(nodes)-1-r*5]
		var survivors []*testNode
		for _, n := range nodes {
			if n != victim {
				survivors = append(survivors, n)
			}
		}
		t0 := time.Now()
		victim.kill()
		crashTimes = append(crashTimes, observe(t, 2*exclude, survivors, func(o *testNode) bool {
			return !slices.Contains(memberIDs(o.Cluster), victim.id.PeerID)
		}, t0, victim.id.PeerID)...)
		nodes = survivors
	}

	jp50, jmax := quantiles(joinTimes)
	cp50, cmax := quantiles(crashTimes)
	tp50, tmax := quantiles(tableTimes)
	t.Logf("%d nodes, %d rounds: new node in memberlist's table everywhere: p50 %v, max %v", size, rounds, tp50, tmax)
	t.Logf("%d nodes, %d rounds: new node visible to all: p50 %v, max %v (issue: <= %v)", size, rounds, jp50, jmax, visible)
	t.Logf("%d nodes, %d rounds: crashed node excluded by all: p50 %v, max %v (issue: <= %v)", size, rounds, cp50, cmax, exclude)
	t.Logf("measured after %v", time.Since(begin).Round(time.Millisecond))
	// The waits above allow twice the bounds so that the numbers are
	// printed even when a bound is missed.
	if jmax > visible {
		t.Errorf("a new node took %v to be visible to all, want <= %v", jmax, visible)
	}
	if cmax > exclude {
		t.Errorf("a crashed node took %v to be excluded by all, want <= %v", cmax, exclude)
	}
}

// observe polls until cond holds for every observer (or timeout fails the
// test) and returns, per observer, the time from t0 at which it first held.
func observe(t *testing.T, timeout time.Duration, observers []*testNode, cond func(*testNode) bool, t0 time.Time, peer string) []time.Duration {
	t.Helper()
	seen := make(map[*testNode]time.Duration)
	testwait.For(t, timeout, "all observers", func() error {
		now := time.Since(t0)
		for _, o := range observers {
			if _, ok := seen[o]; !ok && cond(o) {
				seen[o] = now
			}
		}
		if len(seen) < len(observers) {
			var late []string
			for _, o := range observers {
				if _, ok := seen[o]; !ok {
					late = append(late, fmt.Sprintf("%s (memberlist: %v, record: %v)", o.id.PeerID, inTableFor(o.Cluster, peer) > 0, hasCachedRecord(o.Cluster, peer)))
				}
			}
			return fmt.Errorf("%d of %d observers; late about %s: %v", len(seen), len(observers), peer, late)
		}
		return nil
	})
	var out []time.Duration
	for _, d := range seen {
		out = append(out, d)
	}
	return out
}

func quantiles(ds []time.Duration) (p50, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond)
}
