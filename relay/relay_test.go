package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

const testPkg = "1700000000"

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestRelay builds a relay on dir pulling from c (not enrolled) and
// serves its handler.
func newTestRelay(t *testing.T, c *relaytest.Central, dir string, edit func(*Config)) (*Relay, *httptest.Server) {
	t.Helper()
	cfg := Config{DataDir: dir, Upstream: c.HTTP.URL, ManifestPublicKey: base64.StdEncoding.EncodeToString(c.Pub)}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.initUsage(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return r, srv
}

func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func ocsPath(id string, n int) string { return fmt.Sprintf("/download/%s/%s-%d", id, id, n) }

func ocsBytes(p *relaytest.Package, n int) []byte {
	f := p.Manifest.OCSFragments[n-1]
	return p.Payload[f.Offset : f.Offset+f.Size]
}

// TestPullThrough serves OCS fragments whose byte ranges cross Shoal
// fragment boundaries, Shoal fragments by CID and the manifest; every
// Shoal fragment leaves upstream once, and a restarted relay serves from
// disk.
func TestPullThrough(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(300_000), 64<<10, 3) // 5 Shoal fragments, 3 OCS fragments.
	r, srv := newTestRelay(t, c, t.TempDir(), nil)
	for round := range 2 {
		for n := 1; n <= 3; n++ {
			code, got := fetch(t, srv.URL+ocsPath(testPkg, n))
			if code != http.StatusOK || !cmp.Equal(got, ocsBytes(p, n)) {
				t.Fatalf("round %d OCS fragment %d: status %d, %d bytes, want 200 and the range", round, n, code, len(got))
			}
		}
		for _, f := range p.Manifest.Fragments {
			code, got := fetch(t, srv.URL+proto.FragmentPath(testPkg, f.CID))
			if code != http.StatusOK || !cmp.Equal(got, p.Payload[f.Offset:f.Offset+f.Size]) {
				t.Fatalf("round %d Shoal fragment %d: status %d", round, f.Index, code)
			}
		}
		if code, got := fetch(t, srv.URL+"/download/"+testPkg+"/info"); code != http.StatusOK || string(got) != string(p.Info) {
			t.Fatalf("info: status %d, %q", code, got)
		}
		if code, got := fetch(t, srv.URL+proto.ManifestPath(testPkg)); code != http.StatusOK || string(got) != string(p.Signed) {
			t.Fatalf("manifest: status %d", code)
		}
	}
	for _, f := range p.Manifest.Fragments {
		if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 1 {
			t.Errorf("Shoal fragment %d fetched from upstream %d times, want 1", f.Index, n)
		}
	}
	if n := c.Count(proto.ManifestPath(testPkg)); n != 1 {
		t.Errorf("manifest fetched from upstream %d times, want 1", n)
	}
	if n := c.Count("/download/" + testPkg + "/info"); n != 0 {
		t.Errorf("info file fetched from upstream %d times, want 0 (built from the manifest)", n)
	}
	st := r.Stats()
	wantUp := int64(len(p.Payload) + len(p.Signed))
	if st.UpstreamBytes != wantUp || st.Misses != 5 || st.Corrupt != 0 {
		t.Errorf("stats %+v, want %d upstream bytes and 5 misses", st, wantUp)
	}
	code, body := fetch(t, srv.URL+"/metrics")
	for _, want := range []struct {
		series string
		v      int64
	}{{"shoal_relay_upstream_bytes_total", wantUp},
		{fmt.Sprintf("shoal_relay_package_cached_bytes{package=%q}", testPkg), int64(len(p.Payload))},
		{fmt.Sprintf("shoal_relay_package_complete{package=%q}", testPkg), 1}} {
		if v, ok := metricValue(body, want.series); code != http.StatusOK || !ok || v != want.v {
			t.Errorf("metrics: %s = %d (found %v), want %d:\n%s", want.series, v, ok, want.v, body)
		}
	}

	// A new relay on the same directory (a restart) serves from disk.
	r2, srv2 := newTestRelay(t, c, r.cfg.DataDir, nil)
	if good, bad, err := r2.verifyCache(context.Background()); err != nil || good != 5 || bad != 0 {
		t.Fatalf("verifyCache = %d, %d, %v; want 5 good", good, bad, err)
	}
	for n := 1; n <= 3; n++ {
		if code, got := fetch(t, srv2.URL+ocsPath(testPkg, n)); code != http.StatusOK || !cmp.Equal(got, ocsBytes(p, n)) {
			t.Fatalf("after restart OCS fragment %d: status %d", n, code)
		}
	}
	if n := c.FragmentRequests(testPkg); n != 5 {
		t.Errorf("after restart: %d fragment requests upstream, want 5", n)
	}
	if st := r2.Stats(); st.Hits != 3 || st.Misses != 0 {
		t.Errorf("restarted relay stats %+v, want 3 hits, no miss", st)
	}
}

// TestOCSRanges checks Range and HEAD requests on an OCS fragment that
// spans several Shoal fragments.
func TestOCSRanges(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(200_000), 16<<10, 2)
	_, srv := newTestRelay(t, c, t.TempDir(), nil)
	whole := ocsBytes(p, 2)
	tests := []struct {
		name, method, rng string
		code              int
		want              []byte
	}{
		{name: "across-boundaries", method: "GET", rng: "bytes=10-70000", code: http.StatusPartialContent, want: whole[10:70001]},
		{name: "suffix", method: "GET", rng: "bytes=-5", code: http.StatusPartialContent, want: whole[len(whole)-5:]},
		{name: "whole", method: "GET", code: http.StatusOK, want: whole},
		{name: "head", method: "HEAD", code: http.StatusOK, want: []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+ocsPath(testPkg, 2), nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !cmp.Equal(got, tt.want) {
				t.Errorf("status %d, %d bytes; want %d, %d bytes", resp.StatusCode, len(got), tt.code, len(tt.want))
			}
			if tt.method == "HEAD" && resp.ContentLength != int64(len(whole)) {
				t.Errorf("HEAD Content-Length %d, want %d", resp.ContentLength, len(whole))
			}
		})
	}
}

func TestSingleFlight(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(100_000), 32<<10, 2)
	_, srv := newTestRelay(t, c, t.TempDir(), nil)
	fetch(t, srv.URL+proto.ManifestPath(testPkg)) // Manifest first, so only fragments wait below.
	release := c.Hold()
	defer release()
	const clients = 8
	var wg sync.WaitGroup
	codes := make([]int, clients)
	for i := range clients {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + ocsPath(testPkg, 2))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	testwait.For(t, 10*time.Second, "an upstream fetch", func() error {
		if c.FragmentRequests(testPkg) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	release()
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("client %d: status %d", i, code)
		}
	}
	for _, f := range covering(p.Manifest.Fragments, p.Manifest.OCSFragments[1].Offset, p.Manifest.OCSFragments[1].Size) {
		if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 1 {
			t.Errorf("fragment %d: %d upstream fetches for %d clients, want 1", f.Index, n, clients)
		}
	}
}

func TestCorruptUpstream(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(30_000), 16<<10, 3)
	r, srv := newTestRelay(t, c, t.TempDir(), nil)
	f := p.Manifest.Fragments[0]
	c.Corrupt(proto.FragmentPath(testPkg, f.CID), 1)
	if code, _ := fetch(t, srv.URL+ocsPath(testPkg, 1)); code != http.StatusBadGateway {
		t.Fatalf("corrupt upstream: status %d, want 502", code)
	}
	if _, err := os.Stat(r.fragmentFile(f.CID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt fragment stored: %v", err)
	}
	if code, got := fetch(t, srv.URL+ocsPath(testPkg, 1)); code != http.StatusOK || !cmp.Equal(got, ocsBytes(p, 1)) {
		t.Fatalf("retry: status %d", code)
	}
	if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 2 {
		t.Errorf("upstream fetches: %d, want 2", n)
	}
	if st := r.PackageStats(testPkg); st.Corrupt != 1 {
		t.Errorf("corrupt counter %d, want 1", st.Corrupt)
	}
	if rep := r.Report(); len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "rejected") {
		t.Errorf("report errors %q, want the rejected fragment", rep.Errors)
	}
}

func TestRejects(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(10_000), 4096, 2)
	_, srv := newTestRelay(t, c, t.TempDir(), nil)
	other := proto.FragmentCID([]byte("not in the package")).String()
	tests := []struct {
		name string
		path string
		want int
	}{
		{name: "fragment-out-of-range", path: ocsPath(testPkg, 3), want: http.StatusNotFound},
		{name: "fragment-zero", path: ocsPath(testPkg, 0), want: http.StatusNotFound},
		{name: "other-package-name", path: "/download/" + testPkg + "/1-1", want: http.StatusNotFound},
		{name: "unknown-package", path: "/download/42/42-1", want: http.StatusNotFound},
		{name: "bad-file", path: "/download/" + testPkg + "/..", want: http.StatusNotFound},
		{name: "cid-not-in-manifest", path: proto.FragmentPath(testPkg, other), want: http.StatusNotFound},
		{name: "cid-garbage", path: proto.FragmentPath(testPkg, "x"), want: http.StatusNotFound},
		{name: "cid-good", path: proto.FragmentPath(testPkg, p.Manifest.Fragments[1].CID), want: http.StatusOK},
		{name: "info-good", path: "/download/" + testPkg + "/info", want: http.StatusOK},
		{name: "info-other-package", path: "/download/42/info", want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := fetch(t, srv.URL+tt.path); code != tt.want {
				t.Errorf("GET %s: status %d, want %d: %s", tt.path, code, tt.want, body)
			}
		})
	}
}

func TestBadManifestKey(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(10_000), 4096, 1)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	_, srv := newTestRelay(t, c, t.TempDir(), func(cfg *Config) {
		cfg.ManifestPublicKey = base64.StdEncoding.EncodeToString(other)
	})
	if code, _ := fetch(t, srv.URL+ocsPath(testPkg, 1)); code != http.StatusBadGateway {
		t.Errorf("manifest signed by another key: status %d, want 502", code)
	}
	if n := c.FragmentRequests(p.ID); n != 0 {
		t.Errorf("fragments fetched %d times without a verified manifest", n)
	}
}

func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("dist/relay.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.withDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.FetchTimeout != 5*time.Minute || cfg.ShutdownGrace != 10*time.Second || cfg.HTTPAddr != "" || cfg.Upstream != "" || cfg.ManifestPublicKey != "" || cfg.CentralCAFile != "" || len(cfg.WAN.Windows) != 2 {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestValidate(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize))
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "ok", cfg: Config{DataDir: "d", Upstream: "http://c", ManifestPublicKey: key}, ok: true},
		{name: "enrolled-empty-upstream", cfg: Config{DataDir: "d"}, ok: true},
		{name: "no-data-dir-is-the-default", cfg: Config{Upstream: "http://c", ManifestPublicKey: key}, ok: true},
		{name: "bad-upstream", cfg: Config{DataDir: "d", Upstream: "c:80", ManifestPublicKey: key}},
		{name: "short-key", cfg: Config{DataDir: "d", Upstream: "http://c", ManifestPublicKey: "AAAA"}},
		{name: "bad-window", cfg: Config{DataDir: "d", WAN: WANConfig{Windows: []WANWindow{{From: "25:00", To: "06:00"}}}}},
		{name: "negative-quota", cfg: Config{DataDir: "d", Cache: CacheConfig{QuotaBytes: -1}}},
		{name: "bad-day", cfg: Config{DataDir: "d", WAN: WANConfig{Windows: []WANWindow{{From: "22:00", To: "06:00", Days: []string{"mo"}}}}}},
		{name: "negative-lan", cfg: Config{DataDir: "d", LAN: LANConfig{RateMbit: -1}}},
		{name: "cert-without-key", cfg: Config{DataDir: "d", TLSCertFile: "c.pem"}},
		{name: "negative-grace", cfg: Config{DataDir: "d", ShutdownGrace: -time.Second}},
		{name: "grace-over-an-hour", cfg: Config{DataDir: "d", ShutdownGrace: 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.withDefaults().Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, tt.ok)
			}
		})
	}
	if _, err := New(Config{DataDir: t.TempDir()}, discard()); !errors.Is(err, ErrNotConfigured) {
		t.Errorf("New without enrollment or upstream: %v, want ErrNotConfigured", err)
	}
}

func TestDamagedCache(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(30_000), 10_000, 3)
	r, srv := newTestRelay(t, c, t.TempDir(), nil)
	for n := 1; n <= 3; n++ {
		fetch(t, srv.URL+ocsPath(testPkg, n))
	}
	// Damage fragment 2 on disk, as a crash or a bad disk would, and
	// leave an orphan no manifest lists.
	f := p.Manifest.Fragments[1]
	b, err := os.ReadFile(r.fragmentFile(f.CID))
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(r.fragmentFile(f.CID), b, 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := proto.FragmentCID([]byte("orphan")).String()
	os.MkdirAll(filepath.Dir(r.fragmentFile(orphan)), 0o700)
	if err := os.WriteFile(r.fragmentFile(orphan), []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, srv2 := newTestRelay(t, c, r.cfg.DataDir, nil)
	good, bad, err := r2.verifyCache(context.Background())
	if err != nil || good != 2 || bad != 1 {
		t.Fatalf("verifyCache = %d good, %d bad, %v; want 2, 1, nil", good, bad, err)
	}
	for _, cid := range []string{f.CID, orphan} {
		if _, err := os.Stat(r2.fragmentFile(cid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still on disk: %v", cid, err)
		}
	}
	if r2.used != 20_000 {
		t.Errorf("bytes on disk after the check: %d, want 20000", r2.used)
	}
	if code, got := fetch(t, srv2.URL+ocsPath(testPkg, 2)); code != http.StatusOK || !cmp.Equal(got, ocsBytes(p, 2)) {
		t.Fatalf("damaged fragment: status %d", code)
	}
	want := []int64{1, 2, 1}
	for i, f := range p.Manifest.Fragments {
		if got := c.Count(proto.FragmentPath(testPkg, f.CID)); got != want[i] {
			t.Errorf("fragment %d fetched %d times, want %d", i, got, want[i])
		}
	}
}

// metricValue reads one series ("name" or "name{labels}") from a
// Prometheus text answer; client_golang writes large values in exponent
// form (8.388608e+06).
func metricValue(body []byte, series string) (int64, bool) {
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || name != series {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		return int64(f), err == nil
	}
	return 0, false
}
