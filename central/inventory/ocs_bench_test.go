package inventory_test

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

// BenchmarkOCSIngest is central's OCS inventory path in process: inflate,
// parse and ingest the captured Unix-agent inventory (761 software rows) as
// first inventories of distinct computers, from 8 goroutines, with the OCS
// endpoint's bounds. It reports inventories/s and the process's CPU-ms
// per inventory; SHOAL_BENCH_GROUP sets the store's ingest_group.
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
	// As central's OCS endpoint, a request holds one of 4 × GOMAXPROCS
	// slots (SHOAL_BENCH_SLOTS) and parses holding one of GOMAXPROCS-1
	// (at least 1; SHOAL_BENCH_PARSERS).
	slots := make(chan struct{}, envInt("SHOAL_BENCH_SLOTS", 4*runtime.GOMAXPROCS(0)))
	parsing := make(chan struct{}, envInt("SHOAL_BENCH_PARSERS", max(runtime.GOMAXPROCS(0)-1, 1)))
	var seq atomic.Int64
	remote := netip.MustParseAddr("127.0.0.1")
	b.SetParallelism(4)
	cpu0 := storetest.ProcessCPU()
	b.ResetTimer()
	parse := func(body []byte) (*ocs.Inventory, error) {
		parsing <- struct{}{}
		defer func() { <-parsing }()
		doc, _, err := ocs.Decode(body, 0)
		if err != nil {
			return nil, err
		}
		_, inv, err := ocs.Parse(doc)
		return inv, err
	}
	request := func(body []byte) error {
		slots <- struct{}{}
		defer func() { <-slots }()
		inv, err := parse(body)
		if err != nil {
			return err
		}
		_, err = svc.Ingest(b.Context(), inv, "OCS-NG_unified_unix_agent_v2.10.0", remote)
		return err
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := request(bodies[int(seq.Add(1)-1)%n]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inventories/s")
	b.ReportMetric(float64((storetest.ProcessCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/inventory")
}

// envInt returns the integer in environment variable name, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
