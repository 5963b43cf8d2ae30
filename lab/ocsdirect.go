package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// ocsRunTimeout bounds one foreground run of the OCS agent (an inventory,
// or a PROLOG that starts the download worker).
const ocsRunTimeout = 3 * time.Minute

// fragmentsFor is the OCS fragment count for a package of size bytes:
// about 1 MiB each.
func fragmentsFor(size int64) int { return int(max(1, size/MiB)) }

// createPackage uploads the run's payload as a new EXECUTE package named
// after the scenario and activates it at central's default locations.
func (e *env) createPackage(ctx context.Context, name string) (*api.Package, error) {
	prio := 1
	spec := api.PackageSpec{Name: "lab-" + name, Action: "EXECUTE", Command: "test -s payload.bin",
		Priority: &prio, Fragments: fragmentsFor(e.cfg.SizeBytes)}
	p, err := e.central.createPackage(ctx, spec, e.payload)
	if err != nil {
		return nil, fmt.Errorf("create package: %w", err)
	}
	var res api.ActivateResult
	if err := e.central.call(ctx, "POST", "/packages/"+p.ID+"/activate", nil, api.ActivateRequest{}, &res); err != nil {
		return nil, fmt.Errorf("activate package %s: %w", p.ID, err)
	}
	return p, nil
}

// affect assigns package pkg to the computers carrying tag and checks that
// want deployments were created.
func (e *env) affect(ctx context.Context, pkg, tag string, want int) error {
	var res api.AffectResult
	req := api.AffectRequest{Filter: &api.ComputerFilter{Tag: tag}}
	if err := e.central.call(ctx, "POST", "/packages/"+pkg+"/affect", nil, req, &res); err != nil {
		return fmt.Errorf("affect package %s: %w", pkg, err)
	}
	if res.Created != want {
		return fmt.Errorf("affect package %s: created %d deployments, want %d", pkg, res.Created, want)
	}
	return nil
}

// ocsTimeout bounds an OCS scenario from affectation to the last agent:
// each agent sleeps about 2 s per fragment (fragment and cycle latency)
// and the branch's N copies share the uplink.
func (e *env) ocsTimeout(n int) time.Duration {
	if e.cfg.ScenarioTimeout > 0 {
		return e.cfg.ScenarioTimeout
	}
	return e.ocsTimeoutCopies(n)
}

// ocsTimeoutCopies is ocsTimeout when copies of the package cross the
// uplink.
func (e *env) ocsTimeoutCopies(copies int) time.Duration {
	perAgent := float64(fragmentsFor(e.cfg.SizeBytes)) * 2.5
	wire := float64(copies) * e.params.FloorSeconds * 1.2
	return time.Duration((120 + 2*(perAgent+wire)) * float64(time.Second))
}

// ocsAgents prepares one OCS agent per lab host for a scenario (short is a
// host name prefix such as "od"), each with a fresh state directory.
func (e *env) ocsAgents(scenario, short string, n int) ([]*ocsAgent, error) {
	var agents []*ocsAgent
	for _, br := range e.topo.Branches {
		for _, h := range br.Agents[:n] {
			h.Name = short + "-" + h.Name
			base := filepath.Join(e.work, scenario, h.Name)
			if err := os.MkdirAll(base, 0o755); err != nil {
				return nil, fmt.Errorf("agent dir: %w", err)
			}
			agents = append(agents, &ocsAgent{host: h, base: base, server: e.central.HTTPSURL + "/ocsinventory", ca: e.central.CAFile})
		}
	}
	return agents, nil
}

// runOCSDirect is scenario 1: the real OCS agent in every agent namespace
// fetches the package from central across the shaped WAN.
func runOCSDirect(ctx context.Context, e *env, r *Result) error {
	return runOCS(ctx, e, r, "ocs-direct", "od", false)
}

// runOCSRelay is scenario 2: the same agents in a site per branch whose
// fragment location is the branch relay.
func runOCSRelay(ctx context.Context, e *env, r *Result) error {
	return runOCS(ctx, e, r, "ocs-relay", "or", true)
}

// runOCS runs real OCS agents (short prefixes their host names); with
// relay, each branch gets a site and a fresh relay first, so that the
// agents' first inventory puts them in the site and their PACK_LOC points
// to the relay.
func runOCS(ctx context.Context, e *env, r *Result, scenario, short string, relay bool) error {
	tag := e.cfg.Prefix + "-" + scenario
	bs := &branchSetup{}
	defer func() { e.teardown(ctx, bs) }()
	if relay {
		var err error
		if bs, err = e.setupBranches(ctx, scenario, true, false); err != nil {
			return err
		}
		r.RelayMode = bs.mode
	}
	agents, err := e.ocsAgents(scenario, short, r.Agents)
	if err != nil {
		return err
	}
	var spaces []string
	for _, a := range agents {
		spaces = append(spaces, a.host.NS)
	}
	// The agents' namespaces are swept whatever happens, so that no
	// download worker outlives the scenario.
	defer e.stopOCSWorkers(ctx, agents, spaces)

	fmt.Fprintf(e.out, "  inventory of %d OCS agents\n", len(agents))
	if err := forEach(ctx, len(agents), 8, func(ctx context.Context, i int) error {
		return agents[i].run(ctx, ocsRunTimeout, "--tag="+tag)
	}); err != nil {
		return fmt.Errorf("first inventory: %w", err)
	}
	comps, err := e.central.computers(ctx, api.ComputerFilter{Tag: tag})
	if err != nil {
		return err
	}
	if len(comps) != len(agents) {
		return fmt.Errorf("central lists %d computers tagged %s, want %d", len(comps), tag, len(agents))
	}
	if relay {
		if err := checkSites(comps, bs.sites); err != nil {
			return err
		}
	}
	w, err := e.startWatch(ctx, spaces, bs.relays)
	if err != nil {
		return err
	}
	defer w.close()
	p, err := e.createPackage(ctx, scenario)
	if err != nil {
		return err
	}
	r.PackageID, r.PackageBytes, r.Fragments = p.ID, p.Size, p.OCSFragmentCount
	if err := w.begin(ctx, p.ID); err != nil {
		return err
	}
	if err := e.affect(ctx, p.ID, tag, len(agents)); err != nil {
		return err
	}
	w.t0 = time.Now()
	fmt.Fprintf(e.out, "  package %s affected; agents contact central\n", p.ID)
	if err := forEach(ctx, len(agents), 32, func(ctx context.Context, i int) error {
		return agents[i].run(ctx, ocsRunTimeout)
	}); err != nil {
		return fmt.Errorf("agent run after affectation: %w", err)
	}
	for _, a := range agents {
		w.fgCPU += a.cpu
		w.fgPeakKB = max(w.fgPeakKB, a.maxRSSKB)
	}
	timeout := e.ocsTimeout(r.Agents)
	if relay && e.cfg.ScenarioTimeout == 0 {
		// One copy crosses the uplink; the agents' fragment sleeps remain.
		timeout = e.ocsTimeoutCopies(1)
	}
	deps, werr := w.await(ctx, len(agents), timeout)
	firsts := make([]time.Time, len(agents))
	for i, a := range agents {
		b, err := os.ReadFile(a.logFile())
		if err != nil {
			continue
		}
		if t, err := firstFragment(b, p.ID); err == nil {
			firsts[i] = t
		}
	}
	if err := w.finish(ctx, r, deps, firsts); err != nil {
		return errors.Join(werr, err)
	}
	// OCS agents report no bytes: what central served went to the agents
	// directly, except what the relays fetched; the relays served the rest.
	r.BytesBySource = Sources{Central: r.CentralServedBytes}
	if len(bs.relays) > 0 {
		t, err := e.relayCounters(ctx, bs.relays)
		if err != nil {
			e.log.Warn("relay counters", "err", err)
		}
		setRelayCounters(r, t, 0)
		r.BytesBySource = Sources{Central: max(0, r.CentralServedBytes-t.upstream), Relay: t.served}
	}
	if werr != nil {
		return werr
	}
	if r.Succeeded != len(agents) {
		return fmt.Errorf("%d of %d agents succeeded (codes %v)", r.Succeeded, len(agents), r.ResultCodes)
	}
	return nil
}

// stopOCSWorkers waits up to 60 s for the agents' download workers to
// finish on their own, then kills whatever still runs in their namespaces.
func (e *env) stopOCSWorkers(ctx context.Context, agents []*ocsAgent, spaces []string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		running := 0
		for _, a := range agents {
			if a.workerPID() != 0 {
				running++
			}
		}
		if running == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, ns := range spaces {
		if err := killNS(kctx, ns); err != nil {
			e.log.Warn("sweep agent namespace", "netns", ns, "err", err)
		}
	}
}
