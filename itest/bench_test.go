//go:build integration

package itest

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const captureDeviceID = "vm-2026-11-24-07-24-08"

// procStats reads a process's CPU seconds and resident memory from /proc.
func procStats(pid int) (cpu float64, rssKB, hwmKB int64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+2:])
			if len(f) > 13 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				cpu = (ut + st) / 100 // USER_HZ
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "VmRSS:" {
				rssKB, _ = strconv.ParseInt(f[1], 10, 64)
			}
			if len(f) >= 2 && f[0] == "VmHWM:" {
				hwmKB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return
}

func zlibBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

type phaseResult struct {
	name     string
	conc     int
	n        int
	failures int
	dur      time.Duration
	lat      []time.Duration
	cpu      float64
	rssKB    int64
}

func (r phaseResult) String() string {
	slices.Sort(r.lat)
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	return fmt.Sprintf("| %-15s | %3d | %6d | %4d | %9.1f | %8s | %8s | %8s | %5.0f %% | %6.0f |",
		r.name, r.conc, r.n, r.failures, float64(r.n-r.failures)/r.dur.Seconds(),
		pct(0.50).Round(time.Microsecond*10), pct(0.95).Round(time.Microsecond*10), pct(0.99).Round(time.Microsecond*10),
		100*r.cpu/r.dur.Seconds(), float64(r.rssKB)/1024)
}

// runPhase posts bodies[i] with conc concurrent clients, each request checked
// for a 200 and a non-empty zlib answer (or an empty one for results).
func runPhase(c *Central, name string, conc int, bodies [][]byte) phaseResult {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	res := phaseResult{name: name, conc: conc, n: len(bodies), lat: make([]time.Duration, len(bodies))}
	var next, fails atomic.Int64
	cpu0, _, _ := procStats(c.cmd.Process.Pid)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequest("POST", c.HTTPURL+"/ocsinventory", bytes.NewReader(bodies[i]))
				req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
				req.Header.Set("Content-Type", "application/x-compress")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					fails.Add(1)
				}
				res.lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	res.dur = time.Since(start)
	cpu1, rss, _ := procStats(c.cmd.Process.Pid)
	res.cpu, res.rssKB, res.failures = cpu1-cpu0, rss, int(fails.Load())
	client.CloseIdleConnections()
	return res
}

// BenchmarkOCSServer replays the captured OCS inventory with distinct
// DEVICEIDs against a real shoal-central process at 1, 8 and 32 concurrent
// agents and prints throughput, latency, CPU and memory, then checks that
// every acknowledged inventory was stored exactly once. It runs with each
// inventory committed alone (database.ingest_group 1) and with the default
// group commit.
func BenchmarkOCSServer(b *testing.B) {
	for _, group := range []int{1, 8} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			benchOCSServer(b, group)
		})
	}
}

func benchOCSServer(b *testing.B, group int) {
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	prolog, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/prolog-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	softPerInv := strings.Count(string(inv), "<SOFTWARES>")
	for range b.N {
		c := startCentral(b, fmt.Sprintf("database:\n  ingest_group: %d\n", group))
		var results []phaseResult
		devices := 0
		for _, conc := range []int{1, 8, 32} {
			n := 60 * max(1, conc/4)
			first := make([][]byte, n)
			ids := make([]string, n)
			for i := range n {
				ids[i] = fmt.Sprintf("bench%d-%d-2026-11-26-10-00-%02d", conc, i, i%60)
				doc := strings.ReplaceAll(string(inv), captureDeviceID, ids[i])
				doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>bench%d-%d</NAME>", conc, i), 1)
				first[i] = zlibBytes([]byte(doc))
			}
			results = append(results, runPhase(c, "first inventory", conc, first))
			results = append(results, runPhase(c, "re-inventory", conc, first))
			devices += n
			prologs := make([][]byte, 20*n)
			for i := range prologs {
				prologs[i] = zlibBytes([]byte(strings.ReplaceAll(string(prolog), captureDeviceID, ids[i%n])))
			}
			results = append(results, runPhase(c, "PROLOG", conc, prologs))
		}
		var stats struct {
			Rows map[string]int64 `json:"rows"`
		}
		c.do("GET", "/api/v1/stats", nil, &stats, http.StatusOK)
		_, _, hwm := procStats(c.cmd.Process.Pid)
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\nOCS endpoint benchmark (SQLite, ingest_group %d, %d software rows per inventory, load %s)\n", group, softPerInv, strings.TrimSpace(string(load)))
		fmt.Println("| phase           | agents |  requests | fail | req/s     | p50      | p95      | p99      | CPU    | RSS MiB |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range results {
			fmt.Println(r)
		}
		fmt.Printf("stored: %d computers (want %d), %d software rows (want %d); peak RSS %.0f MiB\n",
			stats.Rows["computers"], devices, stats.Rows["softwares"], int64(devices*softPerInv), float64(hwm)/1024)
		for _, r := range results {
			if r.failures > 0 {
				b.Errorf("%s at %d agents: %d failed requests", r.name, r.conc, r.failures)
			}
		}
		if stats.Rows["computers"] != int64(devices) || stats.Rows["softwares"] != int64(devices*softPerInv) {
			b.Errorf("stored rows do not match acknowledged inventories")
		}
	}
}
