package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shoal-project/shoal/central/pki"
)

// loadPKI creates a real central PKI (CA, server certificate) in a
// temporary directory.
func loadPKI(t *testing.T) *pki.PKI {
	t.Helper()
	p, err := pki.Load(t.TempDir(), pki.Config{}, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// TestFetchCAPinsExactlyOneCertificate plays a man in the middle that
// serves central's real CA with more around it: only the pinned
// certificate may ever be trusted, so every such answer is refused.
func TestFetchCAPinsExactlyOneCertificate(t *testing.T) {
	central, attacker := loadPKI(t), loadPKI(t)
	fp := central.CAFingerprint()
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: central.ServerCert.Certificate[0]})
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"X": "y"}, Bytes: central.CACert.Raw})
	tests := []struct {
		name   string
		body   []byte
		status int
		pin    string
		ok     bool
	}{
		{name: "exact", body: central.CAPEM, pin: fp, ok: true},
		{name: "colons-and-case", body: central.CAPEM, pin: colons(fp), ok: true},
		{name: "attacker-ca-appended", body: cat(central.CAPEM, attacker.CAPEM), pin: fp},
		{name: "attacker-ca-first", body: cat(attacker.CAPEM, central.CAPEM), pin: fp},
		{name: "trailing-garbage", body: cat(central.CAPEM, []byte("#!/bin/sh\n")), pin: fp},
		{name: "pem-headers", body: withHeader, pin: fp},
		{name: "not-a-ca", body: serverPEM, pin: fingerprint(central.ServerCert.Certificate[0])},
		{name: "wrong-pin", body: central.CAPEM, pin: attacker.CAFingerprint()},
		{name: "short-pin", body: central.CAPEM, pin: fp[:16]},
		{name: "not-found", body: []byte("no"), status: http.StatusNotFound, pin: fp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/cacert.pem" {
					http.NotFound(w, r)
					return
				}
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				_, _ = w.Write(tt.body)
			}))
			defer srv.Close()
			got, err := FetchCA(context.Background(), srv.URL, tt.pin)
			if !tt.ok {
				if err == nil {
					t.Fatalf("FetchCA accepted %d bytes: %q", len(got), got)
				}
				if tt.status == 0 && !errors.Is(err, ErrCANotPinned) {
					t.Errorf("err = %v, want ErrCANotPinned", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(got)
			if block == nil || len(rest) != 0 || !bytes.Equal(block.Bytes, central.CACert.Raw) {
				t.Errorf("FetchCA returned %q, want exactly central's CA", got)
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// colons writes a fingerprint as AB:CD:… the way openssl prints it.
func colons(fp string) string {
	var b []byte
	for i := 0; i < len(fp); i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, bytes.ToUpper([]byte(fp[i:i+2]))...)
	}
	return string(b)
}
