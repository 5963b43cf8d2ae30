package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key, and returns a pool trusting it.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestRunHTTPAndHTTPS(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(20_000), 8192, 2)
	dir := t.TempDir()
	certFile, keyFile, pool := writeSelfSigned(t, dir)
	r, err := New(Config{DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0",
		TLSCertFile: certFile, TLSKeyFile: keyFile, Upstream: c.HTTP.URL,
		ManifestPublicKey: base64.StdEncoding.EncodeToString(c.Pub)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var rt RuntimeInfo
	testwait.For(t, 10*time.Second, "relay.json", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "data", "relay.json"))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rt)
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	for _, base := range []string{rt.HTTPURL, rt.HTTPSURL} {
		resp, err := client.Get(base + ocsPath(testPkg, 2))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, %v", base, resp.StatusCode, err)
		}
		if diff := cmp.Diff(ocsBytes(p, 2), got); diff != "" {
			t.Errorf("GET %s: body differs", base)
		}
	}
	if n := c.FragmentRequests(testPkg); n != 2 {
		t.Errorf("upstream fetches %d, want 2 (the fragments covering <ID>-2, once)", n)
	}
}
