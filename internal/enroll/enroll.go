// Package enroll holds what shoal-agent and shoal-relay share to enroll
// with central: a libp2p identity key kept on disk, and central's CA
// certificate fetched over an untrusted connection and pinned by its
// SHA-256 fingerprint.
package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch CA: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("fetch CA: answer is not a PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	want := strings.ToLower(strings.ReplaceAll(fingerprint, ":", ""))
	if hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("fetch CA: fingerprint %s does not match the expected %s", hex.EncodeToString(sum[:]), want)
	}
	return b, nil
}
