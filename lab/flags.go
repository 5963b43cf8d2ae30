package lab

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/agent/swarm"
)

// ParseSize parses a byte count with an optional KiB, MiB or GiB suffix
// ("64MiB", "8MiB", "524288").
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional KiB, MiB or GiB suffix", s)
	}
	return int64(n * float64(mult)), nil
}

// Flags are shoal-lab's command line: a Config plus the log level.
type Flags struct {
	Config   Config
	LogLevel string
}

// ParseFlags parses shoal-lab's command line; usage and errors go to
// stderr.
func ParseFlags(args []string, stderr io.Writer) (*Flags, error) {
	f := &Flags{}
	c := &f.Config
	fs := flag.NewFlagSet("shoal-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.String("size", "64MiB", "package size S (bytes, or with a KiB/MiB/GiB suffix)")
	fs.IntVar(&c.Agents, "agents", 0, "agents per branch N (0: 4 for the direct baselines, 20 otherwise)")
	fs.IntVar(&c.Branches, "branches", 2, "branch offices")
	fs.Float64Var(&c.UplinkMbit, "uplink-mbit", 20, "uplink rate U of each branch, Mbit/s each way")
	fs.DurationVar(&c.Delay, "delay", 30e6, "delay added to each direction of each uplink")
	fs.Float64Var(&c.LossPct, "loss", 0, "packet loss on each uplink direction, percent")
	lan := fs.Float64("lan-mbit", DefaultLANMbit, "LAN port rate, Mbit/s (0: unshaped)")
	relayLAN := fs.Float64("relay-lan-mbit", DefaultRelayLANMbit, "the branch relay's LAN port rate, Mbit/s (a server's gigabit port; 0: unshaped)")
	fs.StringVar(&c.CC, "cc", CCReno, "TCP congestion control in every namespace: reno or bbr")
	scen := fs.String("scenarios", strings.Join(ScenarioNames(), ","), "comma-separated scenarios to run")
	fs.StringVar(&c.OutDir, "out", "lab-out", "output directory")
	fs.StringVar(&c.BinDir, "bin", "bin", "directory of shoal-central (and shoal-agent, shoal-relay)")
	fs.DurationVar(&c.ScenarioTimeout, "timeout", 0, "bound of one scenario (0: derived from S, N and U)")
	fs.IntVar(&c.SlowPeers, "slow-peers", 0, "agents per branch whose LAN egress is throttled in shoal-p2p and shoal-both")
	slowRate := fs.String("slow-rate", "512kbit", "rate of the slow peers (tc style: 512kbit, 2mbit; a number is kbit/s)")
	fs.BoolVar(&c.SlowOwner, "slow-owner", false, "throttle the agents that become WAN owners (at least one per branch)")
	fs.Float64Var(&c.BaselineP95, "baseline-p95", 0, "completion p95 (s) of the same run without slow peers, for the slow-peer goal (≤ 1.3×)")
	fs.BoolVar(&c.KeepWork, "keep", false, "keep the work directory (logs, agent state) after a successful run")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.AgentSwarm, "agent-swarm", "", "the Shoal agents' swarm settings in the P2P scenarios, YAML as under 'swarm:' in agent.yaml (e.g. 'lease_max: 4')")
	fs.StringVar(&c.AgentLogLevel, "agent-log-level", "info", "the Shoal agents' log level (debug adds their timings; see -keep)")
	serverNice := fs.Int("server-nice", DefaultServerNice, "nice value of central and the relays, servers on machines of their own in a real deployment (0: the agents' priority)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if _, err := swarm.ParseConfig(c.AgentSwarm); err != nil {
		return nil, fmt.Errorf("-agent-swarm: %w", err)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.AgentLogLevel)); err != nil {
		return nil, fmt.Errorf("-agent-log-level: %w", err)
	}
	c.ServerNice = serverNice
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *lan < 0 {
		return nil, fmt.Errorf("lan rate %g Mbit/s: want ≥ 0 (0: unshaped)", *lan)
	}
	if *relayLAN < 0 {
		return nil, fmt.Errorf("relay lan rate %g Mbit/s: want ≥ 0 (0: unshaped)", *relayLAN)
	}
	// Config's zero value is the default rate: -1 is unshaped.
	c.LANMbit, c.RelayLANMbit = *lan, *relayLAN
	if c.LANMbit == 0 {
		c.LANMbit = -1
	}
	if c.RelayLANMbit == 0 {
		c.RelayLANMbit = -1
	}
	var err error
	if c.SizeBytes, err = ParseSize(*size); err != nil {
		return nil, err
	}
	if c.SlowPeers > 0 || c.SlowOwner {
		if c.SlowRateKbit, err = ParseRate(*slowRate); err != nil {
			return nil, err
		}
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	return f, c.Validate()
}
