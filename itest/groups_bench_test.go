//go:build integration

package itest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
)

// seedFleet writes n computers in 20 sites (10.<site>.x.y, TAG tag-<i%50>,
// named pc-<i>) and 50 active packages into the database of dataDir
// before central starts, as a fleet's inventories would have.
func seedFleet(b *testing.B, dataDir string, n int) []string {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{}, dataDir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var sites []uint
	for i := range 20 {
		s := &store.Site{Name: fmt.Sprintf("branch-%02d", i), CIDRs: []store.SiteCIDR{{CIDR: fmt.Sprintf("10.%d.0.0/16", i)}}}
		if err := st.CreateSite(ctx, s); err != nil {
			b.Fatal(err)
		}
		sites = append(sites, s.ID)
	}
	now := time.Now().UTC()
	for i := range n {
		site := sites[i%20]
		snap := &store.InventorySnapshot{Computer: store.Computer{
			DeviceID: fmt.Sprintf("pc-%05d-2026-11-24-07-24-08", i), Name: fmt.Sprintf("pc-%05d", i),
			OSName: "Debian GNU/Linux 12 (bookworm)", IPAddr: fmt.Sprintf("10.%d.%d.%d", i%20, i/250%250, i%250+1),
			LastInventory: now, SiteID: &site,
		}, AccountInfo: []store.AccountInfo{{KeyName: store.AccountTag, KeyValue: fmt.Sprintf("tag-%d", i%50)}}}
		if _, err := inventory.Record(ctx, st, snap); err != nil {
			b.Fatal(err)
		}
	}
	var pkgs []string
	for i := range 50 {
		id := fmt.Sprintf("17000000%05d", i)
		if err := st.CreatePackage(ctx, &store.Package{ID: id, Name: "bench " + id, Priority: 5, Action: "EXECUTE", Command: "true"}); err != nil {
			b.Fatal(err)
		}
		if err := st.SetPackageActivation(ctx, id, true, "central:443/download", "central/download", store.ProtoHTTPS, now); err != nil {
			b.Fatal(err)
		}
		pkgs = append(pkgs, id)
	}
	return pkgs
}

// copyFiles copies the regular files of dir src into dst (created).
func copyFiles(b *testing.B, src, dst string) {
	b.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// benchTarget is the i-th of the 50 targets: 20 TAG searches (200
// computers each), 10 name searches (100 each), 10 static sets (20
// each), 10 sites (500 each).
func benchTarget(i, fleet int) (search map[string]string, static []uint, site uint) {
	switch {
	case i < 20:
		return map[string]string{"tag": fmt.Sprintf("tag-%d", i)}, nil, 0
	case i < 30:
		return map[string]string{"name": fmt.Sprintf("pc-0%02d", i-20)}, nil, 0
	case i < 40:
		for k := range 20 {
			static = append(static, uint(1+(i*20+k)%fleet))
		}
		return nil, static, 0
	}
	return nil, nil, uint(i - 39)
}

// BenchmarkGroupsProlog measures PROLOGs per second of the real central
// with 10,000 computers in three configurations, each in its own central
// on a copy of the same fleet: nothing to deploy, 50 one-time
// affectations, and the same 50 targets as assignments of 200 groups (100
// dynamic, 100 static; the same deployments). Every computer's first
// PROLOG (which notifies its deployments) is sent before measuring; then
// the phases run twice, alternating, so that a change of the machine's
// load hits all three. It prints requests per second, latencies and
// central's CPU time per PROLOG, the figure least sensitive to the load
// of other processes. PROLOGs evaluate no group, so the three should
// match.
func BenchmarkGroupsProlog(b *testing.B) {
	prolog, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/prolog-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	const fleet = 10000
	for range b.N {
		seedDir := b.TempDir()
		t0 := time.Now()
		pkgs := seedFleet(b, seedDir, fleet)
		seeded := time.Since(t0)
		bodies := make([][]byte, 2*fleet)
		for i := range bodies {
			bodies[i] = zlibBytes([]byte(strings.ReplaceAll(string(prolog), captureDeviceID, fmt.Sprintf("pc-%05d-2026-11-24-07-24-08", i%fleet))))
		}
		start := func() *Central {
			dir := b.TempDir()
			copyFiles(b, seedDir, filepath.Join(dir, "data"))
			return startCentralIn(b, dir, "data", "")
		}
		none, affect, groups := start(), start(), start()

		// One-time affectations of the 50 targets.
		affected := 0
		for i, pkg := range pkgs {
			search, static, site := benchTarget(i, fleet)
			req := map[string]any{}
			switch {
			case search != nil:
				req["filter"] = search
			case static != nil:
				req["computer_ids"] = static
			default:
				req["filter"] = map[string]any{"site_id": site}
			}
			var res struct {
				Created int `json:"created"`
			}
			affect.do("POST", "/api/v1/packages/"+pkg+"/affect", req, &res, http.StatusOK)
			affected += res.Created
		}

		// The same targets as desired state: 200 groups, 50 assignments.
		t1 := time.Now()
		var groupIDs []uint
		for i := range 200 {
			req := map[string]any{"name": fmt.Sprintf("g%03d", i)}
			switch {
			case i < 50:
				req["search"] = map[string]string{"tag": fmt.Sprintf("tag-%d", i)}
			case i < 100:
				req["search"] = map[string]string{"name": fmt.Sprintf("pc-0%02d", i-50)}
			default: // group 100+j holds benchTarget(j)'s static set
				var ids []uint
				for k := range 20 {
					ids = append(ids, uint(1+((i-100)*20+k)%fleet))
				}
				req["members"] = ids
			}
			var g struct {
				ID uint `json:"id"`
			}
			groups.do("POST", "/api/v1/groups", req, &g, http.StatusCreated)
			groupIDs = append(groupIDs, g.ID)
		}
		groupsTime := time.Since(t1)
		t2 := time.Now()
		members := 0
		for i, pkg := range pkgs {
			req := map[string]any{"package_id": pkg}
			switch {
			case i < 20:
				req["group_id"] = groupIDs[i] // tag-i
			case i < 30:
				req["group_id"] = groupIDs[50+i-20] // pc-0XY
			case i < 40:
				req["group_id"] = groupIDs[100+i] // static: targets 20..39 of benchTarget
			default:
				req["site_id"] = i - 39
			}
			var a struct {
				Members int `json:"members"`
			}
			groups.do("POST", "/api/v1/assignments", req, &a, http.StatusCreated)
			members += a.Members
		}
		assignTime := time.Since(t2)

		phases := []struct {
			name string
			c    *Central
		}{{"nothing to deploy", none}, {"50 affectations", affect}, {"200 groups, 50 assignments", groups}}
		for _, p := range phases {
			_ = runPhase(p.c, "first", 8, bodies[:fleet])
		}
		var results []phaseResult
		for round := range 2 {
			for _, p := range phases {
				r := runPhase(p.c, p.name, 8, bodies)
				r.name = fmt.Sprintf("%s (%d)", p.name, round+1)
				results = append(results, r)
			}
		}
		for _, p := range phases {
			p.c.stop()
		}

		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\nPROLOG with %d computers (SQLite, load %s): seeded in %s; %d deployments by 50 affectations; "+
			"200 groups created in %s; 50 assignments (%d deployments) in %s\n",
			fleet, strings.TrimSpace(string(load)), seeded.Round(time.Second), affected, groupsTime.Round(time.Millisecond),
			members, assignTime.Round(time.Millisecond))
		fmt.Println("| phase (round)                   | agents |  requests | fail | req/s     | p50      | p95      | p99      | CPU    | RSS MiB | CPU ms/PROLOG |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range results {
			fmt.Printf("%s %5.3f |\n", r, 1000*r.cpu/float64(r.n))
			if r.failures > 0 {
				b.Errorf("%s: %d failed requests", r.name, r.failures)
			}
		}
		if affected != members {
			b.Errorf("the affectations created %d deployments, the assignments %d", affected, members)
		}
	}
}
