package lab

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// shoalAgent is one shoal-agent process in its host's namespace.
type shoalAgent struct {
	host Host
	bin  string
	dir  string
	// logLevel is the agent's -log-level (info when empty).
	logLevel string
	cmd      *exec.Cmd
	done     chan error
}

func (a *shoalAgent) config() string  { return filepath.Join(a.dir, "agent.yaml") }
func (a *shoalAgent) logFile() string { return filepath.Join(a.dir, "agent.log") }

// write writes the agent's config: central across the WAN, its own state
// directory and host name, progress reported every second.
func (a *shoalAgent) write(server, extra string) error {
	cfg := fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: %s\njobs:\n  long_poll: 20s\n  progress_interval: 1s\n",
		server, filepath.Join(a.dir, "state"), a.host.Name) + extra
	if err := os.WriteFile(a.config(), []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("agent %s config: %w", a.host.Name, err)
	}
	return nil
}

// enroll runs `shoal-agent enroll` inside the agent's namespace. A
// central that sheds load (503, "retry later": its ingest slots taken by
// the other agents enrolling at once on a loaded machine) is asked again
// after a pause, up to enrollAttempts times.
func (a *shoalAgent) enroll(ctx context.Context, token, ca string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for attempt := 1; ; attempt++ {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", a.host.NS, a.bin, "enroll", "-config", a.config(),
			"-token", token, "-ca", ca).CombinedOutput()
		if err == nil {
			return nil
		}
		err = fmt.Errorf("enroll agent %s: %w: %s", a.host.Name, err, bytes.TrimSpace(out))
		if attempt >= enrollAttempts || !bytes.Contains(out, []byte("retry later")) {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// enrollAttempts bounds the enrollments of one agent that central
// refuses as busy.
const enrollAttempts = 5

// start runs the agent in the background, logging to its log file.
func (a *shoalAgent) start() error {
	f, err := os.OpenFile(a.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("agent %s log: %w", a.host.Name, err)
	}
	defer f.Close()
	a.cmd = exec.Command("ip", "netns", "exec", a.host.NS, a.bin, "-config", a.config(), "-log-level", cmp.Or(a.logLevel, "info"))
	a.cmd.Stdout, a.cmd.Stderr = f, f
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("start agent %s: %w", a.host.Name, err)
	}
	a.done = make(chan error, 1)
	go func() { a.done <- a.cmd.Wait() }()
	return nil
}

// stop sends SIGTERM and waits up to 20 s, then kills.
func (a *shoalAgent) stop() error {
	if a.cmd == nil {
		return nil
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.done <- err
		if err != nil {
			return fmt.Errorf("agent %s exit: %w", a.host.Name, err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		return fmt.Errorf("agent %s did not stop within 20s", a.host.Name)
	}
}

// logged returns the time of the first log line whose message is msg and
// that carries all of attrs ("package=123"), or the zero time.
func logged(log []byte, msg string, attrs ...string) time.Time {
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " msg="+msg+" ") && !strings.Contains(line, ` msg="`+msg+`"`) {
			continue
		}
		ok := true
		for _, a := range attrs {
			ok = ok && (strings.Contains(line, " "+a+" ") || strings.HasSuffix(line, " "+a))
		}
		ts, _, found := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if !ok || !found {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t
		}
	}
	return time.Time{}
}

// firstStored returns when a Shoal agent stored its first verified
// fragment of package pkg, from its log (the plain fetcher and the swarm
// scheduler both log "first fragment stored"), or the zero time. Starting
// to fetch is not a fragment.
func firstStored(log []byte, pkg string) time.Time {
	return logged(log, "first fragment stored", "package="+pkg)
}

// shoalMode is what a Shoal scenario puts on the branches.
type shoalMode struct {
	scenario string
	short    string // host name prefix, such as "sd"
	// sites gives every branch a site (needed for relays and peers);
	// relay starts a relay per branch; p2p lets agents share on the LAN.
	sites, relay, p2p bool
}

func runShoalDirect(ctx context.Context, e *env, r *Result) error {
	return runShoal(ctx, e, r, shoalMode{scenario: "shoal-direct", short: "sd"})
}

func runShoalRelay(ctx context.Context, e *env, r *Result) error {
	return runShoal(ctx, e, r, shoalMode{scenario: "shoal-relay", short: "sr", sites: true, relay: true})
}

func runShoalP2P(ctx context.Context, e *env, r *Result) error {
	return runShoal(ctx, e, r, shoalMode{scenario: "shoal-p2p", short: "sp", sites: true, p2p: true})
}

func runShoalBoth(ctx context.Context, e *env, r *Result) error {
	return runShoal(ctx, e, r, shoalMode{scenario: "shoal-both", short: "sb", sites: true, relay: true, p2p: true})
}

// runShoal runs one Shoal scenario: fresh agents in every agent namespace
// (and, per mode, sites, relays and LAN peers) deploy one new package.
// shoal-direct is Shoal's own baseline: no site, so neither relay nor
// peers, every agent fetches from central across the WAN.
func runShoal(ctx context.Context, e *env, r *Result, m shoalMode) error {
	name := e.cfg.Prefix + "-" + m.short + "-"
	bin, err := filepath.Abs(filepath.Join(e.cfg.BinDir, "shoal-agent"))
	if err != nil {
		return fmt.Errorf("agent binary: %w", err)
	}
	bs := &branchSetup{}
	defer func() { e.teardown(ctx, bs) }()
	if m.sites {
		if bs, err = e.setupBranches(ctx, m.scenario, m.relay, true); err != nil {
			return err
		}
		r.RelayMode = bs.mode
	}
	var agents []*shoalAgent
	var spaces []string
	byBranch := make([][]*shoalAgent, len(e.topo.Branches))
	for b, br := range e.topo.Branches {
		for _, h := range br.Agents[:r.Agents] {
			h.Name = name + h.Name
			a := &shoalAgent{host: h, bin: bin, dir: filepath.Join(e.work, m.scenario, h.Name), logLevel: e.cfg.AgentLogLevel}
			if err := os.MkdirAll(a.dir, 0o755); err != nil {
				return fmt.Errorf("agent dir: %w", err)
			}
			if err := a.write(e.central.HTTPSURL, agentYAML(m, e.cfg.AgentSwarm)); err != nil {
				return err
			}
			agents, spaces = append(agents, a), append(spaces, h.NS)
			byBranch[b] = append(byBranch[b], a)
		}
	}
	slow := &throttler{plan: planSlow(e.cfg, m, r.Agents), lanMbit: e.cfg.lanMbit()}
	if slow.plan.perBranch > 0 {
		r.SlowRateKbit, r.SlowOwner = slow.plan.kbit, slow.plan.owners
		defer func() {
			r.SlowPeers = slow.hosts()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := slow.restore(rctx); err != nil {
				e.log.Warn("restore slow peers", "err", err)
			}
		}()
		for _, agents := range byBranch {
			for _, i := range slow.plan.static() {
				if err := slow.throttle(ctx, agents[i].host); err != nil {
					return err
				}
			}
		}
	}
	defer func() {
		for _, a := range agents {
			if err := a.stop(); err != nil {
				e.log.Warn("stop agent", "err", err)
			}
		}
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, ns := range spaces {
			if err := killNS(kctx, ns); err != nil {
				e.log.Warn("sweep agent namespace", "netns", ns, "err", err)
			}
		}
	}()
	var tok struct {
		Token string `json:"token"`
	}
	if err := e.central.call(ctx, "POST", "/agents/enrollment-tokens", nil,
		map[string]any{"name": "lab-" + m.scenario, "max_uses": len(agents)}, &tok); err != nil {
		return fmt.Errorf("enrollment token: %w", err)
	}
	fmt.Fprintf(e.out, "  enrolling and starting %d Shoal agents\n", len(agents))
	if err := forEach(ctx, len(agents), 8, func(ctx context.Context, i int) error {
		if err := agents[i].enroll(ctx, tok.Token, e.central.CAFile); err != nil {
			return err
		}
		return agents[i].start()
	}); err != nil {
		return err
	}
	if err := awaitLogs(ctx, agents, "agent running", 2*time.Minute); err != nil {
		return err
	}
	comps, err := e.central.computers(ctx, api.ComputerFilter{Name: name})
	if err != nil {
		return err
	}
	if len(comps) != len(agents) {
		return fmt.Errorf("central lists %d computers named %s…, want %d", len(comps), name, len(agents))
	}
	if m.sites {
		if err := checkSites(comps, bs.sites); err != nil {
			return err
		}
	}
	w, err := e.startWatch(ctx, spaces, bs.relays)
	if err != nil {
		return err
	}
	defer w.close()
	p, err := e.createPackage(ctx, m.scenario)
	if err != nil {
		return err
	}
	r.PackageID, r.PackageBytes, r.Fragments = p.ID, p.Size, p.FragmentCount
	if err := w.begin(ctx, p.ID); err != nil {
		return err
	}
	var res api.AffectResult
	if err := e.central.call(ctx, "POST", "/packages/"+p.ID+"/affect", nil,
		api.AffectRequest{Filter: &api.ComputerFilter{Name: name}}, &res); err != nil {
		return fmt.Errorf("affect package %s: %w", p.ID, err)
	}
	w.t0 = time.Now()
	if res.Created != len(agents) {
		return fmt.Errorf("affect package %s: created %d deployments, want %d", p.ID, res.Created, len(agents))
	}
	if slow.plan.owners {
		octx, stop := context.WithCancel(ctx)
		owners := make(chan error, 1)
		go func() { owners <- slow.watchOwners(octx, byBranch) }()
		defer func() {
			stop()
			if err := <-owners; err != nil {
				e.log.Warn("throttle WAN owners", "err", err)
			}
		}()
	}
	fmt.Fprintf(e.out, "  package %s affected\n", p.ID)
	deps, werr := w.await(ctx, len(agents), e.shoalTimeout(m, r.Agents))
	firsts := make([]time.Time, len(agents))
	for i, a := range agents {
		if b, err := os.ReadFile(a.logFile()); err == nil {
			firsts[i] = firstStored(b, p.ID)
		}
	}
	if err := w.finish(ctx, r, deps, firsts); err != nil {
		return errors.Join(werr, err)
	}
	if len(bs.relays) > 0 {
		t, err := e.relayCounters(ctx, bs.relays)
		if err != nil {
			e.log.Warn("relay counters", "err", err)
		}
		setRelayCounters(r, t, r.BytesBySource.Central)
	}
	if slow.plan.perBranch > 0 {
		r.Goals = append(r.Goals, slowGoals(r, deps, slow.hosts(), w.t0, w.timeout, e.cfg.BaselineP95)...)
	}
	if werr != nil {
		return werr
	}
	if r.Succeeded != len(agents) {
		return fmt.Errorf("%d of %d agents succeeded (codes %v)", r.Succeeded, len(agents), r.ResultCodes)
	}
	return nil
}

// shoalTimeout bounds a Shoal scenario from affectation to the last agent:
// the direct baseline moves N copies over the uplink; with a relay or
// peers about one copy should cross, so a few floors are plenty (and a
// scenario that needs more has missed its goals anyway).
func (e *env) shoalTimeout(m shoalMode, n int) time.Duration {
	if e.cfg.ScenarioTimeout > 0 {
		return e.cfg.ScenarioTimeout
	}
	copies := float64(n)
	if m.relay || m.p2p {
		copies = 4
	}
	return time.Duration((120 + 3*copies*e.params.FloorSeconds) * float64(time.Second))
}

// agentYAML is the scenario-specific part of a Shoal agent's config. The
// agent's libp2p and memberlist defaults (all addresses, fixed memberlist
// port) suit the lab: each agent has its own namespace, so fixed ports do
// not collide. Peers need a site with a tracker; without a site (the
// direct baseline) the agent has no peers. Scenarios without peers turn
// peer sharing off, so that a site's tracker does not make shoal-relay
// measure relay and peers.
func agentYAML(m shoalMode, swarmYAML string) string {
	if !m.p2p {
		return "swarm:\n  disabled: true\n"
	}
	if swarmYAML == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("swarm:\n")
	for line := range strings.Lines(swarmYAML) {
		b.WriteString("  " + strings.TrimRight(line, "\n") + "\n")
	}
	return b.String()
}

// checkSites checks that central put every computer into its branch's
// site; otherwise neither the site's relay nor its peers would be used.
func checkSites(comps []api.Computer, sites []labSite) error {
	ids := map[uint]bool{}
	for _, s := range sites {
		ids[s.ID] = true
	}
	var bad []string
	for _, c := range comps {
		if c.SiteID == nil || !ids[*c.SiteID] {
			bad = append(bad, c.Name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d computers are not in their branch's site (central assigns it from the address): %s",
			len(bad), len(comps), strings.Join(bad[:min(len(bad), 5)], ", "))
	}
	return nil
}

// awaitLogs waits until every agent's log has a line with message msg.
func awaitLogs(ctx context.Context, agents []*shoalAgent, msg string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		waiting := 0
		for _, a := range agents {
			if b, err := os.ReadFile(a.logFile()); err != nil || logged(b, msg).IsZero() {
				waiting++
			}
		}
		if waiting == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d agents did not log %q within %v", waiting, msg, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for agents: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
