package lab

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// relayPort is where every branch relay listens (plain HTTP), on its own
// namespace's address, so a fixed port cannot collide.
const relayPort = 8090

// Relay setup modes, recorded in Result.RelayMode.
const (
	// RelayEnrolled: `shoal-relay enroll` registered the relay with
	// central, which then made it the site's fragment location.
	RelayEnrolled = "enrolled"
	// RelayByHand: this shoal-relay has no enroll command; the lab wrote
	// its upstream and manifest key into its config and set the site's
	// fragment location itself (OCS agents only: Shoal agents learn of
	// relays from central's site info, which needs enrollment).
	RelayByHand = "configured by hand"
)

// labRelay is one shoal-relay process in its branch's relay namespace.
type labRelay struct {
	host   Host
	branch int
	bin    string
	dir    string
	nice   int // see Config.ServerNice
	cmd    *exec.Cmd
	done   chan error
	client *http.Client
	// cpu0 is the relay's CPU time when the watch started.
	cpu0 float64
}

func (r *labRelay) dataDir() string { return filepath.Join(r.dir, "data") }
func (r *labRelay) config() string  { return filepath.Join(r.dir, "relay.yaml") }
func (r *labRelay) logFile() string { return filepath.Join(r.dir, "relay.log") }
func (r *labRelay) addr() string {
	return net.JoinHostPort(r.host.Addr.String(), strconv.Itoa(relayPort))
}

// URL is the relay's base URL on the branch LAN.
func (r *labRelay) URL() string { return "http://" + r.addr() }

// Location is the relay's OCS fragment location (host:port/download).
func (r *labRelay) Location() string { return r.addr() + "/download" }

// PID is the relay's process ID (`ip netns exec` execs it in place).
func (r *labRelay) PID() int { return r.cmd.Process.Pid }

// relayCanEnroll reports whether bin has the `enroll` command: its help
// exits 0, while a binary without it refuses the extra argument.
func relayCanEnroll(ctx context.Context, bin string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, "enroll", "-h").Run() == nil
}

// agentHasP2P reports whether the shoal-agent binary at bin joins its
// site's swarm: LAN discovery links hashicorp/memberlist, which nothing
// else in the agent uses (the libp2p identity alone predates P2P).
func agentHasP2P(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/hashicorp/memberlist" {
			return true
		}
	}
	return false
}

// enroll runs `shoal-relay enroll` inside the relay's namespace: central's
// CA and URL, the token, the site, the relay's name and LAN URL.
func (r *labRelay) enroll(ctx context.Context, server, token, site, ca string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r.host.NS, r.bin, "enroll", "-server", server,
		"-token", token, "-site", site, "-name", r.host.Name, "-url", r.URL(), "-ca", ca,
		"-data-dir", r.dataDir()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("enroll relay %s: %w: %s", r.host.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// write writes the relay's config. An enrolled relay needs only its data
// directory and listen address; one configured by hand also gets central's
// plain-HTTP download tree as upstream and central's manifest key.
func (r *labRelay) write(byHand bool, upstream, ca string, manifestKey []byte) error {
	cfg := fmt.Sprintf("data_dir: %s\nhttp_addr: %s\n", r.dataDir(), r.addr())
	if byHand {
		cfg += fmt.Sprintf("upstream: %s\ncentral_ca_file: %s\nmanifest_public_key: %s\n",
			upstream, ca, base64.StdEncoding.EncodeToString(manifestKey))
	}
	if err := os.WriteFile(r.config(), []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("relay %s config: %w", r.host.Name, err)
	}
	return nil
}

// start runs the relay in the background, logging to its log file.
func (r *labRelay) start() error {
	f, err := os.OpenFile(r.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("relay %s log: %w", r.host.Name, err)
	}
	defer f.Close()
	// Debug: the relay's log then shows each fragment cached and every
	// change of its upstream stream count (issue 21), a few lines a second.
	r.cmd = serverCommand(r.host.NS, r.nice, r.bin, "-config", r.config(), "-log-level", "debug")
	r.cmd.Stdout, r.cmd.Stderr = f, f
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start relay %s: %w", r.host.Name, err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	return nil
}

// await waits until the relay answers /healthz.
func (r *labRelay) await(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := r.get(ctx, "/healthz", io.Discard)
		if err == nil {
			return nil
		}
		select {
		case werr := <-r.done:
			r.done <- werr
			return fmt.Errorf("relay %s exited during start (see %s): %w", r.host.Name, r.logFile(), errors.Join(werr, err))
		case <-ctx.Done():
			return fmt.Errorf("wait for relay %s: %w", r.host.Name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("relay %s not ready within %v (see %s): %w", r.host.Name, timeout, r.logFile(), err)
		}
	}
}

// get fetches path from the relay, from inside its own namespace so that
// nothing crosses the LAN or the WAN.
func (r *labRelay) get(ctx context.Context, path string, w io.Writer) error {
	if r.client == nil {
		ns := r.host.NS
		r.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var conn net.Conn
				err := inNetns(ns, func() error {
					var err error
					conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
					return err
				})
				return conn, err
			}, DisableKeepAlives: true}}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", r.URL()+path, nil)
	if err != nil {
		return fmt.Errorf("relay %s %s: %w", r.host.Name, path, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("relay %s %s: %w", r.host.Name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("relay %s %s: status %d", r.host.Name, path, resp.StatusCode)
	}
	if _, err := io.Copy(w, io.LimitReader(resp.Body, 4<<20)); err != nil {
		return fmt.Errorf("relay %s %s: %w", r.host.Name, path, err)
	}
	return nil
}

// metrics returns the relay's /metrics samples by name (labels stripped
// and summed).
func (r *labRelay) metrics(ctx context.Context) (map[string]float64, error) {
	var b bytes.Buffer
	if err := r.get(ctx, "/metrics", &b); err != nil {
		return nil, err
	}
	return parseMetrics(b.Bytes()), nil
}

// parseMetrics parses Prometheus text exposition: "name{labels} value".
// Samples of one name with different labels are summed.
func parseMetrics(b []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

// stop sends SIGTERM and waits up to 20 s, then kills.
func (r *labRelay) stop() error {
	if r.cmd == nil {
		return nil
	}
	select {
	case err := <-r.done:
		r.done <- err
		return nil
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			return fmt.Errorf("relay %s exit: %w", r.host.Name, err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		return fmt.Errorf("relay %s did not stop within 20s", r.host.Name)
	}
}

// branchSetup is what a scenario sets up on the branches before its
// agents start: sites and, optionally, a fresh relay per branch.
type branchSetup struct {
	sites  []labSite
	relays []*labRelay
	mode   string // RelayEnrolled or RelayByHand; empty without relays
}

// setupBranches creates the scenario's sites and, when relay is set,
// starts one relay per branch with a fresh data directory: enrolled with
// central when the binary can, else configured by hand (then shoalAgents
// must be false: Shoal agents would not learn of it). Call teardown
// whatever the error.
func (e *env) setupBranches(ctx context.Context, scenario string, relay, shoalAgents bool) (*branchSetup, error) {
	bs := &branchSetup{}
	if !relay {
		var err error
		bs.sites, err = e.createSites(ctx, scenario, nil)
		return bs, err
	}
	bin, err := filepath.Abs(filepath.Join(e.cfg.BinDir, "shoal-relay"))
	if err != nil {
		return bs, fmt.Errorf("relay binary: %w", err)
	}
	for _, br := range e.topo.Branches {
		if br.Relay == nil {
			return bs, fmt.Errorf("branch %d has no relay namespace", br.Index)
		}
		r := &labRelay{host: *br.Relay, branch: br.Index, bin: bin, dir: filepath.Join(e.work, scenario, br.Relay.Name), nice: e.cfg.serverNice()}
		if err := os.RemoveAll(r.dir); err != nil {
			return bs, fmt.Errorf("relay dir: %w", err)
		}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return bs, fmt.Errorf("relay dir: %w", err)
		}
		bs.relays = append(bs.relays, r)
	}
	byHand := !relayCanEnroll(ctx, bin)
	var location func(br *Branch) string
	if byHand {
		if shoalAgents {
			return bs, errors.New("shoal-relay has no enroll command: central cannot tell Shoal agents about the relay")
		}
		bs.mode = RelayByHand
		location = func(br *Branch) string { return bs.relays[br.Index-1].Location() }
	} else {
		bs.mode = RelayEnrolled
	}
	if bs.sites, err = e.createSites(ctx, scenario, location); err != nil {
		return bs, err
	}
	var info api.ServerInfo
	if byHand {
		if err := e.central.call(ctx, "GET", "/server", nil, nil, &info); err != nil {
			return bs, fmt.Errorf("server info: %w", err)
		}
	} else {
		for i, r := range bs.relays {
			// Each relay gets its own relay token, bound to its site and
			// name (an agent token cannot enroll a relay).
			var tok struct {
				Token string `json:"token"`
			}
			if err := e.central.call(ctx, "POST", "/agents/enrollment-tokens", nil, map[string]any{"name": "lab-" + scenario + "-" + r.host.Name,
				"kind": "relay", "site": bs.sites[i].Name, "relay_name": r.host.Name}, &tok); err != nil {
				return bs, fmt.Errorf("relay enrollment token: %w", err)
			}
			if err := r.enroll(ctx, e.central.HTTPSURL, tok.Token, bs.sites[i].Name, e.central.CAFile); err != nil {
				return bs, err
			}
		}
	}
	for _, r := range bs.relays {
		if err := r.write(byHand, e.central.HTTPURL, e.central.CAFile, info.ManifestPublicKey); err != nil {
			return bs, err
		}
		if err := r.start(); err != nil {
			return bs, err
		}
	}
	for _, r := range bs.relays {
		if err := r.await(ctx, time.Minute); err != nil {
			return bs, err
		}
	}
	fmt.Fprintf(e.out, "  %d relay(s) running (%s)\n", len(bs.relays), bs.mode)
	return bs, nil
}

// teardown stops the relays, sweeps their namespaces and deletes the
// sites; problems are logged, not returned, so that the scenario's own
// error stays the one reported.
func (e *env) teardown(ctx context.Context, bs *branchSetup) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, r := range bs.relays {
		if err := r.stop(); err != nil {
			e.log.Warn("stop relay", "err", err)
		}
		if err := killNS(ctx, r.host.NS); err != nil {
			e.log.Warn("sweep relay namespace", "netns", r.host.NS, "err", err)
		}
	}
	if err := e.deleteSites(ctx, bs.sites); err != nil {
		e.log.Warn("delete sites", "err", err)
	}
}

// relayTotals are the relays' counters summed over the branches.
type relayTotals struct {
	upstream, served int64
	cuts             int64 // upstream responses cut by endgame splits
}

// relayCounters sums the relays' upstream and served bytes and their cut
// responses.
func (e *env) relayCounters(ctx context.Context, relays []*labRelay) (relayTotals, error) {
	var (
		t    relayTotals
		errs []error
	)
	for _, r := range relays {
		m, err := r.metrics(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.upstream += int64(m["shoal_relay_upstream_bytes_total"])
		t.served += int64(m["shoal_relay_served_bytes_total"])
		t.cuts += int64(m["shoal_relay_upstream_cuts_total"])
	}
	return t, errors.Join(errs...)
}

// setRelayCounters fills r's relay counters from t and the bytes central
// sent that no receiver counted: central's served bytes minus the relays'
// upstream bytes and the agents' own bytes from central (agentsCentral;
// OCS agents behind a relay fetch nothing from central). That rest is what
// central wrote into connections whose reader stopped before it: responses
// cut at an endgame split, fetches that failed.
func setRelayCounters(r *Result, t relayTotals, agentsCentral int64) {
	r.RelayUpstreamBytes, r.RelayServedBytes, r.RelayCutResponses = t.upstream, t.served, t.cuts
	r.CentralUnreadBytes = max(0, r.CentralServedBytes-t.upstream-agentsCentral)
}
