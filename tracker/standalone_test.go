package tracker_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/metrics/metricstest"
	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/tracker"
	"github.com/shoal-project/shoal/tracker/trackertest"
)

func TestParsePublicKey(t *testing.T) {
	central := trackertest.NewCentral(t)
	der, err := x509.MarshalPKIXPublicKey(central.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"base64", base64.StdEncoding.EncodeToString(central.Public()), true},
		{"pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), true},
		{"short", base64.StdEncoding.EncodeToString(central.Public()[:16]), false},
		{"garbage", "not a key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tracker.ParsePublicKey(tt.in)
			if (err == nil) != tt.ok || (tt.ok && !k.Equal(central.Public())) {
				t.Errorf("ParsePublicKey = %x, %v; want ok=%v", k, err, tt.ok)
			}
		})
	}
}

func TestStandaloneConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  tracker.StandaloneConfig
		ok   bool
	}{
		{"key", tracker.StandaloneConfig{ManifestPublicKey: "x"}, true},
		{"no-key", tracker.StandaloneConfig{}, false},
		{"two-keys", tracker.StandaloneConfig{ManifestPublicKey: "x", ManifestPublicKeyFile: "y"}, false},
		{"half-tls", tracker.StandaloneConfig{ManifestPublicKey: "x", TLSCert: "c"}, false},
		{"bad-listen", tracker.StandaloneConfig{ManifestPublicKey: "x", Listen: "nope"}, false},
		{"central-url", tracker.StandaloneConfig{ManifestPublicKey: "x", CentralURL: "https://central:8443"}, true},
		{"bad-central-url", tracker.StandaloneConfig{ManifestPublicKey: "x", CentralURL: "central:8443"}, false},
		{"fast-revocations", tracker.StandaloneConfig{ManifestPublicKey: "x", RevocationsInterval: time.Millisecond}, false},
		{"bad-ttl", tracker.StandaloneConfig{ManifestPublicKey: "x", Tracker: tracker.Config{TTL: time.Second}}, false},
		{"interval-over-half-ttl", tracker.StandaloneConfig{ManifestPublicKey: "x", Tracker: tracker.Config{TTL: 10 * time.Second, AnnounceInterval: 6 * time.Second}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// serveStandalone runs shoal-tracker's service with cfg on a loopback
// port; stop shuts it down and returns what Serve returned.
func serveStandalone(t *testing.T, cfg tracker.StandaloneConfig) (st *tracker.Standalone, ln net.Listener, stop func() error) {
	t.Helper()
	st, err := tracker.NewStandalone(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- st.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-done
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() }) // Also when the test stops early.
	return st, ln, stop
}

func TestStandalone(t *testing.T) {
	central := trackertest.NewCentral(t)
	der, _ := x509.MarshalPKIXPublicKey(central.Public())
	keyFile := filepath.Join(t.TempDir(), "manifest-signing-pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ln, stop := serveStandalone(t, tracker.StandaloneConfig{ManifestPublicKeyFile: keyFile})
	base := "http://" + ln.Addr().String()
	c, _ := newClient(t, base+"/tracker/v1", central.NewIdentity(t, "branch-a", time.Hour))
	if _, err := c.Announce(t.Context(), peerAnnounce("10.0.0.1:1", holding("p", 1, 0))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var stats tracker.Stats
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil || stats != (tracker.Stats{Sites: 1, Entries: 1}) {
		t.Errorf("healthz = %+v, %v", stats, err)
	}
	code, m := metricstest.Scrape(t, nil, base+"/metrics", "")
	for series, want := range map[string]float64{
		`shoal_tracker_peers{site="branch-a"}`:                   1,
		`shoal_tracker_relays{site="branch-a"}`:                  0,
		`shoal_tracker_leases{site="branch-a"}`:                  0,
		`shoal_tracker_requests_total{code="200",op="announce"}`: 1,
	} {
		if v, ok := m[series]; code != http.StatusOK || !ok || v != want {
			t.Errorf("/metrics (status %d): %s = %v (found %v), want %v", code, series, v, ok, want)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after shutdown")
	}
}

// TestStandaloneRevocations: a standalone tracker polls central's signed
// revocation list; a revoked peer is refused from the next poll on, a list
// signed by another key or older than the one in force changes nothing.
func TestStandaloneRevocations(t *testing.T) {
	central := trackertest.NewCentral(t)
	a, b := central.NewIdentity(t, "branch-a", time.Hour), central.NewIdentity(t, "branch-a", time.Hour)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	var mu sync.Mutex
	var answer proto.SignedRevocationList
	serve := func(key ed25519.PrivateKey, issued time.Time, peers ...string) {
		t.Helper()
		s, err := proto.SignRevocationList(proto.RevocationList{Issued: issued, Peers: peers}, key)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		answer = s
		mu.Unlock()
	}
	now := time.Now()
	serve(central.Key, now)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != proto.RevokedPeersPath {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(answer)
	}))
	defer fake.Close()
	st, ln, stop := serveStandalone(t, tracker.StandaloneConfig{ManifestPublicKey: base64.StdEncoding.EncodeToString(central.Public()),
		CentralURL: fake.URL, RevocationsInterval: time.Second})
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("Serve = %v", err)
		}
	}()
	base := "http://" + ln.Addr().String() + "/tracker/v1"
	ca, _ := newClient(t, base, a)
	cb, _ := newClient(t, base, b)
	announce := func(c *trackerclient.Client) error {
		_, err := c.Announce(t.Context(), peerAnnounce("10.0.0.1:1", holding("p", 1, 0)))
		return err
	}
	if err := announce(ca); err != nil {
		t.Fatalf("announce before any revocation: %v", err)
	}
	serve(central.Key, now.Add(time.Second), a.PeerID.String())
	testwait.For(t, 10*time.Second, "the revoked peer refused", func() error {
		if err := announce(ca); !errors.Is(err, tracker.ErrRevoked) {
			return fmt.Errorf("announce of the revoked peer: %v", err)
		}
		return nil
	})
	if err := announce(cb); err != nil {
		t.Errorf("announce of another peer: %v", err)
	}
	// A forged list and a replayed older one leave the revocation in force.
	for _, bad := range []struct {
		key    ed25519.PrivateKey
		issued time.Time
	}{{otherKey, now.Add(time.Hour)}, {central.Key, now}} {
		serve(bad.key, bad.issued)
		if err := st.PollRevocations(t.Context()); err == nil {
			t.Errorf("list signed by the %s key issued %s adopted", map[bool]string{true: "central", false: "other"}[bad.key.Equal(central.Key)], bad.issued)
		}
		if err := announce(ca); !errors.Is(err, tracker.ErrRevoked) {
			t.Errorf("revoked peer after a bad list: %v", err)
		}
	}
}
