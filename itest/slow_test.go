//go:build integration

package itest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestP2PSlowWANOwner: one agent of the site uploads to its peers at
// 256 KiB/s only (p2p.upload_rate, the slowest it allows) and is made a
// WAN owner first: it is affected alone, and the others only once it
// logged its lease. Its fragments reach the others too slowly, so they
// leave it alone, exclude it from their lease requests and fetch those
// fragments from central once more. Every agent succeeds, and central's
// egress stays within one copy plus the owner's share.
func TestP2PSlowWANOwner(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	// Short swarm timers keep the test short; the bound itself still comes
	// from the measured LAN rate (at least progress_min).
	const swarmYAML = "swarm:\n  stall_timeout: 3s\n  progress_min: 1s\n"
	// The owner fetches at 2 MiB/s, so the others lease most fragments.
	ownerP2P := strings.Replace(p2pYAML, "p2p:\n", "p2p:\n  upload_rate: 262144\n", 1)
	ownerYAML := ownerP2P + swarmYAML + "fetch:\n  rate_limit: 2097152\n"
	const n = 6
	agents := make([]*Agent, n)
	ids := make([]uint, n)
	for i := range n {
		name := fmt.Sprintf("slow-%02d", i)
		cfg := p2pYAML + swarmYAML
		if i == 0 {
			cfg = ownerYAML
		}
		agents[i] = newAgent(t, a, name, a.URL, cfg)
		ids[i] = a.computerOf(name)
	}
	for _, ag := range agents {
		ag.Start()
	}
	for _, ag := range agents {
		waitFor(t, 30*time.Second, ag.Name+" to join its site", func() error {
			if ag.logLine("site tracker", "site=loopback") == "" {
				return fmt.Errorf("no site tracker line yet")
			}
			return nil
		})
	}
	pkg := c.publishFile(PackageSpec{"name": "p2pslow", "action": "EXECUTE", "priority": "5", "command": "true"},
		writeRandomTarGz(t, 32<<20))
	size := c.packageSize(pkg)
	start := time.Now()
	c.affectAll(pkg, ids[:1])
	waitFor(t, time.Minute, "the slow agent's WAN-owner lease", func() error {
		if agents[0].logLine("WAN-owner lease granted") == "" {
			return fmt.Errorf("no lease yet")
		}
		return nil
	})
	c.affectAll(pkg, ids[1:])
	c.waitAllSuccess(pkg, ids, 3*time.Minute)
	took := time.Since(start)

	owner := peerIDOf(t, agents[0])
	leftAlone := 0
	for _, ag := range agents[1:] {
		if ag.logLine("peer too slow", "peer="+owner) != "" {
			leftAlone++
		}
	}
	egress := a.fragmentStats(pkg).Bytes
	// Lease credit (2) bounds what the slow owner fetches before its peers
	// copy it; each such fragment crosses the WAN at most 1+2 times.
	limit := int64(1.2*float64(size)) + 1<<20
	t.Logf("%d agents, %.0f MiB, slow WAN owner: all done in %v; %d agents left the owner alone; central egress %.2f·S (limit %.2f·S)",
		n, float64(size)/(1<<20), took.Round(time.Millisecond), leftAlone, float64(egress)/float64(size), float64(limit)/float64(size))
	if leftAlone == 0 {
		t.Errorf("no agent left the slow owner %s alone", owner)
	}
	if egress > limit {
		t.Errorf("central served %d bytes of the package, want <= 1.2 × %d + 1 MiB = %d", egress, size, limit)
	}
}
