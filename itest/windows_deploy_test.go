//go:build integration

package itest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDeploymentWindow: a real OCS agent in a site whose deployment
// window is closed is not offered the site's package (its deployment
// stays waiting); once shoalctl opens the window, the agent's next run
// installs it.
func TestDeploymentWindow(t *testing.T) {
	// Mostly waiting on the OCS agent's own timers: runs beside the other such
	// tests to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "groups:\n  sweep_interval: 200ms\n")
	ctl := newCtl(t, t.TempDir())
	if code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	// A window an hour long that opens two hours from now (UTC) is closed.
	now := time.Now().UTC()
	closed := fmt.Sprintf("daily %s-%s", now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	ctl.ok(nil, "sites", "create", "loopback", "--cidr", "127.0.0.0/8", "--time-zone", "UTC", "--window", closed)

	work := t.TempDir()
	pkg := c.publish(PackageSpec{"name": "night-tool", "action": "EXECUTE", "priority": "5", "fragments": "1",
		"command": "sh run.sh " + filepath.Join(work, "ran")},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ran >> \"$1\"\n"}))

	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	comps := c.computers("")
	if len(comps) != 1 {
		t.Fatalf("computers: %d, want 1", len(comps))
	}
	id := comps[0].ID
	var a assignmentJSON
	ctl.ok(&a, "assign", pkg, "--site", "loopback", "-o", "json")
	if a.Members != 1 || a.Pending != 1 {
		t.Fatalf("assignment %+v, want the computer pending", a)
	}
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	if d := c.deploymentsOf(pkg)[id]; d.State != "waiting" {
		t.Fatalf("outside the window the deployment is %q, want waiting (not offered)", d.State)
	}
	if _, err := os.Stat(filepath.Join(work, "ran")); err == nil {
		t.Fatal("the package ran outside its window")
	}

	ctl.ok(nil, "sites", "update", "loopback", "--window", "daily 00:00-24:00")
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	waitFor(t, 4*time.Minute, "the OCS agent to install inside the window", func() error {
		if d := c.deploymentsOf(pkg)[id]; d.State != "success" {
			return fmt.Errorf("state %q %s", d.State, d.ResultCode)
		}
		return nil
	})
	agent.waitWorker(2 * time.Minute)
	if b, err := os.ReadFile(filepath.Join(work, "ran")); err != nil || string(b) != "ran\n" {
		t.Errorf("package output %q, %v; want one run", b, err)
	}
}

// TestGroupTimings: a real OCS agent in a group with its own timings
// stores the group's PROLOG_FREQ from the next PROLOG reply, not the
// agent settings' 12 hours.
func TestGroupTimings(t *testing.T) {
	// Mostly waiting: runs beside the other such tests (make itest -parallel 6).
	t.Parallel()
	c := startCentral(t, "")
	ctl := newCtl(t, t.TempDir())
	if code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	comps := c.computers("")
	if len(comps) != 1 {
		t.Fatalf("computers: %d, want 1", len(comps))
	}
	freq := func() string {
		t.Helper()
		var found string
		err := filepath.WalkDir(agent.Base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "ocsinv.conf" {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				s := string(b)
				if i := strings.Index(s, "<PROLOG_FREQ>"); i >= 0 {
					found, _, _ = strings.Cut(s[i+len("<PROLOG_FREQ>"):], "<")
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if f := freq(); f != "12" {
		t.Fatalf("stored PROLOG_FREQ %q before the group, want 12", f)
	}
	ctl.ok(nil, "groups", "create", "fast-prolog", "--computer", fmt.Sprint(comps[0].ID), "--prolog-freq", "2", "--ocs-timings", "short")
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	if f := freq(); f != "2" {
		t.Errorf("stored PROLOG_FREQ %q after joining the group, want 2", f)
	}
}

// TestShoalAgentDownloadsBeforeWindow: a shoal-agent in a site whose
// deployment window is closed downloads the site's package at once and
// holds its install (the deployment stays downloaded, nothing runs); once
// shoalctl opens the window the agent installs it from what it downloaded.
func TestShoalAgentDownloadsBeforeWindow(t *testing.T) {
	t.Parallel()
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	ctl := newCtl(t, t.TempDir())
	if code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	now := time.Now().UTC()
	closed := fmt.Sprintf("daily %s-%s", now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	ctl.ok(nil, "sites", "create", "loopback", "--cidr", "127.0.0.0/8", "--time-zone", "UTC", "--window", closed)

	ag := newAgent(t, a, "shoal-window", a.URL, "")
	cid := a.computerOf("shoal-window")
	ran := filepath.Join(t.TempDir(), "ran")
	pkg := c.publish(PackageSpec{"name": "night-app", "action": "EXECUTE", "priority": "5", "fragments": "3",
		"command": "sh run.sh " + ran}, targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ran >> \"$1\"\n", "pad.bin": string(randomBytes(1<<20, 9))}))
	c.affectTo(pkg, cid)
	ag.Start()

	d := c.waitState(pkg, "downloaded", time.Minute)
	if d.Deployment.FragmentsDone != d.Deployment.FragmentsTotal || d.Deployment.FragmentsTotal == 0 {
		t.Errorf("downloaded %d of %d fragments while the window is closed", d.Deployment.FragmentsDone, d.Deployment.FragmentsTotal)
	}
	waitFor(t, 30*time.Second, "the agent to hold the install", func() error {
		if ag.logLine("install held until the deployment window opens", pkg) == "" {
			return fmt.Errorf("no hold in the agent's log")
		}
		return nil
	})
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the package ran outside its window")
	}
	if st := c.deploymentOf(pkg).Deployment.State; st != "downloaded" {
		t.Errorf("held deployment is %s, want downloaded", st)
	}

	ctl.ok(nil, "sites", "update", "loopback", "--window", "always")
	c.waitState(pkg, "success", time.Minute)
	if b, err := os.ReadFile(ran); err != nil || string(b) != "ran\n" {
		t.Errorf("package output %q, %v; want one run", b, err)
	}
}
