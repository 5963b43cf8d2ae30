//go:build integration

package itest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// winePath is the path a Linux path has under wine: drive Z: is "/".
func winePath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// wineAgent builds shoal-agent.exe for windows/amd64 and returns the path
// of the wine wrapper and of the binary, or skips when wine64 is missing.
func wineAgent(t *testing.T) (wrapper, exe string) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/wine/wine64"); err != nil {
		if _, err := exec.LookPath("wine64"); err != nil {
			t.Skip("wine64 is not installed (scripts/test-deps.sh installs it)")
		}
	}
	wrapper, _ = filepath.Abs("../scripts/wine-exec.sh")
	exe = filepath.Join(binDir, "windows-amd64", "shoal-agent.exe")
	if _, err := os.Stat(exe); err != nil {
		cmd := exec.Command("go", "build", "-o", exe, "../cmd/agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=windows", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build shoal-agent.exe: %v\n%s", err, out)
		}
	}
	return wrapper, exe
}

// TestWindowsAgentUnderWine runs the Windows shoal-agent under wine64
// against a real Linux central: it enrolls, its inventory (read from
// wine's registry) reaches central, and a zip package whose install.cmd
// writes a marker installs with state success.
func TestWindowsAgentUnderWine(t *testing.T) {
	heavy(t)
	wrapper, exe := wineAgent(t)
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "wineprefix")
	env := append(os.Environ(), "WINEPREFIX="+prefix)
	t.Cleanup(func() {
		// The wine server of this prefix lingers a few seconds after its
		// last process; stop it now so that nothing outlives the test.
		ws := exec.Command("/usr/lib/wine/wineserver64", "-k")
		ws.Env = env
		_ = ws.Run()
	})
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: win-e2e\njobs:\n  long_poll: 20s\n  progress_interval: 500ms\n",
		a.URL, winePath(filepath.Join(dir, "state")))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	enroll := exec.Command(wrapper, exe, "enroll", "-config", winePath(cfgPath), "--token", a.token(1), "--ca", winePath(c.CAFile))
	enroll.Env = env
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("shoal-agent.exe enroll under wine: %v\n%s", err, out)
	}
	t.Logf("enroll under wine (first run creates the wine prefix): %v", time.Since(start).Round(time.Millisecond))
	cid := a.computerOf("win-e2e")
	var comp api.ComputerDetail
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d", cid), nil, &comp, http.StatusOK)
	if !strings.Contains(comp.OSName, "Windows") || comp.Source != "shoal" || comp.ProcessorCount == 0 || comp.MemoryMB == 0 {
		t.Errorf("inventory in central: source %q os %q cpus %d mem %d", comp.Source, comp.OSName, comp.ProcessorCount, comp.MemoryMB)
	}
	t.Logf("inventory: os %q version %q cpus %d memory %d MB drives %d networks %d softwares %d",
		comp.OSName, comp.OSVersion, comp.ProcessorCount, comp.MemoryMB, len(comp.Drives), len(comp.Networks), len(comp.Softwares))

	logPath := filepath.Join(dir, "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(wrapper, exe, "-config", winePath(cfgPath), "-log-level", "debug")
	agent.Env = env
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	defer func() {
		_ = agent.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			t.Logf("agent under wine exited after SIGINT: %v", err)
		case <-time.After(15 * time.Second):
			_ = agent.Process.Kill()
			<-done
			t.Errorf("agent under wine did not stop within 15s of SIGINT")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", b)
		}
	}()

	marker := filepath.Join(dir, "marker.txt")
	pkg := c.publish(PackageSpec{"name": "win-zip", "platform": "WINDOWS", "action": "EXECUTE", "priority": "5",
		"command": `install.cmd "` + winePath(marker) + `"`},
		zipOf(t, map[string]string{"install.cmd": "@echo off\r\necho installing on %OS%\r\necho installed> \"%~1\"\r\n", "data\\readme.txt": "hello"}))
	affected := time.Now()
	c.affectTo(pkg, cid)
	d := c.waitState(pkg, "success", 120*time.Second)
	t.Logf("package installed under wine %v after affectation: %s %s", time.Since(affected).Round(time.Millisecond), d.Deployment.State, d.Deployment.ResultCode)
	if d.Deployment.ResultCode != "SUCCESS" {
		t.Errorf("result %s", d.Deployment.ResultCode)
	}
	if b, err := os.ReadFile(marker); err != nil || !strings.HasPrefix(string(b), "installed") {
		t.Errorf("marker: %q, %v", b, err)
	}
}
