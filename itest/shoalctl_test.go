//go:build integration

package itest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctlRunner runs the built shoalctl binary with its own config directory.
type ctlRunner struct {
	t   *testing.T
	env []string
}

func newCtl(t *testing.T, home string) *ctlRunner {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "HOME", "XDG_CONFIG_HOME", "SHOAL_SERVER", "SHOAL_CA", "SHOAL_TOKEN", "SHOAL_PASSWORD", "SHOALCTL_CONFIG":
		default:
			env = append(env, kv)
		}
	}
	return &ctlRunner{t: t, env: append(env, "HOME="+home)}
}

// run runs shoalctl and returns its exit code, stdout and stderr.
func (r *ctlRunner) run(extraEnv []string, args ...string) (int, string, string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "shoal-shoalctl"), args...)
	cmd.Env = append(append([]string{}, r.env...), extraEnv...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("run shoalctl %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// ok runs shoalctl, fails the test unless it exits 0, and decodes its
// stdout into out when out is not nil.
func (r *ctlRunner) ok(out any, args ...string) string {
	r.t.Helper()
	code, stdout, stderr := r.run(nil, args...)
	if code != 0 {
		r.t.Fatalf("shoalctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(stdout), out); err != nil {
			r.t.Fatalf("shoalctl %s: decode %q: %v", strings.Join(args, " "), stdout, err)
		}
	}
	return stdout + stderr
}

// TestShoalctlEndToEnd drives central with the shoalctl binary only: log
// in, inventory a computer with the real OCS agent, search it, upload a
// package with a progress bar, activate it, affect it by search (dry run
// first), let the agent install it and watch the status until it is final.
func TestShoalctlEndToEnd(t *testing.T) {
	// Mostly waiting: runs beside the other such tests (make itest -parallel 6).
	t.Parallel()
	c := startCentral(t, "")
	home := t.TempDir()
	ctl := newCtl(t, home)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")

	// 1. Login with the admin password from the environment.
	code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile)
	if code != 0 || !strings.Contains(out, "Logged in") {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	cfgPath := filepath.Join(home, ".config", "shoal", "shoalctl.json")
	st, err := os.Stat(cfgPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v, %v; want mode 0600", cfgPath, st, err)
	}
	if code, _, errOut := ctl.run([]string{"SHOAL_PASSWORD=wrong-password-123"}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 1 ||
		!strings.Contains(errOut, "HTTP 401") {
		t.Errorf("login with a wrong password: exit %d: %s", code, errOut)
	}

	// 2. A site for loopback, then an inventory by the real agent.
	var site struct {
		ID uint `json:"id"`
	}
	ctl.ok(&site, "sites", "create", "loopback", "--cidr", "127.0.0.0/8", "-o", "json")
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=ctl"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	var comps struct {
		Items []struct {
			ID       uint   `json:"id"`
			Name     string `json:"name"`
			IPAddr   string `json:"ip_addr"`
			SiteName string `json:"site_name"`
		} `json:"items"`
		Total int `json:"total"`
	}
	ctl.ok(&comps, "computers", "--tag", "ctl", "--contact-since", "1h", "-o", "json")
	if comps.Total != 1 || comps.Items[0].Name != host || comps.Items[0].SiteName != "loopback" {
		t.Fatalf("computers --tag ctl: %+v", comps)
	}
	prefix, err := netip.ParseAddr(comps.Items[0].IPAddr)
	if err != nil {
		t.Fatalf("computer address %q: %v", comps.Items[0].IPAddr, err)
	}
	subnet := netip.PrefixFrom(prefix, prefix.BitLen()-8).Masked().String()
	if out := ctl.ok(nil, "computers", "--ip", subnet, "--name", host); !strings.Contains(out, host) || !strings.Contains(out, "LAST CONTACT") {
		t.Errorf("computers --ip %s table:\n%s", subnet, out)
	}
	ctl.ok(&comps, "computers", "--contact-before", "1h", "-o", "json")
	if comps.Total != 0 {
		t.Errorf("computers not seen for an hour: %d, want 0", comps.Total)
	}

	// 3. Upload with a progress bar, then activate with the availability check.
	work := t.TempDir()
	marker := filepath.Join(work, "ctl-marker")
	noise := make([]byte, 4<<20)
	_, _ = rand.Read(noise)
	file := filepath.Join(work, "ctl-app.tar.gz")
	if err := os.WriteFile(file, targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ctl > \"$1\"\n", "noise.bin": string(noise)}), 0o644); err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		ID               string `json:"id"`
		OCSFragmentCount int    `json:"ocs_fragment_count"`
	}
	code, out, errOut = ctl.run(nil, "package", "create", file, "--name", "ctl-app", "--action", "EXECUTE",
		"--command", "sh run.sh "+marker, "--priority", "3", "--fragments", "3", "-o", "json")
	if code != 0 || json.Unmarshal([]byte(out), &pkg) != nil || pkg.ID == "" || pkg.OCSFragmentCount != 3 {
		t.Fatalf("package create: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "upload 100%") {
		t.Errorf("no upload progress on stderr: %q", errOut)
	}
	if out := ctl.ok(nil, "package", "activate", pkg.ID); !strings.Contains(out, "Activated") || !strings.Contains(out, "3 fragments") {
		t.Errorf("activate:\n%s", out)
	}
	var show struct {
		Active    bool `json:"active"`
		Signature struct {
			Status string `json:"status"`
		} `json:"signature"`
	}
	ctl.ok(&show, "package", "show", pkg.ID, "-o", "json")
	if !show.Active || show.Signature.Status != "valid" {
		t.Errorf("package show: %+v", show)
	}

	// 4. Affect by search: the dry run counts and changes nothing.
	var res struct {
		Selected int  `json:"selected"`
		Created  int  `json:"created"`
		DryRun   bool `json:"dry_run"`
	}
	ctl.ok(&res, "package", "affect", pkg.ID, "--tag", "ctl", "--os", "linux", "--dry-run", "-o", "json")
	if res.Selected != 1 || res.Created != 0 || !res.DryRun {
		t.Fatalf("dry run: %+v", res)
	}
	var deps deploymentList
	c.do("GET", "/api/v1/packages/"+pkg.ID+"/deployments", nil, &deps, http.StatusOK)
	if deps.Total != 0 {
		t.Fatalf("the dry run created %d deployments", deps.Total)
	}
	ctl.ok(&res, "package", "affect", pkg.ID, "--tag", "ctl", "--os", "linux", "-o", "json")
	if res.Selected != 1 || res.Created != 1 {
		t.Fatalf("affect: %+v", res)
	}

	// 5. The agent installs it; --watch follows until the state is final.
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	start := time.Now()
	code, out, errOut = ctl.run(nil, "deploy", "status", pkg.ID, "--site", fmt.Sprint(site.ID), "--watch", "--interval", "500ms", "-o", "json")
	if code != 0 {
		t.Fatalf("deploy status --watch: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Counts struct {
			Counts   map[string]int `json:"counts"`
			Finished int            `json:"finished"`
		} `json:"counts"`
		Deployments struct {
			Items []struct {
				State        string `json:"state"`
				ResultCode   string `json:"result_code"`
				ComputerName string `json:"computer_name"`
			} `json:"items"`
		} `json:"deployments"`
		Done bool `json:"done"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last status line %q: %v", lines[len(lines)-1], err)
	}
	if !last.Done || last.Counts.Counts["success"] != 1 || len(last.Deployments.Items) != 1 ||
		last.Deployments.Items[0].ResultCode != "SUCCESS" || last.Deployments.Items[0].ComputerName != host {
		t.Fatalf("final status after %d refreshes: %+v", len(lines), last)
	}
	t.Logf("deploy status --watch: %d refreshes, %v until final", len(lines), time.Since(start).Round(time.Millisecond))
	if b, err := os.ReadFile(marker); err != nil || string(b) != "ctl\n" {
		t.Errorf("EXECUTE marker: %q, %v", b, err)
	}
	if out := ctl.ok(nil, "deploy", "status", pkg.ID); !strings.Contains(out, "success") || !strings.Contains(out, "SUCCESS") {
		t.Errorf("deploy status table:\n%s", out)
	}
	agent.waitWorker(2 * time.Minute)

	// 6. Clear errors from the API, and everything is in the audit log.
	if code, _, errOut := ctl.run(nil, "package", "activate", "999"); code != 1 || !strings.Contains(errOut, "not found") || !strings.Contains(errOut, "HTTP 404") {
		t.Errorf("activate a missing package: exit %d: %s", code, errOut)
	}
	var audit struct {
		Items []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"items"`
	}
	c.do("GET", "/api/v1/audit?action=package.", nil, &audit, http.StatusOK)
	var actions []string
	for _, a := range audit.Items {
		if !strings.HasPrefix(a.Actor, "token:shoalctl admin@") {
			t.Errorf("audit actor %q", a.Actor)
		}
		actions = append(actions, a.Action)
	}
	if strings.Join(actions, ",") != "package.affect,package.activate,package.create" {
		t.Errorf("audit actions %v", actions)
	}
}
