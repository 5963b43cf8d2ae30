package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NamePrefix starts every lab namespace name; the PID of the run follows.
const NamePrefix = "slab"

// DefaultPrefix is the namespace prefix of a run in this process.
func DefaultPrefix() string { return NamePrefix + strconv.Itoa(os.Getpid()) }

// leftoverRE matches a lab namespace and captures the PID of its run.
var leftoverRE = regexp.MustCompile(`^` + NamePrefix + `([0-9]+)-`)

// Addresses of the lab. Branch b uses 10.99.<b>.0/30 for its uplink and
// 10.98.<b>.0/24 for its LAN.
var (
	DCAddr     = netip.MustParseAddr("10.99.0.1")
	wanDCAddr  = netip.MustParseAddr("10.99.0.2")
	labCoreNet = "10.99.0.0/16"
	labLANNet  = "10.98.0.0/16"
)

// MaxBranches and MaxAgents bound the address plan.
const (
	MaxBranches = 200
	MaxAgents   = 200
)

// TopologyConfig describes the namespaces to build.
type TopologyConfig struct {
	// Prefix names the namespaces (default DefaultPrefix()).
	Prefix string
	// Branches and AgentsPerBranch size the lab.
	Branches        int
	AgentsPerBranch int
	// Relay adds a relay namespace to every branch (a hook for issue 6).
	Relay bool
	// UplinkMbit shapes both directions of each branch uplink.
	UplinkMbit float64
	// Delay is added to each direction of each uplink (RTT = 2·Delay).
	Delay time.Duration
	// Loss is the probability (0..1) that a packet is dropped, per direction.
	Loss float64
	// LANMbit shapes each LAN port both ways; 0 leaves the LAN unshaped.
	LANMbit float64
	// RelayLANMbit shapes the relay's LAN port both ways; 0 leaves it
	// unshaped.
	RelayLANMbit float64
	// CC is the TCP congestion control set in every namespace; "" keeps
	// the host's default.
	CC string
}

// Host is one namespace on a branch LAN.
type Host struct {
	NS   string
	Addr netip.Addr
	Name string // a short host name, unique in the run
}

// Branch is one branch office.
type Branch struct {
	Index  int
	Router string // namespace of the branch router
	LAN    netip.Prefix
	Agents []Host
	Relay  *Host
	// Uplink is the WAN-side device of the branch uplink, in the WAN
	// namespace; its tx bytes went to the branch.
	Uplink string
	// down is the delay line towards the branch (from the WAN side).
	down *delayLine
}

// Topology is a built lab. Close tears it down.
type Topology struct {
	cfg      TopologyConfig
	log      *slog.Logger
	DC       string // namespace of central
	WAN      string // namespace of the WAN router
	Branches []*Branch

	mu     sync.Mutex // guards spaces and tuns
	spaces []string   // created namespaces, in creation order
	tuns   []*os.File
	lines  []*delayLine
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// Build creates the namespaces, links, addresses, routes and shaping of
// cfg. Leftovers of crashed earlier runs are removed first. On error,
// whatever was built is torn down.
func Build(ctx context.Context, cfg TopologyConfig, log *slog.Logger) (*Topology, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix()
	}
	if cfg.Branches < 1 || cfg.Branches > MaxBranches || cfg.AgentsPerBranch < 0 || cfg.AgentsPerBranch > MaxAgents {
		return nil, fmt.Errorf("topology: %d branches of %d agents is out of range", cfg.Branches, cfg.AgentsPerBranch)
	}
	if cfg.UplinkMbit <= 0 {
		return nil, fmt.Errorf("topology: uplink rate %v Mbit/s must be positive", cfg.UplinkMbit)
	}
	if err := RemoveLeftovers(ctx, log); err != nil {
		log.Warn("remove leftovers of earlier runs", "err", err)
	}
	t := &Topology{cfg: cfg, log: log, DC: cfg.Prefix + "-dc", WAN: cfg.Prefix + "-wan"}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel = cancel
	if err := t.build(ctx, lctx); err != nil {
		return nil, errors.Join(fmt.Errorf("build topology: %w", err), t.Close())
	}
	return t, nil
}

func (t *Topology) addNS(ctx context.Context, name string, router bool) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	t.mu.Lock()
	t.spaces = append(t.spaces, name)
	t.mu.Unlock()
	if err := ip(ctx, "-n", name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := sysctl(ctx, name, k, "1"); err != nil {
			return err
		}
	}
	if t.cfg.CC != "" {
		if err := setCC(ctx, name, t.cfg.CC); err != nil {
			return err
		}
	}
	if router {
		return sysctl(ctx, name, "net.ipv4.ip_forward", "1")
	}
	return nil
}

// setCC sets namespace ns's TCP congestion control to cc, after checking
// that the kernel offers it (a module such as tcp_bbr may be missing).
func setCC(ctx context.Context, ns, cc string) error {
	out, err := command(ctx, "ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.tcp_available_congestion_control")
	if err != nil {
		return err
	}
	if !slices.Contains(strings.Fields(string(out)), cc) {
		return fmt.Errorf("congestion control %s is not available (have: %s; load tcp_%s)", cc, strings.TrimSpace(string(out)), cc)
	}
	return sysctl(ctx, ns, "net.ipv4.tcp_congestion_control", cc)
}

// do runs a list of `ip` argument lists in order.
func do(ctx context.Context, cmds ...[]string) error {
	for _, c := range cmds {
		if err := ip(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

func (t *Topology) build(ctx, lineCtx context.Context) error {
	cfg := t.cfg
	if err := t.addNS(ctx, t.DC, false); err != nil {
		return err
	}
	if err := t.addNS(ctx, t.WAN, true); err != nil {
		return err
	}
	if err := do(ctx,
		[]string{"-n", t.DC, "link", "add", "eth0", "type", "veth", "peer", "name", "dc0", "netns", t.WAN},
		[]string{"-n", t.DC, "addr", "add", DCAddr.String() + "/30", "dev", "eth0"},
		[]string{"-n", t.WAN, "addr", "add", wanDCAddr.String() + "/30", "dev", "dc0"},
		[]string{"-n", t.DC, "link", "set", "eth0", "up"},
		[]string{"-n", t.WAN, "link", "set", "dc0", "up"},
		[]string{"-n", t.DC, "route", "add", labLANNet, "via", wanDCAddr.String()},
		[]string{"-n", t.DC, "route", "add", labCoreNet, "via", wanDCAddr.String()},
	); err != nil {
		return err
	}
	for b := 1; b <= cfg.Branches; b++ {
		br, err := t.buildBranch(ctx, lineCtx, b)
		if err != nil {
			return fmt.Errorf("branch %d: %w", b, err)
		}
		t.Branches = append(t.Branches, br)
	}
	return nil
}

func (t *Topology) buildBranch(ctx, lineCtx context.Context, b int) (*Branch, error) {
	cfg := t.cfg
	br := &Branch{Index: b, Router: fmt.Sprintf("%s-b%d", cfg.Prefix, b),
		LAN: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 98, byte(b), 0}), 24), Uplink: fmt.Sprintf("wb%d", b)}
	if err := t.addNS(ctx, br.Router, true); err != nil {
		return nil, err
	}
	wanSide, brSide := fmt.Sprintf("10.99.%d.1", b), fmt.Sprintf("10.99.%d.2", b)
	if err := t.uplink(ctx, lineCtx, br, wanSide, brSide); err != nil {
		return nil, err
	}
	gw := fmt.Sprintf("10.98.%d.1", b)
	if err := do(ctx,
		[]string{"-n", br.Router, "link", "add", "lan0", "type", "bridge"},
		[]string{"-n", br.Router, "addr", "add", gw + "/24", "dev", "lan0"},
		[]string{"-n", br.Router, "link", "set", "lan0", "up"},
	); err != nil {
		return nil, err
	}
	if cfg.Relay {
		h := Host{NS: br.Router + "r", Addr: netip.AddrFrom4([4]byte{10, 98, byte(b), 2}), Name: fmt.Sprintf("relay-b%d", b)}
		if err := t.lanHost(ctx, br, h, "pr", gw, cfg.RelayLANMbit); err != nil {
			return nil, err
		}
		br.Relay = &h
	}
	for i := range cfg.AgentsPerBranch {
		h := Host{NS: fmt.Sprintf("%sa%d", br.Router, i), Addr: netip.AddrFrom4([4]byte{10, 98, byte(b), byte(10 + i)}),
			Name: fmt.Sprintf("b%da%02d", b, i)}
		if err := t.lanHost(ctx, br, h, fmt.Sprintf("p%d", i), gw, cfg.LANMbit); err != nil {
			return nil, err
		}
		br.Agents = append(br.Agents, h)
	}
	return br, nil
}

// uplink joins the WAN router and the branch router with a TUN pair and a
// delay line per direction, shaped by tbf on both TUN devices.
func (t *Topology) uplink(ctx, lineCtx context.Context, br *Branch, wanSide, brSide string) error {
	cfg := t.cfg
	wanTun, err := openTUN(t.WAN, br.Uplink)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.tuns = append(t.tuns, wanTun)
	t.mu.Unlock()
	brTun, err := openTUN(br.Router, "up0")
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.tuns = append(t.tuns, brTun)
	t.mu.Unlock()
	if err := do(ctx,
		[]string{"-n", t.WAN, "addr", "add", wanSide, "peer", brSide, "dev", br.Uplink},
		[]string{"-n", t.WAN, "link", "set", br.Uplink, "up"},
		[]string{"-n", t.WAN, "route", "add", br.LAN.String(), "dev", br.Uplink},
		[]string{"-n", br.Router, "addr", "add", brSide, "peer", wanSide, "dev", "up0"},
		[]string{"-n", br.Router, "link", "set", "up0", "up"},
		[]string{"-n", br.Router, "route", "add", labCoreNet, "dev", "up0"},
	); err != nil {
		return err
	}
	for _, dev := range [][2]string{{t.WAN, br.Uplink}, {br.Router, "up0"}} {
		if _, err := command(ctx, "tc", tbfArgs(dev[0], dev[1], cfg.UplinkMbit, 2*cfg.Delay)...); err != nil {
			return err
		}
	}
	down := newDelayLine(wanTun, brTun, cfg.Delay, cfg.Loss, uint64(2*br.Index))
	br.down = down
	up := newDelayLine(brTun, wanTun, cfg.Delay, cfg.Loss, uint64(2*br.Index+1))
	for _, l := range []*delayLine{down, up} {
		l.log = t.log
		t.lines = append(t.lines, l)
		t.wg.Go(func() {
			if err := l.run(lineCtx); err != nil {
				t.log.Warn("delay line stopped", "branch", br.Index, "err", err)
			}
		})
	}
	return nil
}
