package tracker_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

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

func TestStandalone(t *testing.T) {
	central := trackertest.NewCentral(t)
	der, _ := x509.MarshalPKIXPublicKey(central.Public())
	keyFile := filepath.Join(t.TempDir(), "manifest-signing-pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := tracker.NewStandalone(tracker.StandaloneConfig{ManifestPublicKeyFile: keyFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- st.Serve(ctx, ln) }()
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
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after shutdown")
	}
}
