//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// abVariant is one shoal-central build and configuration that
// BenchmarkOCSIngestAB runs.
type abVariant struct {
	name string
	bin  string
	yaml string
}

// abPhase is one phase of an A/B round: inventories of n distinct
// computers sent by conc agents at once, first inventories or the same
// computers again.
type abPhase struct {
	name  string
	conc  int
	n     int
	again bool // re-inventory of the previous phase's computers
}

var abPhases = []abPhase{
	{name: "first, 1 agent", conc: 1, n: 30},
	{name: "first, 8 agents", conc: 8, n: 160},
	{name: "re-inventory, 8 agents", conc: 8, n: 160, again: true},
}

// BenchmarkOCSIngestAB compares the OCS ingest of this tree's shoal-central
// with another build's (SHOAL_BENCH_BASE_CENTRAL, a shoal-central binary
// built from an earlier commit) in paired, alternating rounds on the same
// machine: each round starts a fresh central of every variant in turn
// (base, this tree with each inventory committed alone, this tree as
// shipped; the order reverses every other round, so a drift of the
// machine's load hits both sides alike) and sends the captured Unix agent
// inventory through the real OCS protocol: 30 first inventories from one
// agent, 160 from 8 agents at once, then those 160 again. It prints
// inventories/s and central's CPU-ms per stored inventory (the figure least
// affected by other load) per round and their medians, and checks that
// every acknowledged inventory was stored. SHOAL_BENCH_ROUNDS sets the
// rounds (default 3). docs/BENCHMARKS.md shows how to build the base.
func BenchmarkOCSIngestAB(b *testing.B) {
	base := os.Getenv("SHOAL_BENCH_BASE_CENTRAL")
	if base == "" {
		b.Skip("SHOAL_BENCH_BASE_CENTRAL (a shoal-central binary of the base commit) is not set")
	}
	rounds := 3
	if v := os.Getenv("SHOAL_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("SHOAL_BENCH_ROUNDS=%q: want a positive integer", v)
		}
		rounds = n
	}
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	softPerInv := strings.Count(string(inv), "<SOFTWARES>")
	variants := []abVariant{
		{name: "base", bin: base},
		{name: "this, group=1", bin: filepath.Join(binDir, "shoal-central"), yaml: "database:\n  ingest_group: 1\n"},
		{name: "this", bin: filepath.Join(binDir, "shoal-central")},
	}
	for range b.N {
		// results[variant][phase] holds one phaseResult per round.
		results := make([][][]phaseResult, len(variants))
		for v := range results {
			results[v] = make([][]phaseResult, len(abPhases))
		}
		for r := range rounds {
			order := []int{0, 1, 2}
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, v := range order {
				for p, res := range abRound(b, variants[v], string(inv), softPerInv) {
					results[v][p] = append(results[v][p], res)
				}
			}
		}
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\nOCS ingest A/B (SQLite, %d software rows per inventory, %d rounds alternating, load %s)\n",
			softPerInv, rounds, strings.TrimSpace(string(load)))
		fmt.Println("| phase | variant | inventories/s per round | median | central CPU-ms per inventory per round | median | refused |")
		fmt.Println("|---|---|---|---:|---|---:|---:|")
		for p, ph := range abPhases {
			for v, vr := range variants {
				var rates, cpus []float64
				refused := 0
				for _, res := range results[v][p] {
					ok := res.n - res.failures
					rates = append(rates, float64(ok)/res.dur.Seconds())
					cpus = append(cpus, 1000*res.cpu/float64(max(ok, 1)))
					refused += res.failures
				}
				fmt.Printf("| %s | %s | %s | %.1f | %s | %.1f | %d |\n", ph.name, vr.name,
					joinFloats(rates), median(rates), joinFloats(cpus), median(cpus), refused)
			}
		}
	}
}

// abRound starts a fresh central of variant v, runs abPhases against it,
// checks that every acknowledged inventory was stored whole, and stops it.
func abRound(b *testing.B, v abVariant, inv string, softPerInv int) []phaseResult {
	dir := b.TempDir()
	c := startCentralBin(b, v.bin, dir, "data", "127.0.0.1:0", "127.0.0.1:0", v.yaml)
	defer os.RemoveAll(dir)
	defer c.stop()
	var (
		out    []phaseResult
		bodies [][]byte
		stored = map[string]bool{}
	)
	for p, ph := range abPhases {
		if !ph.again {
			bodies = make([][]byte, ph.n)
			for i := range ph.n {
				id := fmt.Sprintf("ab%d-%d-2026-12-05-13-00-%02d", p, i, i%60)
				doc := strings.ReplaceAll(inv, captureDeviceID, id)
				doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>ab%d-%d</NAME>", p, i), 1)
				bodies[i] = zlibBytes([]byte(doc))
				stored[id] = true
			}
		}
		res := runPhase(c, ph.name, ph.conc, bodies)
		if res.failures > 0 && !ph.again {
			// A refused first inventory is not stored; the count below
			// allows for it.
			b.Logf("%s, %s: %d inventories refused", v.name, ph.name, res.failures)
		}
		out = append(out, res)
	}
	var stats struct {
		Rows map[string]int64 `json:"rows"`
	}
	c.do("GET", "/api/v1/stats", nil, &stats, http.StatusOK)
	acked := int64(len(stored))
	for p, ph := range abPhases {
		if !ph.again {
			acked -= int64(out[p].failures)
		}
	}
	if got := stats.Rows["computers"]; got < acked || got > int64(len(stored)) {
		b.Errorf("%s: %d computers stored, %d first inventories acknowledged", v.name, got, acked)
	}
	if got := stats.Rows["softwares"]; got != stats.Rows["computers"]*int64(softPerInv) {
		b.Errorf("%s: %d software rows for %d computers, want %d each", v.name, got, stats.Rows["computers"], softPerInv)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, ", ")
}
