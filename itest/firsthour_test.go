//go:build integration

package itest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// This file runs what a new admin reads, exactly as printed or shipped:
// each binary's -h and the subcommands it lists, the enroll command
// shoal-agent prints when it is not enrolled, and the example configs of
// agent/dist, relay/dist and docs, started with no edits (issue 15).

// runPrinted runs a command line as a shell would, with the test binaries
// first on PATH under the names make build gives them, and returns its exit
// code and combined output.
func runPrinted(t *testing.T, line string, extraEnv ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Env = append(os.Environ(), append([]string{"PATH=" + binDir + ":" + os.Getenv("PATH")}, extraEnv...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("%s: %v", line, err)
	}
	return 0, string(out)
}

// helpCommands returns the name and summary of each line of the Commands:
// section of a -h output.
func helpCommands(out string) map[string]string {
	cmds := map[string]string{}
	in := false
	line := regexp.MustCompile(`^  (\S+(?: \S+)*)\s{2,}(\S.*)$`)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		switch {
		case strings.TrimSpace(sc.Text()) == "Commands:":
			in = true
		case in && strings.TrimSpace(sc.Text()) == "":
			in = false
		case in:
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				cmds[m[1]] = m[2]
			}
		}
	}
	return cmds
}

// TestBinaryHelpListsSubcommands runs each binary's -h: it exits 0, says
// what the binary is, lists every subcommand on one line with a summary,
// and each listed subcommand's own -h works as printed.
func TestBinaryHelpListsSubcommands(t *testing.T) {
	tests := []struct {
		bin  string
		want []string // subcommands that must be listed
	}{
		{bin: "shoal-agent", want: []string{"enroll"}},
		{bin: "shoal-relay", want: []string{"enroll"}},
		{bin: "shoal-central", want: []string{"migrate", "backup", "restore"}},
		{bin: "shoal-tracker"},
		{bin: "shoalctl", want: []string{"login", "logout", "version", "completion", "package create", "package affect", "deploy status",
			"computer list", "computer get", "computer export", "search create", "site create", "group create", "relay list", "relay token",
			"relay delete", "token list", "settings set", "audit list"}},
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			code, out := runPrinted(t, tt.bin+" -h")
			if code != 0 {
				t.Fatalf("%s -h: exit %d\n%s", tt.bin, code, out)
			}
			if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, tt.bin+": ") || len(first) < len(tt.bin)+20 {
				t.Errorf("%s -h: first line %q does not say what the binary is", tt.bin, first)
			}
			cmds := helpCommands(out)
			for _, w := range tt.want {
				if cmds[w] == "" {
					t.Errorf("%s -h does not list %q on its own line:\n%s", tt.bin, w, out)
				}
			}
			if len(tt.want) == 0 && len(cmds) > 0 {
				t.Errorf("%s -h lists commands %v it does not have", tt.bin, cmds)
			}
			if tt.bin != "shoalctl" && !strings.Contains(out, "-config") {
				t.Errorf("%s -h lists no flags:\n%s", tt.bin, out)
			}
			for name := range cmds {
				if code, sub := runPrinted(t, tt.bin+" "+name+" -h"); code != 0 || !strings.Contains(sub, "-") {
					t.Errorf("%s %s -h: exit %d\n%s", tt.bin, name, code, sub)
				}
			}
		})
	}
}

// startCentralExample starts shoal-central with docs/central.example.yaml
// as shipped, overriding only what flags may: the data directory and the
// listen addresses.
func TestCentralExampleConfigStarts(t *testing.T) {
	example, err := filepath.Abs("../docs/central.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "shoal-central"), "-config", example, "-data-dir", dir,
		"-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SHOAL_ADMIN_PASSWORD="+adminPassword)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 60*time.Second, "central.json", func() error {
		select {
		case err := <-done:
			t.Fatalf("central exited: %v\n%s", err, log.String())
		default:
		}
		_, err := os.Stat(filepath.Join(dir, "central.json"))
		return err
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("central with the example config did not exit cleanly: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("central did not stop\n%s", log.String())
	}
}

// TestAgentEnrollHintAndExampleConfig starts shoal-agent with
// agent/dist/agent.example.yaml as shipped on an empty state directory,
// runs the enroll command it prints (filling in only the placeholders),
// and starts it again with the same file: it runs. Enrolling the same
// state directory again is refused without -force; with -force, the
// running agent reloads the new enrollment by itself and still installs
// what is affected to it.
func TestAgentEnrollHintAndExampleConfig(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	example, err := filepath.Abs("../agent/dist/agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")

	code, out := runPrinted(t, fmt.Sprintf("shoal-agent -config %s -state-dir %s", example, state))
	if code == 0 {
		t.Fatalf("shoal-agent on an empty state directory exited 0:\n%s", out)
	}
	var hint string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  shoal-agent enroll ") {
			hint = strings.TrimSpace(l)
		}
	}
	want := fmt.Sprintf("shoal-agent enroll -config %s -state-dir %s -server https://<CENTRAL>:8443 -token <TOKEN> -ca <CA-FILE>", example, state)
	if hint != want {
		t.Fatalf("not-enrolled hint\n  %q\nwant\n  %q\nin:\n%s", hint, want, out)
	}
	fill := func(tok string) string {
		return strings.NewReplacer("https://<CENTRAL>:8443", a.URL, "<TOKEN>", tok, "<CA-FILE>", c.CAFile).Replace(hint)
	}
	if code, out := runPrinted(t, fill(a.token(1))); code != 0 {
		t.Fatalf("the printed enroll command failed: exit %d\n%s", code, out)
	}

	host, _ := os.Hostname()
	ag := &Agent{t: t, Name: host, Dir: dir, Config: example, LogFile: filepath.Join(dir, "agent.log"), Args: []string{"-state-dir", state}}
	ag.Start()
	waitFor(t, 30*time.Second, "agent running", func() error {
		if ag.logLine("agent running") == "" {
			return errors.New("not yet")
		}
		return nil
	})
	cid := a.computerOf(host)

	// Enrolling again without -force: refused, and the agent keeps running.
	code, out = runPrinted(t, fill(a.token(1)))
	if code == 0 || !strings.Contains(out, "-force") {
		t.Fatalf("enrolling an enrolled state directory without -force: exit %d, want a refusal naming -force:\n%s", code, out)
	}
	secret := readSecret(t, state)
	if code, out := runPrinted(t, fill(a.token(1))+" -force"); code != 0 {
		t.Fatalf("enroll -force: exit %d\n%s", code, out)
	}
	if readSecret(t, state) == secret {
		t.Fatal("enroll -force kept the old secret")
	}
	waitFor(t, 30*time.Second, "the running agent to reload its enrollment", func() error {
		if ag.logLine("state directory enrolled again") == "" {
			return errors.New("not yet")
		}
		return nil
	})
	out2 := t.TempDir()
	pkg := c.publish(PackageSpec{"name": "after-reenroll", "action": "EXECUTE", "priority": "5", "fragments": "2",
		"command": "sh run.sh " + filepath.Join(out2, "ran.txt")},
		targz(t, map[string]string{"run.sh": "#!/bin/sh\necho ran > \"$1\"\n", "pad.bin": string(randomBytes(200<<10, 7))}))
	c.affectTo(pkg, cid)
	c.waitState(pkg, "success", 60*time.Second)
	if ag.logLine("central refuses this agent") != "" {
		t.Errorf("the agent ran with a replaced secret:\n%s", ag.tail())
	}
	ag.Stop()
}

// readSecret returns the agent secret in a state directory.
func readSecret(t *testing.T, state string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "enrollment.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"secret":\s*"([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no secret in %s", b)
	}
	return string(m[1])
}

// TestRelayExampleConfigAfterEnrollment enrolls a relay with the shoalctl
// and shoal-relay commands the README shows, then starts shoal-relay with
// relay/dist/relay.example.yaml as shipped (only -data-dir given, the same
// as at enrollment): it listens on the enrolled URL, takes upstream, CA and
// manifest key from the enrollment, and serves a package's info file.
func TestRelayExampleConfigAfterEnrollment(t *testing.T) {
	c := startCentral(t, "")
	a := startAgentAPI(t, c)
	home := t.TempDir()
	ctl := newCtl(t, home)
	ctl.ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)
	ctl.ok(nil, "sites", "create", "branch-12", "--cidr", "10.12.0.0/16")
	var tok relayTokenAnswer
	ctl.ok(&tok, "-o", "json", "relays", "token", "--site", "branch-12", "--name", "relay-12")
	if tok.Token == "" {
		t.Fatalf("shoalctl relays token: no token in %+v", tok)
	}
	example, err := filepath.Abs("../relay/dist/relay.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "relay")
	url := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	enroll := fmt.Sprintf("shoal-relay enroll -server %s -token %s -ca %s -site branch-12 -name relay-12 -url %s -data-dir %s",
		a.URL, tok.Token, c.CAFile, url, data)
	if code, out := runPrinted(t, enroll); code != 0 {
		t.Fatalf("%s: exit %d\n%s", enroll, code, out)
	}

	cmd := exec.Command(filepath.Join(binDir, "shoal-relay"), "-config", example, "-data-dir", data)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay did not exit cleanly: %v\n%s", err, log.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("relay did not stop\n%s", log.String())
		}
	}
	t.Cleanup(stop)
	pkg := c.publish(PackageSpec{"name": "via-relay", "action": "STORE", "priority": "5", "path": "/tmp/none"},
		targz(t, map[string]string{"a.txt": "relayed\n"}))
	waitFor(t, 30*time.Second, "the relay to serve the info file", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("relay with the example config exited: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(url + "/download/" + pkg + "/info")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	var relays api.List[api.Relay]
	waitFor(t, 60*time.Second, "central to see the relay online", func() error {
		c.do("GET", "/api/v1/relays", nil, &relays, http.StatusOK)
		if !slices.ContainsFunc(relays.Items, func(r api.Relay) bool { return r.Name == "relay-12" && r.Online }) {
			return fmt.Errorf("relays %+v", relays.Items)
		}
		return nil
	})
	stop()
}

// relayTokenAnswer is what shoalctl relays token -o json prints.
type relayTokenAnswer struct {
	Token         string `json:"token"`
	EnrollCommand string `json:"enroll_command"`
}

// TestErrorTextsForAdmins checks what central and shoalctl say to an admin
// who mistypes: a wrong password in shoalctl login gets a hint about the
// password (not "run 'shoalctl login'"), and REST answers for IDs that do
// not exist say what is missing without gorm's "record not found".
func TestErrorTextsForAdmins(t *testing.T) {
	c := startCentral(t, "")
	ctl := newCtl(t, t.TempDir())
	code, out, errOut := ctl.run([]string{"SHOAL_PASSWORD=not-the-password"}, "login", "--server", c.HTTPSURL, "--ca", c.CAFile)
	if code == 0 || !strings.Contains(errOut, `hint: wrong password for user "admin"`) || strings.Contains(errOut, "run 'shoalctl login'") {
		t.Errorf("shoalctl login with a wrong password: exit %d, want the wrong-password hint:\n%s%s", code, out, errOut)
	}
	ctl.ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)
	for _, args := range [][]string{{"package", "show", "999"}, {"computers", "show", "999"}, {"package", "activate", "999"},
		{"deploy", "status", "999"}, {"deploy", "cancel", "999"}, {"sites", "delete", "999"}, {"relays", "delete", "999"}} {
		code, out, errOut := ctl.run(nil, args...)
		if code == 0 || strings.Contains(out+errOut, "record not found") || !strings.Contains(errOut, "404") {
			t.Errorf("shoalctl %s: exit %d, want a 404 without \"record not found\":\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, p := range []string{"/api/v1/packages/999", "/api/v1/computers/999", "/api/v1/deployments/999", "/api/v1/packages/999/deployments"} {
		req, _ := http.NewRequest("GET", c.HTTPSURL+p, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		body := string(c.send(req, nil, http.StatusNotFound, false))
		if strings.Contains(body, "record not found") || !strings.Contains(body, "not found") {
			t.Errorf("GET %s: %s", p, body)
		}
	}
}

// readmeBlock returns the README's sh code block that contains marker,
// with the quick start's addresses and paths replaced by the test's:
// central's URL and CA file, the binaries built for the tests, and the
// shipped example configs by absolute path.
func readmeBlock(t *testing.T, marker string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range readmeBlocks(string(b)) {
		if block := mb.text + "\n"; mb.lang == "sh" && strings.Contains(block, marker) {
			return strings.NewReplacer(append(repl, "bin/shoal", binDir+"/shoal", "relay/dist/", root+"/relay/dist/",
				"agent/dist/", root+"/agent/dist/")...).Replace(block)
		}
	}
	t.Fatalf("README.md has no sh block with %q", marker)
	return ""
}

// TestReadmeAffectOneComputerByID runs the README's block that affects a
// package to one computer by its ID, on a computer the real OCS agent
// inventoried.
func TestReadmeAffectOneComputerByID(t *testing.T) {
	// Mostly waiting: runs beside the other such tests (make itest -parallel 6).
	t.Parallel()
	c := startCentral(t, "")
	ocs := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := ocs.Run(); code != 0 {
		t.Fatalf("ocsinventory-agent: exit %d\n%s", code, log)
	}
	c.publish(PackageSpec{"name": "one-computer", "action": "STORE", "priority": "5", "path": t.TempDir()},
		targz(t, map[string]string{"a.txt": "one\n"}))
	home := t.TempDir()
	newCtl(t, home).ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)
	block := readmeBlock(t, `--computer "$ID"`)
	code, out := runPrinted(t, "set -e\n"+block, "HOME="+home)
	if code != 0 || !strings.Contains(out, "1 computer selected, 1 deployment created.") {
		t.Fatalf("README block\n%s\nexit %d:\n%s", block, code, out)
	}
}

// TestReadmeRelaySection runs the README's relay block: create the site,
// mint the relay token, enroll, then start the relay with the shipped
// example config, which serves the branch once started. Only the data
// directory is moved into the test's, with the -data-dir the README
// names, given to both relay commands.
func TestReadmeRelaySection(t *testing.T) {
	c := startCentral(t, "")
	home := t.TempDir()
	newCtl(t, home).ok(nil, "login", "--server", c.HTTPSURL, "--ca", c.CAFile, "--token", c.Token)
	data := filepath.Join(t.TempDir(), "relay")
	url := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	block := readmeBlock(t, "bin/shoal-relay enroll",
		"https://127.0.0.1:8443", c.HTTPSURL, `"$PWD/.run/central/pki/ca.pem"`, c.CAFile, "http://127.0.0.1:8090", url,
		"bin/shoal-relay enroll", binDir+"/shoal-relay enroll -data-dir "+data, "bin/shoal-relay -config", binDir+"/shoal-relay -data-dir "+data+" -config")
	var setup, start []string
	for _, l := range strings.Split(block, "\n") {
		if strings.Contains(l, "shoal-relay -data-dir") {
			start = append(start, l)
		} else {
			setup = append(setup, l)
		}
	}
	if len(start) != 1 {
		t.Fatalf("README relay block starts the relay %d times:\n%s", len(start), block)
	}
	if code, out := runPrinted(t, "set -e\n"+strings.Join(setup, "\n"), "HOME="+home); code != 0 {
		t.Fatalf("README relay block\n%s\nexit %d:\n%s", block, code, out)
	}
	cmd := exec.Command("sh", "-c", "exec "+start[0])
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay did not exit cleanly: %v\n%s", err, log.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("relay did not stop\n%s", log.String())
		}
	}()
	waitFor(t, 30*time.Second, "the relay of the README to serve", func() error {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("relay exited: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// TestReadmeAgentSection runs the README's Shoal agent block (after the
// API block's CA, API and H, which it uses): mint a token, enroll, start
// the agent with the shipped example config; it runs. Only the state
// directory is moved into the test's, with the -state-dir the README
// names, given to both commands.
func TestReadmeAgentSection(t *testing.T) {
	c := startCentral(t, "")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	api := readmeBlock(t, "H=\"Authorization: Bearer $TOKEN\"", "https://127.0.0.1:8443", c.HTTPSURL, ".run/central/pki/ca.pem", c.CAFile)
	var prelude []string
	for _, l := range strings.Split(api, "\n") {
		if strings.HasPrefix(l, "CA=") || strings.HasPrefix(l, "H=") {
			prelude = append(prelude, l)
		}
	}
	block := readmeBlock(t, "bin/shoal-agent enroll",
		"https://127.0.0.1:8443", c.HTTPSURL, `"$PWD/.run/central/pki/ca.pem"`, c.CAFile,
		"bin/shoal-agent enroll", binDir+"/shoal-agent enroll -state-dir "+state, "bin/shoal-agent -config", binDir+"/shoal-agent -state-dir "+state+" -config")
	var setup, start []string
	for _, l := range strings.Split(block, "\n") {
		if strings.Contains(l, "shoal-agent -state-dir") {
			start = append(start, l)
		} else {
			setup = append(setup, l)
		}
	}
	if len(prelude) != 2 || len(start) != 1 {
		t.Fatalf("README: API prelude %q, agent starts %q", prelude, start)
	}
	script := "set -e\nTOKEN=" + c.Token + "\n" + strings.Join(prelude, "\n") + "\n" + strings.Join(setup, "\n")
	if code, out := runPrinted(t, script); code != 0 {
		t.Fatalf("README agent block\n%s\nexit %d:\n%s", script, code, out)
	}
	host, _ := os.Hostname()
	ag := &Agent{t: t, Name: host, Dir: dir, Config: filepath.Join(dir, "unused"), LogFile: filepath.Join(dir, "agent.log")}
	f, err := os.Create(ag.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	ag.cmd = exec.Command("sh", "-c", "exec "+start[0])
	ag.cmd.Stdout, ag.cmd.Stderr = f, f
	if err := ag.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ag.done = make(chan error, 1)
	go func() { ag.done <- ag.cmd.Wait() }()
	t.Cleanup(ag.Stop)
	waitFor(t, 30*time.Second, "the README's agent to run", func() error {
		select {
		case err := <-ag.done:
			ag.done <- err
			t.Fatalf("agent exited: %v\n%s", err, ag.tail())
		default:
		}
		if ag.logLine("agent running") == "" {
			return errors.New("not yet")
		}
		return nil
	})
}

// TestMakeBuildSaysWhatItDoes runs make build (which make run starts
// with): before any compiler output it says what it builds and where,
// and the five binaries are then in that directory.
func TestMakeBuildSaysWhatItDoes(t *testing.T) {
	heavy(t)
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build", "BIN="+bin)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "make build: building shoal-central shoal-agent shoal-relay shoal-tracker shoalctl into "+bin+"/") {
		t.Errorf("make build begins with %q, want what it builds", lines[0])
	}
	for _, b := range []string{"shoal-central", "shoal-agent", "shoal-relay", "shoal-tracker", "shoalctl"} {
		if !slices.Contains(lines, "  "+bin+"/"+b) {
			t.Errorf("make build did not say it builds %s:\n%s", b, out)
		}
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Errorf("make build: %v", err)
		}
	}
}
