//go:build integration

package itest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// AgentAPI is where the agent API of a test's central is served: central
// itself once it mounts central/agentapi, otherwise a stand-in started by
// the test on central's database, PKI and package tree (a second central
// instance sharing the SQLite file, which the long-poll supports).
type AgentAPI struct {
	t     testing.TB
	c     *Central
	URL   string // agents' --server
	admin string // base of the admin routes (…/api/v1)
	pki   *pki.PKI
}

// startAgentAPI returns central's agent API, starting the stand-in when
// central does not serve it.
func startAgentAPI(t testing.TB, c *Central) *AgentAPI {
	t.Helper()
	pk, err := pki.Load(filepath.Join(c.Dir, "pki"), pki.Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := &AgentAPI{t: t, c: c, pki: pk}
	resp, err := c.client.Get(c.HTTPSURL + proto.AgentAPIPath + "/info")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			a.URL, a.admin = c.HTTPSURL, c.HTTPSURL+"/api/v1"
			return a
		}
	}
	t.Log("central does not serve the agent API yet: starting it in the test process on central's data directory")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(prefixWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	st, err := store.Open(context.Background(), store.Config{}, c.Dir, log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(c.Dir, "packages")}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := deploy.New(deploy.Config{}, st, b, http.DefaultClient, deploy.Locations{InfoLoc: c.InfoLoc, PackLoc: c.PackLoc}, log)
	if err != nil {
		t.Fatal(err)
	}
	api := agentapi.New(agentapi.Config{}, st, dep, b, pk, log)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	api.Register(e.Group(proto.AgentAPIPath))
	api.RegisterAdmin(e.Group("/api/v1", bearerAuth(st)))
	srv := httptest.NewUnstartedServer(e)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pk.ServerCert}}
	srv.Config.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	a.URL, a.admin = srv.URL, srv.URL+"/api/v1"
	return a
}

// bearerAuth checks central's API tokens, as central's own API does.
func bearerAuth(st *store.Store) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
			if !ok {
				return echo.ErrUnauthorized
			}
			t, err := st.TokenByHash(c.Request().Context(), hashHex(tok))
			if err != nil || !t.Valid(time.Now()) {
				return echo.ErrUnauthorized
			}
			return next(c)
		}
	}
}

type prefixWriter struct{ t testing.TB }

func (w prefixWriter) Write(p []byte) (int, error) {
	w.t.Log("agentapi: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// adminDo calls an admin route of the agent API with central's API token.
func (a *AgentAPI) adminDo(method, path string, in, out any, want int) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.admin+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a.c.send(req, out, want, false)
}

// token creates an enrollment token.
func (a *AgentAPI) token(maxUses int) string {
	a.t.Helper()
	var tok agentapi.TokenInfo
	a.adminDo("POST", "/agents/enrollment-tokens", map[string]any{"name": "itest", "max_uses": maxUses}, &tok, http.StatusCreated)
	return tok.Token
}

// fragmentStats returns what central served of pkg to agents.
func (a *AgentAPI) fragmentStats(pkg string) agentapi.FragmentStats {
	a.t.Helper()
	var m map[string]agentapi.FragmentStats
	a.adminDo("GET", "/agents/fragment-stats", nil, &m, http.StatusOK)
	return m[pkg]
}

// computerOf returns the computer ID of the agent enrolled as name.
func (a *AgentAPI) computerOf(name string) uint {
	a.t.Helper()
	var l struct {
		Items []agentapi.AgentInfo `json:"items"`
	}
	a.adminDo("GET", "/agents", nil, &l, http.StatusOK)
	for _, ag := range l.Items {
		if strings.HasPrefix(ag.DeviceID, name+"-") {
			return ag.ComputerID
		}
	}
	a.t.Fatalf("no agent enrolled as %s: %+v", name, l.Items)
	return 0
}

// Agent is a shoal-agent process with its own state directory.
type Agent struct {
	t       testing.TB
	Name    string
	Dir     string
	Config  string
	LogFile string
	// Bin overrides the shoal-agent binary (a test build) when set.
	Bin string
	// Args are appended to the agent's command line.
	Args []string
	// NetNS, when set, runs the agent inside that network namespace.
	NetNS string
	cmd   *exec.Cmd
	done  chan error
}

// newAgent writes an agent config for server (extraYAML is appended) and
// enrolls it with `shoal-agent enroll`.
func newAgent(t testing.TB, a *AgentAPI, name, server, extraYAML string) *Agent {
	t.Helper()
	dir := t.TempDir()
	ag := &Agent{t: t, Name: name, Dir: dir, Config: filepath.Join(dir, "agent.yaml"), LogFile: filepath.Join(dir, "agent.log")}
	cfg := fmt.Sprintf("server: %s\nstate_dir: %s\nhostname: %s\njobs:\n  long_poll: 20s\n  progress_interval: 500ms\n%s",
		server, filepath.Join(dir, "state"), name, extraYAML)
	if err := os.WriteFile(ag.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runAgentEnroll(ag.Config, a.token(1), a.c.CAFile); err != nil {
		t.Fatalf("shoal-agent enroll: %v", err)
	}
	return ag
}

// runAgentEnroll runs `shoal-agent enroll` with a config file; extra is
// appended (-force).
func runAgentEnroll(config, token, caFile string, extra ...string) error {
	args := append([]string{"enroll", "-config", config, "--token", token, "--ca", caFile}, extra...)
	out, err := exec.Command(filepath.Join(binDir, "shoal-agent"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// Start runs the agent in the background.
func (ag *Agent) Start() {
	ag.t.Helper()
	f, err := os.OpenFile(ag.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		ag.t.Fatal(err)
	}
	level := "debug"
	if _, bench := ag.t.(*testing.B); bench {
		level = "info"
	}
	bin := filepath.Join(binDir, "shoal-agent")
	if ag.Bin != "" {
		bin = ag.Bin
	}
	ag.cmd = exec.Command(bin, append([]string{"-config", ag.Config, "-log-level", level}, ag.Args...)...)
	if ag.NetNS != "" {
		ag.cmd = exec.Command("ip", append([]string{"netns", "exec", ag.NetNS}, ag.cmd.Args...)...)
	}
	ag.cmd.Stdout, ag.cmd.Stderr = f, f
	if err := ag.cmd.Start(); err != nil {
		ag.t.Fatal(err)
	}
	f.Close()
	ag.done = make(chan error, 1)
	go func() { ag.done <- ag.cmd.Wait() }()
	ag.t.Cleanup(ag.Stop)
}

// PID returns the running agent's process ID.
func (ag *Agent) PID() int { return ag.cmd.Process.Pid }

// Kill kills the agent with SIGKILL and waits for it.
func (ag *Agent) Kill() {
	ag.t.Helper()
	_ = ag.cmd.Process.Kill()
	<-ag.done
	ag.done <- nil
}

// Stop stops the agent with SIGTERM and checks that it exits cleanly.
func (ag *Agent) Stop() {
	select {
	case err := <-ag.done:
		ag.done <- err
		return
	default:
	}
	_ = ag.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ag.done:
		ag.done <- err
		if err != nil {
			ag.t.Errorf("agent %s did not exit cleanly: %v\n%s", ag.Name, err, ag.tail())
		}
	case <-time.After(20 * time.Second):
		_ = ag.cmd.Process.Kill()
		ag.t.Errorf("agent %s did not stop within 20s\n%s", ag.Name, ag.tail())
	}
	if ag.t.Failed() {
		ag.t.Logf("agent %s log:\n%s", ag.Name, ag.tail())
	}
}

func (ag *Agent) tail() string {
	b, _ := os.ReadFile(ag.LogFile)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// logLine returns the first agent log line containing all of parts.
func (ag *Agent) logLine(parts ...string) string {
	f, err := os.Open(ag.LogFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}

// deploymentOf returns the single deployment of pkg with its events.
func (c *Central) deploymentOf(pkg string) api.DeploymentDetail {
	c.t.Helper()
	var l api.List[api.Deployment]
	c.do("GET", "/api/v1/packages/"+pkg+"/deployments", nil, &l, http.StatusOK)
	if len(l.Items) != 1 {
		c.t.Fatalf("package %s has %d deployments, want 1", pkg, len(l.Items))
	}
	var d api.DeploymentDetail
	c.do("GET", fmt.Sprintf("/api/v1/deployments/%d", l.Items[0].ID), nil, &d, http.StatusOK)
	return d
}

// waitState waits until the deployment of pkg is in state and returns it.
func (c *Central) waitState(pkg, state string, timeout time.Duration) api.DeploymentDetail {
	c.t.Helper()
	var d api.DeploymentDetail
	waitFor(c.t, timeout, "package "+pkg+" "+state, func() error {
		d = c.deploymentOf(pkg)
		if d.Deployment.State != state {
			return fmt.Errorf("state %s (%s)", d.Deployment.State, d.Deployment.ResultCode)
		}
		return nil
	})
	return d
}

// publish creates and activates a package, returning its ID.
func (c *Central) publish(spec PackageSpec, payload []byte) string {
	c.t.Helper()
	id := c.createPackage(spec, payload)
	c.activate(id, map[string]any{}, http.StatusOK)
	return id
}

// publishFile uploads the file at path as a package, streaming it.
func (c *Central) publishFile(spec PackageSpec, path string) string {
	c.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, v := range spec {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("file", filepath.Base(path))
		f, err := os.Open(path)
		if err == nil {
			_, err = io.Copy(fw, f)
			f.Close()
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", c.HTTPSURL+"/api/v1/packages", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var p struct {
		ID string `json:"id"`
	}
	c.send(req, &p, http.StatusCreated, false)
	c.activate(p.ID, map[string]any{"skip_check": true}, http.StatusOK)
	return p.ID
}

// affectTo assigns pkg to one computer.
func (c *Central) affectTo(pkg string, computerID uint) {
	c.affect(pkg, map[string]any{"computer_ids": []uint{computerID}})
}

// tlsProxy is a reverse proxy to target with a certificate from central's
// relay CA (loopback names are not excluded from it); tamper may change
// each fragment response.
type tlsProxy struct {
	*httptest.Server
}

func newTLSProxy(t testing.TB, a *AgentAPI, target string, handler func(target string, w http.ResponseWriter, r *http.Request)) *tlsProxy {
	t.Helper()
	_, chain, key, err := a.pki.IssueRelay([]string{"127.0.0.1", "localhost"}, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler(target, w, r) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &tlsProxy{Server: srv}
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// randomBytes returns n pseudo-random (incompressible) bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5ea1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}
