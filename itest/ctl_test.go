//go:build integration

package itest

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestShoalctlNounsSearchesExport drives a real central with the shoalctl
// binary's noun-verb commands: help, the old spellings, -o yaml, a shared
// saved search reused by a listing, an export and a dynamic group, sites
// by name, settings, tokens, the audit log, version, not-found errors
// without database text, and the bash completion script in a real bash.
func TestShoalctlNounsSearchesExport(t *testing.T) {
	t.Parallel()
	c := startCentral(t, "")
	for i, name := range []string{"ctl-a", "ctl-b", "ctl-c"} {
		c.postInventory(fmt.Sprintf("ctl-%d-2026-12-05-07-00-00", i), name)
	}
	ctl := newCtl(t, t.TempDir())
	ctl.ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)

	if out := ctl.ok(nil, "help", "computer", "list"); !strings.Contains(out, "Examples:") || !strings.Contains(out, "--software-version TEXT") {
		t.Errorf("help computer list:\n%s", out)
	}
	if out := ctl.ok(nil, "computer", "list", "--name", "ctl-", "-o", "yaml"); !strings.Contains(out, "name: ctl-a\n") || !strings.Contains(out, "total: 3\n") {
		t.Errorf("computer list -o yaml:\n%s", out)
	}
	if out := ctl.ok(nil, "computers", "--name", "ctl-", "--no-headers"); strings.Contains(out, "LAST CONTACT") || strings.Count(out, "ctl-") != 3 {
		t.Errorf("computers --no-headers:\n%s", out)
	}

	var ss struct {
		ID     uint              `json:"id"`
		Search map[string]string `json:"search"`
	}
	ctl.ok(&ss, "search", "create", "ctl-hosts", "--name", "ctl-", "--shared", "-o", "json")
	if ss.ID == 0 || ss.Search["name"] != "ctl-" {
		t.Fatalf("search create: %+v", ss)
	}
	var l struct {
		Total int `json:"total"`
	}
	ctl.ok(&l, "computer", "list", "--search", "ctl-hosts", "-o", "json")
	if l.Total != 3 {
		t.Errorf("computer list --search ctl-hosts: %d computers, want 3", l.Total)
	}
	file := filepath.Join(t.TempDir(), "ctl.csv")
	ctl.ok(nil, "computer", "export", "--search", "ctl-hosts", "--name", "ctl-b", "--file", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 2 || rows[0][1] != "name" || rows[1][1] != "ctl-b" {
		t.Errorf("export with --name beside the saved search: %q, %v", rows, err)
	}
	var g struct {
		Dynamic bool `json:"dynamic"`
		Members int  `json:"members"`
	}
	ctl.ok(&g, "group", "create", "ctl-dyn", "--search", "ctl-hosts", "-o", "json")
	if !g.Dynamic || g.Members != 3 {
		t.Errorf("group create --search ctl-hosts: %+v", g)
	}

	ctl.ok(nil, "site", "create", "ctl-site", "--cidr", "10.99.0.0/16", "--time-zone", "Europe/Paris")
	if out := ctl.ok(nil, "site", "get", "CTL-SITE"); !strings.Contains(out, "Europe/Paris") || !strings.Contains(out, "10.99.0.0/16") {
		t.Errorf("site get CTL-SITE:\n%s", out)
	}
	ctl.ok(nil, "settings", "set", "prolog_freq_hours=11")
	var st struct {
		PrologFreqHours int `json:"prolog_freq_hours"`
	}
	ctl.ok(&st, "settings", "get", "-o", "json")
	if st.PrologFreqHours != 11 {
		t.Errorf("prolog_freq_hours after settings set: %d", st.PrologFreqHours)
	}
	var tok struct {
		ID    uint   `json:"id"`
		Token string `json:"token"`
	}
	ctl.ok(&tok, "token", "create", "ctl-readonly", "--role", "readonly", "-o", "json")
	if out := ctl.ok(nil, "token", "list"); !strings.Contains(out, "ctl-readonly") {
		t.Errorf("token list:\n%s", out)
	}
	ctl.ok(nil, "token", "delete", fmt.Sprint(tok.ID))
	if out := ctl.ok(nil, "audit", "list", "--action", "search."); !strings.Contains(out, "search.create") || !strings.Contains(out, "token:itest") {
		t.Errorf("audit list --action search.:\n%s", out)
	}
	var v struct {
		Client          string `json:"client"`
		ProtocolVersion int    `json:"protocol_version"`
	}
	ctl.ok(&v, "version", "-o", "json")
	if v.Client == "" || v.ProtocolVersion == 0 {
		t.Errorf("version: %+v", v)
	}

	for _, args := range [][]string{{"computer", "get", "999"}, {"computer", "delete", "999"}, {"group", "get", "nope"},
		{"site", "get", "999"}, {"search", "get", "nope"}, {"token", "delete", "999"}, {"computer", "list", "--search", "nope"}} {
		code, out, errOut := ctl.run(nil, args...)
		if code != 1 || strings.Contains(out+errOut, "record not found") || !strings.Contains(errOut, "404") {
			t.Errorf("shoalctl %s: exit %d, want a 404 without database text:\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	// The completion script in a real bash: it completes nouns and verbs
	// through the binary.
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	script := `source <(shoalctl completion bash)
COMP_WORDS=(shoalctl sea); COMP_CWORD=1; _shoalctl; echo "${COMPREPLY[*]}"
COMP_WORDS=(shoalctl search cr); COMP_CWORD=2; _shoalctl; echo "${COMPREPLY[*]}"`
	cmd := exec.CommandContext(ctx, bash, "-c", script)
	cmd.Env = append(ctl.env, "PATH="+binDir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "search searches\ncreate\n" {
		t.Errorf("bash completion: %v\n%q", err, out)
	}
}

// TestWebUIComputersBulk ticks two computers in the computers list of
// headless Chromium, sets their TAG in one action, saves the search, and
// finds the export link carrying the search.
func TestWebUIComputersBulk(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	c := startCentral(t, "")
	c.postInventory("bulk-1-2026-12-05-07-00-00", "bulk-one")
	c.postInventory("bulk-2-2026-12-05-07-00-00", "bulk-two")
	c.postInventory("other-2026-12-05-07-00-00", "other-host")
	base := c.HTTPSURL
	const wait = 30 * time.Second
	br.do("log in", wait, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), c.Password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(".tiles")))
	br.do("computers named bulk-", wait, chromedp.Navigate(base+"/ui/computers?name=bulk-"), chromedp.WaitVisible(chromedp.ID("bulk")))
	if href := br.eval(`document.getElementById("export-csv").getAttribute("href")`); href != "/ui/computers.csv?name=bulk-" {
		t.Errorf("export link %q", href)
	}
	// The TAG field shows once the action is chosen; the confirmation is
	// accepted.
	if hidden := br.eval(`String(document.getElementById("bulk-tag").closest("[data-action]").hidden)`); hidden != "true" {
		t.Errorf("the TAG field shows before its action is chosen (hidden=%s)", hidden)
	}
	br.do("tick every computer", wait, chromedp.Click(chromedp.ID("sel-all")))
	if n := br.eval(`String(document.querySelectorAll("input[name=computer]:checked").length)`); n != "2" {
		t.Errorf("%s computers ticked by the header checkbox, want 2", n)
	}
	br.eval(`(function(){ window.confirm = function(){ return true; };
		var a = document.getElementById("bulk-action"); a.value = "tag"; a.dispatchEvent(new Event("change")); return ""; })()`)
	br.do("set the TAG of the ticked computers", wait,
		chromedp.WaitVisible(chromedp.ID("bulk-tag")),
		chromedp.SendKeys(chromedp.ID("bulk-tag"), "bulk-ui"),
		chromedp.Click(chromedp.CSS("#bulk button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".flash")))
	br.waitJS("TAG column", `document.querySelector("tbody") && document.querySelector("tbody").innerText.split("bulk-ui").length === 3`, wait)
	br.shot("computers-bulk-tag")
	if got := c.computers("?tag=bulk-ui"); len(got) != 2 {
		t.Errorf("%d computers tagged bulk-ui, want 2", len(got))
	}

	br.do("save the search", wait,
		chromedp.SendKeys(chromedp.ID("ss-name"), "bulk hosts"),
		chromedp.Click(chromedp.CSS("#save-search button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".saved-searches")))
	if got := br.text(".saved-searches"); !strings.Contains(got, "bulk hosts") || !strings.Contains(got, "private") {
		t.Errorf("saved searches: %q", got)
	}
}
