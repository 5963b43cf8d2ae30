//go:build integration

package itest

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/lab"
)

// TestBranchLab is the small variant of the branch lab (issue 8): one
// branch of four agents behind a 50 Mbit/s uplink, an 8 MiB package, and
// every scenario whose binaries are built (ocs-direct always; shoal-direct
// and shoal-p2p with shoal-agent; ocs-relay with shoal-relay; shoal-relay
// and shoal-both with both, once the relay can enroll). It checks
// correctness only: the uplink is shaped, every agent succeeds, each
// baseline moves N·S across the uplink (within 10 %), a relay or P2P
// scenario moves at most 1.1·S + 1 MiB, and no namespace of the run is
// left behind.
func TestBranchLab(t *testing.T) {
	ctx := t.Context()
	if err := lab.Available(ctx); err != nil {
		if errors.Is(err, lab.ErrUnavailable) {
			t.Skipf("branch lab skipped: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ocsinventory-agent"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ocsinventory-agent is not installed (make test installs it)")
		}
		t.Skip("ocsinventory-agent is not installed; run `make test-deps`")
	}
	prefix := lab.DefaultPrefix()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		left, err := lab.Namespaces(ctx, prefix+"-")
		if err != nil {
			t.Errorf("list namespaces: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})

	const n, size, uplink = 4, 8 << 20, 50
	built := func(name string) bool {
		_, err := os.Stat(filepath.Join(binDir, name))
		return err == nil
	}
	scenarios := []string{"ocs-direct"}
	if built("shoal-agent") {
		scenarios = append(scenarios, "shoal-direct")
	}
	if built("shoal-relay") {
		scenarios = append(scenarios, "ocs-relay")
	}
	if built("shoal-agent") && built("shoal-relay") {
		scenarios = append(scenarios, "shoal-relay")
	}
	if built("shoal-agent") {
		scenarios = append(scenarios, "shoal-p2p")
	}
	if built("shoal-agent") && built("shoal-relay") {
		scenarios = append(scenarios, "shoal-both")
	}
	cfg := lab.Config{SizeBytes: size, Agents: n, Branches: 1, UplinkMbit: uplink, Scenarios: scenarios,
		OutDir: t.TempDir(), BinDir: binDir, Prefix: prefix, ScenarioTimeout: 3 * time.Minute}
	l, err := lab.New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})), t.Output())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Run(ctx)
	if err != nil {
		t.Fatalf("lab run: %v", err)
	}
	// The uplink really is shaped and delayed: TCP goodput is at most
	// U·1448/1500, and the connect time holds the added round trip. The
	// probe's reader starts its clock at the first quarter it read: on a
	// loaded machine it may read late and then drain a full socket buffer
	// at once (50.0 Mbit/s measured at load 40), so the bound has 5 %
	// of slack; an unshaped link would measure gigabits.
	if got := rep.Params.MeasuredDownMbit; got < 0.8*uplink || got > 1.05*uplink {
		t.Errorf("uplink goodput %.1f Mbit/s, want 80–105 %% of %d", got, uplink)
	}
	if rtt := rep.Params.MeasuredRTTMs; rtt < 2*rep.Params.DelayMs {
		t.Errorf("measured RTT %.1f ms, want at least the added %.0f ms", rtt, 2*rep.Params.DelayMs)
	}
	if len(rep.Scenarios) != len(scenarios) {
		t.Fatalf("%d scenario results, want %d", len(rep.Scenarios), len(scenarios))
	}
	for _, r := range rep.Scenarios {
		t.Run(r.Scenario, func(t *testing.T) {
			if r.Status == lab.StatusSkipped {
				t.Skipf("scenario skipped: %s", r.Reason)
			}
			if r.Status != lab.StatusOK || r.Succeeded != n || r.Failed+r.Unfinished != 0 {
				t.Fatalf("status %s (%s), %d succeeded, %d failed, %d unfinished, codes %v",
					r.Status, r.Reason, r.Succeeded, r.Failed, r.Unfinished, r.ResultCodes)
			}
			if strings.HasSuffix(r.Scenario, "-direct") {
				// Without relay or peers every agent fetches the whole
				// package across the uplink: N·S, plus TCP/IP headers and
				// protocol chatter; central's own counters agree.
				if math.Abs(r.WANPerS-n) > 0.1*n {
					t.Errorf("WAN bytes per branch %.3f·S, want %d·S ± 10 %% (%+v)", r.WANPerS, n, r.WAN)
				}
				if math.Abs(r.CentralPerS-n) > 0.1*n {
					t.Errorf("central served %.3f·S, want %d·S ± 10 %%", r.CentralPerS, n)
				}
			} else if limit := 1.1*size + 1<<20; r.WANPerS*size > limit {
				// A relay or the LAN peers: about one copy per branch.
				t.Errorf("WAN bytes per branch %.3f·S, want ≤ 1.1·S + 1 MiB (%+v; bytes by source %+v)", r.WANPerS, r.WAN, r.BytesBySource)
			}
			// The uplink's busy span (100 ms readings) holds the
			// transfer: the payload cannot have crossed faster than U.
			for _, b := range r.WAN {
				if b.BusySeconds <= 0 || b.Utilisation > 1.02 {
					t.Errorf("branch %d: busy %.2f s, utilisation %.3f; want a span and at most U (%+v)", b.Branch, b.BusySeconds, b.Utilisation, b)
				}
			}
			if r.BoundSeconds < rep.Params.FloorSeconds {
				t.Errorf("bound %.1f s below the WAN floor %.1f s", r.BoundSeconds, rep.Params.FloorSeconds)
			}
			if r.FirstFragment.N != n || r.Completion.N != n {
				t.Errorf("first-fragment times for %d agents and completions for %d, want %d each", r.FirstFragment.N, r.Completion.N, n)
			}
		})
	}
	for _, f := range []string{"lab.json", "lab.md", "completion-cdf.svg"} {
		if _, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}
