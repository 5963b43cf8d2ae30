package sim

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Goals of issue 20, checked per scenario.
const (
	goalP95  = 1.2 // p95 completion ≤ 1.2 × floor
	goalTail = 5.0 // last agent ≤ 5 s after the last WAN byte
)

// Report is a set of scenario results.
type Report struct {
	// Branches is the number of branches the tracker load is scaled to
	// (per-branch aggregation: the sites do not interact at the tracker).
	Branches int       `json:"branches_for_tracker_load"`
	Results  []*Result `json:"results"`
	// HashMBps is this machine's SHA-256 rate, used for the hashing CPU.
	HashMBps float64 `json:"hash_mb_per_s"`
	Note     string  `json:"note,omitempty"`
}

// WANGoal is 1.02·S + 1 MiB, as a multiple of S.
func (r *Result) WANGoal() float64 { return 1.02 + float64(1<<20)/float64(r.Scenario.Size) }

// Goals says which of issue 20's goals the result meets.
func (r *Result) Goals() []string {
	var out []string
	mark := func(ok bool, what string) {
		v := "PASS"
		if !ok {
			v = "FAIL"
		}
		out = append(out, what+" "+v)
	}
	mark(r.Failed == 0, "all done")
	mark(r.WAN <= r.WANGoal(), "WAN")
	if r.Scenario.Asleep > 0 {
		// Agents that wake after the WAN is done finish after it by
		// design: the p95 counts from each agent's own start, and the
		// tail does not apply.
		mark(r.Floor > 0 && r.P95Start/r.Floor <= goalP95, "p95 from start")
		return out
	}
	mark(r.Floor > 0 && r.P95/r.Floor <= goalP95, "p95")
	mark(r.Tail <= goalTail, "tail")
	return out
}

// JSON writes the report as indented JSON.
func (rep *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func mib(n int64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", float64(n)/(1<<20)), "0"), ".") + " MiB"
}

// Markdown writes the results table and the tracker load at Branches
// branches.
func (rep *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| Scenario | N | S · fragment | uplink · LAN | relay | done / failed / left | WAN ÷ S | p50 / p95 / max ÷ floor (floor) | p95 / max from own start ÷ floor | last WAN byte · tail | tracker req/s · kB/s per 1,000 agents | central req/s | hashed per agent · CPU | wall · CPU | goals |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Results {
		sc := r.Scenario
		fl := max(r.Floor, 1e-9)
		relay := "–"
		switch {
		case sc.Relay && sc.NoSwarm:
			relay = "relay only, " + mib(r.BytesRelay) + " to agents"
		case sc.Relay:
			relay = "relay + peers, " + mib(r.BytesRelay) + " to agents"
		}
		if sc.Relay {
			relay += fmt.Sprintf(", %d WAN ranges, port %g Mbit/s", r.RelayRanges, sc.RelayLANMbit)
		}
		fmt.Fprintf(w, "| %s | %d | %s · %s | %g Mbit/s +%s %g %% · %g Mbit/s | %s | %d / %d / %d | %.3f | %.2f / %.2f / %.2f (%.1f s) | %.2f / %.2f | %.1f s · %.1f s | %.0f · %.0f | %.1f | %s · %.2f s | %.0f s · %.0f s | %s |\n",
			sc.Name, sc.Agents, mib(sc.Size), mib(sc.FragmentSize), sc.UplinkMbit, sc.Delay, sc.Loss, sc.LANMbit, relay,
			r.Done, r.Failed, r.Left, r.WAN, r.P50/fl, r.P95/fl, r.Max/fl, r.Floor, r.P95Start/fl, r.MaxStart/fl, r.LastWAN, r.Tail,
			r.TrackerReqPerKs, r.TrackerBytesPerKs/1e3, r.CentralReqPerSec, mib(int64(r.HashedPerAgent)), r.HashCPUPerAgent, r.WallSeconds, r.CPUSeconds,
			strings.Join(r.Goals(), ", "))
	}
	if rep.Branches > 0 {
		fmt.Fprintf(w, "\nTracker load at %d branches (per-branch aggregation):\n\n", rep.Branches)
		fmt.Fprintln(w, "| Scenario | agents | tracker req/s | tracker MB/s | calls per agent (announce / lookup / lease) |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, r := range rep.Results {
			agents := r.Scenario.Agents * rep.Branches
			k := float64(agents) / 1000
			n := float64(r.Scenario.Agents)
			fmt.Fprintf(w, "| %s | %d | %.0f | %.2f | %.1f / %.1f / %.1f |\n", r.Scenario.Name, agents, r.TrackerReqPerKs*k, r.TrackerBytesPerKs*k/1e6,
				float64(r.TrackerCalls["/announce"])/n, float64(r.TrackerCalls["/lookup"])/n, float64(r.TrackerCalls["/lease"])/n)
		}
	}
}

// CDF writes an SVG chart of every result's completion ÷ floor CDF.
func (rep *Report) CDF(w io.Writer, title string) {
	const (
		width, height = 760, 420
		left, right   = 64, 230
		top, bottom   = 36, 52
	)
	colors := [...]string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"}
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	xmax := 1.0
	for _, r := range rep.Results {
		for _, c := range r.Completion {
			xmax = max(xmax, c/r.Floor)
		}
	}
	xmax = math.Min(math.Ceil(xmax*1.05*4)/4, 6)
	x := func(v float64) float64 { return float64(left) + math.Min(v, xmax)/xmax*pw }
	y := func(f float64) float64 { return float64(top) + (1-f)*ph }
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	step := 0.25
	if xmax > 3 {
		step = 0.5
	}
	for v := 0.0; v <= xmax+step/2; v += step {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(v), top, x(v), y(0))
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(v), y(0)+16, v)
	}
	for f := 0.0; f <= 1.0001; f += 0.25 {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(f), x(xmax), y(f))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g%%</text>`+"\n", left-6, y(f)+4, f*100)
	}
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">completion ÷ floor (S·8/U), from the affectation</text>`+"\n", float64(left)+pw/2, height-12)
	fmt.Fprintf(w, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">agents done</text>`+"\n", float64(top)+ph/2, float64(top)+ph/2)
	for _, v := range []float64{1, goalP95} {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="5,4"/>`+"\n", x(v), top, x(v), y(0))
	}
	ly := top + 10
	for i, r := range rep.Results {
		if len(r.Completion) == 0 {
			continue
		}
		c := colors[i%len(colors)]
		n := float64(r.Scenario.Agents - r.Scenario.churned())
		var pts []string
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(0), y(0)))
		for k, v := range r.Completion {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(v/r.Floor), y(float64(k)/n)), fmt.Sprintf("%.1f,%.1f", x(v/r.Floor), y(float64(k+1)/n)))
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", width-right+12, ly, width-right+32, ly, c)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s (p95 %.2f)</text>`+"\n", width-right+38, ly+4, html.EscapeString(r.Scenario.Name), r.P95/r.Floor)
		ly += 18
	}
	fmt.Fprintln(w, `</svg>`)
}
