//go:build integration

package itest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// assignmentJSON is what shoalctl assignments -o json prints per row.
type assignmentJSON struct {
	ID         uint   `json:"id"`
	PackageID  string `json:"package_id"`
	TargetName string `json:"target_name"`
	Members    int    `json:"members"`
	Done       int    `json:"done"`
	Pending    int    `json:"pending"`
	Failed     int    `json:"failed"`
}

// deploymentsOf returns the deployments of pkg by computer ID.
func (c *Central) deploymentsOf(pkg string) map[uint]deployment {
	c.t.Helper()
	var l struct {
		Items []struct {
			deployment
			ComputerID uint `json:"computer_id"`
		} `json:"items"`
	}
	c.do("GET", "/api/v1/packages/"+pkg+"/deployments", nil, &l, http.StatusOK)
	out := map[uint]deployment{}
	for _, d := range l.Items {
		out[d.ComputerID] = d.deployment
	}
	return out
}

// TestGroupsDesiredState drives desired state with shoalctl and real
// agents: a dynamic group (by TAG) and a site get their packages assigned
// while empty; then a new real OCS agent and a new shoal-agent appear and
// each gets and installs what its groups and site want, with no admin
// action after the assignments.
func TestGroupsDesiredState(t *testing.T) {
	// Mostly waiting (agent timers, leases): runs beside the other such tests
	// (make itest -parallel 6) to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "groups:\n  sweep_interval: 200ms\n")
	ctl := newCtl(t, t.TempDir())
	if code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=" + c.Password}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile); code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
	}
	ctl.ok(nil, "sites", "create", "loopback", "--cidr", "127.0.0.0/8")

	work := t.TempDir()
	tagged := c.publish(PackageSpec{"name": "tagged-tool", "action": "EXECUTE", "priority": "5", "fragments": "2",
		"command": "sh run.sh " + filepath.Join(work, "tagged")},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho tagged >> \"$1\"\n", "pad.txt": padding(3000)}))
	base := c.publish(PackageSpec{"name": "site-baseline", "action": "EXECUTE", "priority": "5", "fragments": "2",
		"command": "sh run.sh " + filepath.Join(work, "site")},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho site >> \"$1\"\n", "pad.txt": padding(3000)}))

	var g struct {
		ID      uint `json:"id"`
		Dynamic bool `json:"dynamic"`
		Members int  `json:"members"`
	}
	ctl.ok(&g, "groups", "create", "desired-it", "--tag", "desired-it", "-o", "json")
	if !g.Dynamic || g.Members != 0 {
		t.Fatalf("created group %+v, want dynamic and empty", g)
	}
	var a assignmentJSON
	ctl.ok(&a, "assign", tagged, "--group", "desired-it", "-o", "json")
	if a.Members != 0 || a.TargetName != "desired-it" {
		t.Fatalf("assignment to the empty group: %+v", a)
	}
	ctl.ok(&a, "assign", base, "--site", "loopback", "-o", "json")
	if a.Members != 0 || a.TargetName != "loopback" {
		t.Fatalf("assignment to the empty site: %+v", a)
	}

	// A new OCS agent: its first run inventories it (the PROLOG before knew
	// nothing of it); the sweep gives it both packages; its next run
	// installs them.
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=desired-it"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	comps := c.computers("?tag=desired-it")
	if len(comps) != 1 {
		t.Fatalf("computers tagged desired-it: %d, want 1", len(comps))
	}
	ocsID := comps[0].ID
	waitFor(t, 30*time.Second, "the OCS computer's deployments", func() error {
		for _, pkg := range []string{tagged, base} {
			if _, ok := c.deploymentsOf(pkg)[ocsID]; !ok {
				return fmt.Errorf("no deployment of %s", pkg)
			}
		}
		return nil
	})
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	waitFor(t, 4*time.Minute, "the OCS agent to install both", func() error {
		for _, pkg := range []string{tagged, base} {
			if d := c.deploymentsOf(pkg)[ocsID]; d.State != "success" {
				return fmt.Errorf("package %s is %s %s", pkg, d.State, d.ResultCode)
			}
		}
		return nil
	})
	agent.waitWorker(2 * time.Minute)

	// A new shoal-agent in the site: it gets the site's package over its
	// long-poll, not the tagged group's.
	aapi := startAgentAPI(t, c)
	sh := newAgent(t, aapi, "desired-shoal", aapi.URL, "")
	sh.Start()
	shID := aapi.computerOf("desired-shoal")
	waitFor(t, 90*time.Second, "the shoal-agent to install the site's package", func() error {
		if d := c.deploymentsOf(base)[shID]; d.State != "success" {
			return fmt.Errorf("state %q %s", d.State, d.ResultCode)
		}
		return nil
	})
	if _, ok := c.deploymentsOf(tagged)[shID]; ok {
		t.Errorf("the shoal-agent got the tagged group's package")
	}
	if b, err := os.ReadFile(filepath.Join(work, "site")); err != nil || strings.Count(string(b), "site\n") != 2 {
		t.Errorf("site package ran: %q, %v; want two runs", b, err)
	}

	var list []assignmentJSON
	var wrapped struct {
		Items []assignmentJSON `json:"items"`
	}
	ctl.ok(&wrapped, "assignments", "-o", "json")
	list = wrapped.Items
	got := map[string][2]int{}
	for _, x := range list {
		got[x.PackageID] = [2]int{x.Members, x.Done}
	}
	if got[tagged] != [2]int{1, 1} || got[base] != [2]int{2, 2} {
		t.Errorf("assignments members/done: %v, want %s [1 1] and %s [2 2]", got, tagged, base)
	}
	var mine struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	c.do("GET", fmt.Sprintf("/api/v1/computers/%d/groups", ocsID), nil, &mine, http.StatusOK)
	if len(mine.Items) != 1 || mine.Items[0].Name != "desired-it" {
		t.Errorf("groups of the OCS computer %s: %+v", host, mine)
	}
	if out := ctl.ok(nil, "groups", "show", "desired-it"); !strings.Contains(out, "1 member") || !strings.Contains(out, tagged) {
		t.Errorf("groups show:\n%s", out)
	}
	if code, _, errOut := ctl.run(nil, "groups", "delete", "desired-it"); code == 0 || !strings.Contains(errOut, "remove them first") {
		t.Errorf("deleting a group in use: exit %d: %s", code, errOut)
	}
	if sh.logLine("central refuses this agent") != "" {
		t.Error(errors.New("the shoal-agent was refused"))
	}
	sh.Stop()
}

// TestWebUIDynamicGroup drives the real central's admin UI in headless
// Chromium: create a dynamic group (by TAG), assign an active package to
// it while it is empty; then a new real OCS agent with that TAG appears,
// gets the package and installs it with no admin action, and the group
// page shows it as a member with the deployment done.
func TestWebUIDynamicGroup(t *testing.T) {
	heavy(t)
	br := newBrowser(t)
	c := startCentral(t, "groups:\n  sweep_interval: 200ms\n")
	work := t.TempDir()
	marker := filepath.Join(work, "ui-group-marker")
	pkg := c.publish(PackageSpec{"name": "ui-group-tool", "action": "EXECUTE", "priority": "5", "fragments": "2",
		"command": "sh run.sh " + marker},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho installed > \"$1\"\n", "pad.txt": padding(3000)}))
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("create a dynamic group", wait, chromedp.Navigate(base+"/ui/groups"), chromedp.WaitVisible(chromedp.ID("g-name")),
		chromedp.SendKeys(chromedp.ID("g-name"), "ui-dynamic"),
		chromedp.SendKeys(chromedp.ID("g-tag"), "ui-groups"),
		chromedp.Click(chromedp.ID("create-group")),
		chromedp.WaitVisible(chromedp.ID("member-count")))
	if got := br.text("#member-count"); got != "0" {
		t.Errorf("new group members %q, want 0", got)
	}
	if got := br.text("#group-search"); got != "tag=ui-groups" {
		t.Errorf("group search %q", got)
	}
	br.do("assign the package", wait, chromedp.SetValue(chromedp.ID("a-pkg"), pkg),
		chromedp.Click(chromedp.ID("assign")),
		chromedp.WaitVisible(chromedp.CSS("table.assignments td.members")))
	br.shot("groups-assigned-empty")

	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=ui-groups"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	waitFor(t, 30*time.Second, "the new computer's deployment", func() error {
		if len(c.deploymentsOf(pkg)) != 1 {
			return errors.New("no deployment yet")
		}
		return nil
	})
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	waitFor(t, 4*time.Minute, "the agent to install the package", func() error {
		for _, d := range c.deploymentsOf(pkg) {
			if d.State != "success" {
				return fmt.Errorf("state %s %s", d.State, d.ResultCode)
			}
		}
		return nil
	})
	agent.waitWorker(2 * time.Minute)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "installed\n" {
		t.Errorf("marker %q, %v", b, err)
	}
	waitFor(t, wait, "the group page to show the member done", func() error {
		br.do("reload", wait, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.assignments td.done")))
		if m, d := br.text("#member-count"), br.text("table.assignments td.done"); m != "1" || d != "1" {
			return fmt.Errorf("members %s, done %s", m, d)
		}
		return nil
	})
	br.shot("groups-member-done")
	host := shortHost(t)
	br.do("open the member", wait, chromedp.Click(chromedp.CSS("ul.members a")), chromedp.WaitVisible(chromedp.ID("computer-groups")))
	if got := br.text("#computer-groups"); got != "ui-dynamic" {
		t.Errorf("computer page of %s: groups %q", host, got)
	}

	// A second dynamic group picks a shared saved search in the form
	// instead of typing criteria: it copies them and holds the computer
	// at once.
	var saved struct {
		ID uint `json:"id"`
	}
	c.do("POST", "/api/v1/searches", map[string]any{"name": "ui-groups-linux", "shared": true,
		"search": map[string]string{"tag": "ui-groups", "os": "linux"}}, &saved, http.StatusCreated)
	br.do("create a group from a saved search", wait, chromedp.Navigate(base+"/ui/groups"), chromedp.WaitVisible(chromedp.ID("g-saved")),
		chromedp.SendKeys(chromedp.ID("g-name"), "ui-from-saved"),
		chromedp.SetValue(chromedp.ID("g-saved"), fmt.Sprint(saved.ID)),
		chromedp.Click(chromedp.ID("create-group")),
		chromedp.WaitVisible(chromedp.ID("member-count")))
	if got := br.text("#group-search"); got != "os=linux tag=ui-groups" {
		t.Errorf("group from a saved search: search %q, want the saved search's criteria", got)
	}
	if got := br.text("#member-count"); got != "1" {
		t.Errorf("group from a saved search: members %q, want the agent's computer", got)
	}
	br.shot("groups-from-saved-search")
}

// postInventory sends the captured Unix-agent inventory as device
// deviceID, named name, as an agent would.
func (c *Central) postInventory(deviceID, name string) {
	c.t.Helper()
	inv, err := os.ReadFile("../proto/ocs/testdata/unix-agent-2.10.0/inventory-request.xml")
	if err != nil {
		c.t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(inv), captureDeviceID, deviceID)
	doc = strings.Replace(doc, "<NAME>vm</NAME>", "<NAME>"+name+"</NAME>", 1)
	req, _ := http.NewRequest("POST", c.HTTPURL+"/ocsinventory", strings.NewReader(string(zlibBytes([]byte(doc)))))
	req.Header.Set("User-Agent", "OCS-NG_unified_unix_agent_v2.10.0")
	req.Header.Set("Content-Type", "application/x-compress")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("inventory of %s: status %d", name, resp.StatusCode)
	}
}

// TestWebUIStagedRolloutPauses drives a staged rollout in headless
// Chromium: a static group of the real OCS agent's computer and a second
// computer, a package assigned one computer per wave that may not fail;
// the real agent's install fails, the rollout pauses by itself with the
// failing code on the group page, the second computer is still held, and
// Resume releases it.
func TestWebUIStagedRolloutPauses(t *testing.T) {
	heavy(t)
	br := newBrowser(t)
	c := startCentral(t, "groups:\n  sweep_interval: 200ms\n")
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=staged"); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	c.postInventory("staged-second-2026-11-24-07-24-08", "staged-second")
	first := c.computers("?tag=staged")
	second := c.computers("?name=staged-second")
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("computers: %d tagged, %d named staged-second", len(first), len(second))
	}
	pkg := c.publish(PackageSpec{"name": "broken-tool", "action": "EXECUTE", "priority": "5", "fragments": "1",
		"command": "sh run.sh"}, targz(t, map[string]string{"run.sh": "#!/bin/sh\nexit 3\n"}))
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("create a static group", wait, chromedp.Navigate(base+"/ui/groups"), chromedp.WaitVisible(chromedp.ID("g-name")),
		chromedp.SendKeys(chromedp.ID("g-name"), "pilot"),
		chromedp.SendKeys(chromedp.ID("g-ids"), fmt.Sprintf("%d, %d", first[0].ID, second[0].ID)),
		chromedp.Click(chromedp.ID("create-group")),
		chromedp.WaitVisible(chromedp.ID("member-count")))
	br.do("assign in waves of one", wait, chromedp.SetValue(chromedp.ID("a-pkg"), pkg),
		chromedp.SendKeys(chromedp.ID("a-stage"), "1"),
		chromedp.SendKeys(chromedp.ID("a-maxfail"), "0"),
		chromedp.Click(chromedp.ID("assign")),
		chromedp.WaitVisible(chromedp.CSS("table.assignments td.held")))
	if p, h := br.text("table.assignments td.pending"), br.text("table.assignments td.held"); p != "1" || h != "1" {
		t.Errorf("first wave: pending %s, held %s; want 1 and 1", p, h)
	}
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent exit %d:\n%s", code, log)
	}
	waitFor(t, 3*time.Minute, "the first wave to fail", func() error {
		if d := c.deploymentsOf(pkg)[first[0].ID]; d.State != "error" {
			return fmt.Errorf("state %s", d.State)
		}
		return nil
	})
	agent.waitWorker(2 * time.Minute)
	code := c.deploymentsOf(pkg)[first[0].ID].ResultCode
	waitFor(t, wait, "the rollout to pause on the page", func() error {
		br.do("reload", wait, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.assignments td.failed")))
		got := br.eval(`(document.querySelector(".paused-reason") || {textContent: ""}).textContent`)
		if want := "Paused: 1 of 1 finished deployments failed (100 %, more than 0 %): " + code + " ×1"; got != want {
			return fmt.Errorf("paused reason %q, want %q", got, want)
		}
		return nil
	})
	if h := br.text("table.assignments td.held"); h != "1" {
		t.Errorf("paused rollout: held %s, want 1", h)
	}
	if _, ok := c.deploymentsOf(pkg)[second[0].ID]; ok {
		t.Error("the paused rollout deployed to the second computer")
	}
	br.shot("staged-paused")
	br.do("resume", wait, chromedp.Click(chromedp.CSS("button.resume")), chromedp.WaitNotPresent(chromedp.CSS("button.resume")))
	// The click answers with a redirect to the group page; poll it rather
	// than read the page the click started from.
	waitFor(t, wait, "the resumed rollout to release the second wave", func() error {
		br.do("reload", wait, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.assignments td.held")))
		if h, p := br.text("table.assignments td.held"), br.text("table.assignments td.pending"); h != "0" || p != "1" {
			return fmt.Errorf("held %s, pending %s; want 0 and 1", h, p)
		}
		if n := br.eval(`String(document.querySelectorAll(".paused-reason").length)`); n != "0" {
			return fmt.Errorf("still shown as paused")
		}
		return nil
	})
}
