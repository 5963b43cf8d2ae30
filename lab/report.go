package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MiB is 2^20 bytes.
const MiB = 1 << 20

// Report is everything one run measured.
type Report struct {
	Started   time.Time `json:"started"`
	Params    Params    `json:"params"`
	Host      HostInfo  `json:"host"`
	Scenarios []*Result `json:"scenarios"`
}

// Params are the run's parameters.
type Params struct {
	SizeBytes  int64   `json:"size_bytes"`
	Branches   int     `json:"branches"`
	UplinkMbit float64 `json:"uplink_mbit"`
	// DelayMs is added to each direction of the uplink (RTT = 2·DelayMs).
	DelayMs float64 `json:"delay_ms"`
	LossPct float64 `json:"loss_pct"`
	// LANMbit is 0 when the LAN is unshaped.
	LANMbit float64 `json:"lan_mbit"`
	// RelayLANMbit is the rate of the relays' LAN port, 0 when unshaped.
	RelayLANMbit float64 `json:"relay_lan_mbit"`
	// CC is the TCP congestion control of every namespace (reno or bbr).
	CC string `json:"cc"`
	// FloorSeconds is S·8/U, the time one copy needs on the uplink.
	FloorSeconds float64 `json:"floor_seconds"`
	// MeasuredRTTMs is a TCP connect from the first agent to central
	// across the WAN: a check that the delay line works.
	MeasuredRTTMs float64 `json:"measured_rtt_ms"`
	// MeasuredDownMbit is the TCP goodput of a bulk transfer from central's
	// namespace to the first agent before the scenarios: a check of the
	// shaping (at most U·1448/1500 for full-size packets).
	MeasuredDownMbit float64 `json:"measured_down_mbit"`
}

// HostInfo describes the machine, since every number depends on it.
type HostInfo struct {
	Kernel      string `json:"kernel"`
	CPUs        int    `json:"cpus"`
	LoadBefore  string `json:"load_before"`
	LoadAfter   string `json:"load_after"`
	OCSAgentVer string `json:"ocs_agent_version,omitempty"`
	// LabCPUSeconds is the CPU the lab process itself used, mostly its
	// delay lines; it competes with the measured processes.
	LabCPUSeconds float64 `json:"lab_cpu_seconds"`
}

// Scenario states.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Result is one scenario's outcome.
type Result struct {
	Scenario string `json:"scenario"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	// Agents is N, per branch.
	Agents       int            `json:"agents_per_branch"`
	Branches     int            `json:"branches"`
	PackageID    string         `json:"package_id,omitempty"`
	PackageBytes int64          `json:"package_bytes,omitempty"`
	Fragments    int            `json:"fragments,omitempty"`
	Succeeded    int            `json:"succeeded"`
	Failed       int            `json:"failed"`
	Unfinished   int            `json:"unfinished"`
	ResultCodes  map[string]int `json:"result_codes,omitempty"`
	// WAN is what crossed each branch uplink between affectation and the
	// end of the scenario.
	WAN []BranchWAN `json:"wan,omitempty"`
	// WANPerS is the largest branch's downstream bytes ÷ S.
	WANPerS float64 `json:"wan_per_s"`
	// WANPayloadPerS is the package bytes per branch ÷ S that the goal of
	// issue 8 counts, measured by application counters: the largest of
	// each branch's receivers (agents' bytes from central, the relay's
	// upstream bytes) and central's served bytes per branch (CentralPerS).
	WANPayloadPerS float64 `json:"wan_payload_per_s"`
	// CentralServedBytes is central's download counter for the package;
	// CentralPerS is it ÷ (S · branches), comparable with WANPerS.
	CentralServedBytes int64   `json:"central_served_bytes"`
	CentralPerS        float64 `json:"central_per_s"`
	// FirstFragment is seconds from affectation to each agent's first
	// fragment; Completion seconds from affectation to each agent's final
	// state; CompletionRatio the same ÷ FloorSeconds.
	FirstFragment   Dist      `json:"first_fragment"`
	Completion      Dist      `json:"completion"`
	CompletionRatio Dist      `json:"completion_ratio"`
	Completions     []float64 `json:"completions"`
	// LastDoneAfterWAN is how long after the last WAN byte the last agent
	// finished (seconds; the last byte is found with 100 ms resolution).
	LastDoneAfterWAN *float64 `json:"last_done_after_wan,omitempty"`
	BytesBySource    Sources  `json:"bytes_by_source"`
	Central          ProcUse  `json:"central"`
	AgentsUse        ProcUse  `json:"agents"`
	// Relay is the branch relays' CPU (summed) and peak RSS (the largest
	// VmHWM or sampled RSS of any of them); zero without relays.
	Relay ProcUse `json:"relay"`
	// RelayMode says how the relays were set up (RelayEnrolled or
	// RelayByHand); RelayUpstreamBytes and RelayServedBytes are their
	// /metrics counters summed over the branches (each relay is fresh).
	RelayMode          string `json:"relay_mode,omitempty"`
	RelayUpstreamBytes int64  `json:"relay_upstream_bytes,omitempty"`
	RelayServedBytes   int64  `json:"relay_served_bytes,omitempty"`
	// RelayCutResponses counts the relays' upstream responses cut short
	// by an endgame split (shoal_relay_upstream_cuts_total);
	// CentralUnreadBytes is what central sent that no receiver counted
	// (central's served bytes − the relays' upstream bytes − the agents'
	// bytes from central): the bytes behind the cuts, in flight and in the
	// relays' unread receive queues, and those of failed fetches.
	RelayCutResponses  int64 `json:"relay_cut_responses,omitempty"`
	CentralUnreadBytes int64 `json:"central_unread_bytes,omitempty"`
	// LANFloorSeconds is N·S·8 ÷ the relay's LAN port rate: the least
	// time one relay needs to send every agent of its branch a copy
	// through its port (relay-only scenarios with a shaped relay port; 0
	// otherwise). A p95 near it is bound by the relay's port, not the
	// uplink.
	LANFloorSeconds float64 `json:"lan_floor_seconds,omitempty"`
	// BoundSeconds is the physical bound of the scenario that the p95
	// target of issues 20 and 21 compares with: the larger of the WAN
	// floor S·8/U and LANFloorSeconds.
	BoundSeconds float64 `json:"bound_seconds,omitempty"`
	// SlowPeers are the agents whose LAN egress was throttled to
	// SlowRateKbit; SlowOwner says they were chosen as WAN owners.
	SlowPeers    []string `json:"slow_peers,omitempty"`
	SlowRateKbit float64  `json:"slow_rate_kbit,omitempty"`
	SlowOwner    bool     `json:"slow_owner,omitempty"`
	Goals        []Goal   `json:"goals,omitempty"`
	// Targets are the goals of issues 20 and 21 for the Shoal relay and
	// P2P scenarios (p95 ≤ 1.2 × floor, last agent ≤ 5 s after the last
	// WAN byte, uplink ≥ 90 % used while busy): printed PASS or FAIL, but
	// not part of the exit status, since a relay-only branch on a shaped
	// LAN cannot meet the first (see LANFloorSeconds).
	Targets         []Goal  `json:"targets,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`

	// OthersCompletion is the completion of the agents not throttled,
	// SlowCompletions the throttled agents' (seconds, as Completion).
	OthersCompletion Dist      `json:"others_completion,omitzero"`
	SlowCompletions  []float64 `json:"slow_completions,omitempty"`
}

// BranchWAN is one branch uplink's traffic.
type BranchWAN struct {
	Branch    int     `json:"branch"`
	DownBytes int64   `json:"down_bytes"`
	UpBytes   int64   `json:"up_bytes"`
	DownPerS  float64 `json:"down_per_s"`
	// DownMbit is the mean downstream rate from affectation to the last
	// sample that carried package bytes: a check of the shaping.
	DownMbit float64 `json:"down_mbit"`
	// PayloadBytes is what the branch's agents and relay counted as
	// received from central (0 for OCS agents, which count nothing).
	PayloadBytes int64   `json:"payload_bytes"`
	PayloadPerS  float64 `json:"payload_per_s"`
	// BusySeconds is how long the uplink carried package bytes (100 ms
	// readings, see busySpanOf); Utilisation is PayloadBytes ÷ (U · BusySeconds), the
	// share of the uplink the deployment used while it used it (issue 21
	// asks ≥ 0.9 under 1 % loss).
	BusySeconds float64 `json:"busy_seconds,omitempty"`
	// Series is the downstream rate of each sample (about 1 s apart), at
	// seconds from the affectation (negative before it, while the package
	// was uploaded): IP bytes, headers included.
	Series      []RatePoint `json:"series,omitempty"`
	Utilisation float64     `json:"uplink_utilisation,omitempty"`
}

// Sources splits the bytes agents received by where they came from.
type Sources struct {
	Central int64 `json:"central"`
	Relay   int64 `json:"relay"`
	Peer    int64 `json:"peer"`
}

// ProcUse is CPU and memory of a role's processes during the scenario.
type ProcUse struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Processes  int     `json:"processes"`
}

// Goal is one target of issue 8 and whether the scenario met it.
type Goal struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Pass   bool   `json:"pass"`
}

// Dist summarises a sample.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of sorted.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// distOf summarises xs.
func distOf(xs []float64) Dist {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return Dist{}
	}
	return Dist{N: len(s), P50: percentile(s, 0.5), P95: percentile(s, 0.95), Max: s[len(s)-1]}
}

// WireShare is the payload share of a full-size TCP segment on the lab's
// uplinks: 1448 bytes of data in a 1500-byte IP packet (20 bytes of IP,
// 20 of TCP, 12 of timestamps).
const WireShare = 1448.0 / 1500.0

// evaluate fills r.Goals with the targets of issue 8 that apply to r. A
// failed scenario's goals are all FAIL, whatever it measured before it
// failed.
func evaluate(r *Result, p Params) {
	if r.Status == StatusSkipped {
		return
	}
	defer func() {
		if r.Status != StatusOK {
			for i := range r.Goals {
				r.Goals[i].Pass = false
			}
		}
	}()
	total := r.Agents * max(r.Branches, 1)
	r.Goals = append(r.Goals, Goal{Name: "every agent succeeds", Target: fmt.Sprintf("%d of %d", total, total),
		Value: fmt.Sprintf("%d of %d", r.Succeeded, total), Pass: r.Succeeded == total})
	if r.SlowRateKbit > 0 {
		// Issue 21's goals for slow peers (slowGoals) replace the WAN and
		// time goals of issue 8.
		return
	}
	s := float64(p.SizeBytes)
	baseline := strings.HasSuffix(r.Scenario, "-direct")
	shoal := strings.HasPrefix(r.Scenario, "shoal-")
	if baseline {
		n := float64(r.Agents)
		r.Goals = append(r.Goals, Goal{Name: "WAN bytes per branch (baseline)", Target: fmt.Sprintf("≈ N·S = %.0f·S (±10 %%)", n),
			Value: fmt.Sprintf("%.2f·S", r.WANPerS), Pass: math.Abs(r.WANPerS-n) <= 0.1*n})
	} else {
		// The uplink counters count IP packets: one copy of S costs
		// about 1.036·S on the wire, more than the 2 % the goal allows,
		// so the goal is checked on the package bytes the application
		// counters measured and the wire ratio is shown beside it.
		limit := 1.02*s + MiB
		r.Goals = append(r.Goals, Goal{Name: "WAN bytes per branch", Target: "≤ 1.02·S + 1 MiB (payload, application counters)",
			Value: fmt.Sprintf("%.3f·S payload (%.3f·S on the wire)", r.WANPayloadPerS, r.WANPerS), Pass: r.WANPayloadPerS*s <= limit})
	}
	if shoal {
		r.Goals = append(r.Goals, Goal{Name: "affectation → first fragment p95", Target: "≤ 60 s",
			Value: fmt.Sprintf("%.1f s", r.FirstFragment.P95), Pass: r.FirstFragment.N > 0 && r.FirstFragment.P95 <= 60})
	}
	if !shoal || baseline {
		return
	}
	target := 1.15*p.FloorSeconds + 60
	r.Goals = append(r.Goals, Goal{Name: "p95 completion", Target: fmt.Sprintf("≤ 1.15·S·8/U + 60 s = %.0f s", target),
		Value: fmt.Sprintf("%.1f s", r.Completion.P95), Pass: r.Completion.N > 0 && r.Completion.P95 <= target})
	g := Goal{Name: "last agent done after last WAN byte", Target: "≤ 30 s", Value: "unknown"}
	if r.LastDoneAfterWAN != nil {
		g.Value, g.Pass = fmt.Sprintf("%.1f s", *r.LastDoneAfterWAN), *r.LastDoneAfterWAN <= 30
	}
	r.Goals = append(r.Goals, g)
	if r.Scenario != "shoal-direct" {
		r.Targets = targets(r, p)
	}
}

// targets returns the goals of issues 20 and 21 for a relay or P2P
// scenario of Shoal agents (see Result.Targets). A scenario that failed
// fails them all.
func targets(r *Result, p Params) []Goal {
	ok := r.Status == StatusOK
	bound := r.bound(p)
	ratio := Goal{Name: "p95 completion ÷ bound (issues 20, 21)", Target: fmt.Sprintf("≤ 1.2 × %.1f s = %.1f s", bound, 1.2*bound),
		Value: fmt.Sprintf("%.2f s (%.3f × bound, %.3f × WAN floor %.1f s)", r.Completion.P95, ratioOf(r.Completion.P95, bound), r.CompletionRatio.P95, p.FloorSeconds),
		Pass:  ok && r.Completion.N > 0 && bound > 0 && r.Completion.P95 <= 1.2*bound}
	if r.LANFloorSeconds > 0 {
		ratio.Target += fmt.Sprintf(" (bound: the larger of the WAN floor %.1f s and the relay's LAN floor %.1f s)", p.FloorSeconds, r.LANFloorSeconds)
	}
	tail := Goal{Name: "last agent done after last WAN byte (issue 20)", Target: "≤ 5 s", Value: "unknown"}
	if r.LastDoneAfterWAN != nil {
		tail.Value, tail.Pass = fmt.Sprintf("%.1f s", *r.LastDoneAfterWAN), ok && *r.LastDoneAfterWAN <= 5
	}
	use := Goal{Name: "uplink utilisation while busy (issue 21)", Target: "≥ 90 % (least used branch)", Value: "unknown"}
	var worst *BranchWAN
	for i := range r.WAN {
		if b := &r.WAN[i]; b.BusySeconds > 0 && (worst == nil || b.Utilisation < worst.Utilisation) {
			worst = b
		}
	}
	if worst != nil {
		// One decimal more than the summary line, so a FAIL just under
		// the bound does not read "90 %".
		use.Value, use.Pass = fmt.Sprintf("%.1f %%", worst.Utilisation*100), ok && worst.Utilisation >= 0.9
	}
	return []Goal{ratio, tail, use}
}

// Write writes lab.json, lab.md and completion-cdf.svg into dir.
func (rep *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output dir: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	var md strings.Builder
	rep.Markdown(&md)
	var svg strings.Builder
	rep.CDF(&svg)
	for name, b := range map[string][]byte{"lab.json": append(js, '\n'), "lab.md": []byte(md.String()), "completion-cdf.svg": []byte(svg.String())} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// Markdown writes the report as markdown tables.
func (rep *Report) Markdown(w io.Writer) {
	p := rep.Params
	fmt.Fprintf(w, "S = %.0f MiB, %d branch(es), uplink U = %g Mbit/s each way, +%g ms each way, loss %g %%, LAN %s, relay LAN port %s, TCP congestion control %s; WAN floor S·8/U = %.1f s.\n",
		float64(p.SizeBytes)/MiB, p.Branches, p.UplinkMbit, p.DelayMs, p.LossPct, lanText(p.LANMbit), lanText(p.RelayLANMbit), p.CC, p.FloorSeconds)
	fmt.Fprintf(w, "Uplink check before the scenarios: RTT %.1f ms (added %g ms), TCP goodput %.1f Mbit/s towards the branch.\n",
		p.MeasuredRTTMs, 2*p.DelayMs, p.MeasuredDownMbit)
	fmt.Fprintf(w, "Host: %s, %d CPUs, load %s before and %s after; the lab process (delay lines) used %.1f CPU-s.\n\n",
		rep.Host.Kernel, rep.Host.CPUs, rep.Host.LoadBefore, rep.Host.LoadAfter, rep.Host.LabCPUSeconds)
	fmt.Fprintln(w, "| Scenario | Status | N × branches | OK / failed | WAN ↓ per branch ÷ S | central served ÷ S | first fragment p95 | completion p50 / p95 / max | p95 ÷ WAN floor · ÷ bound | last done − last WAN byte | bytes central / relay / peer | central CPU · peak RSS | relays CPU · peak RSS | agents CPU · peak RSS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Scenarios {
		if r.Status == StatusSkipped {
			fmt.Fprintf(w, "| %s | skipped: %s | | | | | | | | | | | | |\n", r.Scenario, r.Reason)
			continue
		}
		status := r.Status
		if r.Reason != "" {
			status += ": " + r.Reason
		}
		last := "–"
		if r.LastDoneAfterWAN != nil {
			last = fmt.Sprintf("%.0f s", *r.LastDoneAfterWAN)
		}
		relay := "–"
		if r.Relay.Processes > 0 {
			relay = fmt.Sprintf("%.1f s · %.0f MiB", r.Relay.CPUSeconds, r.Relay.PeakRSSMiB)
		}
		fmt.Fprintf(w, "| %s | %s | %d × %d | %d / %d | %.2f | %.2f | %.0f s | %.0f / %.0f / %.0f s | %.2f · %.2f (%.1f s) | %s | %s / %s / %s | %.1f s · %.0f MiB | %s | %.1f s · %.0f MiB |\n",
			r.Scenario, status, r.Agents, r.Branches, r.Succeeded, r.Failed+r.Unfinished, r.WANPerS, r.CentralPerS,
			r.FirstFragment.P95, r.Completion.P50, r.Completion.P95, r.Completion.Max, r.CompletionRatio.P95,
			ratioOf(r.Completion.P95, r.bound(p)), r.bound(p), last,
			mib(r.BytesBySource.Central), mib(r.BytesBySource.Relay), mib(r.BytesBySource.Peer),
			r.Central.CPUSeconds, r.Central.PeakRSSMiB, relay, r.AgentsUse.CPUSeconds, r.AgentsUse.PeakRSSMiB)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Scenario | Branch | WAN ↓ bytes | ÷ S | payload received (agents + relay) ÷ S | mean ↓ rate while busy | uplink busy · utilisation (payload ÷ U·busy) | WAN ↑ bytes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Scenarios {
		for _, b := range r.WAN {
			fmt.Fprintf(w, "| %s | %d | %d | %.3f | %.3f | %.1f Mbit/s | %.0f s · %.0f %% | %d |\n", r.Scenario, b.Branch, b.DownBytes, b.DownPerS,
				b.PayloadPerS, b.DownMbit, b.BusySeconds, b.Utilisation*100, b.UpBytes)
		}
	}
	fmt.Fprintln(w)
	for _, r := range rep.Scenarios {
		if r.RelayMode != "" {
			fmt.Fprintf(w, "Relays of %s (%s): %s from upstream, %s served to the branch LANs; %s.\n",
				r.Scenario, r.RelayMode, mib(r.RelayUpstreamBytes), mib(r.RelayServedBytes), unreadText(r))
		}
		if r.SlowRateKbit > 0 {
			fmt.Fprintf(w, "%s: %s.\n", r.Scenario, slowLine(r))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Goals of issue 8 (a FAIL, or a failed scenario, makes shoal-lab exit non-zero):")
	fmt.Fprintln(w)
	for _, r := range rep.Scenarios {
		for _, g := range r.Goals {
			fmt.Fprintf(w, "- %s %s: %s — target %s, measured %s\n", passText(g.Pass), r.Scenario, g.Name, g.Target, g.Value)
		}
	}
	if !slices.ContainsFunc(rep.Scenarios, func(r *Result) bool { return len(r.Targets) > 0 }) {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Goals of issues 20 and 21 (reported; not part of the exit status):")
	fmt.Fprintln(w)
	for _, r := range rep.Scenarios {
		for _, g := range r.Targets {
			fmt.Fprintf(w, "- %s %s: %s — target %s, measured %s\n", passText(g.Pass), r.Scenario, g.Name, g.Target, g.Value)
		}
	}
}

// Summary writes one line per goal and per failed or skipped scenario.
func (rep *Report) Summary(w io.Writer) {
	p := rep.Params
	fmt.Fprintf(w, "TCP congestion control %s, LAN %s, relay LAN port %s, uplink %g Mbit/s, +%g ms each way, loss %g %%\n",
		p.CC, lanText(p.LANMbit), lanText(p.RelayLANMbit), p.UplinkMbit, p.DelayMs, p.LossPct)
	for _, r := range rep.Scenarios {
		switch r.Status {
		case StatusSkipped:
			fmt.Fprintf(w, "%-12s skipped: %s\n", r.Scenario, r.Reason)
			continue
		case StatusFailed:
			fmt.Fprintf(w, "%-12s FAILED: %s\n", r.Scenario, r.Reason)
		default:
			fmt.Fprintf(w, "%-12s ok: %d agents succeeded, WAN %.2f·S per branch, completion p50 %.0f s, p95 %.0f s, max %.0f s\n",
				r.Scenario, r.Succeeded, r.WANPerS, r.Completion.P50, r.Completion.P95, r.Completion.Max)
		}
		if r.SlowRateKbit > 0 {
			fmt.Fprintf(w, "  %s\n", slowLine(r))
		}
		if r.Status != StatusFailed {
			if l := uplinkLine(r, p); l != "" {
				fmt.Fprintf(w, "  %s\n", l)
			}
			if r.RelayMode != "" {
				fmt.Fprintf(w, "  relays: %s\n", unreadText(r))
			}
		}
		for _, g := range r.Goals {
			fmt.Fprintf(w, "  %s %s: target %s, measured %s\n", passText(g.Pass), g.Name, g.Target, g.Value)
		}
		for _, g := range r.Targets {
			fmt.Fprintf(w, "  %s %s: target %s, measured %s (not in the exit status)\n", passText(g.Pass), g.Name, g.Target, g.Value)
		}
	}
}

// Verdict returns an error naming every failed scenario and failed goal,
// or nil when every scenario that ran passed all its goals.
func (rep *Report) Verdict() error {
	var failed []string
	for _, r := range rep.Scenarios {
		if r.Status == StatusFailed {
			failed = append(failed, r.Scenario+" failed")
		}
		for _, g := range r.Goals {
			if !g.Pass {
				failed = append(failed, r.Scenario+": "+g.Name)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d failure(s): %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// slowLine is the slow-peer result line: compare its p95 with a run
// without slow peers (goal: ≤ 1.3×) and its WAN with 1.05·S.
func slowLine(r *Result) string {
	who := "first agents"
	if r.SlowOwner {
		who = "WAN owners"
	}
	hosts := strings.Join(r.SlowPeers, ", ")
	if hosts == "" {
		hosts = "none throttled"
	}
	slow := make([]string, 0, len(r.SlowCompletions))
	for _, c := range r.SlowCompletions {
		slow = append(slow, fmt.Sprintf("%.1f s", c))
	}
	return fmt.Sprintf("slow peers (%s at %g kbit/s): %s (done at %s); %d of %d agents succeeded, completion p95 %.1f s, of the others %.1f s, WAN %.3f·S payload per branch",
		who, r.SlowRateKbit, hosts, strings.Join(slow, ", "), r.Succeeded, r.Succeeded+r.Failed+r.Unfinished, r.Completion.P95,
		r.OthersCompletion.P95, r.WANPayloadPerS)
}

func passText(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func lanText(mbit float64) string {
	if mbit <= 0 {
		return "unshaped"
	}
	return fmt.Sprintf("%g Mbit/s", mbit)
}

// unreadText says how much central sent that no receiver read and how
// many relay responses endgame splits cut.
func unreadText(r *Result) string {
	return fmt.Sprintf("central sent %.2f MiB (%.3f·S per branch) that no receiver read; %d upstream responses cut by endgame splits",
		float64(r.CentralUnreadBytes)/MiB, float64(r.CentralUnreadBytes)/float64(max(1, r.PackageBytes*int64(max(1, r.Branches)))), r.RelayCutResponses)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/MiB) }

// uplinkLine says how much of the uplink the scenario used while it was
// busy (the least utilised branch), the p95 against the floor, and, for
// relay-only scenarios on a shaped LAN, the relay's LAN floor.
func uplinkLine(r *Result, p Params) string {
	var worst *BranchWAN
	for i := range r.WAN {
		if b := &r.WAN[i]; b.BusySeconds > 0 && (worst == nil || b.Utilisation < worst.Utilisation) {
			worst = b
		}
	}
	if worst == nil {
		return ""
	}
	l := fmt.Sprintf("uplink utilisation %.1f %% (payload %s in %.1f s busy at %g Mbit/s), p95 %.2f × WAN floor (%.1f s)",
		worst.Utilisation*100, mib(worst.PayloadBytes), worst.BusySeconds, p.UplinkMbit, r.CompletionRatio.P95, p.FloorSeconds)
	if r.LANFloorSeconds > 0 {
		l += fmt.Sprintf(", relay LAN floor %.1f s (N·S through the relay's %g Mbit/s port), p95 %.2f × bound (%.1f s)",
			r.LANFloorSeconds, p.RelayLANMbit, ratioOf(r.Completion.P95, r.bound(p)), r.bound(p))
	}
	return l
}

// bound is the physical bound of the scenario: the larger of the WAN
// floor and the relay's LAN floor.
func (r *Result) bound(p Params) float64 { return max(p.FloorSeconds, r.LANFloorSeconds) }

// ratioOf is v ÷ of, 0 when of is not positive.
func ratioOf(v, of float64) float64 {
	if of <= 0 {
		return 0
	}
	return v / of
}

// RatePoint is one sample of an uplink's rate.
type RatePoint struct {
	T    float64 `json:"t"`
	Mbit float64 `json:"mbit"`
}
