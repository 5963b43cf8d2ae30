package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	adminops "github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/internal/ratelimit"
	"github.com/shoal-project/shoal/proto/api"
)

const (
	testdata  = "../../proto/ocs/testdata/unix-agent-2.10.0/"
	unixAgent = "OCS-NG_unified_unix_agent_v2.10.0"
	password  = "web-test-password-123"
)

type env struct {
	t     *testing.T
	srv   *Server
	http  http.Handler
	https http.Handler
	store *store.Store
	// inv stands in for the OCS edge, to inventory computers.
	inv   *inventory.Service
	token string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvDeps(t, nil)
}

// newEnvDeps is newEnv with edit applied to the server's dependencies.
func newEnvDeps(t *testing.T, edit func(*Deps)) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pk, err := pki.Load(filepath.Join(dir, "pki"), pki.Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The admin credential at the cheapest bcrypt cost, hashed once per
	// test binary: the login tests check the admin password dozens of
	// times, and pki.LoadAdmin's default cost (once per test) was a sixth
	// of this package's CPU under the race detector.
	admin := &pki.Admin{User: pki.AdminUser, Hash: adminHash(t)}
	st := storetest.OpenIn(t, dir, log)
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages")}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := deploy.New(deploy.Config{}, st, b, http.DefaultClient, deploy.Locations{InfoLoc: "127.0.0.1:1/download", PackLoc: "127.0.0.1:1/download"}, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Store: st, Deploy: dep, Packages: b, PKI: pk, Admin: admin}
	if edit != nil {
		edit(&deps)
	}
	if deps.Ops == nil {
		deps.Ops = adminops.New(adminops.Deps{Store: deps.Store, Deploy: deps.Deploy, Packages: deps.Packages, PKI: deps.PKI}, log)
	}
	if deps.Groups == nil {
		if deps.Groups, err = groups.New(groups.Config{}, deps.Store, deps.Deploy, log); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{}, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, http: srv.HTTPHandler(), https: srv.HTTPSHandler(), store: st, inv: inventory.New(st, log)}
	var tok api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"t"}`, "basic", http.StatusCreated, &tok)
	e.token = tok.Token
	return e
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ocsRemote is the client address of httptest requests.
var ocsRemote = netip.MustParseAddr("192.0.2.1")

// api sends an API request; auth is "basic", "token", "" or a literal token.
func (e *env) api(method, path, body, auth string, want int, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch auth {
	case "basic":
		req.SetBasicAuth("admin", password)
	case "token":
		req.Header.Set("Authorization", "Bearer "+e.token)
	case "":
	default:
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	rec := httptest.NewRecorder()
	e.https.ServeHTTP(rec, req)
	if rec.Code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("decode %s: %v", rec.Body, err)
		}
	}
	return rec
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }

func TestAPIAuth(t *testing.T) {
	e := newEnv(t)
	e.api("GET", "/api/v1/packages", "", "", 401, nil)
	e.api("GET", "/api/v1/packages", "", "shoal_forged", 401, nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/packages", nil)
	req.SetBasicAuth("admin", "wrong-password")
	e.https.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("wrong password: %d", rec.Code)
	}
	// The API is not served without TLS.
	rec = httptest.NewRecorder()
	e.http.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/packages", nil))
	if rec.Code != 404 {
		t.Errorf("API on plain HTTP: %d, want 404", rec.Code)
	}

	var ro api.Token
	e.api("POST", "/api/v1/tokens", `{"name":"viewer","role":"readonly"}`, "token", 201, &ro)
	e.api("GET", "/api/v1/packages", "", ro.Token, 200, nil)
	e.api("POST", "/api/v1/sites", `{"name":"x","cidrs":["10.0.0.0/8"]}`, ro.Token, 403, nil)
	e.api("DELETE", "/api/v1/tokens/1", "", ro.Token, 403, nil)

	e.api("DELETE", "/api/v1/tokens/"+itoa(ro.ID), "", "token", 204, nil)
	e.api("GET", "/api/v1/packages", "", ro.Token, 401, nil)
}

func TestAPIBadInput(t *testing.T) {
	e := newEnv(t)
	var apiErr api.Error
	e.api("GET", "/api/v1/computers/abc", "", "token", 400, &apiErr)
	if !strings.Contains(apiErr.Error, "positive integer") {
		t.Errorf("error message %q", apiErr.Error)
	}
	e.api("GET", "/api/v1/computers/99", "", "token", 404, nil)
	e.api("GET", "/api/v1/packages/../../etc", "", "token", 404, nil)
	e.api("GET", "/api/v1/packages/12ab", "", "token", 400, nil)
	e.api("POST", "/api/v1/sites", `{"name":"x","cidrs":["not-a-cidr"]}`, "token", 400, nil)
	e.api("POST", "/api/v1/sites", `{"name":"x","fragment_location":"http://relay/download"}`, "token", 400, nil)
	e.api("POST", "/api/v1/sites", `{"name":`, "token", 400, nil)
	e.api("POST", "/api/v1/sites", `{"name":"x","bogus":1}`, "token", 400, nil)
	e.api("GET", "/api/v1/computers?limit=0", "", "token", 400, nil)

	rec := httptest.NewRecorder()
	e.http.ServeHTTP(rec, httptest.NewRequest("GET", "/download/1/..%2f..%2fpki%2fca-key.pem", nil))
	if rec.Code != 404 {
		t.Errorf("traversal in download path: %d", rec.Code)
	}
}

// archived returns b behind a gzip header, so that central takes it for
// the tar.gz archive an EXECUTE or LAUNCH upload must be; central never
// unpacks it.
func archived(b []byte) []byte { return append([]byte{0x1f, 0x8b}, b...) }

func upload(t *testing.T, e *env, fields map[string]string, payload []byte) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "p.tar.gz")
	_, _ = fw.Write(payload)
	_ = mw.Close()
	req := httptest.NewRequest("POST", "/api/v1/packages", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+e.token)
	rec := httptest.NewRecorder()
	e.https.ServeHTTP(rec, req)
	return rec
}

func TestPackageLifecycle(t *testing.T) {
	e := newEnv(t)
	payload := archived(bytes.Repeat([]byte("0123456789abcdef"), 200000)) // 3.2 MB
	rec := upload(t, e, map[string]string{"name": "app", "action": "EXECUTE", "command": "sh x.sh", "priority": "3", "fragments": "4"}, payload)
	if rec.Code != 201 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	var p api.Package
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	if p.OCSFragmentCount != 4 || p.Size != int64(len(payload)) || p.Priority != 3 {
		t.Fatalf("package %+v", p)
	}
	// Fragments of the active package are served with the counters running.
	e.api("POST", "/api/v1/packages/"+p.ID+"/activate", `{"skip_check":true}`, "token", 200, nil)
	var got []byte
	for i := 1; i <= 4; i++ {
		rec := httptest.NewRecorder()
		e.http.ServeHTTP(rec, httptest.NewRequest("GET", "/download/"+p.ID+"/"+p.ID+"-"+strconv.Itoa(i), nil))
		if rec.Code != 200 {
			t.Fatalf("fragment %d: %d", i, rec.Code)
		}
		got = append(got, rec.Body.Bytes()...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("fragments do not reassemble the upload")
	}
	if st := e.srv.Counters().Stats(p.ID); st.Fragments != 4 || st.Bytes != int64(len(payload)) {
		t.Errorf("counters %+v", st)
	}
	var view api.PackageDetail
	e.api("GET", "/api/v1/packages/"+p.ID, "", "token", 200, &view)
	if view.Signature.Status != api.SignatureValid || len(view.OCSFragments) != 4 || view.Downloads.Fragments != 4 ||
		view.MD5 == "" || len(view.Fragments) != 4 {
		t.Errorf("package detail: signature %+v, %d OCS fragments, %d Shoal fragments, downloads %+v",
			view.Signature, len(view.OCSFragments), len(view.Fragments), view.Downloads)
	}
	// Affecting an inactive package is refused with a clear message.
	e.api("POST", "/api/v1/packages/"+p.ID+"/deactivate", "", "token", 204, nil)
	var apiErr api.Error
	e.api("POST", "/api/v1/packages/"+p.ID+"/affect", `{"computer_ids":[1]}`, "token", 400, &apiErr)
	if apiErr.Error == "" {
		t.Error("no error message")
	}
	// Invalid specs are refused before anything is written.
	bad := []map[string]string{
		{"name": "x", "action": "EXECUTE"}, // no command
		{"name": "x", "action": "STORE"},   // no path
		{"name": "x", "action": "EXECUTE", "command": "c", "priority": "11"},
		{"name": "x", "action": "DANCE", "command": "c"},
		{"name": "x", "action": "EXECUTE", "command": "c", "platform": "AMIGA"},
	}
	for _, f := range bad {
		if rec := upload(t, e, f, []byte("x")); rec.Code != 400 {
			t.Errorf("spec %v: %d %s", f, rec.Code, rec.Body)
		}
	}
	e.api("DELETE", "/api/v1/packages/"+p.ID, "", "token", 204, nil)
	e.api("GET", "/api/v1/packages/"+p.ID, "", "token", 404, nil)
}

// TestAPIBasicRateLimit: password guesses over HTTP Basic from one address
// are refused after a few, even with a forged X-Forwarded-For, without
// locking the admin out from another address; guesses from many addresses
// set off the per-user back-off, which an address the admin authenticated
// from before still passes. Failures and lock-outs are audited, boundedly.
func TestAPIBasicRateLimit(t *testing.T) {
	e := newEnv(t) // its setup authenticated the admin from 192.0.2.1
	try := func(pass, remote, xff string) int {
		req := httptest.NewRequest("GET", "/api/v1/packages", nil)
		req.SetBasicAuth("admin", pass)
		req.RemoteAddr = remote + ":4321"
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		e.https.ServeHTTP(rec, req)
		return rec.Code
	}
	// A frozen clock: no token comes back while the test runs, however
	// slow bcrypt is under the race detector.
	at := time.Now()
	e.srv.now = func() time.Time { return at }
	// The production budgets but a smaller back-off burst: each guess at
	// the admin costs a bcrypt check, slow under the race detector.
	cfg := basicLogins
	cfg.PerUserBurst = 2 * cfg.PerClientUser
	e.srv.basicGuard = ratelimit.NewLogins(cfg)
	e.srv.authAudit = ratelimit.NewSampler(authAuditPerMinute)
	const attacker = "203.0.113.66"
	for i := range cfg.PerClientUser {
		if code := try("wrong", attacker, ""); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401", i+1, code)
		}
	}
	tests := []struct {
		name   string
		pass   string
		remote string
		xff    string
		want   int
	}{
		{"guess-over-budget", "wrong", attacker, "", http.StatusTooManyRequests},
		{"right-password-also-waits", password, attacker, "", http.StatusTooManyRequests},
		{"forged-forwarded-for", "wrong", attacker, "198.51.100.9", http.StatusTooManyRequests},
		{"admin-from-another-address", password, "198.51.100.10", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := try(tt.pass, tt.remote, tt.xff); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
		})
	}

	// Many addresses, one guess each: the back-off's burst, less the
	// admin's login from a new address above, then 429.
	allowed := 0
	for n := 1; try("wrong", fmt.Sprintf("10.0.%d.%d", n>>8, n&255), "") == http.StatusUnauthorized; n++ {
		allowed++
		if allowed > cfg.PerUserBurst {
			break
		}
	}
	if want := cfg.PerUserBurst - cfg.PerClientUser - 1; allowed != want {
		t.Errorf("%d guesses from distinct addresses allowed, want %d", allowed, want)
	}
	if code := try(password, "10.1.0.1", ""); code != http.StatusTooManyRequests {
		t.Errorf("right password from a new address during the back-off: status %d, want 429", code)
	}
	if code := try(password, "198.51.100.10", ""); code != http.StatusOK {
		t.Errorf("right password from a known-good address during the back-off: status %d, want 200", code)
	}
	count := func(action string) int64 {
		_, n, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: action, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("api.login.failed"); n > authAuditPerMinute || n == 0 {
		t.Errorf("%d failed Basic attempts audited, want 1..%d", n, authAuditPerMinute)
	}
	if n := count("api.login.lockout"); n != 2 {
		t.Errorf("%d lock-outs audited, want 2 (the attacker's address, then the user's back-off)", n)
	}
	// Tokens are not limited.
	e.api("GET", "/api/v1/packages", "", "token", http.StatusOK, nil)
}

// adminHash is the admin password's bcrypt hash at the minimum cost.
var adminHash = func() func(t testing.TB) []byte {
	hash := sync.OnceValues(func() ([]byte, error) { return bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost) })
	return func(t testing.TB) []byte {
		h, err := hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}()
