package packages

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/shoal-project/shoal/proto"
)

// ManifestBytes returns the signed manifest of package id as stored on disk.
// A missing package wraps os.ErrNotExist.
func (b *Builder) ManifestBytes(id string) ([]byte, error) {
	if !proto.IsPackageID(id) {
		return nil, fmt.Errorf("manifest of %q: %w", id, ErrInvalidID)
	}
	f, err := os.Open(filepath.Join(b.Path(id), ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", id, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, proto.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", id, err)
	}
	if len(data) > proto.MaxManifestBytes {
		return nil, fmt.Errorf("manifest of %s: over %d bytes: %w", id, proto.MaxManifestBytes, ErrTooLarge)
	}
	return data, nil
}

// PublicKey returns the key that verifies the manifests this builder signs.
func (b *Builder) PublicKey() ed25519.PublicKey {
	return b.signer.Public().(ed25519.PublicKey)
}
