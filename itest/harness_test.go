//go:build integration

// Package itest runs Shoal's real binaries as processes on loopback, with the
// real OCS Inventory agent from Debian as a client.
package itest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/internal/testwait"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir holds the binaries built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-itest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		// One go build for the five binaries: their packages compile
		// once and the binaries link concurrently.
		names := []string{"central", "shoalctl", "agent", "relay", "tracker"}
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		for _, name := range names {
			args = append(args, "../cmd/"+name)
		}
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", names, err)
			return 1
		}
		for _, name := range names {
			if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, "shoal-"+name)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		// As make build names it, for commands run exactly as printed.
		if err := os.Symlink("shoal-shoalctl", filepath.Join(dir, "shoalctl")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// waitFor polls cond every interval until it returns nil or the deadline
// passes, then fails the test with the last error.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	testwait.For(t, timeout, what, cond)
}

// Central is a running shoal-central process.
type Central struct {
	t        testing.TB
	Dir      string
	HTTPURL  string
	HTTPSURL string
	CAFile   string
	InfoLoc  string
	PackLoc  string
	Password string
	Token    string
	client   *http.Client
	cmd      *exec.Cmd
	log      *bytes.Buffer
	done     chan error
}

const adminPassword = "itest-admin-password-0123"

// startCentral starts shoal-central on loopback ports chosen by the OS with
// fast OCS download timings; extraYAML is appended to its config.
func startCentral(t testing.TB, extraYAML string) *Central {
	t.Helper()
	return startCentralIn(t, t.TempDir(), "data", extraYAML)
}

// startCentralIn is startCentral with its config in dir and its data
// directory at dir/dataDir.
func startCentralIn(t testing.TB, dir, dataDir, extraYAML string) *Central {
	t.Helper()
	return startCentralAt(t, dir, dataDir, "127.0.0.1:0", "127.0.0.1:0", extraYAML)
}

// startCentralAt is startCentralIn listening on the given addresses.
func startCentralAt(t testing.TB, dir, dataDir, httpAddr, httpsAddr, extraYAML string) *Central {
	t.Helper()
	return startCentralBin(t, filepath.Join(binDir, "shoal-central"), dir, dataDir, httpAddr, httpsAddr, extraYAML)
}

// startCentralBin is startCentralAt running the shoal-central binary at
// bin (another build's, for A/B benchmarks).
func startCentralBin(t testing.TB, bin, dir, dataDir, httpAddr, httpsAddr, extraYAML string) *Central {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir: %s
http_addr: %s
https_addr: %s
public_host: 127.0.0.1
agents:
  download:
    cycle_latency: 1
    frag_latency: 1
    period_latency: 1
    period_length: 10
    timeout_days: 1
%s`, filepath.Join(dir, dataDir), httpAddr, httpsAddr, extraYAML)
	cfgPath := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Central{t: t, Dir: filepath.Join(dir, dataDir), Password: adminPassword, log: &bytes.Buffer{}, done: make(chan error, 1)}
	level := "debug" // request logs help when a test fails
	if _, bench := t.(*testing.B); bench {
		level = "warn"
	}
	c.cmd = exec.Command(bin, "-config", cfgPath, "-log-level", level)
	c.cmd.Env = append(os.Environ(), "SHOAL_ADMIN_PASSWORD="+adminPassword)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(c.stop)

	var rt struct {
		HTTPURL  string `json:"http_url"`
		HTTPSURL string `json:"https_url"`
		CAFile   string `json:"ca_file"`
		InfoLoc  string `json:"info_loc"`
		PackLoc  string `json:"pack_loc"`
	}
	waitFor(t, 60*time.Second, "central.json", func() error {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("central exited: %v\n%s", err, c.log)
		default:
		}
		b, err := os.ReadFile(filepath.Join(c.Dir, "central.json"))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rt)
	})
	c.HTTPURL, c.HTTPSURL, c.CAFile, c.InfoLoc, c.PackLoc = rt.HTTPURL, rt.HTTPSURL, rt.CAFile, rt.InfoLoc, rt.PackLoc
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA file")
	}
	c.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var tok struct {
		Token string `json:"token"`
	}
	c.do("POST", "/api/v1/tokens", map[string]string{"name": "itest"}, &tok, http.StatusCreated, true)
	c.Token = tok.Token
	return c
}

func (c *Central) stop() {
	select {
	case err := <-c.done: // already exited
		c.done <- err
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err // a second stop (cleanup after an explicit stop) returns at once
		if err != nil {
			c.t.Errorf("central did not exit cleanly: %v\n%s", err, c.tail())
		}
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		c.t.Errorf("central did not stop within 20s\n%s", c.tail())
	}
	if c.t.Failed() {
		c.t.Logf("central log:\n%s", c.tail())
	}
}

func (c *Central) tail() string {
	s := c.log.String()
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// do sends a JSON API request and decodes the answer into out, failing the
// test when the status is not want.
func (c *Central) do(method, path string, in, out any, want int, basic ...bool) []byte {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			c.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.HTTPSURL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out, want, len(basic) > 0 && basic[0])
}

func (c *Central) send(req *http.Request, out any, want int, basic bool) []byte {
	c.t.Helper()
	if basic {
		req.SetBasicAuth("admin", c.Password)
	} else if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", req.Method, req.URL.Path, b, err)
		}
	}
	return b
}

// PackageSpec is an upload's form fields.
type PackageSpec map[string]string

// createPackage uploads payload as a new package and returns its ID.
func (c *Central) createPackage(spec PackageSpec, payload []byte) string {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range spec {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "payload.tar.gz")
	_, _ = fw.Write(payload)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.HTTPSURL+"/api/v1/packages", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var p struct {
		ID string `json:"id"`
	}
	c.send(req, &p, http.StatusCreated, false)
	if p.ID == "" {
		c.t.Fatal("created package has no ID")
	}
	return p.ID
}

// OCSAgent runs the real Debian ocsinventory-agent with its own state dir.
type OCSAgent struct {
	t      testing.TB
	Base   string // --basevardir
	Server string
	CA     string
}

func newOCSAgent(t testing.TB, server, ca string) *OCSAgent {
	t.Helper()
	if _, err := exec.LookPath("ocsinventory-agent"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ocsinventory-agent is not installed (make test installs it)")
		}
		t.Skip("ocsinventory-agent is not installed; run `make test-deps`")
	}
	a := &OCSAgent{t: t, Base: t.TempDir(), Server: server, CA: ca}
	t.Cleanup(a.killWorker)
	return a
}

// VarDir is where the agent keeps its state for this server.
func (a *OCSAgent) VarDir() string {
	return filepath.Join(a.Base, strings.ReplaceAll(a.Server, "/", "_"))
}

// Run runs the agent once in the foreground and returns its exit code and log.
func (a *OCSAgent) Run(extra ...string) (int, string) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"--nolocal", "--server=" + a.Server, "--basevardir=" + a.Base, "--debug"}
	if a.CA != "" {
		args = append(args, "--ca="+a.CA)
	}
	args = append(args, extra...)
	logFile := filepath.Join(a.Base, fmt.Sprintf("agent-%d.log", time.Now().UnixNano()))
	args = append(args, "--logfile="+logFile)
	// The agent forks a download worker that outlives it and inherits its
	// stdout and stderr: a file (not a pipe) lets Wait return when the
	// agent itself exits.
	out, err := os.Create(logFile + ".out")
	if err != nil {
		a.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "ocsinventory-agent", args...)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		a.t.Fatalf("run agent: %v", err)
	}
	ob, _ := os.ReadFile(logFile + ".out")
	lb, _ := os.ReadFile(logFile)
	return code, string(ob) + string(lb)
}

// workerPID returns the PID of the forked download worker, or 0.
func (a *OCSAgent) workerPID() int {
	b, err := os.ReadFile(filepath.Join(a.VarDir(), "download", "lock"))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil || pid <= 0 {
		return 0
	}
	if syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// waitWorker waits until the download worker has exited.
func (a *OCSAgent) waitWorker(timeout time.Duration) {
	a.t.Helper()
	waitFor(a.t, timeout, "OCS download worker to exit", func() error {
		if pid := a.workerPID(); pid != 0 {
			return fmt.Errorf("worker %d still running", pid)
		}
		return nil
	})
}

func (a *OCSAgent) killWorker() {
	if pid := a.workerPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
