package lab

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want float64
		bad  bool
	}{
		{name: "kbit", in: "512kbit", want: 512},
		{name: "mbit", in: "1.5Mbit", want: 1500},
		{name: "plain-kbit", in: "256", want: 256},
		{name: "gbit", in: "1gbit", want: 1e6},
		{name: "zero", in: "0kbit", bad: true},
		{name: "garbage", in: "fast", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if (err != nil) != tt.bad || got != tt.want {
				t.Errorf("ParseRate(%q) = %g, %v; want %g, error %v", tt.in, got, err, tt.want, tt.bad)
			}
		})
	}
}

func TestSlowFlagsAndPlan(t *testing.T) {
	p2p, relay := shoalMode{scenario: "shoal-p2p", p2p: true}, shoalMode{scenario: "shoal-relay", relay: true}
	tests := []struct {
		name      string
		args      []string
		mode      shoalMode
		agents    int
		wantCfg   [3]any // SlowPeers, SlowRateKbit, SlowOwner
		wantPlan  slowPlan
		wantFirst []int
	}{
		{name: "none", args: nil, mode: p2p, agents: 12, wantCfg: [3]any{0, 0.0, false}},
		{name: "two-first-agents", args: []string{"-slow-peers", "2", "-slow-rate", "1mbit"}, mode: p2p, agents: 12,
			wantCfg: [3]any{2, 1000.0, false}, wantPlan: slowPlan{perBranch: 2, kbit: 1000}, wantFirst: []int{0, 1}},
		{name: "owner-defaults", args: []string{"-slow-owner"}, mode: p2p, agents: 12,
			wantCfg: [3]any{1, 512.0, true}, wantPlan: slowPlan{perBranch: 1, kbit: 512, owners: true}},
		{name: "no-peers-no-slow", args: []string{"-slow-peers", "1"}, mode: relay, agents: 12, wantCfg: [3]any{1, 512.0, false}},
		{name: "capped-by-agents", args: []string{"-slow-peers", "5"}, mode: p2p, agents: 3,
			wantCfg: [3]any{5, 512.0, false}, wantPlan: slowPlan{perBranch: 3, kbit: 512}, wantFirst: []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c := f.Config.withDefaults()
			if diff := cmp.Diff(tt.wantCfg, [3]any{c.SlowPeers, c.SlowRateKbit, c.SlowOwner}); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			plan := planSlow(c, tt.mode, tt.agents)
			if diff := cmp.Diff(tt.wantPlan, plan, cmp.AllowUnexported(slowPlan{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFirst, plan.static()); diff != "" {
				t.Errorf("throttled before start (-want +got):\n%s", diff)
			}
		})
	}
	for _, args := range [][]string{{"-slow-peers", "1", "-slow-rate", "slow"}, {"-slow-peers", "-1"}, {"-slow-peers", "1", "-slow-rate", "4kbit"}} {
		if _, err := ParseFlags(args, io.Discard); err == nil {
			t.Errorf("ParseFlags(%q) accepted it", args)
		}
	}
}

func TestSlowTC(t *testing.T) {
	want := "-n ns1 qdisc replace dev eth0 root tbf rate 512kbit burst 16kb latency 200ms"
	if got := strings.Join(slowArgs("ns1", 512), " "); got != want {
		t.Errorf("slowArgs = %q, want %q", got, want)
	}
	if got, want := strings.Join(restoreArgs("ns1", 0), " "), "-n ns1 qdisc del dev eth0 root"; got != want {
		t.Errorf("restoreArgs unshaped = %q, want %q", got, want)
	}
	if got := strings.Join(restoreArgs("ns1", 100), " "); !strings.Contains(got, "tbf rate 100000000bit") {
		t.Errorf("restoreArgs shaped = %q, want the LAN's 100 Mbit/s tbf", got)
	}
	r := &Result{Succeeded: 11, Failed: 1, SlowPeers: []string{"b0a03"}, SlowRateKbit: 512, SlowOwner: true,
		Completion: Dist{P95: 61.5}, WANPayloadPerS: 1.163}
	line := slowLine(r)
	for _, s := range []string{"WAN owners at 512 kbit/s", "b0a03", "11 of 12 agents succeeded", "p95 61.5 s", "1.163·S"} {
		if !strings.Contains(line, s) {
			t.Errorf("slow line %q lacks %q", line, s)
		}
	}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(sec int) *time.Time { t := t0.Add(time.Duration(sec) * time.Second); return &t }
	deps := []api.Deployment{{ComputerName: "b0a01", State: "success", FinishedAt: at(20)},
		{ComputerName: "b0a02", State: "success", FinishedAt: at(30)},
		{ComputerName: "b0a03", State: "success", FinishedAt: at(80)}}
	for _, c := range []struct {
		name      string
		succeeded int
		wan       float64
		baseline  float64
		pass      []bool
	}{
		{"met", 3, 1.04, 25, []bool{true, true}},
		{"others-too-slow", 3, 1.04, 20, []bool{false, true}},
		{"no-baseline", 3, 1.04, 0, []bool{false, true}},
		{"wan", 3, 1.06, 25, []bool{true, false}},
	} {
		r := &Result{Succeeded: c.succeeded, WANPayloadPerS: c.wan}
		goals := slowGoals(r, deps, []string{"b0a03"}, t0, time.Minute, c.baseline)
		var pass []bool
		for _, g := range goals {
			pass = append(pass, g.Pass)
		}
		if !slices.Equal(pass, c.pass) {
			t.Errorf("%s: goals %+v, want pass %v", c.name, goals, c.pass)
		}
		if r.OthersCompletion.P95 != 30 || !slices.Equal(r.SlowCompletions, []float64{80}) {
			t.Errorf("%s: others %+v, slow %v; want p95 30 s, slow [80]", c.name, r.OthersCompletion, r.SlowCompletions)
		}
	}
}
