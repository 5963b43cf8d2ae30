package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
	"io"
	"log/slog"
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
	"go.yaml.in/yaml/v3"
)

const testPkg = "1700000000"

// upstream is a fake central download tree for one package.
type upstream struct {
	pub      ed25519.PublicKey
	payload  []byte
	frags    [][]byte
	manifest []byte
	info     []byte
	srv      *httptest.Server

	requests sync.Map     // path -> *atomic.Int64
	corrupt  atomic.Int64 // fragment answers still to corrupt
	release  chan struct{}
}

func newUpstream(t *testing.T, size int, nFrags int) *upstream {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{pub: pub, payload: make([]byte, size)}
	rand.Read(u.payload)
	sha, md := sha256.Sum256(u.payload), md5.Sum(u.payload)
	m := &proto.Manifest{Version: proto.ProtocolVersion, PackageID: testPkg, Name: "t", Platform: proto.PlatformLinux,
		Action: proto.ActionExecute, Command: "true", Priority: 5, Size: int64(size), SHA256: hex.EncodeToString(sha[:]),
		MD5: hex.EncodeToString(md[:]), FragmentSize: int64(size), CreatedAt: time.Now().UTC()}
	m.Fragments = []proto.Fragment{{Size: int64(size), CID: proto.FragmentCID(u.payload).String()}}
	per := (size + nFrags - 1) / nFrags
	for off := 0; off < size; off += per {
		b := u.payload[off:min(off+per, size)]
		u.frags = append(u.frags, b)
		m.OCSFragments = append(m.OCSFragments, proto.Fragment{Index: len(m.OCSFragments), Offset: int64(off),
			Size: int64(len(b)), CID: proto.FragmentCID(b).String()})
	}
	if u.manifest, err = proto.SignManifest(m, key); err != nil {
		t.Fatal(err)
	}
	info := &ocs.Info{ID: testPkg, Pri: 5, Act: ocs.ActExecute, Digest: m.MD5, Frags: len(u.frags), Command: "true"}
	if u.info, err = info.Marshal(); err != nil {
		t.Fatal(err)
	}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) count(path string) int64 {
	v, _ := u.requests.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	v, _ := u.requests.LoadOrStore(r.URL.Path, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if u.release != nil {
		<-u.release
	}
	prefix := "/download/" + testPkg + "/"
	switch file := strings.TrimPrefix(r.URL.Path, prefix); {
	case file == "manifest.json":
		w.Write(u.manifest)
	case file == "info":
		w.Write(u.info)
	default:
		for i, b := range u.frags {
			if file == fmt.Sprintf("%s-%d", testPkg, i+1) {
				if u.corrupt.Add(-1) >= 0 {
					b = append([]byte(nil), b...)
					b[len(b)/2] ^= 0xff
				}
				w.Write(b)
				return
			}
		}
		http.NotFound(w, r)
	}
}

func newTestRelay(t *testing.T, u *upstream, dir string) (*Relay, *httptest.Server) {
	t.Helper()
	r, err := New(Config{DataDir: dir, Upstream: u.srv.URL, ManifestPublicKey: base64.StdEncoding.EncodeToString(u.pub)},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
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

func fragPath(n int) string { return fmt.Sprintf("/download/%s/%s-%d", testPkg, testPkg, n) }

func TestPullThrough(t *testing.T) {
	u := newUpstream(t, 100_000, 3)
	r, srv := newTestRelay(t, u, t.TempDir())
	for round := 0; round < 2; round++ {
		for i, want := range u.frags {
			code, got := fetch(t, srv.URL+fragPath(i+1))
			if code != http.StatusOK || !cmp.Equal(got, want) {
				t.Fatalf("round %d fragment %d: status %d, %d bytes, want 200 and the fragment", round, i+1, code, len(got))
			}
		}
		code, got := fetch(t, srv.URL+"/download/"+testPkg+"/info")
		if code != http.StatusOK || string(got) != string(u.info) {
			t.Fatalf("info: status %d, %q", code, got)
		}
	}
	for i := range u.frags {
		if n := u.count(fragPath(i + 1)); n != 1 {
			t.Errorf("fragment %d fetched from upstream %d times, want 1", i+1, n)
		}
	}
	for _, p := range []string{"/download/" + testPkg + "/manifest.json", "/download/" + testPkg + "/info"} {
		if n := u.count(p); n != 1 {
			t.Errorf("%s fetched from upstream %d times, want 1", p, n)
		}
	}
	st := r.Stats()
	wantUp := int64(len(u.payload) + len(u.manifest) + len(u.info))
	want := Stats{Hits: 4, Misses: 4, UpstreamBytes: wantUp, ServedBytes: 2 * int64(len(u.payload)+len(u.info))}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	code, body := fetch(t, srv.URL+"/metrics")
	if code != http.StatusOK || !strings.Contains(string(body), fmt.Sprintf("shoal_relay_upstream_bytes_total %d\n", wantUp)) {
		t.Errorf("metrics: %d\n%s", code, body)
	}

	// A new relay on the same directory (a restart) serves from disk.
	_, srv2 := newTestRelay(t, u, r.cfg.DataDir)
	for i, want := range u.frags {
		if code, got := fetch(t, srv2.URL+fragPath(i+1)); code != http.StatusOK || !cmp.Equal(got, want) {
			t.Fatalf("after restart fragment %d: status %d", i+1, code)
		}
	}
	if code, _ := fetch(t, srv2.URL+"/download/"+testPkg+"/info"); code != http.StatusOK {
		t.Fatalf("after restart info: status %d", code)
	}
	for _, p := range []string{fragPath(1), "/download/" + testPkg + "/manifest.json", "/download/" + testPkg + "/info"} {
		if n := u.count(p); n != 1 {
			t.Errorf("after restart %s fetched from upstream %d times, want 1", p, n)
		}
	}
}

func TestSingleFlight(t *testing.T) {
	u := newUpstream(t, 50_000, 2)
	_, srv := newTestRelay(t, u, t.TempDir())
	fetch(t, srv.URL+"/download/"+testPkg+"/manifest.json") // Manifest first, so only fragments wait below.
	u.release = make(chan struct{})
	const clients = 8
	var wg sync.WaitGroup
	codes := make([]int, clients)
	for i := range clients {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + fragPath(2))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	_ = testwait.Until(10*time.Second, func() error {
		if u.count(fragPath(2)) == 0 {
			return errors.New("no upstream fetch yet")
		}
		return nil
	})
	close(u.release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("client %d: status %d", i, c)
		}
	}
	if n := u.count(fragPath(2)); n != 1 {
		t.Errorf("upstream fetches for one fragment and %d clients: %d, want 1", clients, n)
	}
}

func TestCorruptUpstream(t *testing.T) {
	u := newUpstream(t, 30_000, 3)
	r, srv := newTestRelay(t, u, t.TempDir())
	u.corrupt.Store(1)
	if code, _ := fetch(t, srv.URL+fragPath(1)); code != http.StatusBadGateway {
		t.Fatalf("corrupt upstream: status %d, want 502", code)
	}
	f := mustManifest(t, r).OCSFragments[0]
	if _, err := os.Stat(filepath.Join(r.store.Dir(), f.CID[len(f.CID)-2:], f.CID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt fragment stored: %v", err)
	}
	if code, got := fetch(t, srv.URL+fragPath(1)); code != http.StatusOK || !cmp.Equal(got, u.frags[0]) {
		t.Fatalf("retry: status %d", code)
	}
	if n := u.count(fragPath(1)); n != 2 {
		t.Errorf("upstream fetches: %d, want 2", n)
	}
	if c := r.Stats().Corrupt; c != 1 {
		t.Errorf("corrupt counter %d, want 1", c)
	}
}

func mustManifest(t *testing.T, r *Relay) *proto.Manifest {
	t.Helper()
	m, err := r.manifest(context.Background(), testPkg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRejects(t *testing.T) {
	u := newUpstream(t, 10_000, 2)
	good := u.info
	_, srv := newTestRelay(t, u, t.TempDir())
	tests := []struct {
		name string
		path string
		info []byte
		want int
	}{
		{name: "fragment-out-of-range", path: fragPath(3), want: http.StatusNotFound},
		{name: "fragment-zero", path: fragPath(0), want: http.StatusNotFound},
		{name: "other-package-name", path: "/download/" + testPkg + "/1-1", want: http.StatusNotFound},
		{name: "unknown-package", path: "/download/42/42-1", want: http.StatusNotFound},
		{name: "bad-file", path: "/download/" + testPkg + "/..", want: http.StatusNotFound},
		{name: "info-wrong-frags", path: "/download/" + testPkg + "/info",
			info: []byte(strings.Replace(string(good), `FRAGS="2"`, `FRAGS="3"`, 1)), want: http.StatusBadGateway},
		{name: "info-good", path: "/download/" + testPkg + "/info", info: good, want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.info != nil {
				u.info = tt.info
			}
			if code, body := fetch(t, srv.URL+tt.path); code != tt.want {
				t.Errorf("GET %s: status %d, want %d: %s", tt.path, code, tt.want, body)
			}
		})
	}
}

func TestBadManifestKey(t *testing.T) {
	u := newUpstream(t, 10_000, 1)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	u.pub = other
	_, srv := newTestRelay(t, u, t.TempDir())
	if code, _ := fetch(t, srv.URL+fragPath(1)); code != http.StatusBadGateway {
		t.Errorf("manifest signed by another key: status %d, want 502", code)
	}
	if n := u.count(fragPath(1)); n != 0 {
		t.Errorf("fragment fetched %d times without a verified manifest", n)
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
	if cfg.FetchTimeout != 5*time.Minute || cfg.HTTPAddr != ":8090" {
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
		{name: "no-data-dir", cfg: Config{Upstream: "http://c", ManifestPublicKey: key}},
		{name: "bad-upstream", cfg: Config{DataDir: "d", Upstream: "c:80", ManifestPublicKey: key}},
		{name: "short-key", cfg: Config{DataDir: "d", Upstream: "http://c", ManifestPublicKey: "AAAA"}},
		{name: "no-key", cfg: Config{DataDir: "d", Upstream: "http://c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.withDefaults().Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, tt.ok)
			}
		})
	}
}

func TestDamagedCache(t *testing.T) {
	u := newUpstream(t, 30_000, 3)
	r, srv := newTestRelay(t, u, t.TempDir())
	for i := range u.frags {
		fetch(t, srv.URL+fragPath(i+1))
	}
	// Damage fragment 2 on disk, as a crash or a bad disk would.
	f := mustManifest(t, r).OCSFragments[1]
	name := filepath.Join(r.store.Dir(), f.CID[len(f.CID)-2:], f.CID)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, srv2 := newTestRelay(t, u, r.cfg.DataDir)
	good, bad, err := r2.verifyCache(context.Background())
	if err != nil || good != 2 || bad != 1 {
		t.Fatalf("verifyCache = %d good, %d bad, %v; want 2, 1, nil", good, bad, err)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("damaged fragment still on disk: %v", err)
	}
	if code, got := fetch(t, srv2.URL+fragPath(2)); code != http.StatusOK || !cmp.Equal(got, u.frags[1]) {
		t.Fatalf("damaged fragment: status %d", code)
	}
	want := map[string]int64{fragPath(1): 1, fragPath(2): 2, fragPath(3): 1}
	for p, n := range want {
		if got := u.count(p); got != n {
			t.Errorf("%s fetched %d times, want %d", p, got, n)
		}
	}
}
