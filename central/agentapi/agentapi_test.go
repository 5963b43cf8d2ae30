package agentapi_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/agent"
	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// env is an in-process central: store, PKI, builder, deploy service and the
// agent API on an httptest TLS server.
type env struct {
	t       testing.TB
	dir     string
	store   *store.Store
	pki     *pki.PKI
	builder *packages.Builder
	deploy  *deploy.Service
	api     *agentapi.API
	srv     *httptest.Server
	http    *http.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvConfig(t, agentapi.Config{PollInterval: 50 * time.Millisecond})
}

// newEnvConfig is newEnv with the agent API's configuration.
func newEnvConfig(t testing.TB, cfg agentapi.Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvPKI is newEnv with central's certificate configured by pc.
func newEnvPKI(t testing.TB, pc pki.Config) *env {
	t.Helper()
	return newEnvFull(t, agentapi.Config{PollInterval: 50 * time.Millisecond}, pc, nil)
}

// newEnvWith is newEnvConfig with mount wrapping central's handler (an
// embedded tracker), when set.
func newEnvWith(t testing.TB, cfg agentapi.Config, mount func(next http.Handler, pk *pki.PKI, st *store.Store) http.Handler) *env {
	t.Helper()
	return newEnvFull(t, cfg, pki.Config{}, mount)
}

// newEnvFull builds the environment from every setting.
func newEnvFull(t testing.TB, cfg agentapi.Config, pc pki.Config, mount func(next http.Handler, pk *pki.PKI, st *store.Store) http.Handler) *env {
	t.Helper()
	dir := t.TempDir()
	log := storetest.Logger(t)
	pk, err := pki.Load(filepath.Join(dir, "pki"), pc, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t)
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages"), FragmentSize: 64 << 10}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := deploy.New(deploy.Config{}, st, b, http.DefaultClient, deploy.Locations{InfoLoc: "127.0.0.1/download", PackLoc: "127.0.0.1/download"}, log)
	if err != nil {
		t.Fatal(err)
	}
	api := agentapi.New(cfg, st, dep, b, pk, log)
	e := echo.New()
	api.Register(e.Group(proto.AgentAPIPath))
	api.RegisterAdmin(e.Group("/api/v1"))
	var h http.Handler = e
	if mount != nil {
		h = mount(e, pk, st)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pk.ServerCert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pk.CAPool()}}}
	t.Cleanup(hc.CloseIdleConnections)
	return &env{t: t, dir: dir, store: st, pki: pk, builder: b, deploy: dep, api: api, srv: srv, http: hc}
}

// setEnrollToken puts the token of an enrollment request in the
// Authorization header too, like the real clients.
func setEnrollToken(req *http.Request, in any) {
	switch r := in.(type) {
	case proto.EnrollRequest:
		req.Header.Set("Authorization", "Bearer "+r.Token)
	case *proto.EnrollRequest:
		req.Header.Set("Authorization", "Bearer "+r.Token)
	case proto.RelayEnrollRequest:
		req.Header.Set("Authorization", "Bearer "+r.Token)
	case *proto.RelayEnrollRequest:
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
}

// call sends an admin request and decodes the answer.
func (e *env) call(method, path string, in, out any, want int) {
	e.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	req.Header.Set("Content-Type", "application/json")
	setEnrollToken(req, in)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) token(maxUses int) string {
	e.t.Helper()
	var tok agentapi.TokenInfo
	e.call("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": "test", "max_uses": maxUses}, &tok, http.StatusCreated)
	return tok.Token
}

// relayToken mints a relay token for relay name of site.
func (e *env) relayToken(site, name string) string {
	e.t.Helper()
	var tok agentapi.TokenInfo
	e.call("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"name": "relay " + name, "kind": "relay", "site": site, "relay_name": name},
		&tok, http.StatusCreated)
	return tok.Token
}

// publish builds, activates and stores a package.
func (e *env) publish(spec packages.Spec, payload []byte) {
	e.t.Helper()
	src := filepath.Join(e.t.TempDir(), "payload")
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		e.t.Fatal(err)
	}
	built, err := e.builder.Build(context.Background(), spec, src)
	if err != nil {
		e.t.Fatal(err)
	}
	p := &store.Package{ID: spec.ID, Name: spec.Name, Platform: spec.Platform, Action: spec.Action, Command: spec.Command,
		Path: spec.Path, LaunchName: spec.LaunchName, Priority: spec.Priority, Size: built.Size, MD5: built.MD5, SHA256: built.SHA256,
		OCSFragments: built.OCSFragments, FragmentSize: built.Manifest.FragmentSize, ShoalFragments: len(built.Manifest.Fragments)}
	if err := e.store.CreatePackage(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.deploy.Activate(context.Background(), spec.ID, deploy.ActivateRequest{SkipCheck: true}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) affect(pkg string, computerID uint) {
	e.t.Helper()
	if _, err := e.deploy.AffectComputers(context.Background(), pkg, []uint{computerID}, false); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) waitDeployment(pkg string, computerID uint, state string) store.Deployment {
	e.t.Helper()
	var got store.Deployment
	testwait.For(e.t, 30*time.Second, "deployment of "+pkg+" in state "+state, func() error {
		deps, _, err := e.store.ListDeployments(context.Background(), store.DeploymentFilter{PackageID: pkg, ComputerID: computerID})
		if err != nil {
			return err
		}
		if len(deps) != 1 || deps[0].State != state {
			return fmt.Errorf("deployments %+v", deps)
		}
		got = deps[0]
		return nil
	})
	return got
}

func (e *env) lastEvent(d store.Deployment) store.DeploymentEvent {
	e.t.Helper()
	evs, err := e.store.DeploymentEvents(context.Background(), d.ID)
	if err != nil || len(evs) == 0 {
		e.t.Fatalf("events: %v %v", evs, err)
	}
	return evs[len(evs)-1]
}

func targz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// startAgent enrolls an agent and runs it until the test ends.
func (e *env) startAgent(name, token string) (cfg agent.Config, computerID uint) {
	e.t.Helper()
	return e.startAgentWith(name, token, nil)
}

// startAgentWith is startAgent with edit applied to the agent's
// configuration.
func (e *env) startAgentWith(name, token string, edit func(*agent.Config)) (cfg agent.Config, computerID uint) {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(testLog{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg = agent.Config{
		Server: e.srv.URL, StateDir: filepath.Join(e.t.TempDir(), "state"), Hostname: name,
		Enroll: agent.EnrollConfig{Token: token, CAFile: e.pki.Path(pki.CACertFile)},
	}
	cfg.Jobs.LongPoll = 5 * time.Second
	cfg.Jobs.ProgressInterval = 200 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	if err := agent.Enroll(context.Background(), cfg, log); err != nil {
		e.t.Fatal(err)
	}
	var agents struct {
		Items []agentapi.AgentInfo `json:"items"`
	}
	e.call("GET", "/api/v1/agents", nil, &agents, http.StatusOK)
	for _, a := range agents.Items {
		if strings.HasPrefix(a.DeviceID, name+"-") {
			computerID = a.ComputerID
		}
	}
	if computerID == 0 {
		e.t.Fatalf("agent %s not listed: %+v", name, agents.Items)
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("agent Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			e.t.Error("agent did not stop")
		}
	})
	return cfg, computerID
}

// agentClient enrolls an agent (not run) and returns a client with its
// secret.
func (e *env) agentClient(name string) *client.Client {
	e.t.Helper()
	cfg := agent.Config{Server: e.srv.URL, StateDir: filepath.Join(e.t.TempDir(), "state"), Hostname: name,
		Enroll: agent.EnrollConfig{Token: e.token(1), CAFile: e.pki.Path(pki.CACertFile)}}
	if err := agent.Enroll(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		e.t.Fatal(err)
	}
	var enr struct {
		Secret string `json:"secret"`
	}
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "enrollment.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &enr); err != nil {
		e.t.Fatal(err)
	}
	cl, err := client.New(e.srv.URL, e.pki.CAPool(), enr.Secret)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.CloseIdle)
	return cl
}

type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestAgentEndToEnd(t *testing.T) {
	e := newEnv(t)
	_, cid := e.startAgent("e2e-host", e.token(1))

	comp, err := e.store.ComputerDetail(context.Background(), cid)
	if err != nil {
		t.Fatal(err)
	}
	if comp.Source != store.SourceShoal || comp.Name != "e2e-host" || comp.OSName == "" || len(comp.Networks) == 0 {
		t.Errorf("computer after enrollment: source %q name %q os %q networks %d", comp.Source, comp.Name, comp.OSName, len(comp.Networks))
	}

	out := t.TempDir()
	script := targz(t, map[string]string{"setup.sh": "#!/bin/sh\necho hello from $SHOAL_PACKAGE_ID\necho ok > " + out + "/exec\n",
		"data.bin": strings.Repeat("x", 300<<10)})
	e.publish(packages.Spec{ID: "1001", Name: "exec", Platform: proto.PlatformLinux, Action: proto.ActionExecute,
		Command: "sh setup.sh", Priority: 5, OCSFragments: 3}, script)
	e.publish(packages.Spec{ID: "1002", Name: "store", Platform: proto.PlatformLinux, Action: proto.ActionStore,
		Path: filepath.Join(out, "stored"), Priority: 5}, script)
	e.publish(packages.Spec{ID: "1003", Name: "fail", Platform: proto.PlatformLinux, Action: proto.ActionExecute,
		Command: "echo broken >&2; exit 4", Priority: 5}, script)
	start := time.Now()
	for _, p := range []string{"1001", "1002", "1003"} {
		e.affect(p, cid)
	}
	d := e.waitDeployment("1001", cid, store.StateSuccess)
	t.Logf("first package installed %v after affectation", time.Since(start))
	if ev := e.lastEvent(d); !strings.Contains(ev.Detail, "hello from 1001") {
		t.Errorf("result detail %q lacks the output", ev.Detail)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "exec")); string(b) != "ok\n" {
		t.Errorf("EXECUTE did not run: %q", b)
	}
	e.waitDeployment("1002", cid, store.StateSuccess)
	if _, err := os.Stat(filepath.Join(out, "stored", "setup.sh")); err != nil {
		t.Errorf("STORE: %v", err)
	}
	d = e.waitDeployment("1003", cid, store.StateError)
	if d.ResultCode != "EXIT_CODE_4" || !strings.Contains(e.lastEvent(d).Detail, "broken") {
		t.Errorf("failing package: code %s detail %q", d.ResultCode, e.lastEvent(d).Detail)
	}
	stats := e.api.FragmentStats()["1001"]
	if stats.Bytes != int64(len(script)) {
		t.Errorf("central served %d bytes of 1001, want %d", stats.Bytes, len(script))
	}
	detail, _ := e.store.ComputerDetail(context.Background(), cid)
	if fmt.Sprint(detail.History) != "[1001 1002]" {
		t.Errorf("history = %v", detail.History)
	}
}

func TestRevokedAndTokens(t *testing.T) {
	e := newEnv(t)
	site := &store.Site{Name: "loopback", CIDRs: []store.SiteCIDR{{CIDR: "127.0.0.0/8"}}}
	if err := e.store.CreateSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	tok := e.token(1)
	cfg, cid := e.startAgent("rev-host", tok)
	if c, err := e.store.Computer(context.Background(), cid); err != nil || c.SiteID == nil || *c.SiteID != site.ID {
		t.Errorf("computer site = %v (%v), want %d", c.SiteID, err, site.ID)
	}

	// The token had one use.
	cfg2 := agent.Config{Server: e.srv.URL, StateDir: filepath.Join(t.TempDir(), "s2"), Hostname: "second",
		Enroll: agent.EnrollConfig{Token: tok, CAFile: e.pki.Path(pki.CACertFile)}}
	if err := agent.Enroll(context.Background(), cfg2, slog.New(slog.DiscardHandler)); !errors.Is(err, client.ErrRevoked) {
		t.Errorf("second enrollment with a one-use token: %v, want ErrRevoked (403)", err)
	}

	var enr struct {
		Secret string `json:"secret"`
	}
	b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "enrollment.json"))
	json.Unmarshal(b, &enr)
	cl, err := client.New(e.srv.URL, e.pki.CAPool(), enr.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Jobs(context.Background(), "", 0); err != nil {
		t.Fatalf("jobs before revocation: %v", err)
	}
	signed, err := cl.RenewPeerRecord(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := proto.VerifyPeerRecord(*signed, e.pki.SigningPublicKey(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Site != "loopback" || rec.Role != proto.RoleAgent || !strings.HasPrefix(rec.DeviceID, "rev-host-") || rec.Expires.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("renewed peer record %+v", rec)
	}
	e.call("POST", fmt.Sprintf("/api/v1/agents/%d/revoke", cid), nil, nil, http.StatusNoContent)
	for _, call := range []func() error{
		func() error { _, err := cl.Jobs(context.Background(), "", 0); return err },
		func() error { return cl.Inventory(context.Background(), &proto.AgentInventory{Hostname: "x"}) },
		func() error { _, err := cl.Manifest(context.Background(), "1"); return err },
		func() error { _, err := cl.RenewPeerRecord(context.Background()); return err },
	} {
		if err := call(); !errors.Is(err, client.ErrRevoked) {
			t.Errorf("revoked agent: %v, want ErrRevoked", err)
		}
	}
	bad, _ := client.New(e.srv.URL, e.pki.CAPool(), proto.AgentSecretPrefix+"nope")
	if _, err := bad.Jobs(context.Background(), "", 0); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("unknown secret: %v, want ErrUnauthorized", err)
	}
}
