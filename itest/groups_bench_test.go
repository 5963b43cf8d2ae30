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

// BenchmarkGroupsProlog measures PROLOGs per second of the real central
// with 10,000 computers, first without groups, then with 200 groups (100
// dynamic, 100 static) and 50 assignments (to groups and sites) whose
// deployments exist, and prints both. PROLOGs evaluate no group: the
// difference is only the deployments advertised.
func BenchmarkGroupsProlog(b *testing.B) {
	prolog, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/prolog-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	const fleet = 10000
	for range b.N {
		dir := b.TempDir()
		t0 := time.Now()
		pkgs := seedFleet(b, filepath.Join(dir, "data"), fleet)
		seeded := time.Since(t0)
		c := startCentralIn(b, dir, "data", "")
		bodies := make([][]byte, 2*fleet)
		for i := range bodies {
			bodies[i] = zlibBytes([]byte(strings.ReplaceAll(string(prolog), captureDeviceID, fmt.Sprintf("pc-%05d-2026-11-24-07-24-08", i%fleet))))
		}
		var results []phaseResult
		results = append(results, runPhase(c, "PROLOG, no group", 8, bodies))

		// 200 groups: 50 by TAG (200 computers each), 50 by name prefix
		// (100 each), 100 static (20 each).
		t1 := time.Now()
		var groupIDs []uint
		for i := range 200 {
			req := map[string]any{"name": fmt.Sprintf("g%03d", i)}
			switch {
			case i < 50:
				req["search"] = map[string]string{"tag": fmt.Sprintf("tag-%d", i)}
			case i < 100:
				req["search"] = map[string]string{"name": fmt.Sprintf("pc-0%02d", i-50)}
			default:
				var ids []uint
				for k := range 20 {
					ids = append(ids, uint(1+(i*20+k)%fleet))
				}
				req["members"] = ids
			}
			var g struct {
				ID uint `json:"id"`
			}
			c.do("POST", "/api/v1/groups", req, &g, http.StatusCreated)
			groupIDs = append(groupIDs, g.ID)
		}
		groupsTime := time.Since(t1)
		// 50 assignments: 20 TAG groups, 10 name groups, 10 static groups,
		// 10 sites.
		t2 := time.Now()
		members := 0
		for i := range 50 {
			req := map[string]any{"package_id": pkgs[i]}
			switch {
			case i < 20:
				req["group_id"] = groupIDs[i]
			case i < 30:
				req["group_id"] = groupIDs[50+i]
			case i < 40:
				req["group_id"] = groupIDs[100+i]
			default:
				req["site_id"] = i - 39
			}
			var a struct {
				Members int `json:"members"`
			}
			c.do("POST", "/api/v1/assignments", req, &a, http.StatusCreated)
			members += a.Members
		}
		assignTime := time.Since(t2)
		// Every computer contacts central once (deployments advertised and
		// notified), then the steady state is measured.
		results = append(results, runPhase(c, "PROLOG, first after", 8, bodies[:fleet]))
		results = append(results, runPhase(c, "PROLOG, groups", 8, bodies))

		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\nPROLOG with %d computers (SQLite, load %s): seeded in %s; 200 groups created in %s; 50 assignments (%d deployments) in %s\n",
			fleet, strings.TrimSpace(string(load)), seeded.Round(time.Second), groupsTime.Round(time.Millisecond), members, assignTime.Round(time.Millisecond))
		fmt.Println("| phase           | agents |  requests | fail | req/s     | p50      | p95      | p99      | CPU    | RSS MiB |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range results {
			fmt.Println(r)
			if r.failures > 0 {
				b.Errorf("%s: %d failed requests", r.name, r.failures)
			}
		}
		c.stop()
	}
}
