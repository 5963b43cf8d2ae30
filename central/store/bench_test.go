package store_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// benchSoftwares is the size of a typical Linux desktop inventory (the OCS
// capture of the reference machine has 761 entries).
const benchSoftwares = 900

// writtenBytes returns the bytes the process has written (wchar of
// /proc/self/io: write and pwrite calls, cached or not), or 0. An ingest's
// writes are its WAL pages, so this counts what its commits wrote.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:len(b)-1])
}

// benchGroups are the ingest_group values the ingest benchmarks compare:
// each inventory in a transaction of its own, and the default group commit.
var benchGroups = []int{1, 8}

// benchParallelism makes the ingest benchmarks run 2 × GOMAXPROCS
// inventories at once, as many as central's agent API gate admits (the OCS
// endpoint admits 4 × GOMAXPROCS).
const benchParallelism = 2

// BenchmarkIngest measures first inventories (new computers) of
// benchSoftwares software rows each, ingested from parallel goroutines, with
// and without group commit.
func BenchmarkIngest(b *testing.B) {
	for _, g := range benchGroups {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			benchIngest(b, openBench(b, store.Config{IngestGroup: g}), false)
		})
	}
}

// BenchmarkReingest measures repeated inventories of existing computers
// (every child row deleted and re-inserted).
func BenchmarkReingest(b *testing.B) {
	for _, g := range benchGroups {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			benchIngest(b, openBench(b, store.Config{IngestGroup: g}), true)
		})
	}
}

// BenchmarkIngestPostgres is BenchmarkIngest on PostgreSQL (skipped unless
// SHOAL_TEST_POSTGRES_DSN is set).
func BenchmarkIngestPostgres(b *testing.B) {
	for _, g := range benchGroups {
		b.Run(fmt.Sprintf("group=%d", g), func(b *testing.B) {
			dsn := storetest.PostgresDSN(b)
			benchIngest(b, openBench(b, store.Config{Driver: store.DriverPostgres, DSN: dsn, IngestGroup: g}), false)
		})
	}
}

// openBench opens a store with cfg in a temporary directory.
func openBench(b *testing.B, cfg store.Config) *store.Store {
	b.Helper()
	s, err := store.Open(b.Context(), cfg, b.TempDir(), storetest.Logger(b))
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchIngest(b *testing.B, s *store.Store, existing bool) {
	tmpl := storetest.Snapshot("bench-2026-11-24-07-24-08", benchSoftwares)
	const pool = 64
	if existing {
		for i := range pool {
			if _, err := inventory.Record(b.Context(), s, benchSnapshot(tmpl, int64(i))); err != nil {
				b.Fatalf("IngestInventory: %v", err)
			}
		}
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	g0, w0 := s.GroupStats()
	wrote0 := writtenBytes()
	cpu0 := storetest.ProcessCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			if existing {
				i %= pool
			} else {
				i += pool
			}
			if _, err := inventory.Record(b.Context(), s, benchSnapshot(tmpl, i)); err != nil {
				b.Errorf("IngestInventory: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	cpuMS := float64((storetest.ProcessCPU() - cpu0).Milliseconds())
	secs := b.Elapsed().Seconds()
	b.ReportMetric(cpuMS/float64(b.N), "cpu-ms/inventory")
	b.ReportMetric(float64(b.N)/secs, "inventories/s")
	b.ReportMetric(float64(b.N*benchSoftwares)/secs, "softwares/s")
	b.ReportMetric(float64(writtenBytes()-wrote0)/1024/float64(b.N), "written-KiB/inventory")
	g1, w1 := s.GroupStats()
	b.Logf("N=%d %s: %.1f inventories/s, %.1f cpu-ms each; %d grouped in %d groups; loadavg %s",
		b.N, b.Name(), float64(b.N)/secs, cpuMS/float64(b.N), w1-w0, g1-g0, loadavg())
}

// benchSnapshot is tmpl for computer i: its own device ID, name, serial and
// MAC. The rows are shared with tmpl, which IngestInventory does not modify.
func benchSnapshot(tmpl *store.InventorySnapshot, i int64) *store.InventorySnapshot {
	snap := *tmpl
	snap.Computer.DeviceID = fmt.Sprintf("bench%05d-2026-11-24-07-24-08", i)
	snap.Computer.Name = fmt.Sprintf("bench%05d", i)
	snap.Computer.Serial = fmt.Sprintf("BENCH%08d", i)
	snap.Computer.FirstMAC = fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))
	return &snap
}

// BenchmarkReingestChanged measures repeated inventories of existing
// computers where a few software rows changed each time (3 upgraded, one
// removed and one installed, memory changed): the change history is
// written.
func BenchmarkReingestChanged(b *testing.B) {
	s := storetest.Open(b)
	tmpl := storetest.Snapshot("bench-2026-11-24-07-24-08", benchSoftwares)
	const pool = 64
	for i := range pool {
		if _, err := inventory.Record(b.Context(), s, benchSnapshot(tmpl, int64(i))); err != nil {
			b.Fatalf("IngestInventory: %v", err)
		}
	}
	var seq atomic.Int64
	b.ReportAllocs()
	cpu0 := storetest.ProcessCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			snap := benchSnapshot(tmpl, i%pool)
			sw := slices.Clone(tmpl.Softwares)
			for k := range 3 {
				sw[k].Version = fmt.Sprintf("2.%d.%d", i, k)
			}
			sw[3].Name = fmt.Sprintf("added-%d", i%2)
			snap.Softwares = sw
			snap.Computer.MemoryMB = 4000 + int(i%2)*4000
			if _, err := inventory.Record(b.Context(), s, snap); err != nil {
				b.Errorf("IngestInventory: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	cpuMS := float64((storetest.ProcessCPU() - cpu0).Milliseconds())
	secs := b.Elapsed().Seconds()
	b.ReportMetric(cpuMS/float64(b.N), "cpu-ms/inventory")
	b.ReportMetric(float64(b.N)/secs, "inventories/s")
	b.Logf("N=%d %s: %.1f inventories/s, loadavg %s", b.N, b.Name(), float64(b.N)/secs, loadavg())
}
