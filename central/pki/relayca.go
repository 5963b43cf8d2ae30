package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/statefile"
)

// Files of the relay CA, an intermediate signed by central's CA.
const (
	RelayCACertFile = "relay-ca.pem"
	relayCAKeyFile  = "relay-ca-key.pem"
)

// relayCAYears is the lifetime of a new relay CA (capped by the root's).
const relayCAYears = 5

// ErrNameRefused reports a host name a relay certificate may not carry: a
// wildcard, a malformed name, or one of central's own names.
var ErrNameRefused = errkind.New(errkind.Invalid, "pki: host name refused for a relay certificate")

// The relay CA issues every certificate central hands to relays. It is
// name-constrained (critical extension) to exclude central's own DNS
// names and addresses, has path length 0 and serverAuth only: a relay
// certificate, even one issued by mistake, can never pass for central to
// a client that trusts the root (OCS agents fetching info files). Loopback
// names are not excluded: a relay on central's machine may be reached on
// them, and a client reaching 127.0.0.1 talks to its own machine.

// excludedNames splits central's names into the DNS names and the IP
// addresses the relay CA excludes, leaving out loopback names.
func excludedNames(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
			continue
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && n != "localhost" && !strings.HasSuffix(n, ".localhost") {
			dns = append(dns, n)
		}
	}
	slices.Sort(dns)
	return slices.Compact(dns), ips
}

// hostNet is the single-address network of ip.
func hostNet(ip net.IP) *net.IPNet {
	if v4 := ip.To4(); v4 != nil {
		return &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	return &net.IPNet{IP: ip.To16(), Mask: net.CIDRMask(128, 128)}
}

// excludes reports whether the relay CA cert excludes every DNS name and
// address of central given.
func excludes(ca *x509.Certificate, dns []string, ips []net.IP) bool {
	for _, d := range dns {
		if !slices.Contains(ca.ExcludedDNSDomains, d) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(ca.ExcludedIPRanges, func(n *net.IPNet) bool { return n.String() == hostNet(ip).String() }) {
			return false
		}
	}
	return true
}

// loadRelayCA loads the relay CA, or creates it when it is missing (data
// directories of earlier versions), expires within a year, was not signed
// by the current root, or does not exclude every one of central's current
// names. Certificates issued by an earlier relay CA stay valid: each relay
// serves its own chain.
func (p *PKI) loadRelayCA(names []string, now time.Time) error {
	certPath, keyPath := filepath.Join(p.dir, RelayCACertFile), filepath.Join(p.dir, relayCAKeyFile)
	dns, ips := excludedNames(names)
	p.excludedDNS, p.excludedIPs = dns, ips
	certPEM, err := os.ReadFile(certPath)
	if err == nil {
		cert, cerr := parseCertPEM(certPEM)
		key, kerr := readKey(keyPath)
		if cerr == nil && kerr == nil && cert.CheckSignatureFrom(p.CACert) == nil &&
			now.AddDate(1, 0, 0).Before(cert.NotAfter) && excludes(cert, dns, ips) {
			p.relayCA, p.relayCAKey, p.RelayCAPEM = cert, key, certPEM
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pki: read relay CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate relay CA key: %w", err)
	}
	notAfter := now.AddDate(relayCAYears, 0, 0)
	if p.CACert.NotAfter.Before(notAfter) {
		notAfter = p.CACert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:                randomSerial(),
		Subject:                     pkix.Name{CommonName: "Shoal Relay CA", Organization: []string{"Shoal"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    notAfter,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		ExcludedDNSDomains:          dns,
	}
	for _, ip := range ips {
		tmpl.ExcludedIPRanges = append(tmpl.ExcludedIPRanges, hostNet(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CACert, key.Public(), p.caKey)
	if err != nil {
		return fmt.Errorf("pki: create relay CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: parse relay CA certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := statefile.WriteBytes(certPath, certPEM, 0o644); err != nil {
		return err
	}
	p.relayCA, p.relayCAKey, p.RelayCAPEM = cert, key, certPEM
	return nil
}

// RelayCA returns the intermediate that signs relay certificates.
func (p *PKI) RelayCA() *x509.Certificate { return p.relayCA }

// CheckRelayName refuses a name a relay certificate may not carry: a
// wildcard or malformed DNS name, an unspecified address, or one of
// central's own (non-loopback) names and addresses, or a subdomain of one.
func (p *PKI) CheckRelayName(n string) error {
	if ip := net.ParseIP(n); ip != nil {
		if ip.IsUnspecified() || ip.IsMulticast() {
			return fmt.Errorf("%s is not a host address: %w", n, ErrNameRefused)
		}
		if slices.ContainsFunc(p.excludedIPs, ip.Equal) {
			return fmt.Errorf("%s is an address of central: %w", n, ErrNameRefused)
		}
		return nil
	}
	if !validDNSName(n) {
		return fmt.Errorf("%q is not a DNS name without wildcard: %w", n, ErrNameRefused)
	}
	l := strings.ToLower(strings.TrimSuffix(n, "."))
	for _, d := range p.excludedDNS {
		if l == d || strings.HasSuffix(l, "."+d) {
			return fmt.Errorf("%s is central's name %s: %w", n, d, ErrNameRefused)
		}
	}
	return nil
}

// validDNSName accepts letters, digits, '-' and '.' in labels of 1 to 63
// bytes, at most 253 bytes in all: no wildcard, no empty label.
func validDNSName(n string) bool {
	n = strings.TrimSuffix(n, ".")
	if n == "" || len(n) > 253 {
		return false
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// IssueRelay issues a relay's serverAuth certificate for names from the
// relay CA, after CheckRelayName accepted each. It returns the chain to
// serve (the leaf, then the relay CA) and the private key, both PEM. The
// certificate never outlives the relay CA.
func (p *PKI) IssueRelay(names []string, days int, now time.Time) (leaf *x509.Certificate, chainPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, nil, fmt.Errorf("pki: relay certificate without a name: %w", ErrNameRefused)
	}
	for _, n := range names {
		if err := p.CheckRelayName(n); err != nil {
			return nil, nil, nil, fmt.Errorf("pki: relay certificate: %w", err)
		}
	}
	cert, key, err := issue(names, days, now, p.relayCA, p.relayCAKey, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: marshal relay key: %w", err)
	}
	chainPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), p.RelayCAPEM...)
	return cert, chainPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
