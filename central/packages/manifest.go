package packages

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
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

// ResignManifests brings the manifests of packages built before protocol
// version 2 up to date, so that they keep deploying: a manifest whose
// signature verifies only in the version 1 form (the manifest bytes
// without proto.ManifestSignContext) under the builder's own key gets the
// info file fields it lacked (PROTO and the notification fields, read from
// the package's own info file, which central wrote next to it) and is
// signed again in the current form. The info file is rewritten from the
// new manifest when it differs. Call it at start-up, before serving;
// it returns the number of packages re-signed. A manifest that verifies in
// neither form is left alone and reported (VerifyOnDisk and every agent
// refuse it).
func (b *Builder) ResignManifests(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(b.downloadDir)
	if err != nil {
		return 0, fmt.Errorf("re-sign manifests: %w", err)
	}
	pub := b.PublicKey()
	n := 0
	var errs []error
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !proto.IsPackageID(id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("re-sign manifests: %w", err)
		}
		data, err := b.ManifestBytes(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := proto.VerifyManifest(data, pub, id); err == nil {
			continue
		}
		resigned, err := b.resign(id, data, pub)
		if err != nil {
			errs = append(errs, fmt.Errorf("re-sign manifest of %s: %w", id, err))
			continue
		}
		if resigned {
			n++
		}
	}
	if n > 0 {
		b.logger.Info("manifests re-signed for protocol version 2", "count", n)
	}
	return n, errors.Join(errs...)
}

// resign re-signs the version 1 manifest data of package id. It reports
// false, nil when data is not a version 1 manifest signed by pub.
func (b *Builder) resign(id string, data []byte, pub ed25519.PublicKey) (bool, error) {
	var sm proto.SignedManifest
	if err := json.Unmarshal(data, &sm); err != nil {
		return false, fmt.Errorf("parse envelope: %w", err)
	}
	if sm.KeyID != proto.KeyID(pub) || !ed25519.Verify(pub, sm.Manifest, sm.Signature) {
		b.logger.Warn("manifest verifies in no known form; not re-signed", "package", id, "key_id", sm.KeyID)
		return false, nil
	}
	var m proto.Manifest
	if err := json.Unmarshal(sm.Manifest, &m); err != nil {
		return false, fmt.Errorf("parse: %w", err)
	}
	if m.PackageID != id || m.Version != 1 {
		return false, fmt.Errorf("signed manifest of package %q version %d in %s", m.PackageID, m.Version, id)
	}
	dir := b.Path(id)
	old, err := readFileMax(filepath.Join(dir, InfoFile), maxInfoBytes)
	if err != nil {
		return false, fmt.Errorf("read info file: %w", err)
	}
	info, err := ocs.ParseInfo(bytes.TrimSpace(old))
	if err != nil {
		return false, fmt.Errorf("read info file: %w", err)
	}
	m.Version = proto.ProtocolVersion
	m.FragmentProto = strings.ToUpper(orHTTP(info.Proto))
	m.Notify = proto.Notify{User: info.NotifyUser, Text: info.NotifyText, Countdown: info.NotifyCountdown,
		CanAbort: info.NotifyCanAbort, CanDelay: info.NotifyCanDelay,
		DoneAction: info.NeedDoneAction, DoneActionText: info.NeedDoneActionText}
	signed, err := proto.SignManifest(&m, b.signer)
	if err != nil {
		return false, err
	}
	newInfo, err := ocs.InfoFromManifest(&m).Marshal()
	if err != nil {
		return false, fmt.Errorf("encode info: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !bytes.Equal(old, newInfo) {
		// The signed manifest wins over what the info file said.
		b.logger.Warn("info file differs from the signed manifest; rewritten", "package", id,
			"differences", strings.Join(infoMismatch(info, &m), "; "))
		if err := statefile.WriteBytes(filepath.Join(dir, InfoFile), newInfo, 0o644); err != nil {
			return false, err
		}
	}
	if err := statefile.WriteBytes(filepath.Join(dir, ManifestFile), signed, 0o644); err != nil {
		return false, err
	}
	b.logger.Info("manifest re-signed", "package", id)
	return true, nil
}
