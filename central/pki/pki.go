// Package pki owns central's secrets: its certificate authority, the TLS server
// certificate, the Ed25519 manifest-signing key and the first admin credential.
//
// Everything lives in the data directory. The first start creates what is
// missing; later starts reuse it. Private files are written with mode 0600
// through a temporary file and a rename, so a crash never leaves half a key.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/statefile"
)

// File names inside the data directory.
const (
	CACertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	ServerCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
	signingKeyFile = "manifest-signing-key.pem"
	SigningPubFile = "manifest-signing-pub.pem"
)

// ErrBadKey reports a key or certificate file that exists but cannot be used.
var ErrBadKey = errkind.New(errkind.Invalid, "pki: unusable key or certificate")

// Config lists the names and addresses the server certificate must cover.
type Config struct {
	// Names are extra DNS names or IP addresses for the server certificate.
	Names []string `yaml:"names"`
	// ValidityDays is the lifetime of a newly issued server certificate.
	ValidityDays int `yaml:"validity_days"`
}

func (c Config) withDefaults() Config {
	if c.ValidityDays == 0 {
		c.ValidityDays = 825
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.ValidityDays < 0 {
		return fmt.Errorf("pki: validity_days must not be negative")
	}
	for _, n := range c.Names {
		if strings.TrimSpace(n) == "" || strings.ContainsAny(n, " /") {
			return fmt.Errorf("pki: invalid certificate name %q", n)
		}
	}
	return nil
}

// PKI holds the loaded material.
type PKI struct {
	dir        string
	CACert     *x509.Certificate
	caKey      crypto.Signer
	CAPEM      []byte
	ServerCert tls.Certificate
	SigningKey ed25519.PrivateKey
	// RelayCAPEM is the relay CA (see relayca.go); relayCA and relayCAKey
	// sign relay certificates, excludedDNS and excludedIPs are central's
	// names it excludes.
	RelayCAPEM  []byte
	relayCA     *x509.Certificate
	relayCAKey  crypto.Signer
	excludedDNS []string
	excludedIPs []net.IP
}

// Load loads or creates every secret in dir. hostAddrs are added to the
// server certificate (the machine's own addresses); localhost and 127.0.0.1
// are always included. When the existing server certificate does not cover
// every wanted name, or expires within 30 days, a new one is issued by the
// same CA, so agents that trust the CA keep working.
func Load(dir string, cfg Config, hostAddrs []string, now time.Time) (*PKI, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create dir: %w", err)
	}
	p := &PKI{dir: dir}
	if err := p.loadCA(now); err != nil {
		return nil, err
	}
	names := wantedNames(cfg.Names, hostAddrs)
	if err := p.loadServer(names, cfg.ValidityDays, now); err != nil {
		return nil, err
	}
	if err := p.loadRelayCA(names, now); err != nil {
		return nil, err
	}
	key, err := loadOrCreateSigningKey(dir)
	if err != nil {
		return nil, err
	}
	p.SigningKey = key
	return p, nil
}

// SigningPublicKey returns the manifest-verification key.
func (p *PKI) SigningPublicKey() ed25519.PublicKey {
	return p.SigningKey.Public().(ed25519.PublicKey)
}

// CAPool returns a pool holding only central's CA.
func (p *PKI) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CACert)
	return pool
}

// CAFingerprint is the SHA-256 of the CA certificate, for display.
func (p *PKI) CAFingerprint() string {
	sum := sha256.Sum256(p.CACert.Raw)
	return hex.EncodeToString(sum[:])
}

// Path returns the path of a file inside the PKI directory.
func (p *PKI) Path(name string) string { return filepath.Join(p.dir, name) }

func wantedNames(cfgNames, hostAddrs []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	names = append(names, cfgNames...)
	names = append(names, hostAddrs...)
	slices.Sort(names)
	return slices.Compact(names)
}

func (p *PKI) loadCA(now time.Time) error {
	certPath, keyPath := filepath.Join(p.dir, CACertFile), filepath.Join(p.dir, caKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		return p.createCA(certPath, keyPath, now)
	}
	if err != nil {
		return fmt.Errorf("pki: read CA: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("pki: CA certificate %s: %w", certPath, err)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return fmt.Errorf("pki: CA key: %w", err)
	}
	p.CACert, p.caKey, p.CAPEM = cert, key, certPEM
	return nil
}

func (p *PKI) createCA(certPath, keyPath string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Shoal Central CA", Organization: []string{"Shoal"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        false,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := statefile.WriteBytes(certPath, certPEM, 0o644); err != nil {
		return err
	}
	p.CACert, p.caKey, p.CAPEM = cert, key, certPEM
	return nil
}

func (p *PKI) loadServer(names []string, days int, now time.Time) error {
	certPath, keyPath := filepath.Join(p.dir, ServerCertFile), filepath.Join(p.dir, serverKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil && pair.Leaf != nil && covers(pair.Leaf, names) && now.Add(30*24*time.Hour).Before(pair.Leaf.NotAfter) &&
		pair.Leaf.CheckSignatureFrom(p.CACert) == nil {
		p.ServerCert = pair
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pki: server certificate: %w", errors.Join(ErrBadKey, err))
	}
	cert, key, err := issue(names, days, now, p.CACert, p.caKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), p.CAPEM...)
	if err := statefile.WriteBytes(certPath, chain, 0o644); err != nil {
		return err
	}
	pair, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return fmt.Errorf("pki: reload server certificate: %w", err)
	}
	p.ServerCert = pair
	return nil
}

// issue signs a new leaf certificate for names (DNS names or IP addresses)
// with the CA ca (central's own server certificate) or the relay CA (see
// IssueRelay). The certificate never outlives its issuer.
func issue(names []string, days int, now time.Time, ca *x509.Certificate, caKey crypto.Signer, usage ...x509.ExtKeyUsage) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	cn := "shoal"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Shoal"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 0, days),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse certificate: %w", err)
	}
	return cert, key, nil
}

func covers(cert *x509.Certificate, names []string) bool {
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

func loadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, signingKeyFile)
	key, err := readKey(path)
	if err == nil {
		ek, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("pki: %s is not an Ed25519 key: %w", path, ErrBadKey)
		}
		return ek, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pki: signing key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate signing key: %w", err)
	}
	if err := writeKey(path, priv); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("pki: marshal public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if err := statefile.WriteBytes(filepath.Join(dir, SigningPubFile), pubPEM, 0o644); err != nil {
		return nil, err
	}
	return priv, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block: %w", path, ErrBadKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(ErrBadKey, err))
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key: %w", path, ErrBadKey)
	}
	return s, nil
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal key: %w", err)
	}
	return statefile.WriteBytes(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no certificate PEM block: %w", ErrBadKey)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, errors.Join(ErrBadKey, err)
	}
	return c, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand never fails on Linux; keep a valid serial regardless.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
