//go:build integration

package itest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeOCSCommand returns the OCS agent command line of README.md, the one
// line of a sh block that starts with "ocsinventory-agent ".
func readmeOCSCommand(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, blk := range readmeBlocks(string(b)) {
		if blk.lang != "sh" {
			continue
		}
		for _, l := range strings.Split(blk.text, "\n") {
			if strings.HasPrefix(l, "ocsinventory-agent ") {
				found = append(found, l)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d OCS agent command lines in sh blocks, want 1: %q", len(found), found)
	}
	return found[0]
}

// bannerOCSCommand returns the command of the banner's "OCS agents:" line.
func bannerOCSCommand(t *testing.T, c *Central) string {
	t.Helper()
	var cmd string
	waitFor(t, 10*time.Second, "the banner's OCS agents line", func() error {
		m := regexp.MustCompile(`(?m)^  OCS agents: +(.*)$`).FindStringSubmatch(c.log.String())
		if m == nil {
			return fmt.Errorf("no OCS agents line yet")
		}
		cmd = m[1]
		return nil
	})
	return cmd
}

// expand prints what bash makes of line in dir (it expands $PWD and
// quotes), word by word, so that two spellings of one command compare.
func expand(t *testing.T, dir, line string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", `set -- `+line+`; echo "$*"`)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("expand %q: %v", line, err)
	}
	return strings.TrimSpace(string(out))
}

// TestOCSCommandAsPrinted runs the OCS agent command exactly as central
// prints it (start-up banner, GET /api/v1/server; TestWebUIEndToEnd checks the UI shows
// the same) and as README.md shows it, from a directory laid out like a
// checkout after `make run`: the result of a deployment must reach central.
// Before, the README's relative --ca path lost every result (the agent's
// download worker changes directory before reporting) and the banner's
// and API's commands lacked --nolocal. Only --basevardir and --logfile
// are added, to keep the agent's state in the test's directory.
func TestOCSCommandAsPrinted(t *testing.T) {
	// Mostly waiting (agent timers, leases): runs beside the other such tests
	// (make itest -parallel 6) to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	dir := t.TempDir()
	c := startCentralIn(t, dir, ".run/central", "")
	var info struct {
		OCSAgentCommand string `json:"ocs_agent_command"`
		CAFile          string `json:"ca_file"`
	}
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)
	banner := bannerOCSCommand(t, c)
	// The README is written for `make run` (ports 8443 and 8080); this
	// central has ports chosen by the OS.
	readme := strings.ReplaceAll(readmeOCSCommand(t), "https://127.0.0.1:8443", c.HTTPSURL)
	want := "ocsinventory-agent --nolocal --server=" + c.HTTPSURL + "/ocsinventory --ca=" + c.CAFile
	for name, got := range map[string]string{"banner": banner, "api": info.OCSAgentCommand, "readme": expand(t, dir, readme)} {
		if got != want {
			t.Errorf("%s prints %q, want %q", name, got, want)
		}
	}
	if !filepath.IsAbs(info.CAFile) {
		t.Errorf("ca_file %q is not absolute", info.CAFile)
	}

	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	marker := filepath.Join(dir, "installed")
	pkg := c.createPackage(PackageSpec{"name": "printed", "action": "EXECUTE", "priority": "1", "fragments": "2",
		"command": "sh run.sh " + marker},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho installed > \"$1\"\n", "pad.txt": padding(2000)}))
	c.activate(pkg, nil, http.StatusOK)

	base := t.TempDir()
	agent := &OCSAgent{t: t, Base: base, Server: c.HTTPSURL + "/ocsinventory"}
	t.Cleanup(agent.killWorker)
	run := func(name, line string) { t.Helper(); runOCSLine(t, dir, base, name, line) }
	// First run: inventory, so that the computer exists to affect.
	run("inventory", readme)
	c.affect(pkg, map[string]any{"filter": map[string]any{"name": host}})
	// Second run: the agent learns of the package, its worker fetches,
	// runs and reports.
	run("deploy", readme)
	waitFor(t, 3*time.Minute, "the deployment result at central", func() error {
		d := c.deployment(pkg)
		if d.State != "success" {
			return fmt.Errorf("deployment is %s (%s)", d.State, d.ResultCode)
		}
		if d.ResultCode != "SUCCESS" {
			t.Fatalf("result code %q, want SUCCESS", d.ResultCode)
		}
		return nil
	})
	if b, err := os.ReadFile(marker); err != nil || string(b) != "installed\n" {
		t.Errorf("install marker: %q, %v", b, err)
	}
	agent.waitWorker(2 * time.Minute)
}

// runOCSLine runs an OCS agent command line with bash in dir, adding only
// --basevardir and --logfile (state and log in base).
func runOCSLine(t *testing.T, dir, base, name, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logFile := filepath.Join(base, name+".log")
	cmd := exec.CommandContext(ctx, "bash", "-c", line+` --basevardir="$BASE" --logfile="$LOG"`)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE="+base, "LOG="+logFile)
	// A file, not a pipe: the forked download worker inherits it and
	// outlives the agent.
	out, err := os.Create(logFile + ".out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		ob, _ := os.ReadFile(logFile + ".out")
		lb, _ := os.ReadFile(logFile)
		t.Fatalf("%s: %v\n%s%s", name, err, ob, lb)
	}
}

// TestOCSRelativeCAResultCodes reproduces, with the real agent, both the
// lost results of the README's old relative --ca path and the "SUCCESS_"
// code that then replaced SUCCESS_ALREADY_SETUP. With the relative path the
// package is installed but its result never reaches central (the worker
// changed directory), and the worker keeps its "done" package. Once that
// worker is gone (a reboot) and the agent runs with the printed, absolute
// path, it sends SUCCESS_ALREADY_SETUP from its history at PROLOG, and its
// new worker re-sends the done package as "SUCCESS_" (done() without the
// exit-code suffix). Central records both codes exactly, in the events, and
// keeps SUCCESS_ALREADY_SETUP as the deployment's code.
func TestOCSRelativeCAResultCodes(t *testing.T) {
	// Mostly waiting on the OCS agent's own timers: runs beside the other such
	// tests to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	dir := t.TempDir()
	c := startCentralIn(t, dir, ".run/central", "")
	printed := bannerOCSCommand(t, c)
	relative := strings.Replace(printed, "--ca="+c.CAFile, "--ca=.run/central/pki/ca.pem", 1)
	if relative == printed {
		t.Fatalf("cannot make a relative --ca of %q", printed)
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	marker := filepath.Join(dir, "installed")
	pkg := c.createPackage(PackageSpec{"name": "relative", "action": "EXECUTE", "priority": "1", "fragments": "1",
		"command": "sh run.sh " + marker},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho installed > \"$1\"\n"}))
	c.activate(pkg, nil, http.StatusOK)
	base := t.TempDir()
	agent := &OCSAgent{t: t, Base: base, Server: c.HTTPSURL + "/ocsinventory"}
	t.Cleanup(agent.killWorker)

	runOCSLine(t, dir, base, "inventory", relative)
	c.affect(pkg, map[string]any{"filter": map[string]any{"name": host}})
	runOCSLine(t, dir, base, "deploy-relative", relative)
	waitFor(t, 2*time.Minute, "the package to be installed", func() error {
		_, err := os.Stat(marker)
		return err
	})
	// The worker marks the package done, then sends its result; on success
	// it would remove the package's directory at once. A done file that
	// stays there for seconds is a result message that failed.
	done := filepath.Join(agent.VarDir(), "download", pkg, "done")
	var seen time.Time
	waitFor(t, time.Minute, "the worker's done file to outlive its result message", func() error {
		if _, err := os.Stat(done); err != nil {
			seen = time.Time{}
			return err
		}
		if seen.IsZero() {
			seen = time.Now()
		}
		if age := time.Since(seen); age < 3*time.Second {
			return fmt.Errorf("done file seen for %v", age)
		}
		return nil
	})
	if d := c.deployment(pkg); d.State != "notified" {
		t.Fatalf("with the relative --ca the deployment is %s (%s), want notified: the result should be lost", d.State, d.ResultCode)
	}
	agent.killWorker() // a reboot
	agent.waitWorker(30 * time.Second)

	runOCSLine(t, dir, base, "deploy-printed", printed)
	var got []string
	waitFor(t, 2*time.Minute, "both re-reported codes at central", func() error {
		d := c.deploymentOf(pkg)
		got = got[:0]
		for _, e := range d.Events {
			if strings.HasPrefix(e.Code, "SUCCESS") {
				got = append(got, e.Code)
			}
		}
		if len(got) < 2 {
			return fmt.Errorf("success codes so far %q", got)
		}
		return nil
	})
	if want := []string{"SUCCESS_ALREADY_SETUP", "SUCCESS_"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("codes recorded %q, want %q", got, want)
	}
	if d := c.deployment(pkg); d.State != "success" || d.ResultCode != "SUCCESS_ALREADY_SETUP" {
		t.Errorf("deployment %s %q, want success SUCCESS_ALREADY_SETUP", d.State, d.ResultCode)
	}
	agent.waitWorker(2 * time.Minute)
}
