package store_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/proto/ocs"
)

// benchFleetEnv sets the fleet size of BenchmarkSearch*: 10,000 computers
// by default (make bench), 100,000 for the figures in docs/BENCHMARKS.md:
//
//	SHOAL_BENCH_COMPUTERS=100000 go test -run '^$' -bench BenchmarkSearch -benchtime 1x -timeout 60m ./central/store
const benchFleetEnv = "SHOAL_BENCH_COMPUTERS"

// benchSoftwarePerComputer is the software rows of each generated computer:
// 100 × 100,000 computers is the 10 million rows.
const benchSoftwarePerComputer = 100

// windowsTitles are the desktop titles a Windows fleet reports, with the
// versions found across it.
var windowsTitles = []struct {
	name     string
	versions []string
	share    float64
}{
	{"7-Zip 24.08 (x64)", []string{"9.20", "16.04", "19.00", "22.01", "23.01", "24.00", "24.07", "24.08"}, 0.7},
	{"Mozilla Firefox (x64 fr)", []string{"115.5.0", "128.0", "131.0", "133.0.3"}, 0.5},
	{"Google Chrome", []string{"118.0.5993.118", "131.0.6778.86"}, 0.6},
	{"Notepad++ (64-bit x64)", []string{"7.9.5", "8.6.9", "8.7.1"}, 0.3},
	{"VLC media player", []string{"3.0.18", "3.0.21"}, 0.4},
	{"Adobe Acrobat Reader DC", []string{"23.008.20470", "24.004.20272"}, 0.5},
}

// realSoftware returns the software rows of the real captures (Debian
// packages as the OCS Unix agent and FusionInventory report them).
func realSoftware(b *testing.B) []store.Software {
	b.Helper()
	var out []store.Software
	seen := map[string]bool{}
	for _, p := range []string{"unix-agent-2.10.0/inventory-request.xml", "fusioninventory-2.6/inventory-request.xml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", p))
		if err != nil {
			b.Fatal(err)
		}
		inv, err := ocs.ParseInventory(raw)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range inv.Softwares {
			if s.Name == "" || seen[s.Name+"\x00"+s.Version] {
				continue
			}
			seen[s.Name+"\x00"+s.Version] = true
			out = append(out, store.Software{Name: s.Name, Version: s.Version, Publisher: s.Publisher,
				Architecture: s.Architecture, From: s.From, FileSize: s.Size()})
		}
	}
	return out
}

// benchChunk is how many computers the streaming generator builds and
// writes at a time: the fleet is never in memory whole (10 million
// software rows would take gigabytes).
const benchChunk = 2000

// streamFleet generates n computers of benchSoftwarePerComputer rows each,
// benchChunk at a time, and hands each chunk to write: mostly rows drawn
// from the real captures, plus the Windows titles at their shares. Half
// the computers are Windows ones. It returns the software rows written.
func streamFleet(b *testing.B, n int, write func(store.BulkFleet) error) int {
	pool := realSoftware(b)
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	rows := 0
	for lo := 0; lo < n; lo += benchChunk {
		f := store.BulkFleet{}
		for i := lo; i < min(lo+benchChunk, n); i++ {
			os := "Debian GNU/Linux 12"
			if i%2 == 0 {
				os = "Microsoft Windows 11 Pro"
			}
			f.Computers = append(f.Computers, store.Computer{
				DeviceID: fmt.Sprintf("pc-%06d-2026-12-05-00-00-00", i), Name: fmt.Sprintf("pc-%06d", i), OSName: os,
				OSVersion: "12", IPAddr: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
				FirstMAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255), Source: store.SourceOCS,
				FirstSeen: now, LastInventory: now, LastContact: now.Add(-time.Duration(r.IntN(90*24)) * time.Hour),
			})
			var sw []store.Software
			for _, w := range windowsTitles {
				if r.Float64() < w.share {
					sw = append(sw, store.Software{Name: w.name, Version: w.versions[r.IntN(len(w.versions))], Publisher: "vendor"})
				}
			}
			for _, k := range r.Perm(len(pool))[:benchSoftwarePerComputer-len(sw)] {
				sw = append(sw, pool[k])
			}
			rows += len(sw)
			f.Softwares = append(f.Softwares, sw)
			f.Tags = append(f.Tags, fmt.Sprintf("branch-%03d", i%200))
		}
		if err := write(f); err != nil {
			b.Fatal(err)
		}
	}
	return rows
}

// page is one timed page of BenchmarkSearch: run returns its total count.
type page struct {
	name string
	run  func() (int64, error)
	reps int // 0: 20
}

func fleetSize(b *testing.B) int {
	n := 10000
	if v := os.Getenv(benchFleetEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive count", benchFleetEnv, v)
		}
	}
	return n
}

// BenchmarkSearch measures the computer list and search pages on SQLite
// over a generated fleet (see benchFleetEnv): each query runs 20 times and
// its p50/p95 are reported, the page (50 rows) and the total count
// together, as the UI and API ask for them.
//
// With SHOAL_BENCH_DIR set, the SQLite database lives in that directory and
// is kept: a later run on the same directory with a fleet at least as large
// reuses it instead of generating it again (100,000 computers take tens of
// minutes to generate on a loaded machine).
func BenchmarkSearch(b *testing.B) {
	dir := os.Getenv(benchDirEnv)
	if dir == "" {
		benchSearch(b, storetest.Open(b))
		return
	}
	benchSearch(b, openKept(b, store.Config{}, dir))
}

// openKept opens a kept fleet's store (SHOAL_BENCH_DIR, SHOAL_BENCH_PG_DSN),
// closed when the benchmark ends.
func openKept(b *testing.B, cfg store.Config, dir string) *store.Store {
	s, err := store.Open(b.Context(), cfg, dir, storetest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// benchRepsEnv caps the repetitions of each timed page (20 by default),
// for a first look at a large fleet on a busy machine.
const benchRepsEnv = "SHOAL_BENCH_REPS"

func benchReps(b *testing.B) int {
	v := os.Getenv(benchRepsEnv)
	if v == "" {
		return 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", benchRepsEnv, v)
	}
	return n
}

// benchOnlyEnv, a regular expression, keeps only the timed pages whose
// name matches it (SHOAL_BENCH_ONLY='zip|software' for the software
// searches alone; the fleet ingest at the end still runs).
const benchOnlyEnv = "SHOAL_BENCH_ONLY"

// benchDirEnv names a directory that keeps BenchmarkSearch's SQLite fleet
// across runs.
const benchDirEnv = "SHOAL_BENCH_DIR"

// benchPGDSNEnv names a PostgreSQL database that keeps
// BenchmarkSearchPostgres's fleet across runs, as benchDirEnv does for
// SQLite (scripts/bench-postgres.sh starts such a server and prints it).
const benchPGDSNEnv = "SHOAL_BENCH_PG_DSN"

// BenchmarkSearchPostgres is BenchmarkSearch on PostgreSQL: on the kept
// database of SHOAL_BENCH_PG_DSN if set, else on a throw-away schema of
// SHOAL_TEST_POSTGRES_DSN (as scripts/with-postgres.sh sets), else skipped.
func BenchmarkSearchPostgres(b *testing.B) {
	dsn := os.Getenv(benchPGDSNEnv)
	if dsn == "" {
		benchSearch(b, storetest.OpenPostgres(b))
		return
	}
	benchSearch(b, openKept(b, store.Config{Driver: store.DriverPostgres, DSN: dsn}, ""))
}

func benchSearch(b *testing.B, s *store.Store) {
	ctx := b.Context()
	n := fleetSize(b)
	start := time.Now()
	_, have, err := s.SearchComputers(ctx, store.ComputerFilter{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	if have >= int64(n) {
		// A kept fleet (benchDirEnv, benchPGDSNEnv): its generated
		// computers come first.
		fmt.Printf("%s: reusing the %d computers of the kept fleet (load %s)\n", s.Driver(), have, loadavg())
	} else {
		// The software indexes are built once after the load, as a
		// restore would; the queries and the ingest below run with them.
		if err := store.DropSoftwareIndexesForBench(ctx, s); err != nil {
			b.Fatal(err)
		}
		rows := streamFleet(b, n, func(f store.BulkFleet) error { return store.BulkInsertForBench(ctx, s, f) })
		fmt.Printf("%s: %d software rows loaded in %s; building the indexes\n", s.Driver(), rows, time.Since(start).Round(time.Second))
		if err := store.CreateSoftwareIndexesForBench(ctx, s); err != nil {
			b.Fatal(err)
		}
		if err := store.Analyze(ctx, s); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%s: %d computers, %d software rows generated in %s (load %s)\n", s.Driver(), n, rows, time.Since(start).Round(time.Second), loadavg())
	}
	fmt.Println("| database | query | computers | matches | p50 | p95 | CPU ms/query |")
	tag := "branch-008"
	queries := []struct {
		name string
		f    store.ComputerFilter
	}{
		{"list-first-page", store.ComputerFilter{}},
		{"list-page-100", store.ComputerFilter{Offset: 99 * 50}},
		{"name-contains", store.ComputerFilter{Name: "pc-00042"}},
		{"os-contains", store.ComputerFilter{OS: "windows"}},
		{"tag", store.ComputerFilter{Tag: tag}},
		{"not-seen-30-days", store.ComputerFilter{ContactBefore: time.Now().Add(-30 * 24 * time.Hour)}},
		{"has-7zip", store.ComputerFilter{Software: "7-zip"}},
		{"7zip-lt-24", store.ComputerFilter{Software: "7-zip", SoftwareVersion: "< 24"}},
		{"7zip-lt-24-windows-tag", store.ComputerFilter{Software: "7-zip", SoftwareVersion: "< 24", OS: "windows", Tag: tag}},
		{"has-not-7zip", store.ComputerFilter{NoSoftware: "7-zip"}},
		{"has-libssl", store.ComputerFilter{Software: "libssl"}},
		{"rare-software", store.ComputerFilter{Software: "notepad++", SoftwareVersion: "= 7.9.5"}},
	}
	var pages []page
	for _, q := range queries {
		pages = append(pages, page{name: q.name, run: func() (int64, error) {
			_, tot, err := s.SearchComputers(ctx, q.f)
			return tot, err
		}})
	}
	// The duplicates page: the merges, the 50 longest unseen computers
	// and their count.
	pages = append(pages, page{name: "merges-page", run: func() (int64, error) {
		_, tot, err := s.Merges(ctx, 50, 0)
		return tot, err
	}}, page{name: "stale-30-days-page", run: func() (int64, error) {
		before := time.Now().Add(-30 * 24 * time.Hour)
		if _, err := s.ComputersNotSeenSince(ctx, before, 50); err != nil {
			return 0, err
		}
		_, tot, err := s.SearchComputers(ctx, store.ComputerFilter{ContactBefore: before, Limit: 1})
		return tot, err
	}})
	pages = append(pages, catalogPages(b, s)...)
	if only := os.Getenv(benchOnlyEnv); only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			b.Fatalf("%s: %v", benchOnlyEnv, err)
		}
		pages = slices.DeleteFunc(pages, func(p page) bool { return !re.MatchString(p.name) })
	}
	for b.Loop() {
		for _, q := range pages {
			var times []time.Duration
			var total int64
			// This process's CPU per query: the figure least changed by
			// other load on the machine (the database server's CPU is not
			// in it on PostgreSQL).
			cpu0 := storetest.ProcessCPU()
			for range min(cmp.Or(q.reps, 20), benchReps(b)) {
				t0 := time.Now()
				tot, err := q.run()
				if err != nil {
					b.Fatalf("%s: %v", q.name, err)
				}
				times = append(times, time.Since(t0))
				total = tot
			}
			slices.Sort(times)
			p50, p95 := times[len(times)/2], times[len(times)*95/100]
			b.ReportMetric(float64(p95.Microseconds())/1000, q.name+"-p95-ms")
			// Printed, not logged: a benchmark's log is cut after a few lines.
			cpu := (storetest.ProcessCPU() - cpu0) / time.Duration(len(times))
			fmt.Printf("| %s | %s | %d | %d | %.1f ms | %.1f ms | %.1f |\n", s.Driver(), q.name, n, total,
				float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000, float64(cpu.Microseconds())/1000)
		}
	}
	benchFleetIngest(b, s, n)
}

// catalogPages are the software catalog's pages: the title list as it is
// read when its cache is cold (every software row counted), then served
// from the cache, a title's page (versions per site) and the first page
// of its computers, for 7-Zip (70 % of the fleet); then the list and
// 7-Zip's page as a user scoped to 20 TAGs (a tenth of the fleet) sees
// them.
func catalogPages(b *testing.B, s *store.Store) []page {
	ctx := b.Context()
	// The counts stay cached for the whole run, so that the title pages
	// time their own queries, not a re-read of the counts.
	c, err := inventory.NewCatalog(inventory.Config{CatalogCacheTTL: time.Hour}, s, storetest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	sevenZip := inventory.TitleKey(inventory.AutoTitle(windowsTitles[0].name))
	return []page{
		{name: "catalog-list-cold", reps: 3, run: func() (int64, error) {
			c.Invalidate()
			t, err := c.Titles(ctx, inventory.TitleFilter{})
			return int64(len(t)), err
		}},
		{name: "catalog-list", run: func() (int64, error) {
			t, err := c.Titles(ctx, inventory.TitleFilter{})
			return int64(len(t)), err
		}},
		{name: "catalog-title-7zip", run: func() (int64, error) {
			t, err := c.Title(ctx, sevenZip, nil)
			if err != nil {
				return 0, err
			}
			return int64(len(t.Versions)), nil
		}},
		{name: "catalog-7zip-computers", run: func() (int64, error) {
			_, tot, err := c.Computers(ctx, sevenZip, "", 50, 0, nil)
			return tot, err
		}},
		{name: "catalog-list-scoped", run: func() (int64, error) {
			t, err := c.Titles(ctx, inventory.TitleFilter{Scope: benchScope()})
			return int64(len(t)), err
		}},
		{name: "catalog-title-7zip-scoped", run: func() (int64, error) {
			t, err := c.TitleIn(ctx, sevenZip, benchScope(), nil)
			if err != nil {
				return 0, err
			}
			return t.Computers, nil
		}},
	}
}

// benchScope is a user scoped to 20 of the generated fleet's 200 TAGs.
func benchScope() store.Scope {
	var sc store.Scope
	for i := range 20 {
		sc.Tags = append(sc.Tags, fmt.Sprintf("branch-%03d", i*10))
	}
	return sc
}

// benchFleetIngest prints the ingest rate into the generated fleet: the
// real Unix-agent capture (761 software rows) as 30 new computers' first
// inventories, then the same 30 re-inventoried with one software upgraded,
// one at a time, wall and process CPU per inventory.
func benchFleetIngest(b *testing.B, s *store.Store, n int) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "ocs", "testdata", "unix-agent-2.10.0", "inventory-request.xml"))
	if err != nil {
		b.Fatal(err)
	}
	inv, err := ocs.ParseInventory(raw)
	if err != nil {
		b.Fatal(err)
	}
	const count = 30
	run := time.Now().Unix() % 1_000_000
	snap := func(i int, upgrade bool) *store.InventorySnapshot {
		sn := inventory.Snapshot(inv, time.Now())
		// New computers on every run, also into a kept fleet.
		sn.Computer.DeviceID = fmt.Sprintf("ingest-%d-%03d-2026-12-05-00-00-00", run, i)
		sn.Computer.Name = fmt.Sprintf("ingest-%d-%03d", run, i)
		sn.BIOS.SystemSerial = fmt.Sprintf("INGEST%d%05d", run, i)
		sn.Computer.FirstMAC = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", run>>16&255, run>>8&255, run&255, i>>8&255, i&255)
		if upgrade {
			sn.Softwares = slices.Clone(sn.Softwares)
			sn.Softwares[i%len(sn.Softwares)].Version += "+1"
		}
		return sn
	}
	fmt.Println("| database | ingest | computers | inventories | software rows | wall ms/inventory | CPU ms/inventory |")
	for _, phase := range []string{"first-inventory", "re-inventory"} {
		cpu0, t0 := storetest.ProcessCPU(), time.Now()
		for i := range count {
			if _, err := inventory.Record(b.Context(), s, snap(i, phase == "re-inventory")); err != nil {
				b.Fatalf("%s %d: %v", phase, i, err)
			}
		}
		wall, cpu := time.Since(t0), storetest.ProcessCPU()-cpu0
		fmt.Printf("| %s | %s | %d | %d | %d | %.1f | %.1f |\n", s.Driver(), phase, n, count, len(inv.Softwares),
			float64(wall.Microseconds())/1000/count, float64(cpu.Microseconds())/1000/count)
	}
	fmt.Printf("load after the run: %s\n", loadavg())
}
