package store_test

import (
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
)

// benchSoftwares is the size of a typical Linux desktop inventory (the OCS
// capture of the reference machine has 761 entries).
const benchSoftwares = 900

// cpuTime returns the user+system CPU time of the process, a steadier
// measure than wall time on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:len(b)-1])
}

// BenchmarkIngest measures first inventories (new computers) of
// benchSoftwares software rows each, ingested from parallel goroutines.
func BenchmarkIngest(b *testing.B) {
	benchIngest(b, storetest.Open(b), false)
}

// BenchmarkReingest measures repeated inventories of existing computers
// (every child row deleted and re-inserted).
func BenchmarkReingest(b *testing.B) {
	benchIngest(b, storetest.Open(b), true)
}

// BenchmarkIngestPostgres is BenchmarkIngest on PostgreSQL (skipped unless
// SHOAL_TEST_POSTGRES_DSN is set).
func BenchmarkIngestPostgres(b *testing.B) {
	benchIngest(b, storetest.OpenPostgres(b), false)
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
	cpu0 := cpuTime()
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
	cpuMS := float64((cpuTime() - cpu0).Milliseconds())
	secs := b.Elapsed().Seconds()
	b.ReportMetric(cpuMS/float64(b.N), "cpu-ms/inventory")
	b.ReportMetric(float64(b.N)/secs, "inventories/s")
	b.ReportMetric(float64(b.N*benchSoftwares)/secs, "softwares/s")
	b.Logf("N=%d %s: %.1f inventories/s, loadavg %s", b.N, b.Name(), float64(b.N)/secs, loadavg())
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
	cpu0 := cpuTime()
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
	cpuMS := float64((cpuTime() - cpu0).Milliseconds())
	secs := b.Elapsed().Seconds()
	b.ReportMetric(cpuMS/float64(b.N), "cpu-ms/inventory")
	b.ReportMetric(float64(b.N)/secs, "inventories/s")
	b.Logf("N=%d %s: %.1f inventories/s, loadavg %s", b.N, b.Name(), float64(b.N)/secs, loadavg())
}
