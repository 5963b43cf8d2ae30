package inventory_test

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOCSIngest is central's OCS inventory path in process: inflate,
// parse and ingest the captured Unix-agent inventory (761 software rows) as
// first inventories of distinct computers, 8 at once.
func BenchmarkOCSIngest(b *testing.B) {
	inv, err := os.ReadFile("../../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	const n = 400
	bodies := make([][]byte, n)
	for i := range n {
		doc := strings.ReplaceAll(string(inv), "vm-2026-11-24-07-24-08", fmt.Sprintf("ab-%d-2026-12-05-13-00-%02d", i, i%60))
		doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>ab-%d</NAME>", i), 1)
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		_, _ = w.Write([]byte(doc))
		_ = w.Close()
		bodies[i] = buf.Bytes()
	}
	cfg := store.Config{}
	if v := os.Getenv("SHOAL_BENCH_GROUP"); v != "" {
		cfg.IngestGroup, _ = strconv.Atoi(v)
	}
	st, err := store.Open(b.Context(), cfg, b.TempDir(), storetest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := inventory.New(st, storetest.Logger(b))
	// SHOAL_BENCH_GATE=whole holds a slot of a 4-slot gate (central's OCS
	// gate, 2 × GOMAXPROCS) for the whole request, =parse only for the
	// inflate and parse.
	gateMode := os.Getenv("SHOAL_BENCH_GATE")
	gate := make(chan struct{}, 4)
	if v, err := strconv.Atoi(os.Getenv("SHOAL_BENCH_GATE_N")); err == nil {
		gate = make(chan struct{}, v)
	}
	var seq atomic.Int64
	remote := netip.MustParseAddr("127.0.0.1")
	b.SetParallelism(4)
	cpu0 := procCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1)-1) % n
			if gateMode != "" {
				gate <- struct{}{}
			}
			doc, _, err := ocs.Decode(bodies[i], 0)
			if err != nil {
				b.Error(err)
				return
			}
			_, inv, err := ocs.Parse(doc)
			if err != nil {
				b.Error(err)
				return
			}
			if gateMode == "parse" {
				<-gate
			}
			if _, err := svc.Ingest(b.Context(), inv, "OCS-NG_unified_unix_agent_v2.10.0", remote); err != nil {
				b.Error(err)
				return
			}
			if gateMode == "whole" {
				<-gate
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inventories/s")
	b.ReportMetric(float64((procCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/inventory")
}
