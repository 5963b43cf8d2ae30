package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadCreatesAndReuses(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p1, err := Load(dir, Config{Names: []string{"central.example"}}, []string{"10.1.2.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caKeyFile, serverKeyFile, signingKeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
	leaf := p1.ServerCert.Leaf
	for _, n := range []string{"localhost", "127.0.0.1", "central.example", "10.1.2.3"} {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("server certificate does not cover %s: %v", n, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p1.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("server certificate does not chain to CA: %v", err)
	}

	p2, err := Load(dir, Config{Names: []string{"central.example"}}, []string{"10.1.2.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if p1.CAFingerprint() != p2.CAFingerprint() || !p1.SigningKey.Equal(p2.SigningKey) {
		t.Fatal("second start did not reuse the CA and signing key")
	}
	if !p1.ServerCert.Leaf.Equal(p2.ServerCert.Leaf) {
		t.Fatal("second start reissued an adequate server certificate")
	}

	// A new name reissues the server certificate from the same CA.
	p3, err := Load(dir, Config{Names: []string{"other.example"}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if p3.CAFingerprint() != p1.CAFingerprint() {
		t.Fatal("CA changed")
	}
	if err := p3.ServerCert.Leaf.VerifyHostname("other.example"); err != nil {
		t.Fatal(err)
	}
}

func TestTLSHandshakeWithCA(t *testing.T) {
	p, err := Load(t.TempDir(), Config{}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.ServerCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: p.CAPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCorruptKeyIsAnError(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, Config{}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, signingKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Config{}, nil, time.Now()); !errors.Is(err, ErrBadKey) {
		t.Fatalf("err = %v, want ErrBadKey", err)
	}
}

func TestAdmin(t *testing.T) {
	dir := t.TempDir()
	a, gen, err := LoadAdmin(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(gen) < 20 || !a.Check(AdminUser, gen) || a.Check(AdminUser, gen+"x") || a.Check("root", gen) {
		t.Fatalf("generated credential does not check: %q", gen)
	}
	b, err := os.ReadFile(filepath.Join(dir, InitialPasswordFile))
	if err != nil || string(b) != gen+"\n" {
		t.Fatalf("initial password file = %q, %v", b, err)
	}
	a2, gen2, err := LoadAdmin(dir, "")
	if err != nil || gen2 != "" || !a2.Check(AdminUser, gen) {
		t.Fatalf("second load: gen=%q err=%v", gen2, err)
	}
	if _, _, err := LoadAdmin(dir, "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("err = %v, want ErrWeakPassword", err)
	}
	a3, gen3, err := LoadAdmin(dir, "correct horse battery")
	if err != nil || gen3 != "" || !a3.Check(AdminUser, "correct horse battery") || a3.Check(AdminUser, gen) {
		t.Fatalf("env password not applied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, InitialPasswordFile)); !os.IsNotExist(err) {
		t.Fatal("initial password file kept after the password was set from the environment")
	}
}

// TestRelayCA: relay certificates come from a name-constrained
// intermediate; a certificate for central's names is refused, and even
// one signed by the relay CA's key by mistake does not verify for central
// against the root that OCS agents trust.
func TestRelayCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p, err := Load(dir, Config{Names: []string{"central.corp.example"}}, []string{"10.1.2.3"}, now)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, relayCAKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("relay CA key: %v, %v; want mode 0600", st, err)
	}
	if p.RelayCA().Equal(p.CACert) || p.RelayCA().CheckSignatureFrom(p.CACert) != nil || !p.RelayCA().MaxPathLenZero {
		t.Fatal("relay CA is not an intermediate of the root with path length 0")
	}
	roots := p.CAPool()
	inter := x509.NewCertPool()
	inter.AddCert(p.RelayCA())

	leaf, chain, keyPEM, err := p.IssueRelay([]string{"relay1.branch.example", "10.9.0.2", "127.0.0.1"}, 825, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(chain, keyPEM); err != nil {
		t.Fatalf("relay chain and key: %v", err)
	}
	for _, n := range []string{"relay1.branch.example", "10.9.0.2", "127.0.0.1"} {
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n})
		if err != nil {
			t.Errorf("relay certificate for %s: %v", n, err)
		} else if len(chains[0]) != 3 {
			t.Errorf("relay certificate chain has %d certificates, want leaf, relay CA, root", len(chains[0]))
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "relay1.branch.example"}); err == nil {
		t.Error("relay certificate verifies without the relay CA: it was signed by the root")
	}

	tests := []struct {
		name string
		host string
	}{
		{"central-name", "central.corp.example"},
		{"central-name-case", "Central.Corp.Example"},
		{"central-subdomain", "www.central.corp.example"},
		{"central-address", "10.1.2.3"},
		{"wildcard", "*.corp.example"},
		{"wildcard-label", "a*.corp.example"},
		{"empty-label", "a..example"},
		{"unspecified", "0.0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := p.IssueRelay([]string{"relay1.branch.example", tt.host}, 825, now); !errors.Is(err, ErrNameRefused) {
				t.Errorf("IssueRelay(%q) = %v, want ErrNameRefused", tt.host, err)
			}
		})
	}

	// Mis-issued: the relay CA's key signs central's names directly.
	forged, _, err := issue([]string{"central.corp.example", "10.1.2.3"}, 825, now, p.relayCA, p.relayCAKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"central.corp.example", "10.1.2.3"} {
		_, err := forged.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n})
		var inv x509.CertificateInvalidError
		if !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("forged certificate for %s: %v, want a name constraint violation", n, err)
		}
	}
}

// TestRelayCAMigration: a data directory without a relay CA gets one at
// the next start, and a new central name makes a new relay CA excluding it.
func TestRelayCAMigration(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p1, err := Load(dir, Config{Names: []string{"central.example"}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{RelayCACertFile, relayCAKeyFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	p2, err := Load(dir, Config{Names: []string{"central.example"}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if p2.RelayCA() == nil || p2.CAFingerprint() != p1.CAFingerprint() {
		t.Fatal("restart without a relay CA did not create one under the same root")
	}
	p3, err := Load(dir, Config{Names: []string{"central.example"}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if !p3.RelayCA().Equal(p2.RelayCA()) {
		t.Error("a restart with the same names replaced the relay CA")
	}
	p4, err := Load(dir, Config{Names: []string{"central.example", "new.example"}}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if p4.RelayCA().Equal(p2.RelayCA()) {
		t.Fatal("a new central name kept a relay CA that does not exclude it")
	}
	if _, _, _, err := p4.IssueRelay([]string{"new.example"}, 825, now); !errors.Is(err, ErrNameRefused) {
		t.Errorf("IssueRelay(new central name) = %v, want ErrNameRefused", err)
	}
}
