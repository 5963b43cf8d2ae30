//go:build integration

package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mdBlock is one fenced code block of README.md.
type mdBlock struct {
	line int    // the line of the opening fence, from 1
	lang string // the first word of the info string
	text string
	// skip is the reason given by a "<!-- readme-test: skip: reason -->"
	// comment on the line before the fence; such a block is not run.
	skip string
}

// readmeBlocks returns the fenced code blocks of a Markdown document.
func readmeBlocks(doc string) []mdBlock {
	var out []mdBlock
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			continue
		}
		b := mdBlock{line: i + 1}
		if f := strings.Fields(strings.TrimPrefix(l, "```")); len(f) > 0 {
			b.lang = f[0]
		}
		if i > 0 {
			prev := strings.TrimSpace(lines[i-1])
			if r, ok := strings.CutPrefix(prev, "<!-- readme-test: skip:"); ok {
				b.skip = strings.TrimSpace(strings.TrimSuffix(r, "-->"))
			}
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n")
		out = append(out, b)
	}
	return out
}

// readmeElsewhere names the sh blocks this test does not run, by a line
// they contain, and why: each is run by the test named, or cannot run here.
var readmeElsewhere = []struct{ contains, why string }{
	{"make test", "make test runs this test; TestReadmeBlocks starts `make run` itself"},
	{"shoal-agent enroll", "enrolls a computer as root into /var/lib/shoal-agent and starts a foreground agent: TestEnrollCommandAsPrinted and the agent section tests run it with the state directory moved into theirs"},
	{"shoal-relay enroll", "enrolls and starts a foreground relay: the relay section tests run it with the data directory moved into theirs"},
}

// TestReadmeBlocks runs README.md's sh code blocks as a new admin would,
// in order, in one shell, from a checkout (the repository's files linked
// into a temporary directory) where `make run` runs central in the
// background, exactly as the README says. The only changes: the ports of
// `make run`'s config (8443, 8080) are the ones the OS chose; <ID> is the
// newest package's ID, which the admin reads from the previous answer; the
// admin password typed at shoalctl's prompt comes from SHOAL_PASSWORD; the
// OCS agent keeps its state in the test's directory. A block that cannot run
// on one machine carries "<!-- readme-test: skip: reason -->" on the line
// before its fence, or is listed in readmeElsewhere; every other sh block
// runs, and the test fails when one fails. At the end central is stopped
// with SIGTERM and `make run` must exit 0.
func TestReadmeBlocks(t *testing.T) {
	heavy(t)
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	co := t.TempDir()
	ents, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch e.Name() {
		case ".git", ".run", "bin", ".artifacts", "lab-out":
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(co, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	// The Makefile's config for `make run`, on ports the OS chooses.
	runDir := filepath.Join(co, ".run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:0\nhttps_addr: 127.0.0.1:0\npublic_host: 127.0.0.1\n", filepath.Join(runDir, "central"))
	if err := os.WriteFile(filepath.Join(runDir, "central.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The archive the README's examples upload.
	if err := os.WriteFile(filepath.Join(co, "app.tar.gz"), targz(t, map[string]string{"install.sh": "#!/bin/sh\necho installed\n"}), 0o644); err != nil {
		t.Fatal(err)
	}
	// The OCS agent keeps its state here rather than in /var/lib.
	shims := t.TempDir()
	ocsState := t.TempDir()
	real, err := exec.LookPath("ocsinventory-agent")
	if err != nil {
		t.Skip("ocsinventory-agent is not installed; run `make test-deps`")
	}
	shim := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" --basevardir=%s --logfile=%s\n", real, ocsState, filepath.Join(ocsState, "agent.log"))
	if err := os.WriteFile(filepath.Join(shims, "ocsinventory-agent"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}

	// make run, in the background.
	mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer mcancel()
	var makeOut bytes.Buffer
	mk := exec.CommandContext(mctx, "make", "run")
	mk.Dir = co
	mk.Env = append(os.Environ(), "SHOAL_ADMIN_PASSWORD=")
	mk.Stdout, mk.Stderr = &makeOut, &makeOut
	mk.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := mk.Start(); err != nil {
		t.Fatal(err)
	}
	makeDone := make(chan error, 1)
	go func() { makeDone <- mk.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(-mk.Process.Pid, syscall.SIGKILL)
			<-makeDone
		}
	}()
	var rt struct {
		PID      int    `json:"pid"`
		HTTPURL  string `json:"http_url"`
		HTTPSURL string `json:"https_url"`
	}
	waitFor(t, 8*time.Minute, "make run to start central", func() error {
		select {
		case err := <-makeDone:
			makeDone <- err
			t.Fatalf("make run exited: %v\n%s", err, makeOut.String())
		default:
		}
		b, err := os.ReadFile(filepath.Join(runDir, "central", "central.json"))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rt)
	})
	ocs := &OCSAgent{t: t, Base: ocsState, Server: rt.HTTPSURL + "/ocsinventory"}
	t.Cleanup(ocs.killWorker)
	pw, err := os.ReadFile(filepath.Join(runDir, "central", "initial-admin-password"))
	if err != nil {
		t.Fatal(err)
	}

	// The blocks, in order, in one shell.
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	subst := strings.NewReplacer("https://127.0.0.1:8443", rt.HTTPSURL, "http://127.0.0.1:8080", rt.HTTPURL,
		"<ID>", `"$(curl -s --cacert "$PWD/.run/central/pki/ca.pem" -u "admin:$SHOAL_PASSWORD" '`+rt.HTTPSURL+`/api/v1/packages?limit=1' | jq -r '.items[0].id')"`)
	ran := 0
	for _, b := range readmeBlocks(string(raw)) {
		if b.lang != "sh" && b.lang != "bash" {
			continue
		}
		why := b.skip
		for _, e := range readmeElsewhere {
			if why == "" && strings.Contains(b.text, e.contains) {
				why = e.why
			}
		}
		if why != "" {
			t.Logf("README.md:%d not run: %s", b.line, why)
			continue
		}
		ran++
		fmt.Fprintf(&script, "echo '### README.md:%d' >&2\n%s\n", b.line, subst.Replace(b.text))
	}
	if ran == 0 {
		t.Fatal("no README block to run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = co
	sh.Env = append(os.Environ(), "PATH="+shims+":"+filepath.Join(co, "bin")+":"+os.Getenv("PATH"),
		"SHOAL_PASSWORD="+strings.TrimSpace(string(pw)), "HOME="+t.TempDir())
	// A file, not a pipe: the OCS agent's download worker inherits it.
	outPath := filepath.Join(t.TempDir(), "blocks.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	sh.Stdout, sh.Stderr = out, out
	err = sh.Run()
	out.Close()
	if err != nil {
		b, _ := os.ReadFile(outPath)
		t.Fatalf("a README block failed (the last '### README.md:N' line names it): %v\n%s\nscript:\n%s", err, b, script.String())
	}

	// Ctrl-C's equivalent for central: make run must end cleanly.
	if err := syscall.Kill(rt.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-makeDone:
		stopped = true
		if err != nil {
			t.Errorf("make run exited with %v after central's SIGTERM\n%s", err, makeOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("make run still running 30s after central's SIGTERM")
	}
}
