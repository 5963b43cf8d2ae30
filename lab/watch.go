package lab

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/proto/api"
)

// wanQuiet is the downstream growth per second below which the uplink
// counts as idle (PROLOGs and results, not package bytes).
const wanQuiet = 64 * 1024

// watch measures one deployment from affectation to the last agent: it
// samples the uplink counters, central's process and the agents'
// processes about once a second. It is used by one goroutine.
type watch struct {
	e       *env
	pkg     string
	t0      time.Time
	before  []LinkBytes
	prev    []LinkBytes
	lastWAN time.Time // end of the last interval in which some uplink carried package bytes
	// busy follows, every busyInterval, the span in which each branch's
	// uplink carried package bytes (its own goroutine); prevAt is the
	// last 1 s sample.
	busy   *busySampler
	prevAt time.Time
	// series is, per branch, the downstream rate of each sample: what the
	// uplink carried over time (lab.json wan[].series).
	series  [][]RatePoint
	tAff    time.Time // begin: the affectation, the series' zero
	cpu0    float64
	peakKB  int64
	served0 int64
	agents  *procSampler
	// fgCPU and fgPeakKB add processes the sampler may miss: foreground
	// agent runs that were waited for.
	fgCPU    float64
	fgPeakKB int64
	// relays are the branch relays of the scenario; relayPeakKB is the
	// largest RSS sampled of any of them.
	relays      []*labRelay
	relayPeakKB int64
	// timeout is await's bound: what a deployment that failed or did not
	// finish counts as in the completion statistics.
	timeout time.Duration
}

// startWatch takes the uplink snapshot and starts following the agents'
// and relays' processes. Call it before the package is created: a relay
// may prefetch a package as soon as it is activated. begin completes the
// snapshot once the package exists.
func (e *env) startWatch(ctx context.Context, agentNS []string, relays []*labRelay) (*watch, error) {
	w := &watch{e: e, relays: relays}
	var err error
	if w.before, err = e.topo.AllUplinks(ctx); err != nil {
		return nil, err
	}
	w.prev = w.before
	for _, r := range relays {
		ps, err := readProcStat(r.PID())
		if err != nil {
			return nil, fmt.Errorf("relay %s: %w", r.host.Name, err)
		}
		r.cpu0, w.relayPeakKB = ps.CPUSeconds, max(w.relayPeakKB, ps.RSSKB)
	}
	if w.agents, err = newProcSampler(agentNS); err != nil {
		return nil, err
	}
	w.t0 = time.Now()
	w.prevAt = w.t0
	w.busy = startBusySampler(ctx, e.topo.DownBytes, busyInterval)
	w.series = make([][]RatePoint, len(w.before))
	return w, nil
}

// begin records central's CPU and served-bytes counters for package pkg; call
// it right before affecting.
func (w *watch) begin(ctx context.Context, pkg string) error {
	w.pkg = pkg
	w.tAff = time.Now()
	ps, err := readProcStat(w.e.central.PID())
	if err != nil {
		return err
	}
	w.cpu0, w.peakKB = ps.CPUSeconds, ps.RSSKB
	if w.served0, err = w.e.central.servedBytes(ctx, pkg); err != nil {
		return err
	}
	return nil
}

// sample records one round of counters.
func (w *watch) sample(ctx context.Context) {
	now := time.Now()
	if cur, err := w.e.topo.AllUplinks(ctx); err == nil {
		for i := range cur {
			if dt := now.Sub(w.prevAt).Seconds(); dt > 0 {
				w.series[i] = append(w.series[i], RatePoint{T: round1(now.Sub(w.tAff).Seconds()),
					Mbit: round1(float64(cur[i].TX-w.prev[i].TX) * 8 / dt / 1e6)})
			}
		}
		w.prev = cur
		w.prevAt = now
	}
	if ps, err := readProcStat(w.e.central.PID()); err == nil {
		w.peakKB = max(w.peakKB, ps.RSSKB)
	}
	for _, r := range w.relays {
		if ps, err := readProcStat(r.PID()); err == nil {
			w.relayPeakKB = max(w.relayPeakKB, ps.RSSKB, ps.HWMKB)
		}
	}
	w.agents.sample()
}

// close stops the busy sampler; finish does it too, and a scenario that
// fails before finish defers it.
func (w *watch) close() { w.busy.stop() }

// isFinal reports whether a deployment state is final.
func isFinal(state string) bool {
	return state == "success" || state == "error" || state == "cancelled"
}

// await polls central until want deployments of the package are final or
// timeout passes, sampling every second, and returns the deployments.
func (w *watch) await(ctx context.Context, want int, timeout time.Duration) ([]api.Deployment, error) {
	w.timeout = timeout
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	report := time.Now()
	for {
		w.sample(ctx)
		deps, err := w.e.central.deployments(ctx, w.pkg)
		if err != nil {
			return nil, err
		}
		done := 0
		for _, d := range deps {
			if isFinal(d.State) {
				done++
			}
		}
		if done >= want {
			return deps, nil
		}
		if time.Since(report) >= 15*time.Second {
			report = time.Now()
			fmt.Fprintf(w.e.out, "  %3.0f s: %d of %d agents done\n", time.Since(w.t0).Seconds(), done, want)
		}
		if time.Now().After(deadline) {
			return deps, fmt.Errorf("%d of %d deployments final after %v", done, want, timeout)
		}
		select {
		case <-ctx.Done():
			return deps, fmt.Errorf("wait for deployments: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// finish takes the "after" snapshot and fills r. firsts are the agents'
// first-fragment times (zero when unknown). A deployment that failed or
// did not finish counts as the scenario's timeout in the completion
// statistics, and an agent without a first fragment as the timeout in
// the first-fragment statistics: a failure must not shorten a tail.
func (w *watch) finish(ctx context.Context, r *Result, deps []api.Deployment, firsts []time.Time) error {
	w.sample(ctx)
	s := float64(w.e.cfg.SizeBytes)
	after, err := w.e.topo.AllUplinks(ctx)
	if err != nil {
		return err
	}
	readings := w.busy.stop()
	type span struct{ from, to time.Time }
	spans := make([]span, len(w.e.topo.Branches))
	for i, rs := range readings[:min(len(readings), len(spans))] {
		spans[i].from, spans[i].to = busySpanOf(rs, w.e.params.UplinkMbit*1e6/8)
		if spans[i].to.After(w.lastWAN) {
			w.lastWAN = spans[i].to
		}
	}
	payload := branchPayload(w.e.topo.Branches, deps, w.relayUpstream(ctx))
	for i, br := range w.e.topo.Branches {
		d := after[i].Sub(w.before[i])
		bw := BranchWAN{Branch: br.Index, DownBytes: d.TX, UpBytes: d.RX, DownPerS: float64(d.TX) / s,
			PayloadBytes: payload[i], PayloadPerS: float64(payload[i]) / s, Series: w.series[i]}
		if busy := w.lastWAN.Sub(w.t0).Seconds(); busy > 0 {
			bw.DownMbit = float64(d.TX) * 8 / busy / 1e6
		}
		if busy := spans[i].to.Sub(spans[i].from).Seconds(); busy > 0 {
			bw.BusySeconds = busy
			bw.Utilisation = float64(payload[i]) * 8 / (w.e.params.UplinkMbit * 1e6 * busy)
		}
		r.WAN = append(r.WAN, bw)
		r.WANPerS = max(r.WANPerS, bw.DownPerS)
	}
	served, err := w.e.central.servedBytes(ctx, w.pkg)
	if err != nil {
		return err
	}
	r.CentralServedBytes = served - w.served0
	r.CentralPerS = float64(r.CentralServedBytes) / (s * float64(len(w.e.topo.Branches)))
	r.WANPayloadPerS = payloadPerS(r.WAN, r.CentralPerS)
	if lan := w.e.params.RelayLANMbit; lan > 0 && relayOnly(r.Scenario) {
		r.LANFloorSeconds = float64(r.Agents) * s * 8 / (lan * 1e6)
	}
	r.BoundSeconds = r.bound(w.e.params)
	if ps, err := readProcStat(w.e.central.PID()); err == nil {
		r.Central = ProcUse{CPUSeconds: ps.CPUSeconds - w.cpu0, PeakRSSMiB: float64(w.peakKB) / 1024, Processes: 1}
	}
	if len(w.relays) > 0 {
		r.Relay = ProcUse{PeakRSSMiB: float64(w.relayPeakKB) / 1024, Processes: len(w.relays)}
		for _, rl := range w.relays {
			if ps, err := readProcStat(rl.PID()); err == nil {
				r.Relay.CPUSeconds += ps.CPUSeconds - rl.cpu0
			}
		}
	}
	cpu, peak, n := w.agents.totals()
	r.AgentsUse = ProcUse{CPUSeconds: cpu + w.fgCPU, PeakRSSMiB: float64(max(peak, w.fgPeakKB)) / 1024, Processes: n}

	r.ResultCodes = map[string]int{}
	var lastDone time.Time
	for _, d := range deps {
		switch {
		case d.State == "success":
			r.Succeeded++
		case isFinal(d.State):
			r.Failed++
		default:
			r.Unfinished++
		}
		if d.ResultCode != "" {
			r.ResultCodes[d.ResultCode]++
		}
		r.BytesBySource.Peer += d.BytesPeer
		r.BytesBySource.Relay += d.BytesRelay
		r.BytesBySource.Central += d.BytesCentral
		if d.State == "success" && d.FinishedAt != nil && d.FinishedAt.After(lastDone) {
			lastDone = *d.FinishedAt
		}
	}
	completions := completionTimes(deps, w.t0, w.timeout)
	ratios := make([]float64, len(completions))
	for i, c := range completions {
		ratios[i] = c / w.e.params.FloorSeconds
	}
	r.Completion, r.CompletionRatio = distOf(completions), distOf(ratios)
	r.Completions = slices.Sorted(slices.Values(completions))
	if !w.lastWAN.IsZero() && !lastDone.IsZero() {
		v := max(0, lastDone.Sub(w.lastWAN).Seconds())
		r.LastDoneAfterWAN = &v
	}
	r.FirstFragment = distOf(firstFragmentTimes(firsts, w.t0, w.timeout))
	return nil
}

// relayUpstream reads each relay's upstream counter (the package bytes it
// received from central), by branch index; a relay that does not answer
// is left out, and its branch's payload then rests on central's counter.
func (w *watch) relayUpstream(ctx context.Context) map[int]int64 {
	up := map[int]int64{}
	for _, rl := range w.relays {
		m, err := rl.metrics(ctx)
		if err != nil {
			w.e.log.Warn("relay counters", "relay", rl.host.Name, "err", err)
			continue
		}
		up[rl.branch] += int64(m["shoal_relay_upstream_bytes_total"])
	}
	return up
}

// branchPayload returns the package bytes each branch received across its
// uplink by the receivers' application counters: its agents' bytes from
// central (by computer name: lab hosts are named …-<host>) and its relay's
// upstream bytes (relayUp, by branch index). OCS agents count nothing.
func branchPayload(branches []*Branch, deps []api.Deployment, relayUp map[int]int64) []int64 {
	out := make([]int64, len(branches))
	for i, br := range branches {
		out[i] = relayUp[br.Index]
		for _, d := range deps {
			for _, h := range br.Agents {
				if strings.HasSuffix(d.ComputerName, "-"+h.Name) {
					out[i] += d.BytesCentral
				}
			}
		}
	}
	return out
}

// payloadPerS is the package bytes per branch ÷ S that the WAN goal
// counts: the largest branch by the receivers' counters, or central's
// served bytes per branch (the sender's counter) when that is larger, so
// that a receiver that did not report (OCS agents, a failed agent) does not
// shrink the number.
func payloadPerS(wan []BranchWAN, centralPerS float64) float64 {
	v := centralPerS
	for _, b := range wan {
		v = max(v, b.PayloadPerS)
	}
	return v
}

// completionTimes returns, per deployment, the seconds from t0 to its
// success; a deployment that failed, is not final or has no finish time
// counts as timeout.
func completionTimes(deps []api.Deployment, t0 time.Time, timeout time.Duration) []float64 {
	out := make([]float64, 0, len(deps))
	for _, d := range deps {
		if d.State == "success" && d.FinishedAt != nil {
			out = append(out, max(0, d.FinishedAt.Sub(t0).Seconds()))
		} else {
			out = append(out, timeout.Seconds())
		}
	}
	return out
}

// firstFragmentTimes returns, per agent, the seconds from t0 to its first
// stored fragment; an agent without one counts as timeout.
func firstFragmentTimes(firsts []time.Time, t0 time.Time, timeout time.Duration) []float64 {
	out := make([]float64, 0, len(firsts))
	for _, t := range firsts {
		if t.IsZero() {
			out = append(out, timeout.Seconds())
		} else {
			out = append(out, max(0, t.Sub(t0).Seconds()))
		}
	}
	return out
}

// forEach runs fn for every index below n, at most limit at a time, and
// joins the errors.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// relayOnly reports whether every agent of the scenario gets the package
// from its branch relay alone, through the relay's one LAN port.
func relayOnly(scenario string) bool {
	return scenario == "shoal-relay" || scenario == "ocs-relay"
}

// round1 rounds to one decimal.
func round1(v float64) float64 { return math.Round(v*10) / 10 }
