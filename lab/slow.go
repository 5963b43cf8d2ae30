package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// leaseLogMsg is what a Shoal agent logs when the tracker makes it the WAN
// owner of fragments (agent/swarm).
const leaseLogMsg = "WAN-owner lease granted"

// ParseRate parses a tc-style rate into kbit/s: "512kbit", "2mbit",
// "1.5Mbit" or a plain number of kbit/s.
func ParseRate(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"kbit", 1}, {"mbit", 1000}, {"gbit", 1e6}} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("rate %q: want a positive number of kbit/s, or one with a kbit, mbit or gbit suffix", s)
	}
	return v * mult, nil
}

// slowArgs are the tc arguments that throttle the egress of an agent's
// LAN port to kbit kbit/s, as a busy or weak laptop behaves.
func slowArgs(ns string, kbit float64) []string {
	return []string{"-n", ns, "qdisc", "replace", "dev", "eth0", "root", "tbf",
		"rate", strconv.FormatFloat(kbit, 'f', -1, 64) + "kbit", "burst", "16kb", "latency", "200ms"}
}

// restoreArgs are the tc arguments that undo slowArgs: the LAN shaping of
// the run, or none.
func restoreArgs(ns string, lanMbit float64) []string {
	if lanMbit > 0 {
		return tbfArgs(ns, "eth0", lanMbit, time.Millisecond)
	}
	return []string{"-n", ns, "qdisc", "del", "dev", "eth0", "root"}
}

// slowPlan says which agents of a Shoal scenario are throttled.
type slowPlan struct {
	// perBranch agents are throttled in each branch, at kbit kbit/s.
	perBranch int
	kbit      float64
	// owners: throttle the first agents of each branch that log a
	// WAN-owner lease (when it is logged), rather than the first agents
	// of each branch before they start.
	owners bool
}

// planSlow returns the slow-peer plan of a scenario: only scenarios whose
// agents share fragments on the LAN have slow peers.
func planSlow(c Config, m shoalMode, agents int) slowPlan {
	if !m.p2p || c.SlowPeers <= 0 {
		return slowPlan{}
	}
	return slowPlan{perBranch: min(c.SlowPeers, agents), kbit: c.SlowRateKbit, owners: c.SlowOwner}
}

// static returns the indexes, in each branch's agents, throttled before
// the agents start.
func (p slowPlan) static() []int {
	if p.owners {
		return nil
	}
	var out []int
	for i := range p.perBranch {
		out = append(out, i)
	}
	return out
}

// throttler applies a slow plan and restores the ports afterwards.
type throttler struct {
	plan    slowPlan
	lanMbit float64

	mu   sync.Mutex // guards done
	done []Host     // throttled, in order
}

func (t *throttler) throttle(ctx context.Context, h Host) error {
	if _, err := command(ctx, "tc", slowArgs(h.NS, t.plan.kbit)...); err != nil {
		return fmt.Errorf("throttle %s: %w", h.Name, err)
	}
	t.mu.Lock()
	t.done = append(t.done, h)
	t.mu.Unlock()
	return nil
}

// hosts names the throttled agents.
func (t *throttler) hosts() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, h := range t.done {
		out = append(out, h.Name)
	}
	return out
}

// restore undoes every throttle.
func (t *throttler) restore(ctx context.Context) error {
	t.mu.Lock()
	done := t.done
	t.done = nil
	t.mu.Unlock()
	var errs []string
	for _, h := range done {
		if _, err := command(ctx, "tc", restoreArgs(h.NS, t.lanMbit)...); err != nil {
			errs = append(errs, h.Name+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("restore throttled ports: %s", strings.Join(errs, "; "))
	}
	return nil
}

// watchOwners throttles, in each branch, the first plan.perBranch agents
// that log a WAN-owner lease, until ctx ends or all are throttled.
func (t *throttler) watchOwners(ctx context.Context, branches [][]*shoalAgent) error {
	picked := make([]map[int]bool, len(branches))
	for b := range picked {
		picked[b] = map[int]bool{}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		left := 0
		for b, agents := range branches {
			for i, a := range agents {
				if len(picked[b]) >= t.plan.perBranch {
					break
				}
				if picked[b][i] {
					continue
				}
				if log, err := os.ReadFile(a.logFile()); err == nil && !logged(log, leaseLogMsg).IsZero() {
					picked[b][i] = true
					if err := t.throttle(ctx, a.host); err != nil {
						return err
					}
				}
			}
			left += t.plan.perBranch - len(picked[b])
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// slowGoals fills the slow-peer statistics of r from deps (the throttled
// agents are named by slow) and returns the goals of issue 21 beside
// "every agent succeeds" (evaluate): the other agents' completion p95 is within 1.3 × the
// p95 of the same run without slow peers (baseline, seconds; 0: not
// given, FAIL), and the WAN payload is at most 1.05·S. The throttled
// agents themselves are left out of the p95: with N agents the p95 is
// the slowest (nearest rank), and a laptop that cannot upload may be
// slow itself; its branch must not be.
func slowGoals(r *Result, deps []api.Deployment, slow []string, t0 time.Time, timeout time.Duration, baseline float64) []Goal {
	var others, slowDeps []api.Deployment
	for _, d := range deps {
		if slices.Contains(slow, d.ComputerName) {
			slowDeps = append(slowDeps, d)
		} else {
			others = append(others, d)
		}
	}
	r.OthersCompletion = distOf(completionTimes(others, t0, timeout))
	r.SlowCompletions = completionTimes(slowDeps, t0, timeout)
	g := Goal{Name: "p95 completion of the agents not throttled", Target: "≤ 1.3 × unthrottled p95 (give -baseline-p95)",
		Value: fmt.Sprintf("%.1f s, no baseline given", r.OthersCompletion.P95)}
	if baseline > 0 {
		g.Target = fmt.Sprintf("≤ 1.3 × %.1f s = %.1f s", baseline, 1.3*baseline)
		g.Value = fmt.Sprintf("%.1f s (%.2f×)", r.OthersCompletion.P95, r.OthersCompletion.P95/baseline)
		g.Pass = r.OthersCompletion.N > 0 && r.OthersCompletion.P95 <= 1.3*baseline
	}
	return []Goal{g, {Name: "WAN bytes per branch with slow peers", Target: "≤ 1.05·S (payload, application counters)",
		Value: fmt.Sprintf("%.3f·S", r.WANPayloadPerS), Pass: r.WANPayloadPerS <= 1.05}}
}
