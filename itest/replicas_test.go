//go:build integration

package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/proto"
)

// Several centrals on one PostgreSQL database behind Debian's HAProxy
// (docs/ARCHITECTURE.md, "Running several centrals"). The tests need
// PostgreSQL (run them under scripts/with-postgres.sh) and haproxy
// (scripts/test-deps.sh); without them they skip.

// freshDatabase creates an empty database on the server of
// SHOAL_TEST_POSTGRES_DSN and returns a DSN naming it.
func freshDatabase(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SHOAL_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SHOAL_TEST_POSTGRES_DSN not set: run under scripts/with-postgres.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("shoal_replicas_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return dsn + " dbname=" + name
}

func postgresYAML(dsn string) string {
	return fmt.Sprintf("database:\n  driver: postgres\n  dsn: %q\n", dsn)
}

// startReplica starts another central on first's database. It shares
// first's keys (pki/, admin.json: copied, as an operator deploys them) and
// its package storage (packages/: a symbolic link, as NFS would).
func startReplica(t testing.TB, first *Central, extraYAML string) *Central {
	t.Helper()
	return startReplicaStorage(t, first, extraYAML, true)
}

// startReplicaStorage is startReplica; without shared, the replica has
// package storage of its own (it pulls packages from the others).
func startReplicaStorage(t testing.TB, first *Central, extraYAML string, shared bool) *Central {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(first.Dir, "pki"), filepath.Join(first.Dir, "admin.json"), data).CombinedOutput(); err != nil {
		t.Fatalf("copy keys: %v: %s", err, out)
	}
	if shared {
		if err := os.Symlink(filepath.Join(first.Dir, "packages"), filepath.Join(data, "packages")); err != nil {
			t.Fatal(err)
		}
	}
	return startCentralIn(t, dir, "data", extraYAML)
}

// HAProxy is a running haproxy in front of centrals: round-robin over
// both listeners, TCP passthrough (central terminates TLS), health checks
// on /readyz. A server marked down keeps its open sessions (no
// on-marked-down shutdown-sessions): a draining replica finishes the
// requests it has (a dead one's connections break by themselves).
type HAProxy struct {
	HTTPURL, HTTPSURL string
	cmd               *exec.Cmd
	done              chan error
	log               *strings.Builder
}

func hostPort(t testing.TB, u string) string {
	t.Helper()
	_, hp, ok := strings.Cut(u, "://")
	if !ok {
		t.Fatalf("bad URL %q", u)
	}
	return hp
}

func startHAProxy(t testing.TB, backends ...*Central) *HAProxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			t.Skip("haproxy not installed: run scripts/test-deps.sh")
		}
		bin = "/usr/sbin/haproxy"
	}
	httpPort, httpsPort := freePort(t), freePort(t)
	var sb strings.Builder
	fmt.Fprintf(&sb, `global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 150s
  timeout server 150s
  timeout check 2s
  retries 3
  option redispatch
frontend https
  bind 127.0.0.1:%d
  default_backend https
frontend http
  bind 127.0.0.1:%d
  default_backend http
`, httpsPort, httpPort)
	for _, l := range []struct {
		name, tls string
		url       func(*Central) string
	}{
		{"https", " check-ssl verify none", func(c *Central) string { return c.HTTPSURL }},
		{"http", "", func(c *Central) string { return c.HTTPURL }},
	} {
		fmt.Fprintf(&sb, "backend %s\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n", l.name)
		for i, c := range backends {
			fmt.Fprintf(&sb, "  server c%d %s check%s inter 300ms fall 2 rise 2\n", i, hostPort(t, l.url(c)), l.tls)
		}
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, sb.String())
	}
	h := &HAProxy{HTTPURL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), HTTPSURL: fmt.Sprintf("https://127.0.0.1:%d", httpsPort),
		done: make(chan error, 1), log: &strings.Builder{}}
	h.cmd = exec.Command(bin, "-db", "-f", cfg)
	h.cmd.Stdout, h.cmd.Stderr = io.Discard, io.Discard
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
	})
	return h
}

// through returns a client of the API through the balancer: c's token and
// CA, a new connection per request (so each request is balanced).
func (c *Central) through(h *HAProxy) *Central {
	lb := *c
	lb.HTTPSURL, lb.HTTPURL = h.HTTPSURL, h.HTTPURL
	tr := c.client.Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	lb.client = &http.Client{Timeout: 60 * time.Second, Transport: retryGets{tr}}
	lb.cmd, lb.done = nil, nil
	return &lb
}

// retryGets retries a GET whose connection broke, as agents and browsers
// do: a request the balancer had just sent to a replica that died.
type retryGets struct{ next http.RoundTripper }

func (r retryGets) RoundTrip(req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := r.next.RoundTrip(req)
		if err == nil || req.Method != http.MethodGet || i == 9 || req.Context().Err() != nil {
			return resp, err
		}
	}
}

// longPolls reads shoal_central_long_polls from c's /metrics.
func (c *Central) longPolls() (float64, error) {
	req, _ := http.NewRequest("GET", c.HTTPSURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "shoal_central_long_polls "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("no shoal_central_long_polls in /metrics")
}

// logLines returns every line of the agent's log that contains all parts.
func (ag *Agent) logLines(parts ...string) []string {
	b, err := os.ReadFile(ag.LogFile)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// agentSecret reads an enrolled agent's secret.
func agentSecret(t testing.TB, ag *Agent) string {
	t.Helper()
	var enr struct {
		Secret string `json:"secret"`
	}
	b, err := os.ReadFile(filepath.Join(ag.Dir, "state", "enrollment.json"))
	if err == nil {
		err = json.Unmarshal(b, &enr)
	}
	if err != nil || enr.Secret == "" {
		t.Fatalf("enrollment.json: %v", err)
	}
	return enr.Secret
}

// TestReplicasHAProxy runs three centrals on one PostgreSQL database behind
// HAProxy: an affectation through replica A wakes a long-poll held on
// replica B within 2 s; the real OCS agent and shoal-agents inventory and
// deploy through HAProxy; the replica whose tracker serves the agents'
// site is killed with SIGKILL in the middle of a deployment, the site
// moves to another replica's tracker and every agent still finishes.
func TestReplicasHAProxy(t *testing.T) {
	dsn := freshDatabase(t)
	pg := postgresYAML(dsn)
	a := startCentral(t, pg)
	b := startReplica(t, a, pg)
	c := startReplica(t, a, pg)
	hap := startHAProxy(t, a, b, c)
	lb := a.through(hap)
	waitFor(t, 30*time.Second, "haproxy to see the replicas ready", func() error {
		_, err := lb.client.Get(hap.HTTPSURL + "/readyz")
		return err
	})
	hapHTTPS, hapHTTP := hostPort(t, hap.HTTPSURL), hostPort(t, hap.HTTPURL)
	loopbackSite(t, lb)
	api := &AgentAPI{t: t, c: lb, URL: hap.HTTPSURL, admin: hap.HTTPSURL + "/api/v1"}
	locs := map[string]any{"info_loc": hapHTTPS + "/download", "pack_loc": hapHTTP + "/download"}

	// 1. A long-poll held on B answers within 2 s of an affectation made
	// through A (LISTEN/NOTIFY; B's own poll is 5 s).
	probe := newAgent(t, api, "probe", hap.HTTPSURL, "")
	probeID := api.computerOf("probe")
	pool := a.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	cl, err := client.New(b.HTTPSURL, pool, agentSecret(t, probe))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdle()
	first, err := cl.Jobs(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	small := lb.createPackage(PackageSpec{"name": "woken", "action": "STORE", "priority": "5", "path": t.TempDir()},
		targz(t, map[string]string{"a.txt": "replicas\n"}))
	lb.activate(small, locs, http.StatusOK)
	type answer struct {
		jobs int
		err  error
		at   time.Time
	}
	got := make(chan answer, 1)
	go func() {
		r, err := cl.Jobs(context.Background(), first.Tag, 50*time.Second)
		n := 0
		if r != nil {
			n = len(r.Jobs)
		}
		got <- answer{n, err, time.Now()}
	}()
	waitFor(t, 10*time.Second, "the probe's long-poll held on B", func() error {
		if n, err := b.longPolls(); err != nil || n < 1 {
			return fmt.Errorf("%v long-polls (%v)", n, err)
		}
		return nil
	})
	affected := time.Now()
	a.affectTo(small, probeID)
	select {
	case r := <-got:
		if r.err != nil || r.jobs != 1 {
			t.Fatalf("long-poll on B answered %d jobs, %v; want the affected package", r.jobs, r.err)
		}
		took := r.at.Sub(affected)
		t.Logf("affectation on A woke the long-poll on B in %s", took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("the long-poll on B answered %s after the affectation on A, want within 2s", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll on B did not answer within 20s of the affectation on A")
	}

	// 2. The real OCS agent inventories and deploys through HAProxy.
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	ocs := newOCSAgent(t, hap.HTTPSURL+"/ocsinventory", a.CAFile)
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("OCS agent exit %d:\n%s", code, log)
	}
	marker := filepath.Join(t.TempDir(), "ocs-marker")
	ocsPkg := lb.createPackage(PackageSpec{"name": "ocs-replicas", "action": "EXECUTE", "priority": "1", "fragments": "3",
		"command": "sh run.sh " + marker}, targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ok > \"$1\"\n", "pad.txt": padding(3000)}))
	lb.activate(ocsPkg, locs, http.StatusOK)
	lb.affect(ocsPkg, map[string]any{"filter": map[string]any{"name": host}})
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("OCS agent exit %d:\n%s", code, log)
	}
	waitFor(t, 3*time.Minute, "the OCS agent's deployment", func() error {
		if d := lb.deployment(ocsPkg); d.State != "success" {
			return fmt.Errorf("state %s (%s)", d.State, d.ResultCode)
		}
		return nil
	})
	if out, err := os.ReadFile(marker); err != nil || string(out) != "ok\n" {
		t.Errorf("the OCS agent's EXECUTE marker: %q, %v", out, err)
	}

	// 3. Shoal agents deploy through HAProxy; the replica whose embedded
	// tracker serves their site dies with SIGKILL in the middle, the site
	// moves to another replica's tracker, and every agent still finishes.
	agents, ids := swarmAgents(t, lb, api, "rep-", 3, "", nil)
	replicas := map[string]*Central{}
	for _, r := range []*Central{a, b, c} {
		replicas[r.HTTPSURL+proto.TrackerPathPrefix] = r
	}
	siteTracker := func(ag *Agent) string {
		_, u, _ := strings.Cut(ag.logLine("site tracker", "site=loopback"), "tracker=")
		return strings.TrimSpace(u)
	}
	owner := siteTracker(agents[0])
	victim := replicas[owner]
	if victim == nil {
		t.Fatalf("agents were told tracker %q, not a replica's", owner)
	}
	for _, ag := range agents[1:] {
		if got := siteTracker(ag); got != owner {
			t.Fatalf("agents of one site were told different trackers: %s and %s", owner, got)
		}
	}
	pkg := lb.publishFile(PackageSpec{"name": "replicas24", "action": "EXECUTE", "priority": "5", "command": "true"},
		writeRandomTarGz(t, 24<<20))
	// Published through the balancer, not at the replica that took the upload.
	lb.activate(pkg, map[string]any{"info_loc": locs["info_loc"], "pack_loc": locs["pack_loc"], "skip_check": true}, http.StatusOK)
	lb.affectAll(pkg, ids)
	waitFor(t, 2*time.Minute, "a deployment to be under way", func() error {
		for _, d := range lb.deployments(pkg) {
			if d.State == "downloading" || d.State == "downloaded" || d.State == "running" || d.State == "success" {
				return nil
			}
		}
		return fmt.Errorf("no deployment started")
	})
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("replica %s (the site's tracker) killed with SIGKILL", victim.HTTPSURL)
	for _, ag := range agents {
		waitFor(t, 60*time.Second, ag.Name+" to be handed another tracker", func() error {
			for _, line := range ag.logLines("site tracker", "site=loopback") {
				if !strings.Contains(line, "tracker="+owner) {
					return nil
				}
			}
			return fmt.Errorf("still on %s", owner)
		})
	}
	t.Logf("every agent moved to another replica's tracker within %s", time.Since(killed).Round(time.Millisecond))
	deps := lb.waitAllSuccess(pkg, ids, 4*time.Minute)
	var peer, central int64
	for _, d := range deps {
		peer, central = peer+d.BytesPeer, central+d.BytesCentral
	}
	t.Logf("%d agents finished after the replica died; bytes from peers %d, from central %d", len(agents), peer, central)
}

// TestReplicasPullPackages runs two centrals on one PostgreSQL database,
// each with package storage of its own (no shared packages/). Packages are
// uploaded to replica A; the real OCS agent and a shoal-agent deploy them
// through replica B, which pulls each package from A on the first request
// for it and serves it only once it verified (packages.Builder.Ensure).
// The OCS package's activation, made on A with B's locations, checks both
// replicas, so B pulls it through its download tree (info file) before
// any agent asks; the shoal-agent's package is activated without a check,
// so B pulls it when the agent asks for its manifest and fragments. A
// package deleted through A then leaves B's disk as well.
func TestReplicasPullPackages(t *testing.T) {
	t.Parallel()
	pg := postgresYAML(freshDatabase(t))
	a := startCentral(t, pg)
	b := startReplicaStorage(t, a, pg, false)
	for _, c := range []*Central{a, b} {
		waitFor(t, 20*time.Second, "the replicas to hear each other", func() error {
			if !strings.Contains(c.log.String(), "replicas changed") {
				return fmt.Errorf("no heartbeat of the other replica yet")
			}
			return nil
		})
	}
	onB := func(pkg string) bool {
		_, err := os.Stat(filepath.Join(b.Dir, "packages", "download", pkg, "manifest.json"))
		return err == nil
	}

	// 1. The real OCS agent, talking to B only.
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	ocs := newOCSAgent(t, b.HTTPSURL+"/ocsinventory", b.CAFile)
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("OCS agent exit %d:\n%s", code, log)
	}
	marker := filepath.Join(t.TempDir(), "ocs-marker")
	ocsPkg := a.createPackage(PackageSpec{"name": "pulled-ocs", "action": "EXECUTE", "priority": "1", "fragments": "3",
		"command": "sh run.sh " + marker}, targz(t, map[string]string{"run.sh": "#!/bin/sh\necho pulled > \"$1\"\n", "pad.txt": padding(300000)}))
	if onB(ocsPkg) {
		t.Fatal("replica B has the package uploaded to A before anyone asked: storage is shared")
	}
	rep := a.activate(ocsPkg, map[string]any{"info_loc": b.InfoLoc, "pack_loc": b.PackLoc}, http.StatusOK)
	t.Logf("activation on A with B's locations: %v", rep)
	if !onB(ocsPkg) {
		t.Fatal("replica B does not have the package after its availability check")
	}
	a.affect(ocsPkg, map[string]any{"filter": map[string]any{"name": host}})
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("OCS agent exit %d:\n%s", code, log)
	}
	waitFor(t, 3*time.Minute, "the OCS agent's deployment through B", func() error {
		if d := b.deployment(ocsPkg); d.State != "success" {
			return fmt.Errorf("state %s (%s)", d.State, d.ResultCode)
		}
		return nil
	})
	if out, err := os.ReadFile(marker); err != nil || string(out) != "pulled\n" {
		t.Errorf("the OCS agent's EXECUTE marker: %q, %v", out, err)
	}

	// 2. A shoal-agent enrolled with B; its package is pulled when the
	// agent first asks B for it.
	apiB := startAgentAPI(t, b)
	ag := newAgent(t, apiB, "pulled", b.HTTPSURL, "")
	cid := apiB.computerOf("pulled")
	out := t.TempDir()
	blob := randomBytes(3<<20, 19)
	pkg := a.createPackage(PackageSpec{"name": "pulled-shoal", "action": "STORE", "priority": "5", "fragments": "2",
		"path": filepath.Join(out, "stored")}, targz(t, map[string]string{"blob.bin": string(blob)}))
	a.activate(pkg, map[string]any{"skip_check": true}, http.StatusOK)
	if onB(pkg) {
		t.Fatal("replica B has the package before the agent asked for it")
	}
	ag.Start()
	a.affectTo(pkg, cid)
	b.waitState(pkg, "success", 2*time.Minute)
	got, err := os.ReadFile(filepath.Join(out, "stored", "blob.bin"))
	if err != nil || !bytes.Equal(got, blob) {
		t.Errorf("the stored file differs from the uploaded one (%v)", err)
	}
	if !onB(pkg) || !strings.Contains(b.log.String(), "package pulled from another replica") {
		t.Errorf("replica B did not pull the package from A:\n%s", b.tail())
	}

	// 3. A package deleted through A leaves B's disk too.
	a.do("DELETE", "/api/v1/packages/"+pkg, nil, nil, http.StatusNoContent)
	waitFor(t, 10*time.Second, "replica B to remove its copy of the deleted package", func() error {
		if onB(pkg) {
			return fmt.Errorf("still on B")
		}
		return nil
	})
}

// postOCS posts bodies[i] to url/ocsinventory with conc concurrent clients
// and returns the requests answered 200 per second, the ones refused busy
// (503 after busy_wait: the replicas were saturated) and the failures.
func postOCS(url string, conc int, bodies [][]byte) (perSec float64, busy, failures int) {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	var next, fails, busies atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", url+"/ocsinventory", bytes.NewReader(bodies[i]))
				req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
				req.Header.Set("Content-Type", "application/x-compress")
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
					case http.StatusServiceUnavailable:
						busies.Add(1)
						continue
					default:
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					fails.Add(1)
				}
			}
		})
	}
	wg.Wait()
	n := len(bodies) - int(fails.Load()) - int(busies.Load())
	return float64(n) / time.Since(start).Seconds(), int(busies.Load()), int(fails.Load())
}

// BenchmarkReplicas prints OCS inventories/s and PROLOG/s through HAProxy
// for 1, 2 and 3 centrals on one PostgreSQL database. On a machine with
// few cores the replicas share them, so the ratio, not the absolute, is
// what it shows; run it under scripts/with-postgres.sh.
func BenchmarkReplicas(b *testing.B) {
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	prolog, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/prolog-request.xml")
	if err != nil {
		b.Fatal(err)
	}
	const devices, conc = 120, 8
	for range b.N {
		type row struct {
			replicas           int
			invPerSec, pPerSec float64
			busy               int
		}
		var rows []row
		for n := 1; n <= 3; n++ {
			pg := postgresYAML(freshDatabase(b))
			first := startCentral(b, pg)
			cs := []*Central{first}
			for len(cs) < n {
				cs = append(cs, startReplica(b, first, pg))
			}
			hap := startHAProxy(b, cs...)
			waitFor(b, 30*time.Second, "haproxy", func() error {
				resp, err := http.Get(hap.HTTPURL + "/readyz")
				if err == nil {
					resp.Body.Close()
				}
				return err
			})
			invs := make([][]byte, devices)
			prologs := make([][]byte, 20*devices)
			for i := range devices {
				id := fmt.Sprintf("rep%d-%d-2026-12-05-04-00-%02d", n, i, i%60)
				doc := strings.ReplaceAll(string(inv), captureDeviceID, id)
				doc = strings.Replace(doc, "<NAME>vm</NAME>", fmt.Sprintf("<NAME>rep%d-%d</NAME>", n, i), 1)
				invs[i] = zlibBytes([]byte(doc))
				for j := 0; j < 20; j++ {
					prologs[j*devices+i] = zlibBytes([]byte(strings.ReplaceAll(string(prolog), captureDeviceID, id)))
				}
			}
			ir, ibusy, ifail := postOCS(hap.HTTPURL, conc, invs)
			pr, pbusy, pfail := postOCS(hap.HTTPURL, 2*conc, prologs)
			if ifail+pfail > 0 {
				b.Errorf("%d replicas: %d inventories and %d PROLOGs failed", n, ifail, pfail)
			}
			rows = append(rows, row{n, ir, pr, ibusy + pbusy})
			for _, c := range cs {
				c.stop()
			}
		}
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\nCentral replicas behind HAProxy on PostgreSQL (%d inventories at %d agents, %d PROLOGs at %d agents; load %s)\n",
			devices, conc, 20*devices, 2*conc, strings.TrimSpace(string(load)))
		fmt.Println("| replicas | inventories/s | × 1 replica | PROLOG/s | × 1 replica | busy (503) |")
		fmt.Println("|---|---|---|---|---|---|")
		for _, r := range rows {
			fmt.Printf("| %d | %.1f | %.2f | %.0f | %.2f | %d |\n", r.replicas, r.invPerSec, r.invPerSec/rows[0].invPerSec, r.pPerSec, r.pPerSec/rows[0].pPerSec, r.busy)
		}
	}
}
