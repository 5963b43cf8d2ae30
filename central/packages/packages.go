// Package packages builds OCS-compatible packages on disk from an upload and
// checks that built packages are intact and reachable.
//
// A build streams the uploaded file once and writes, under
// <Dir>/download/<ID>/, exactly what the OCS console writes (ocs-protocol.md
// §6.4–6.6) plus Shoal's signed manifest:
//
//	info            OCS info file (DIGEST_ALGO=MD5, DIGEST_ENCODE=Hexa)
//	<ID>-1 … <ID>-n OCS fragments: n-1 of size/n bytes, the last the rest
//	manifest.json   proto.SignedManifest: SHA-256, MD5, Shoal and OCS fragment CIDs
//
// Everything is written into a temporary directory under <Dir>/tmp and renamed
// into place at the end, so a package directory is either complete or absent.
// Record converts a built upload into the catalog row that central/store
// persists; the package itself uses neither gorm nor echo.
package packages

import (
	"errors"
	"fmt"
	"math"

	"github.com/shoal-project/shoal/internal/errkind"
)

// Sentinel errors.
var (
	// ErrInvalidSpec reports a package specification that cannot be built.
	ErrInvalidSpec = errkind.New(errkind.Invalid, "packages: invalid spec")
	// ErrInvalidID reports a package ID that is not all digits.
	ErrInvalidID = errkind.New(errkind.Invalid, "packages: invalid package id")
	// ErrTooLarge reports an upload over the size limit.
	ErrTooLarge = errkind.New(errkind.TooLarge, "packages: upload too large")
	// ErrExists reports a package directory that already exists.
	ErrExists = errkind.New(errkind.Conflict, "packages: package already exists")
	// ErrNotFound reports a package that is not on disk.
	ErrNotFound = errkind.New(errkind.NotFound, "packages: package not found")
)

// File names inside a package directory.
const (
	InfoFile     = "info"
	ManifestFile = "manifest.json"
)

// Limits and defaults.
const (
	DefaultMaxUploadBytes  = 4 << 30  // Config.MaxUploadBytes default.
	MaxUploadLimit         = 1 << 40  // Largest accepted Config.MaxUploadBytes.
	DefaultFragmentSize    = 1 << 20  // Config.FragmentSize default (Shoal fragments).
	MinFragmentSize        = 4 << 10  // Smallest Shoal or OCS fragment size one may ask for.
	MaxFragmentSize        = 64 << 20 // Largest Shoal fragment size.
	DefaultOCSFragmentSize = 8 << 20  // Config.DefaultOCSFragmentSize default.
	MaxOCSFragments        = 10000    // Most OCS fragments in one package.
	DefaultPriority        = 5        // The OCS console's default priority.

	maxInfoBytes    = 64 << 10
	copyBufferSize  = 256 << 10
	downloadDirName = "download"
	tmpDirName      = "tmp"
)

// plusOne returns n+1, or n when that would overflow: the read limit that
// detects a body longer than n bytes.
func plusOne(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}

// FragmentFile returns the file name of OCS fragment n (from 1) of package id.
func FragmentFile(id string, n int) string {
	return fmt.Sprintf("%s-%d", id, n)
}

// Config holds the builder's tunables.
type Config struct {
	// Dir is the root for package files: packages go to Dir/download/<ID>,
	// uploads and unfinished builds to Dir/tmp. Central sets it from its
	// data directory.
	Dir string `yaml:"-"`
	// MaxUploadBytes bounds an upload (default 4 GiB).
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// FragmentSize is the size of Shoal fragments (default 1 MiB).
	FragmentSize int64 `yaml:"fragment_size"`
	// DefaultOCSFragmentSize decides the OCS fragment count when a Spec
	// gives neither a count nor a size (default 8 MiB).
	DefaultOCSFragmentSize int64 `yaml:"ocs_fragment_size"`
}

func (c Config) withDefaults() Config {
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.FragmentSize == 0 {
		c.FragmentSize = DefaultFragmentSize
	}
	if c.DefaultOCSFragmentSize == 0 {
		c.DefaultOCSFragmentSize = DefaultOCSFragmentSize
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration with its defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir is empty"))
	}
	if c.MaxUploadBytes <= 0 || c.MaxUploadBytes > MaxUploadLimit {
		errs = append(errs, fmt.Errorf("max_upload_bytes %d: want 1..%d", c.MaxUploadBytes, int64(MaxUploadLimit)))
	}
	if c.FragmentSize < MinFragmentSize || c.FragmentSize > MaxFragmentSize {
		errs = append(errs, fmt.Errorf("fragment_size %d: want %d..%d", c.FragmentSize, MinFragmentSize, MaxFragmentSize))
	}
	if c.DefaultOCSFragmentSize < MinFragmentSize {
		errs = append(errs, fmt.Errorf("ocs_fragment_size %d: want >= %d", c.DefaultOCSFragmentSize, MinFragmentSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("packages config: %w", err)
	}
	return nil
}
