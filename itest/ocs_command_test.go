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
	run := func(name, line string) {
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
