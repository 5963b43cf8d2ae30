package packages

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Builder writes packages in the OCS layout under Config.Dir.
type Builder struct {
	cfg         Config
	signer      ed25519.PrivateKey
	logger      *slog.Logger
	downloadDir string
	tmpDir      string
	now         func() time.Time

	// mu is held while a finished build is renamed into place, so that the
	// existence check and the rename are one step.
	mu sync.Mutex

	idMu   sync.Mutex // guards lastID
	lastID int64      // the last package ID NewID handed out

	// pull is set once by SetPeers before central serves; nil: a package
	// not on disk is not found (pull.go).
	pull *puller
}

// Built describes a package that Build wrote.
type Built struct {
	ID           string
	Size         int64
	MD5, SHA256  string // Lower-case hex.
	OCSFragments int
	Manifest     *proto.Manifest
	// ManifestBytes is the signed manifest, as stored in manifest.json.
	ManifestBytes []byte
	// Dir is the package directory, <Dir>/download/<ID>.
	Dir string
}

// NewBuilder checks cfg and creates the download and temporary directories.
// signer is central's manifest-signing key.
func NewBuilder(cfg Config, signer ed25519.PrivateKey, logger *slog.Logger) (*Builder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new builder: %w", err)
	}
	if len(signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("new builder: signing key has %d bytes, want %d", len(signer), ed25519.PrivateKeySize)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Builder{
		cfg:         cfg,
		signer:      signer,
		logger:      logger.With("component", "packages"),
		downloadDir: filepath.Join(cfg.Dir, downloadDirName),
		tmpDir:      filepath.Join(cfg.Dir, tmpDirName),
		now:         time.Now,
	}
	if err := os.MkdirAll(b.downloadDir, 0o755); err != nil {
		return nil, fmt.Errorf("new builder: %w", err)
	}
	if err := os.MkdirAll(b.tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("new builder: %w", err)
	}
	return b, nil
}

// DownloadDir returns <Dir>/download, the directory to serve as the OCS
// "download" location.
func (b *Builder) DownloadDir() string { return b.downloadDir }

// Path returns the directory of package id, <Dir>/download/<id>, or "" when
// id is not a valid package ID.
func (b *Builder) Path(id string) string {
	if !proto.IsPackageID(id) {
		return ""
	}
	return filepath.Join(b.downloadDir, id)
}

// Spool copies an upload to a new file in <Dir>/tmp, reading at most max
// bytes (max <= 0, or above Config.MaxUploadBytes, means
// Config.MaxUploadBytes). A larger upload fails with ErrTooLarge. On error no
// file is left behind; on success the caller removes the file when done.
func (b *Builder) Spool(r io.Reader, max int64) (path string, size int64, err error) {
	if max <= 0 || max > b.cfg.MaxUploadBytes {
		max = b.cfg.MaxUploadBytes
	}
	f, err := os.CreateTemp(b.tmpDir, "upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("spool upload: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	buf := make([]byte, copyBufferSize)
	// Hide io.ReaderFrom so that CopyBuffer uses our fixed buffer.
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, io.LimitReader(r, max+1), buf)
	if err != nil {
		return "", 0, fmt.Errorf("spool upload: %w", err)
	}
	if n > max {
		return "", 0, fmt.Errorf("spool upload: more than %d bytes: %w", max, ErrTooLarge)
	}
	if err := f.Close(); err != nil {
		return "", 0, fmt.Errorf("spool upload: %w", err)
	}
	return f.Name(), n, nil
}

// Build turns the file src (usually from Spool; Build does not remove it)
// into package spec.ID, reading it once. It fails with ErrExists if the
// package is already on disk. A failed or cancelled build leaves nothing
// behind.
func (b *Builder) Build(ctx context.Context, spec Spec, src string) (*Built, error) {
	start := b.now()
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("build package: %w", err)
	}
	final := b.Path(spec.ID)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("build package %s: %w", spec.ID, ErrExists)
	}
	in, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("build package %s: %w", spec.ID, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, fmt.Errorf("build package %s: %w", spec.ID, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("build package %s: %s is not a regular file", spec.ID, src)
	}
	size := st.Size()
	if size > b.cfg.MaxUploadBytes {
		return nil, fmt.Errorf("build package %s: %d bytes: %w", spec.ID, size, ErrTooLarge)
	}
	ocsFragSize := spec.OCSFragmentSize
	if ocsFragSize == 0 {
		ocsFragSize = b.cfg.DefaultOCSFragmentSize
	}
	nOCS, err := ocsCount(size, spec.OCSFragments, ocsFragSize)
	if err != nil {
		return nil, fmt.Errorf("build package %s: %w", spec.ID, err)
	}
	if spec.OCSFragments > nOCS {
		b.logger.Info("fewer OCS fragments than asked: the file is too small",
			"package", spec.ID, "asked", spec.OCSFragments, "fragments", nOCS, "size", size)
	}

	tmp, err := os.MkdirTemp(b.tmpDir, "build-"+spec.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("build package %s: %w", spec.ID, err)
	}
	built, err := b.build(ctx, spec, in, size, nOCS, tmp)
	if err == nil {
		err = b.install(ctx, spec.ID, tmp, final)
	}
	if err != nil {
		if rmErr := os.RemoveAll(tmp); rmErr != nil {
			b.logger.Warn("remove failed build", "package", spec.ID, "err", rmErr)
		}
		return nil, fmt.Errorf("build package %s: %w", spec.ID, err)
	}
	built.Dir = final
	b.logger.Info("package built", "package", spec.ID, "size", size, "ocs_fragments", nOCS,
		"fragments", len(built.Manifest.Fragments), "duration", b.now().Sub(start))
	return built, nil
}

// build writes the fragments, the info file and the manifest into tmp.
func (b *Builder) build(ctx context.Context, spec Spec, in io.Reader, size int64, nOCS int, tmp string) (*Built, error) {
	ocsCut := newCutter(ocsSizes(size, nOCS), func(i int) (io.WriteCloser, error) {
		return createFile(filepath.Join(tmp, FragmentFile(spec.ID, i+1)))
	})
	defer ocsCut.abort()
	shoalCut := newCutter(shoalSizes(size, b.cfg.FragmentSize), nil)
	md5h, shah := md5.New(), sha256.New()
	w := &ctxWriter{ctx: ctx, w: io.MultiWriter(md5h, shah, shoalCut, ocsCut)}
	buf := make([]byte, copyBufferSize)
	// The anonymous struct hides (*os.File).WriteTo, which would bypass buf.
	n, err := io.CopyBuffer(w, struct{ io.Reader }{in}, buf)
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("read source: %d bytes, expected %d: file changed during the build", n, size)
	}
	if err := errors.Join(ocsCut.done(), shoalCut.done()); err != nil {
		return nil, err
	}

	command, path, launchName := spec.actionFields()
	m := &proto.Manifest{
		Version:       proto.ProtocolVersion,
		PackageID:     spec.ID,
		Name:          spec.Name,
		Platform:      spec.Platform,
		Action:        spec.Action,
		Command:       command,
		Path:          path,
		LaunchName:    launchName,
		Priority:      spec.Priority,
		Size:          size,
		SHA256:        hexSum(shah),
		MD5:           hexSum(md5h),
		FragmentSize:  b.cfg.FragmentSize,
		Fragments:     shoalCut.frags,
		OCSFragments:  ocsCut.frags,
		CreatedAt:     b.now().UTC().Truncate(time.Second),
		FragmentProto: spec.fragmentProto(),
		Notify: proto.Notify{User: spec.NotifyUser, Text: spec.NotifyText, Countdown: spec.NotifyCountdown,
			CanAbort: spec.NotifyCanAbort, CanDelay: spec.NotifyCanDelay,
			DoneAction: spec.NeedDoneAction, DoneActionText: spec.NeedDoneActionText},
	}
	signed, err := proto.SignManifest(m, b.signer)
	if err != nil {
		return nil, err
	}
	// The info file holds nothing the manifest does not sign, so a relay
	// can build the same bytes from the manifest alone.
	info, err := ocs.InfoFromManifest(m).Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	if err := writeFile(filepath.Join(tmp, InfoFile), info); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(tmp, ManifestFile), signed); err != nil {
		return nil, err
	}
	return &Built{
		ID:            spec.ID,
		Size:          size,
		MD5:           m.MD5,
		SHA256:        m.SHA256,
		OCSFragments:  nOCS,
		Manifest:      m,
		ManifestBytes: signed,
	}, nil
}

// install renames the finished build tmp to final, unless the context is
// done or final exists.
func (b *Builder) install(ctx context.Context, id, tmp, final string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.Lstat(final); err == nil {
		return ErrExists
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := syncDir(b.downloadDir); err != nil {
		b.logger.Warn("sync download directory", "package", id, "err", err)
	}
	return nil
}

// Delete removes package id from disk. The directory disappears at once (it
// is renamed into <Dir>/tmp first), so a half-deleted package is never served.
func (b *Builder) Delete(id string) error {
	dir := b.Path(id)
	if dir == "" {
		return fmt.Errorf("delete package %q: %w", id, ErrInvalidID)
	}
	trash, err := os.MkdirTemp(b.tmpDir, "delete-"+id+"-")
	if err != nil {
		return fmt.Errorf("delete package %s: %w", id, err)
	}
	defer os.RemoveAll(trash)
	b.mu.Lock()
	err = os.Rename(dir, filepath.Join(trash, id))
	b.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete package %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete package %s: %w", id, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("delete package %s: %w", id, err)
	}
	b.logger.Info("package deleted", "package", id)
	return nil
}

// CleanTemp removes spooled uploads and unfinished builds, pulls or deletions in
// <Dir>/tmp last modified before olderThan ago, such as those left by a
// crash. Call it at start-up; it returns the number of entries removed.
func (b *Builder) CleanTemp(olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(b.tmpDir)
	if err != nil {
		return 0, fmt.Errorf("clean temp: %w", err)
	}
	cutoff := b.now().Add(-olderThan)
	removed := 0
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "upload-") && !strings.HasPrefix(name, "build-") && !strings.HasPrefix(name, "delete-") && !strings.HasPrefix(name, "pull-") {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(b.tmpDir, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean temp: %w", err)
	}
	return removed, nil
}

// ctxWriter fails writes once its context is done, so a long copy stops
// soon after cancellation.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// syncFile is a file that is flushed to disk when closed.
type syncFile struct{ *os.File }

func (f syncFile) Close() error {
	return errors.Join(f.File.Sync(), f.File.Close())
}

// createFile creates a new file for a package directory.
func createFile(name string) (syncFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return syncFile{}, err
	}
	return syncFile{f}, nil
}

func writeFile(name string, data []byte) error {
	f, err := createFile(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.File.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func hexSum(h hash.Hash) string {
	return hex.EncodeToString(h.Sum(nil))
}
