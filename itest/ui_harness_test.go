//go:build integration

package itest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// Browser is a headless Chromium driven through the DevTools protocol.
type Browser struct {
	t         testing.TB
	ctx       context.Context
	artifacts string
	shots     int
}

// newBrowser starts headless Chromium with an empty profile. Without
// Chromium the test is skipped, or fails when CI is set.
func newBrowser(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (make test installs the Debian chromium package)", chromiumPath)
		}
		t.Skipf("%s is missing; run `make test-deps` to install chromium", chromiumPath)
	}
	artifacts := os.Getenv("SHOAL_UI_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	// The test trusts no CA store of its own: Chromium cannot be told to
	// trust central's CA alone without NSS tools, so certificate errors are
	// ignored here, and only here.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &Browser{t: t, ctx: ctx, artifacts: artifacts}
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("UI screenshots go to %s", artifacts)
	return b
}

// do runs browser actions, failing the test after timeout.
func (b *Browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// text returns the text of the first element matching the CSS selector.
func (b *Browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.shot("failed-text")
		b.t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression that returns a string.
func (b *Browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("browser: eval %s: %v", expr, err)
	}
	return s
}

// waitJS polls a JavaScript predicate until it is true. Errors while the
// page navigates count as "not yet".
func (b *Browser) waitJS(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	var last error
	ok := func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+predicate+")"))
		if err != nil {
			last = err
			return err
		}
		if !v {
			return fmt.Errorf("%s: not yet (last error %v)", what, last)
		}
		return nil
	}
	if ok() != nil {
		defer func() {
			if b.t.Failed() {
				b.shot("failed-" + what)
			}
		}()
		waitFor(b.t, timeout, what, ok)
	}
}

// shot saves a full-page PNG screenshot named after the page.
func (b *Browser) shot(name string) {
	b.t.Helper()
	// A page laid out a moment ago can report 0 width to the screenshot;
	// it is retried for a few seconds. A screenshot is an artifact for
	// people, not an assertion: one that still fails is logged.
	var png []byte
	err := errors.New("not taken")
	for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			select {
			case <-b.ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err != nil {
		b.t.Logf("screenshot %s not taken: %v", name, err)
		return
	}
	b.shots++
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}

// shortHost is the computer name the OCS agent reports for this machine.
func shortHost(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// uiClient is a cookie-keeping HTTP client for central's UI that trusts
// central's CA and does not follow redirects.
type uiClient struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

func newUIClient(t testing.TB, c *Central) *uiClient {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA file")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &uiClient{t: t, base: c.HTTPSURL, c: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var uiCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// send performs a request and returns the status and the body, keeping the
// last CSRF token seen.
func (u *uiClient) send(method, path string, form url.Values, header map[string]string) (int, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.base+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := u.c.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := uiCSRF.FindStringSubmatch(string(b)); m != nil {
		u.csrf = m[1]
	}
	return res.StatusCode, string(b)
}

// login logs in through the form and fails the test unless it works.
func (u *uiClient) login(user, pass string) {
	u.t.Helper()
	u.send("GET", "/login", nil, nil)
	code, body := u.send("POST", "/login", url.Values{"user": {user}, "password": {pass}, "_csrf": {u.csrf}}, nil)
	if code != http.StatusSeeOther {
		u.t.Fatalf("login %s: status %d: %.2000s", user, code, body)
	}
	u.send("GET", "/ui/", nil, nil)
}

// chromiumVersion is logged so failures can be matched to a browser.
func chromiumVersion() string {
	out, err := exec.Command(chromiumPath, "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
