//go:build integration

package itest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// noPeersYAML turns peer sharing off, so that a test sees the relay alone.
const noPeersYAML = "swarm:\n  disabled: true\n"

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomTarGz writes a tar.gz holding n random bytes drawn from seed and
// returns its path. Packages of a test need distinct seeds: equal content
// means equal fragments, which relays and agents rightly fetch only once.
func randomTarGz(t testing.TB, n int, seed uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payload.tar.gz")
	if err := os.WriteFile(path, targz(t, map[string]string{"random.bin": string(randomBytes(n, seed))}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// countingProxy is a reverse proxy to target that counts requests by path.
type countingProxy struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.n[r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *countingProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[path]
}

// verifiedFragments lists the CIDs of the fragment files in a relay's data
// directory (temporary files of fetches under way have a dot in the name).
func verifiedFragments(t *testing.T, dataDir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	files, err := filepath.Glob(filepath.Join(dataDir, "fragments", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !strings.Contains(name, ".") {
			out[name] = true
		}
	}
	return out
}

// relayToken mints a relay token (single use) for relay name of site.
func (a *AgentAPI) relayToken(site, name string) string {
	a.t.Helper()
	var tok agentapi.TokenInfo
	a.adminDo("POST", "/agents/enrollment-tokens", map[string]any{"name": "itest relay " + name, "kind": "relay", "site": site, "relay_name": name},
		&tok, http.StatusCreated)
	return tok.Token
}

// enrolledRelay is a relay enrolled with `shoal-relay enroll` into a site.
type enrolledRelay struct {
	*Relay
	dir, yaml string
}

// enrollRelay enrolls a relay named name into site and starts it; extra is
// appended to its YAML.
func enrollRelay(t *testing.T, c *Central, a *AgentAPI, site, name, extra string) *enrolledRelay {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	out, err := exec.Command(filepath.Join(binDir, "shoal-relay"), "enroll", "-server", a.URL, "-token", a.relayToken(site, name), "-ca", c.CAFile,
		"-site", site, "-name", name, "-url", fmt.Sprintf("http://127.0.0.1:%d", port), "-data-dir", filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal-relay enroll: %v\n%s", err, out)
	}
	cfg := fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:%d\nreport_interval: 1s\npoll_wait: 5s\nfetch_timeout: 1m\np2p:\n  listen: [/ip4/127.0.0.1/tcp/0]\n%s",
		filepath.Join(dir, "data"), port, extra)
	return &enrolledRelay{Relay: startRelayYAML(t, cfg, dir), dir: dir, yaml: cfg}
}

// restart starts the relay again on the same data directory.
func (r *enrolledRelay) restart(t *testing.T) {
	t.Helper()
	r.Relay = startRelayYAML(t, r.yaml, r.dir)
}

// kill stops the relay with SIGKILL.
func (r *Relay) kill() {
	_ = r.cmd.Process.Kill()
	err := <-r.done
	r.done <- err
}

// pkgMetric reads a per-package relay metric.
func (r *Relay) pkgMetric(name, pkg string) int64 {
	return r.metrics()[fmt.Sprintf("%s{package=%q}", name, pkg)]
}

// relayAgents enrolls n agents without peer sharing; start says whether
// they run.
func relayAgents(t *testing.T, a *AgentAPI, prefix string, n int, start bool) ([]*Agent, []uint) {
	t.Helper()
	var agents []*Agent
	var ids []uint
	for i := range n {
		name := fmt.Sprintf("%s%02d", prefix, i)
		ag := newAgent(t, a, name, a.URL, noPeersYAML)
		agents, ids = append(agents, ag), append(ids, a.computerOf(name))
		if start {
			ag.Start()
		}
	}
	return agents, ids
}

// TestRelayShoalAgents: an enrolled relay serves three Shoal agents of its
// site, each fragment leaves central once; with the relay down, agents
// fall back to central and say so in their report.
func TestRelayShoalAgents(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	relay := enrollRelay(t, c, a, "loopback", "relay-1", "")
	agents, ids := relayAgents(t, a, "viarelay-", 3, true)
	for _, ag := range agents {
		waitFor(t, 30*time.Second, ag.Name+" to learn its relay", func() error {
			if ag.logLine("site relays", relay.HTTPURL) == "" {
				return fmt.Errorf("no relay in the log yet")
			}
			return nil
		})
	}
	var relays api.List[api.Relay]
	c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
	if len(relays.Items) != 1 || !relays.Items[0].Online {
		t.Fatalf("central lists relays %+v, want relay-1 online", relays.Items)
	}

	pkg := c.publishFile(PackageSpec{"name": "viarelay", "action": "EXECUTE", "priority": "5", "command": "true"},
		randomTarGz(t, 8<<20, 61))
	size := c.packageSize(pkg)
	c.affectAll(pkg, ids)
	for _, d := range c.waitAllSuccess(pkg, ids, 2*time.Minute) {
		if d.BytesRelay != size || d.BytesCentral != 0 {
			t.Errorf("computer %d: %d bytes from the relay, %d from central; want %d and 0", d.ComputerID, d.BytesRelay, d.BytesCentral, size)
		}
	}
	if got := a.fragmentStats(pkg).Bytes; got != size {
		t.Errorf("central served %d bytes of the package, want exactly one copy (%d)", got, size)
	}
	waitFor(t, 20*time.Second, "the relay's report", func() error {
		c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
		for _, p := range relays.Items[0].Packages {
			if p.PackageID == pkg && p.BytesServed >= 3*size {
				return nil
			}
		}
		return fmt.Errorf("report %+v", relays.Items[0].Packages)
	})

	// Relay down: the next package comes from central, and the report says why.
	relay.stop()
	next := c.publish(PackageSpec{"name": "relaydown", "action": "EXECUTE", "priority": "5", "command": "true"},
		targz(t, map[string]string{"other.bin": string(randomBytes(2<<20, 77))}))
	c.affectAll(next, ids[:1])
	d := c.waitAllSuccess(next, ids[:1], 2*time.Minute)[0]
	if d.BytesCentral != c.packageSize(next) || d.BytesRelay != 0 {
		t.Errorf("with the relay down: %d bytes from central, %d from the relay", d.BytesCentral, d.BytesRelay)
	}
	detail := c.deploymentOf(next)
	last := detail.Events[len(detail.Events)-1].Detail
	if !strings.Contains(last, "relay "+relay.HTTPURL) || !strings.Contains(last, "from central") {
		t.Errorf("result detail %q does not report the relay fallback", last)
	}
}

// TestRelayShoalAgentsLibp2p: Shoal agents with peer sharing on fetch
// from their site's enrolled relay over libp2p (central passes the relay's
// libp2p addresses; the tracker names the relay the WAN owner): no byte
// from central, one copy left central, and the relay served nothing of the
// package over HTTP.
func TestRelayShoalAgentsLibp2p(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	relay := enrollRelay(t, c, a, "loopback", "relay-1", "")
	var agents []*Agent
	var ids []uint
	for i := range 3 {
		name := fmt.Sprintf("p2prelay-%02d", i)
		ag := newAgent(t, a, name, a.URL, p2pYAML)
		ag.Start()
		agents, ids = append(agents, ag), append(ids, a.computerOf(name))
	}
	for _, ag := range agents {
		waitFor(t, 30*time.Second, ag.Name+" to learn its relay's libp2p address", func() error {
			if ag.logLine("site relays", "relay-1 (libp2p)") == "" {
				return fmt.Errorf("no libp2p relay source in the log yet")
			}
			return nil
		})
	}
	pkg := c.publishFile(PackageSpec{"name": "viarelay-p2p", "action": "EXECUTE", "priority": "5", "command": "true"},
		randomTarGz(t, 8<<20, 62))
	size := c.packageSize(pkg)
	c.affectAll(pkg, ids)
	var fromRelay int64
	for _, d := range c.waitAllSuccess(pkg, ids, 2*time.Minute) {
		// Endgame duplicates count too: relay+peers may exceed the size.
		if d.BytesCentral != 0 || d.BytesRelay+d.BytesPeer < size {
			t.Errorf("computer %d: %d bytes from the relay, %d from peers, %d from central; want relay+peers >= %d, central 0",
				d.ComputerID, d.BytesRelay, d.BytesPeer, d.BytesCentral, size)
		}
		fromRelay += d.BytesRelay
	}
	if got := a.fragmentStats(pkg).Bytes; got != size {
		t.Errorf("central served %d bytes of the package, want exactly one copy (%d)", got, size)
	}
	p2pServed := relay.metrics()["shoal_relay_p2p_served_bytes_total"]
	served := relay.pkgMetric("shoal_relay_package_served_bytes_total", pkg)
	if fromRelay == 0 || p2pServed == 0 || served != p2pServed {
		t.Errorf("agents got %d bytes from the relay; it served %d bytes of the package, %d over libp2p: want all over libp2p",
			fromRelay, served, p2pServed)
	}
	t.Logf("8 MiB to 3 agents: %d bytes from the relay over libp2p, the rest from peers", p2pServed)

	// The relay dies while the tracker still names it the WAN owner: the
	// agents exclude it once it fails and share one copy from central
	// through leases; results name the fallback.
	relay.kill()
	next := c.publishFile(PackageSpec{"name": "relay-dead", "action": "EXECUTE", "priority": "5", "command": "true"},
		randomTarGz(t, 8<<20, 63))
	nsize := c.packageSize(next)
	c.affectAll(next, ids)
	named := 0
	for _, d := range c.waitAllSuccess(next, ids, 3*time.Minute) {
		var detail api.DeploymentDetail
		c.do("GET", fmt.Sprintf("/api/v1/deployments/%d", d.ID), nil, &detail, http.StatusOK)
		if last := detail.Events[len(detail.Events)-1].Detail; strings.Contains(last, "relay relay-1") {
			named++
		}
	}
	if named == 0 {
		t.Error("no result names the dead relay")
	}
	copies := float64(a.fragmentStats(next).Bytes) / float64(nsize)
	if copies > 1.5 {
		t.Errorf("with the relay dead central served %.2f copies, want about one", copies)
	}
	t.Logf("relay dead: central served %.3f copies of 8 MiB to 3 agents", copies)
}

// TestRelayPrefetchKillResume: a relay killed with SIGKILL in the middle of
// a prefetch finishes it after a restart without fetching again any
// fragment it had verified (counted per CID by a proxy in front of
// central), and the whole package left central about once.
func TestRelayPrefetchKillResume(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	proxy := newCountingProxy(t, c.HTTPURL)
	// 24 Mbit/s: the 16 MiB prefetch takes about 6 s.
	relay := enrollRelay(t, c, a, "loopback", "relay-k", "upstream: "+proxy.URL+"\nwan:\n  rate_mbit: 24\n")
	_, ids := relayAgents(t, a, "idle-", 1, false)
	pkg := c.publishFile(PackageSpec{"name": "prefetch", "action": "EXECUTE", "priority": "5", "command": "true"},
		randomTarGz(t, 16<<20, 71))
	size := c.packageSize(pkg)
	frags := manifestFragments(t, c, pkg)
	c.affectAll(pkg, ids) // The agent does not run: the relay alone fetches.
	waitFor(t, time.Minute, "the prefetch to be under way", func() error {
		if n := len(verifiedFragments(t, relay.Dir)); n < 4 {
			return fmt.Errorf("%d fragments verified", n)
		}
		return nil
	})
	relay.kill()
	onDisk := verifiedFragments(t, relay.Dir)
	if len(onDisk) >= len(frags) {
		t.Fatalf("the prefetch finished before kill -9 (%d fragments); slow it down", len(onDisk))
	}
	before := 0 // Upstream requests of the killed process.
	for _, f := range frags {
		before += proxy.count(proto.FragmentPath(pkg, f.CID))
	}
	relay.restart(t)
	waitFor(t, 2*time.Minute, "the prefetch to complete", func() error {
		if relay.pkgMetric("shoal_relay_package_complete", pkg) != 1 {
			return fmt.Errorf("cached %d of %d bytes", relay.pkgMetric("shoal_relay_package_cached_bytes", pkg), size)
		}
		return nil
	})
	fetched := 0
	for _, f := range frags {
		n := proxy.count(proto.FragmentPath(pkg, f.CID))
		fetched += n
		switch {
		case onDisk[f.CID] && n != 1:
			t.Errorf("fragment %d was verified before kill -9 but fetched %d times", f.Index, n)
		case n < 1 || n > 2:
			t.Errorf("fragment %d fetched %d times, want 1 (2 if in flight at kill -9)", f.Index, n)
		}
	}
	if m := relay.metrics()["shoal_relay_misses_total"]; m != int64(fetched-before) {
		t.Errorf("restarted relay fetched %d fragments, the proxy saw %d", m, fetched-before)
	}
	st := a.fragmentStats(pkg)
	t.Logf("kill -9 with %d of %d fragments verified (%d requested); after the restart %d more; central served %.2f MiB for %.2f MiB",
		len(onDisk), len(frags), before, fetched-before, float64(st.Bytes)/(1<<20), float64(size)/(1<<20))
	if st.Fragments != int64(fetched) {
		t.Errorf("central served %d fragments, the relay asked %d", st.Fragments, fetched)
	}
}

// TestRelayQuotaKeepsActive: a cache too small for everything evicts an
// old package and keeps the packages of active deployments.
func TestRelayQuotaKeepsActive(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	relay := enrollRelay(t, c, a, "loopback", "relay-q", "cache:\n  quota_bytes: 13631488\n") // 13 MiB
	_, ids := relayAgents(t, a, "quota-", 1, false)
	seed := uint64(100)
	publish := func(name string) string {
		seed++ // Distinct bytes: equal content would share its fragments.
		return c.publish(PackageSpec{"name": name, "action": "EXECUTE", "priority": "5", "command": "true"},
			targz(t, map[string]string{name + ".bin": string(randomBytes(8<<20, seed))}))
	}
	complete := func(pkg string) func() error {
		return func() error {
			if relay.pkgMetric("shoal_relay_package_complete", pkg) != 1 {
				return fmt.Errorf("package %s not complete in the relay", pkg)
			}
			return nil
		}
	}
	old := publish("old")
	c.affectAll(old, ids)
	waitFor(t, time.Minute, "the old package prefetched", complete(old))
	// The old deployment ends: its package may now be evicted.
	dep := c.deployments(old)[0]
	c.do("POST", fmt.Sprintf("/api/v1/deployments/%d/cancel", dep.ID), nil, nil, http.StatusOK)

	active := publish("active")
	c.affectAll(active, ids)
	waitFor(t, time.Minute, "the active package prefetched", complete(active))
	if n := relay.pkgMetric("shoal_relay_package_cached_bytes", old); n != 0 && relay.metrics()["shoal_relay_evictions_total"] == 0 {
		t.Errorf("old package still has %d bytes cached and nothing was evicted", n)
	}

	// A third package does not fit beside the active one: it is refused,
	// the active one stays whole.
	third := publish("third")
	c.affectAll(third, ids)
	waitFor(t, time.Minute, "the relay to report the full cache", func() error {
		var relays api.List[api.Relay]
		c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
		for _, e := range relays.Items[0].Errors {
			if strings.Contains(e, third) && strings.Contains(e, "quota full") {
				return nil
			}
		}
		return fmt.Errorf("errors reported: %q", relays.Items[0].Errors)
	})
	if err := complete(active)(); err != nil {
		t.Errorf("the active package was evicted: %v", err)
	}
	if used := relay.metrics()["shoal_relay_cache_bytes"]; used > 13631488 {
		t.Errorf("cache holds %d bytes, quota 13 MiB", used)
	}
}
