// Package enroll holds what shoal-agent and shoal-relay share to enroll
// with central: a libp2p identity key kept on disk, central's CA
// certificate fetched over an untrusted connection and pinned by its
// SHA-256 fingerprint, and the flow itself (Run): trust the CA, load the
// identity, post the role's token-bearing request, verify the answer's
// manifest key and peer record, save the enrollment. Each role passes its
// own request, checks and state as Steps.
package enroll

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/shoal-project/shoal/internal/statefile"
)

// LoadIdentity returns the libp2p identity key stored at path, creating an
// Ed25519 key (mode 0600) on first use.
func LoadIdentity(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("load identity %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	if err := statefile.WriteBytes(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("save identity: %w", err)
	}
	return k, nil
}

// FetchCA downloads central's CA certificate (<server>/cacert.pem) without
// trusting the connection and accepts it only if its SHA-256 is
// fingerprint (hex, colons allowed).
func FetchCA(ctx context.Context, server, fingerprint string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // Checked by fingerprint below.
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/cacert.pem", nil)
	if err != nil {
		return nil, fmt.Errorf("fetch CA: %w", err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch CA: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch CA: %s answered %s", req.URL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCABytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch CA: %w", err)
	}
	if len(b) > maxCABytes {
		return nil, fmt.Errorf("fetch CA: answer is larger than %d bytes: %w", maxCABytes, ErrCANotPinned)
	}
	pinned, err := PinCA(b, fingerprint)
	if err != nil {
		return nil, fmt.Errorf("fetch CA: %w", err)
	}
	return pinned, nil
}

// maxCABytes bounds the answer of <server>/cacert.pem.
const maxCABytes = 64 << 10

// ErrCANotPinned reports a CA answer that is not exactly the one
// certificate whose fingerprint the admin gave.
var ErrCANotPinned = errors.New("CA certificate does not match the pinned fingerprint")

// PinCA accepts body only if it is exactly one PEM certificate whose
// SHA-256 is fingerprint (hex, colons allowed), with nothing but
// whitespace around it, and returns that certificate re-encoded. Anything
// else that came over the untrusted connection (a second certificate, a
// PEM header, trailing data) would otherwise be trusted along with the
// pinned one.
func PinCA(body []byte, fingerprint string) ([]byte, error) {
	want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fingerprint), ":", ""))
	if len(want) != 2*sha256.Size {
		return nil, fmt.Errorf("fingerprint %q is not a SHA-256 in hex: %w", fingerprint, ErrCANotPinned)
	}
	block, rest := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
		return nil, fmt.Errorf("answer is not one PEM certificate: %w", ErrCANotPinned)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("answer has %d bytes after the certificate (another certificate or trailing data): %w", len(bytes.TrimSpace(rest)), ErrCANotPinned)
	}
	sum := sha256.Sum256(block.Bytes)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("fingerprint %s does not match the expected %s: %w", got, want, ErrCANotPinned)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pinned certificate does not parse: %w: %w", ErrCANotPinned, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("pinned certificate %q is not a CA: %w", cert.Subject.CommonName, ErrCANotPinned)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), nil
}
