//go:build integration

package itest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildWinPeerAgent builds the Linux shoal-agent with the shoalwinpeer tag:
// it installs WINDOWS packages (agent/jobs/platform_winpeer.go), so that
// Linux agents can hold and serve a Windows package's fragments.
func buildWinPeerAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shoal-agent-winpeer")
	out, err := exec.Command("go", "build", "-tags", "shoalwinpeer", "-o", bin, "../cmd/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("build winpeer agent: %v\n%s", err, out)
	}
	return bin
}

// wineAgentProc is shoal-agent.exe running under wine64.
type wineAgentProc struct {
	Name, LogFile string
	done          chan error
	cmd           *exec.Cmd
}

// startWineAgent enrolls a Windows agent named name under wine64 (its own
// wine prefix) with extraYAML in its config, starts it, and stops it (and
// the prefix's wine server) at cleanup.
func startWineAgent(t *testing.T, a *AgentAPI, name, extraYAML string) *wineAgentProc {
	t.Helper()
	wrapper, exe := wineAgent(t)
	dir := t.TempDir()
	env := append(os.Environ(), "WINEPREFIX="+filepath.Join(dir, "wineprefix"))
	t.Cleanup(func() {
		ws := exec.Command("/usr/lib/wine/wineserver64", "-k")
		ws.Env = env
		_ = ws.Run()
	})
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: %s\njobs:\n  long_poll: 20s\n  progress_interval: 500ms\n%s",
		a.URL, winePath(filepath.Join(dir, "state")), name, extraYAML)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	enroll := exec.Command(wrapper, exe, "enroll", "-config", winePath(cfgPath), "--token", a.token(1), "--ca", winePath(a.c.CAFile))
	enroll.Env = env
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("shoal-agent.exe enroll under wine: %v\n%s", err, out)
	}
	p := &wineAgentProc{Name: name, LogFile: filepath.Join(dir, "agent.log"), done: make(chan error, 1)}
	logf, err := os.Create(p.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(wrapper, exe, "-config", winePath(cfgPath), "-log-level", "debug")
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-p.done:
			t.Logf("%s under wine exited after SIGINT: %v", name, err)
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s under wine did not stop within 15s of SIGINT", name)
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.LogFile)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return p
}

func (p *wineAgentProc) log() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// TestWindowsAgentFromLinuxPeers: two Linux agents and a Windows agent
// under wine64 in one site. The Linux agents install a Windows package
// first (their shoalwinpeer build accepts it; its command runs in sh and
// cmd.exe alike); then the Windows agent installs it with its bytes from
// its Linux peers (libp2p over loopback), not from central, as central's
// per-source counts and its fragment egress show.
func TestWindowsAgentFromLinuxPeers(t *testing.T) {
	bin := buildWinPeerAgent(t)
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	loopbackSite(t, c)
	_, linIDs := swarmAgents(t, c, a, "lin-", 2, "", map[int]string{0: bin, 1: bin})

	pkg := c.publish(PackageSpec{"name": "win-p2p", "platform": "WINDOWS", "action": "EXECUTE", "priority": "5", "command": "echo installed"},
		zipOf(t, map[string]string{"data.bin": string(randomBytes(6<<20, 18)), "readme.txt": "hello"}))
	size := c.packageSize(pkg)
	c.affectAll(pkg, linIDs)
	for _, d := range c.waitAllSuccess(pkg, linIDs, 2*time.Minute) {
		t.Logf("linux computer %d: peer %d relay %d central %d bytes", d.ComputerID, d.BytesPeer, d.BytesRelay, d.BytesCentral)
	}
	egressBefore := a.fragmentStats(pkg).Bytes

	win := startWineAgent(t, a, "win-peer", p2pYAML)
	waitFor(t, 90*time.Second, "the Windows agent to join its site", func() error {
		if !strings.Contains(win.log(), "site=loopback") {
			return fmt.Errorf("no site line in its log yet")
		}
		return nil
	})
	winID := a.computerOf("win-peer")
	start := time.Now()
	c.affectTo(pkg, winID)
	d := c.waitAllSuccess(pkg, []uint{winID}, 3*time.Minute)[0]
	egress := a.fragmentStats(pkg).Bytes - egressBefore
	t.Logf("Windows agent under wine, %.1f MiB package: done in %v; bytes from peers %d, relay %d, central %d; central egress during its download %d",
		float64(size)/(1<<20), time.Since(start).Round(time.Millisecond), d.BytesPeer, d.BytesRelay, d.BytesCentral, egress)
	if d.BytesPeer < size*9/10 || d.BytesCentral > size/10 {
		t.Errorf("Windows agent: %d bytes from peers and %d from central of a %d-byte package, want (nearly) all from its Linux peers",
			d.BytesPeer, d.BytesCentral, size)
	}
	if egress > size/10 {
		t.Errorf("central served %d bytes of the package during the Windows agent's download, want at most a tenth of %d", egress, size)
	}
}
