package ui

import (
	"bytes"
	"crypto/tls"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	adminops "github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/store/storetest"
	"github.com/shoal-project/shoal/central/wake"
)

const adminPassword = "ui-test-admin-password"

// env is a UI on a real SQLite store behind an httptest TLS server.
type env struct {
	t       testing.TB
	ui      *UI
	store   *store.Store
	builder *packages.Builder
	dep     *deploy.Service
	srv     *httptest.Server
	// clockMu guards clock, the UI's time when set.
	clockMu sync.Mutex
	clock   time.Time
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	log := storetest.Logger(t)
	pk, err := pki.Load(filepath.Join(dir, "pki"), pki.Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The admin credential at the cheapest bcrypt cost, hashed once per
	// test binary: the login tests check the admin password dozens of
	// times, and pki.LoadAdmin's default cost (once per test) was a sixth
	// of this package's CPU under the race detector.
	admin := &pki.Admin{User: pki.AdminUser, Hash: adminHash(t)}
	st := storetest.Open(t)
	b, err := packages.NewBuilder(packages.Config{Dir: filepath.Join(dir, "packages"), DefaultOCSFragmentSize: 4 << 10, FragmentSize: 4 << 10}, pk.SigningKey, log)
	if err != nil {
		t.Fatal(err)
	}
	// The availability check fetches from a server that serves the package
	// tree over TLS (info files) and plain HTTP (fragments).
	files := http.StripPrefix("/download/", http.FileServer(http.Dir(b.DownloadDir())))
	tlsFiles := httptest.NewTLSServer(files)
	t.Cleanup(tlsFiles.Close)
	plainFiles := httptest.NewServer(files)
	t.Cleanup(plainFiles.Close)
	hostOf := func(s *httptest.Server) string {
		return strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
	}
	dep, err := deploy.New(deploy.Config{}, st, b, tlsFiles.Client(),
		deploy.Locations{InfoLoc: hostOf(tlsFiles) + "/download", PackLoc: hostOf(plainFiles) + "/download"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = 4
	}
	e := &env{t: t, store: st, builder: b, dep: dep}
	ops := adminops.New(adminops.Deps{Store: st, Deploy: dep, Packages: b, PKI: pk, Now: e.now}, log)
	gs, err := groups.New(groups.Config{}, st, dep, log)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := inventory.NewCatalog(inventory.Config{CatalogCacheTTL: time.Nanosecond}, st, log)
	if err != nil {
		t.Fatal(err)
	}
	wk, err := wake.New(wake.Config{}, st, dep, log)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(cfg, Deps{Store: st, Deploy: dep, Packages: b, PKI: pk, Admin: admin, Ops: ops, Groups: gs, Catalog: cat, Wake: wk}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.ui = u
	u.now = e.now
	ec := echo.New()
	// As central with http.trusted_proxies: a loopback proxy names the
	// client in X-Forwarded-For (see browser.from).
	ec.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustLoopback(true))
	u.Register(ec)
	e.srv = httptest.NewTLSServer(ec)
	t.Cleanup(e.srv.Close)
	return e
}

// now is the UI's clock: real time unless a test set one.
func (e *env) now() time.Time {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	if e.clock.IsZero() {
		return time.Now()
	}
	return e.clock
}

func (e *env) setClock(t time.Time) {
	e.clockMu.Lock()
	e.clock = t
	e.clockMu.Unlock()
}

// browser is an HTTP client with its own cookies that does not follow
// redirects.
type browser struct {
	t    testing.TB
	e    *env
	c    *http.Client
	csrf string
	// from is the client address a trusted proxy reports for this
	// browser; empty is the loopback peer itself.
	from string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // test server
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	return &browser{t: e.t, e: e, c: c}
}

// response is a finished request.
type response struct {
	code   int
	body   string
	header http.Header
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	if b.from != "" {
		req.Header.Set("X-Forwarded-For", b.from)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	r := response{code: res.StatusCode, body: string(body), header: res.Header}
	if m := csrfRE.FindStringSubmatch(r.body); m != nil {
		b.csrf = m[1]
	}
	return r
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) getJSON(path string) response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	return b.do(req)
}

// post sends a url-encoded form; withCSRF adds the last CSRF token seen.
func (b *browser) post(path string, form url.Values, withCSRF bool) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if withCSRF {
		form.Set(csrfField, b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login logs in and fails the test unless it succeeds.
func (b *browser) login(user, pass string) {
	b.t.Helper()
	if r := b.tryLogin(user, pass); r.code != http.StatusSeeOther {
		b.t.Fatalf("login %s: status %d, want 303:\n%s", user, r.code, r.body)
	}
	b.get(homePath) // picks up the session's CSRF token
}

func (b *browser) tryLogin(user, pass string) response {
	b.t.Helper()
	b.get(loginPath)
	return b.post(loginPath, url.Values{"user": {user}, "password": {pass}}, true)
}

// archived returns b behind a gzip header, so that central takes it for
// the tar.gz archive an EXECUTE or LAUNCH upload must be; central never
// unpacks it.
func archived(b []byte) []byte { return append([]byte{0x1f, 0x8b}, b...) }

// upload sends the create-package form as the page's script does when
// csrfHeader is set, or as a plain form post (with _csrf first) otherwise.
// fields are written before the file, after it when fieldsAfter is set.
func (b *browser) upload(fields map[string]string, payload []byte, csrfHeader, fieldsAfter bool, json bool) response {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	writeFields := func() {
		for k, v := range fields {
			if err := mw.WriteField(k, v); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	if !fieldsAfter {
		writeFields()
	}
	if payload != nil {
		fw, err := mw.CreateFormFile("file", "payload.tar.gz")
		if err != nil {
			b.t.Fatal(err)
		}
		if _, err := fw.Write(payload); err != nil {
			b.t.Fatal(err)
		}
	}
	if fieldsAfter {
		writeFields()
	}
	if err := mw.Close(); err != nil {
		b.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+uploadPath, &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if csrfHeader {
		req.Header.Set(csrfHeaderName, b.csrf)
	}
	if json {
		req.Header.Set("Accept", "application/json")
	}
	return b.do(req)
}

const csrfHeaderName = csrfHeader

// wantCode fails the test when r.code is not want.
func wantCode(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.code != want {
		body := r.body
		if len(body) > 3000 {
			body = body[:3000]
		}
		t.Fatalf("%s: status %d, want %d:\n%s", what, r.code, want, body)
	}
}

// wantBody fails the test unless the body contains every string.
func wantBody(t *testing.T, what string, r response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			body := r.body
			if len(body) > 3000 {
				body = body[:3000]
			}
			t.Fatalf("%s: body lacks %q:\n%s", what, s, body)
		}
	}
}

// adminHash is the admin password's bcrypt hash at the minimum cost.
var adminHash = func() func(t testing.TB) []byte {
	hash := sync.OnceValues(func() ([]byte, error) { return bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost) })
	return func(t testing.TB) []byte {
		h, err := hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}()
