package ctl

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

// fake is a TLS server standing in for central, with its CA file.
type fake struct {
	srv    *httptest.Server
	caFile string
	mux    *http.ServeMux
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{mux: http.NewServeMux()}
	f.srv = httptest.NewTLSServer(f.mux)
	t.Cleanup(f.srv.Close)
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// otherCA writes a self-signed CA certificate that signs nothing the fake
// server presents.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// run runs shoalctl with a config file in a temporary directory.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }})
	return code, out.String(), errOut.String()
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{name: "full", in: "https://central:8443", want: "https://central:8443"},
		{name: "no_scheme", in: "central:8443", want: "https://central:8443"},
		{name: "api_path", in: "https://central:8443/api/v1/", want: "https://central:8443"},
		{name: "plain_http", in: "http://central:8080", bad: true},
		{name: "empty", in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseServer(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseServer(%q) = %v, want an error", tt.in, u)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("parseServer(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no_args", args: nil, code: exitUsage, want: "Commands:"},
		{name: "help", args: []string{"help"}, code: exitOK, want: "package create"},
		{name: "unknown", args: []string{"frobnicate"}, code: exitUsage, want: "unknown command"},
		{name: "missing_file", args: []string{"package", "create"}, code: exitUsage, want: "usage: shoalctl package create FILE"},
		{name: "bad_output", args: []string{"package", "list", "-o", "csv"}, code: exitUsage, want: "-o must be table, wide, json or yaml"},
		{name: "bad_package_id", args: []string{"package", "show", "12a"}, code: exitUsage, want: "digits"},
		{name: "affect_needs_selection", args: []string{"package", "affect", "1"}, code: exitUsage, want: "--computer"},
		{name: "bad_time", args: []string{"computers", "--contact-since", "yesterday"}, code: exitUsage, want: "duration"},
		{name: "no_login", args: []string{"package", "list"}, code: exitError, want: "no API token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, map[string]string{EnvConfig: filepath.Join(t.TempDir(), "c.json")}, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s%s", code, tt.code, tt.want, out, errOut)
			}
		})
	}
}

func TestLoginSavesToken(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("POST /api/v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "admin" || p != "s3cret-password" {
			writeJSON(w, 401, api.Error{Error: "authentication required"})
			return
		}
		var req api.TokenRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		writeJSON(w, 201, api.Token{ID: 7, Name: req.Name, Role: api.RoleAdmin, Token: "shoal_minted"})
	})
	f.mux.HandleFunc("GET /api/v1/server", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer shoal_minted" {
			writeJSON(w, 401, api.Error{Error: "authentication required"})
			return
		}
		writeJSON(w, 200, api.ServerInfo{Caller: api.Principal{Name: "token:x", Role: api.RoleAdmin}})
	})
	var listAuth atomic.Value
	f.mux.HandleFunc("GET /api/v1/packages", func(w http.ResponseWriter, r *http.Request) {
		listAuth.Store(r.Header.Get("Authorization"))
		writeJSON(w, 200, api.List[api.Package]{Items: []api.Package{{ID: "17", Name: "app", Action: "EXECUTE"}}, Total: 1, Limit: 50})
	})
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	code, _, errOut := run(t, env, "login", "--server", f.srv.URL, "--ca", f.caFile)
	if code != exitUsage && code != exitError || !strings.Contains(errOut, EnvPassword) {
		t.Fatalf("login without a password or terminal: exit %d: %s", code, errOut)
	}
	env[EnvPassword] = "wrong"
	if code, _, errOut := run(t, env, "login", "--server", f.srv.URL, "--ca", f.caFile); code != exitError ||
		!strings.Contains(errOut, `hint: wrong password for user "admin"`) || strings.Contains(errOut, "run 'shoalctl login'") {
		t.Fatalf("login with a wrong password: exit %d, want the wrong-password hint: %s", code, errOut)
	}
	env[EnvPassword] = "s3cret-password"
	code, out, errOut := run(t, env, "login", "--server", f.srv.URL, "--ca", f.caFile)
	if code != exitOK || !strings.Contains(out, "Logged in") {
		t.Fatalf("login: exit %d: %s%s", code, out, errOut)
	}
	path := filepath.Join(home, ".config", "shoal", "shoalctl.json")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v; want mode 0600", st, err)
	}
	cfg, err := loadConfig(path)
	if err != nil || cfg.Token != "shoal_minted" || cfg.CAFile != f.caFile || cfg.Server != f.srv.URL {
		t.Fatalf("saved config %+v, %v", cfg, err)
	}
	// Later commands use the saved token.
	delete(env, EnvPassword)
	code, out, errOut = run(t, env, "package", "list", "-o", "json")
	if code != exitOK || listAuth.Load() != "Bearer shoal_minted" {
		t.Fatalf("package list: exit %d, auth %v: %s%s", code, listAuth.Load(), out, errOut)
	}
	var l api.List[api.Package]
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Items[0].ID != "17" {
		t.Fatalf("json output %q: %v", out, err)
	}
	code, out, _ = run(t, env, "package", "list")
	if code != exitOK || !strings.Contains(out, "ID") || !strings.Contains(out, "app") {
		t.Fatalf("table output: %s", out)
	}
}

func TestAPIErrorMessages(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("POST /api/v1/packages/1/activate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 422, api.Error{Error: "availability check failed; the package was not activated", Detail: []string{"fragment 1-2: HTTP status \"404 Not Found\""}})
	})
	f.mux.HandleFunc("GET /api/v1/packages/2", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})
	f.mux.HandleFunc("POST /api/v1/packages/3/affect", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, api.Error{Error: "this token is read-only"})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unavailable", args: []string{"package", "activate", "1"}, want: []string{"NOT activated", "fragment 1-2"}},
		{name: "not_json", args: []string{"package", "show", "2"}, want: []string{"502 Bad Gateway", "upstream exploded"}},
		{name: "forbidden", args: []string{"package", "affect", "3", "--computer", "4"}, want: []string{"read-only", "HTTP 403", "admin token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, env, tt.args...)
			if code != exitError {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	// A CA that does not sign the server's certificate says so.
	env[EnvCA] = otherCA(t)
	if code, _, errOut := run(t, env, "package", "show", "2"); code != exitError || !strings.Contains(errOut, "--ca") {
		t.Errorf("wrong CA: exit %d: %s", code, errOut)
	}
}

func TestUploadStreamsTheFile(t *testing.T) {
	f := newFake(t)
	payload := bytes.Repeat([]byte("shoal streaming upload "), 200000) // 4.6 MB
	var got struct {
		sync.Mutex
		fields  []string
		sum     [32]byte
		chunked bool
	}
	f.mux.HandleFunc("POST /api/v1/packages", func(w http.ResponseWriter, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			writeJSON(w, 400, api.Error{Error: err.Error()})
			return
		}
		got.Lock()
		defer got.Unlock()
		got.chunked = r.ContentLength == -1
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				writeJSON(w, 400, api.Error{Error: err.Error()})
				return
			}
			got.fields = append(got.fields, part.FormName())
			if part.FormName() == api.FormFile {
				h := sha256.New()
				_, _ = io.Copy(h, part)
				copy(got.sum[:], h.Sum(nil))
			}
		}
		writeJSON(w, 201, api.Package{ID: "99", Name: "app", Action: "EXECUTE", Size: int64(len(payload))})
	})
	file := filepath.Join(t.TempDir(), "app.tar.gz")
	if err := os.WriteFile(file, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "package", "create", file, "--name", "app", "--command", "sh run.sh", "--priority", "0", "--fragments", "3")
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	got.Lock()
	defer got.Unlock()
	want := []string{api.FormName, api.FormAction, api.FormCommand, api.FormPriority, api.FormFragments, api.FormFile}
	if diff := cmp.Diff(want, got.fields); diff != "" {
		t.Errorf("form parts, fields first and the file last (-want +got):\n%s", diff)
	}
	if got.sum != sha256.Sum256(payload) {
		t.Error("the file arrived altered")
	}
	if !got.chunked {
		t.Error("the upload was not streamed (it had a Content-Length)")
	}
	if !strings.Contains(errOut, "upload 100%") || !strings.Contains(out, "99") {
		t.Errorf("progress or result missing:\nstdout %s\nstderr %s", out, errOut)
	}
}

func TestUploadStalls(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	f.mux.HandleFunc("POST /api/v1/packages", func(w http.ResponseWriter, r *http.Request) {
		<-release // never reads the body: the client's writes block
	})
	t.Cleanup(func() { close(release) })
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(file, 256<<20); err != nil { // sparse: larger than any socket buffer
		t.Fatal(err)
	}
	cl, err := NewClient(f.srv.URL, f.caFile, "t", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	_, err = cl.CreatePackage(context.Background(), file, api.PackageSpec{Action: "STORE", Path: "/x"}, UploadOptions{Stall: 300 * time.Millisecond, Tick: 20 * time.Millisecond})
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("CreatePackage: %v, want ErrStalled", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("stall detected after %v", d)
	}
}

func TestDeployStatusWatch(t *testing.T) {
	f := newFake(t)
	var calls atomic.Int32
	f.mux.HandleFunc("GET /api/v1/packages/5/deployment-counts", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		c := api.DeploymentCounts{PackageID: "5", Counts: map[string]int64{api.StateSuccess: 1, api.StateDownloading: 1}, Total: 2, Finished: 1}
		if n >= 2 {
			c.Counts = map[string]int64{api.StateSuccess: 2}
			c.Finished = 2
		}
		writeJSON(w, 200, c)
	})
	f.mux.HandleFunc("GET /api/v1/packages/5/deployments", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("state") != "success" || r.URL.Query().Get("site") != "3" {
			writeJSON(w, 400, api.Error{Error: "filters not passed: " + r.URL.RawQuery})
			return
		}
		writeJSON(w, 200, api.List[api.Deployment]{Items: []api.Deployment{{ID: 1, ComputerName: "pc1", State: api.StateSuccess,
			FragmentsDone: 4, FragmentsTotal: 4, BytesPeer: 2048, ResultCode: "SUCCESS"}}, Total: 1, Limit: 50})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "deploy", "status", "5", "--state", "success", "--site", "3", "--watch", "--interval", "100ms", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per refresh, two refreshes:\n%s", out)
	}
	var last Status
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil || !last.Done || last.Counts.Finished != 2 {
		t.Fatalf("last refresh %s: %v", lines[1], err)
	}
	code, out, _ = run(t, env, "deploy", "status", "5", "--state", "success", "--site", "3")
	if code != exitOK || !strings.Contains(out, "pc1") || !strings.Contains(out, "4/4") || !strings.Contains(out, "2.0 KiB") {
		t.Errorf("table:\n%s", out)
	}
}

func TestProgressBarLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgressBar(&b, false)
	for done := int64(0); done <= 1000; done += 50 {
		p.update(done, 1000)
	}
	p.update(1000, 1000)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[10], "upload 100%") {
		t.Errorf("want 11 lines from 0%% to 100%%:\n%s", b.String())
	}
	if !strings.HasSuffix(lines[10], "central is building and signing…") || strings.Contains(lines[10], "ETA") {
		t.Errorf("at 100 %%, want what central is doing instead of an ETA: %q", lines[10])
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		name string
		n    int
		noun string
		want string
	}{
		{name: "zero", n: 0, noun: "computer", want: "0 computers"},
		{name: "one", n: 1, noun: "computer", want: "1 computer"},
		{name: "two", n: 2, noun: "deployment", want: "2 deployments"},
		{name: "irregular", n: 3, noun: "entry|entries", want: "3 entries"},
		{name: "irregular-one", n: 1, noun: "entry|entries", want: "1 entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plural(tt.n, tt.noun); got != tt.want {
				t.Errorf("plural(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{name: "bytes", n: 512, want: "512 B"},
		{name: "kib", n: 1536, want: "1.5 KiB"},
		{name: "gib", n: 3 << 30, want: "3.0 GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := humanBytes(tt.n); got != tt.want {
				t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}

func TestAffectSaysOneComputer(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("POST /api/v1/packages/3/affect", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"selected": 1, "created": 1})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "package", "affect", "3", "--computer", "4")
	if code != exitOK || out != "1 computer selected, 1 deployment created.\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestAffectAllAndExclusions: --all sends an empty filter with "all": true,
// and the computers central excludes are printed with the reason.
func TestAffectAllAndExclusions(t *testing.T) {
	f := newFake(t)
	var got api.AffectRequest
	f.mux.HandleFunc("POST /api/v1/packages/5/affect", func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		writeJSON(w, 200, api.AffectResult{Selected: 40, Created: 40, Excluded: 3, Exclusions: []api.Exclusion{
			{Platform: "WINDOWS", Count: 3, Reason: "3 computers run Windows: the package is for Linux, so they are excluded"}}})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "package", "affect", "5", "--all")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !got.All || got.Filter == nil || !got.Filter.Empty() {
		t.Errorf("request %+v, want an empty filter with all", got)
	}
	if !strings.Contains(out, "Excluded: 3 computers run Windows: the package is for Linux, so they are excluded.") || !strings.Contains(out, "40 computers selected") {
		t.Errorf("output:\n%s", out)
	}
}

// TestCodes: one code is explained offline; the list comes from central.
func TestCodes(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/result-codes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.ResultCode]{Items: []api.ResultCode{{Code: "ERR_TIMEOUT", Help: "the agent gave up"}}, Total: 1, Limit: 1})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "codes", "err_download_info")
	if code != 0 || !strings.HasPrefix(out, "ERR_DOWNLOAD_INFO: ") || !strings.Contains(out, "run the OCS agent with --ca") {
		t.Errorf("codes ERR_DOWNLOAD_INFO: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = run(t, env, "codes")
	if code != 0 || out != "ERR_TIMEOUT: the agent gave up.\n" {
		t.Errorf("codes: exit %d: %q %s", code, out, errOut)
	}
}

// TestSitesByName: sites are named by name as well as by ID.
func TestSitesByName(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.Site]{Items: []api.Site{{ID: 3, Name: "HQ"}, {ID: 7, Name: "Lyon-branch"}}, Total: 2, Limit: 2})
	})
	var deleted, searched atomic.Value
	f.mux.HandleFunc("DELETE /api/v1/sites/{id}", func(w http.ResponseWriter, r *http.Request) {
		deleted.Store(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	f.mux.HandleFunc("GET /api/v1/computers", func(w http.ResponseWriter, r *http.Request) {
		searched.Store(r.URL.Query().Get("site"))
		writeJSON(w, 200, api.List[api.Computer]{Items: []api.Computer{}, Limit: 50})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	if code, out, errOut := run(t, env, "sites", "delete", "lyon-branch"); code != 0 || deleted.Load() != "7" {
		t.Errorf("sites delete lyon-branch: exit %d, deleted %v: %s %s", code, deleted.Load(), out, errOut)
	}
	if code, _, errOut := run(t, env, "computers", "--site", "HQ"); code != 0 || searched.Load() != "3" {
		t.Errorf("computers --site HQ: exit %d, site=%v: %s", code, searched.Load(), errOut)
	}
	code, _, errOut := run(t, env, "sites", "delete", "paris")
	if code != exitUsage || !strings.Contains(errOut, `no site is named "paris"; sites: HQ, Lyon-branch`) {
		t.Errorf("unknown site: exit %d: %s", code, errOut)
	}
}

// TestSitesImport: the file is sent as the CSV of the import.
func TestSitesImport(t *testing.T) {
	f := newFake(t)
	var got api.SiteImportRequest
	f.mux.HandleFunc("POST /api/v1/sites/import", func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		writeJSON(w, 200, api.SiteImportResult{Created: 2, Updated: 1, ComputersMoved: 40})
	})
	file := filepath.Join(t.TempDir(), "sites.csv")
	csv := "name,cidrs,time_zone\nlyon,10.20.0.0/16,Europe/Paris\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "sites", "import", file)
	if code != 0 || got.CSV != csv || out != "Sites created: 2, updated: 1; computers moved to them: 40.\n" {
		t.Errorf("sites import: exit %d, sent %q: %q %s", code, got.CSV, out, errOut)
	}
}

func TestComputersTag(t *testing.T) {
	f := newFake(t)
	var got atomic.Value
	f.mux.HandleFunc("PUT /api/v1/computers/{id}/tag", func(w http.ResponseWriter, r *http.Request) {
		var req api.TagRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, api.Error{Error: err.Error()})
			return
		}
		got.Store(r.PathValue("id") + "=" + req.Tag)
		writeJSON(w, 200, req)
	})
	var searched atomic.Value
	f.mux.HandleFunc("GET /api/v1/computers", func(w http.ResponseWriter, r *http.Request) {
		searched.Store(r.URL.RawQuery)
		writeJSON(w, 200, api.List[api.Computer]{Items: []api.Computer{}, Limit: 50})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "computers", "tag", "12", "paris-3")
	if code != 0 || got.Load() != "12=paris-3" || !strings.Contains(out, `TAG "paris-3"`) {
		t.Errorf("computers tag 12 paris-3: exit %d, sent %v: %s %s", code, got.Load(), out, errOut)
	}
	if code, _, errOut := run(t, env, "computers", "tag", "12"); code != exitUsage {
		t.Errorf("computers tag without a TAG: exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, env, "computers", "--software", "7-zip", "--software-version", "< 24", "--no-software", "chrome")
	q, _ := searched.Load().(string)
	if code != 0 || !strings.Contains(q, "no_software=chrome") || !strings.Contains(q, "software_version=%3C+24") {
		t.Errorf("computers search: exit %d, query %q: %s", code, q, errOut)
	}
}
