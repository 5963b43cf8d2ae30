// Package backup writes and restores central's backup archive: one
// gzip-compressed tar file, mode 0600, holding a consistent copy of the
// SQLite database (SQLite's online backup API, taken while central runs),
// the PKI (CA, server, relay CA and manifest-signing keys), the admin
// credentials and, unless left out, the package tree. On PostgreSQL the
// archive holds everything but the database, which pg_dump backs up
// (docs/OPERATIONS.md).
//
// Archive layout:
//
//	backup.json       Manifest: format, time, versions, SHA-256 of every file
//	db/shoal.db       the SQLite database (SQLite only)
//	data/<path>       files of the data directory (pki/, admin.json, packages/)
package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// Format is the archive format version written in the manifest.
const Format = 1

// Archive member names.
const (
	manifestName = "backup.json"
	dbName       = "db/" + store.DBFile
	dataPrefix   = "data/"
)

// Errors.
var (
	// ErrExists is returned by Restore when the data directory already
	// holds a database or a PKI and force is not set.
	ErrExists = errkind.New(errkind.Conflict, "data directory not empty")
	// ErrCorrupt is returned for an archive that is not a Shoal backup, is
	// truncated or whose files do not match their digests.
	ErrCorrupt = errkind.New(errkind.Invalid, "bad backup archive")
)

// Options say what to back up.
type Options struct {
	// DataDir is central's data directory.
	DataDir string
	// Database is central's database configuration.
	Database store.Config
	// SkipPackages leaves the package tree out (it lives on shared storage
	// that is backed up on its own).
	SkipPackages bool
	// Version is the central version recorded in the manifest.
	Version string
}

// Manifest describes an archive.
type Manifest struct {
	Format        int               `json:"format"`
	CreatedAt     time.Time         `json:"created_at"`
	Version       string            `json:"central_version"`
	Driver        string            `json:"driver"`
	SchemaVersion int64             `json:"schema_version"`
	Packages      bool              `json:"packages"`
	Files         map[string]string `json:"files"` // member name → hex SHA-256
}

// dataEntries are the top-level entries of the data directory a backup
// holds; the database files, central.json (runtime) and lock files are
// left out.
var dataEntries = []string{"pki", "admin.json", "initial-admin-password"}

// WriteFile writes a backup archive to path, which must not exist, with
// mode 0600; a failed backup leaves no file.
func WriteFile(ctx context.Context, path string, opts Options, logger *slog.Logger) (Manifest, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	m, err := Write(ctx, f, opts, logger)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Manifest{}, err
	}
	return m, nil
}

// Write writes a backup archive to w.
func Write(ctx context.Context, w io.Writer, opts Options, logger *slog.Logger) (Manifest, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Database.WithDefaults()
	m := Manifest{Format: Format, CreatedAt: time.Now().UTC(), Version: opts.Version, Driver: cfg.Driver,
		Packages: !opts.SkipPackages, Files: map[string]string{}}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "pki")); err != nil {
		return m, fmt.Errorf("backup: data directory %s has no PKI: %w", opts.DataDir, err)
	}
	if cfg.Driver == store.DriverSQLite {
		p, err := cfg.SQLitePath(opts.DataDir)
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if _, err := os.Stat(p); err != nil {
			return m, fmt.Errorf("backup: no database: %w", err)
		}
	}
	// The database first: the package files it refers to exist by then.
	st, err := store.OpenUnmigrated(ctx, cfg, opts.DataDir, logger)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer st.Close()
	status, err := st.MigrationStatus(ctx)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	m.SchemaVersion = status.Current
	tmp, err := os.MkdirTemp(opts.DataDir, ".backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	if cfg.Driver == store.DriverSQLite {
		dbCopy := filepath.Join(tmp, store.DBFile)
		if err := st.BackupSQLite(ctx, dbCopy); err != nil {
			return m, err
		}
		if err := addFile(tw, dbName, dbCopy, &m); err != nil {
			return m, err
		}
	}
	entries := dataEntries
	if !opts.SkipPackages {
		entries = append(entries, "packages")
	}
	for _, e := range entries {
		root := filepath.Join(opts.DataDir, e)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return nil
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(opts.DataDir, p)
			if err != nil {
				return err
			}
			return addFile(tw, dataPrefix+filepath.ToSlash(rel), p, &m)
		})
		if err != nil {
			return m, fmt.Errorf("backup %s: %w", e, err)
		}
	}
	// The manifest last: it lists every file before it.
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.CreatedAt, Typeflag: tar.TypeReg}); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(mb); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := gz.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	logger.Info("backup written", "files", len(m.Files), "schema_version", m.SchemaVersion, "driver", m.Driver)
	return m, nil
}

func addFile(tw *tar.Writer, name, src string, m *Manifest) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h := sha256.New()
	// A file that grows while it is read is cut at its stat size, so the
	// header stays right; package files are written once and renamed in.
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(f, fi.Size()))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != fi.Size() {
		return fmt.Errorf("%s: shrank while read (%d of %d bytes)", name, n, fi.Size())
	}
	m.Files[name] = hex.EncodeToString(h.Sum(nil))
	return nil
}

// RestoreOptions say where to restore.
type RestoreOptions struct {
	// DataDir is the data directory to restore into; created if missing.
	DataDir string
	// Database is the configuration central will run with; on SQLite the
	// database is restored to its path.
	Database store.Config
	// Force replaces an existing database and PKI.
	Force bool
}

// Restore unpacks the archive read from r into the data directory, after
// checking every file against the manifest: files are unpacked to a
// temporary directory first and moved into place only when the whole
// archive is verified. The restored database is then opened, which
// migrates it if it comes from an older central.
func Restore(ctx context.Context, r io.Reader, opts RestoreOptions, logger *slog.Logger) (Manifest, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Database.WithDefaults()
	var m Manifest
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	dbPath := ""
	if cfg.Driver == store.DriverSQLite {
		p, err := cfg.SQLitePath(opts.DataDir)
		if err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		dbPath = p
	}
	if !opts.Force {
		for _, p := range []string{dbPath, filepath.Join(opts.DataDir, "pki")} {
			if p == "" {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				return m, fmt.Errorf("restore: %s exists (restore with -force to replace it): %w", p, ErrExists)
			}
		}
	}
	tmp, err := os.MkdirTemp(opts.DataDir, ".restore-")
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp)
	got, err := unpack(ctx, r, tmp)
	if err != nil {
		return m, err
	}
	mb, err := os.ReadFile(filepath.Join(tmp, manifestName))
	if err != nil {
		return m, fmt.Errorf("restore: no %s: %w", manifestName, ErrCorrupt)
	}
	if err := json.Unmarshal(mb, &m); err != nil || m.Format != Format {
		return m, fmt.Errorf("restore: manifest (format %d, want %d): %w", m.Format, Format, ErrCorrupt)
	}
	for name, sum := range m.Files {
		if got[name] != sum {
			return m, fmt.Errorf("restore: %s missing or altered: %w", name, ErrCorrupt)
		}
	}
	for name := range got {
		if _, ok := m.Files[name]; !ok && name != manifestName {
			return m, fmt.Errorf("restore: %s is not in the manifest: %w", name, ErrCorrupt)
		}
	}
	_, hasDB := m.Files[dbName]
	switch {
	case cfg.Driver == store.DriverSQLite && !hasDB:
		return m, fmt.Errorf("restore: the archive has no SQLite database (it was taken on %s): %w", m.Driver, ErrCorrupt)
	case cfg.Driver != store.DriverSQLite && hasDB:
		logger.Warn("the archive holds a SQLite database; the configured database is " + cfg.Driver + ", so it is not restored")
	}

	// Move into place: the PKI directory as a whole, then each file.
	if opts.Force {
		if err := os.RemoveAll(filepath.Join(opts.DataDir, "pki")); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		src := filepath.Join(tmp, filepath.FromSlash(name))
		var dst string
		switch {
		case name == dbName:
			if dbPath == "" {
				continue
			}
			dst = dbPath
			for _, side := range []string{dbPath + "-wal", dbPath + "-shm"} {
				if err := os.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return m, fmt.Errorf("restore: %w", err)
				}
			}
		case strings.HasPrefix(name, dataPrefix):
			dst = filepath.Join(opts.DataDir, filepath.FromSlash(strings.TrimPrefix(name, dataPrefix)))
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		if err := os.Rename(src, dst); err != nil {
			return m, fmt.Errorf("restore %s: %w", name, err)
		}
	}
	if dbPath != "" {
		st, err := store.Open(ctx, cfg, opts.DataDir, logger)
		if err != nil {
			return m, fmt.Errorf("restore: open the restored database: %w", err)
		}
		if err := st.Close(); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
	}
	logger.Info("backup restored", "files", len(m.Files), "taken", m.CreatedAt, "schema_version", m.SchemaVersion)
	return m, nil
}

// maxMember bounds one archive member (a package file is at most a few
// GiB; the database can be large too).
const maxMember = 1 << 40

// unpack extracts the archive into dir, accepting only regular files with
// clean relative names under db/, data/ or the manifest, and returns the
// SHA-256 of each.
func unpack(ctx context.Context, r io.Reader, dir string) (map[string]string, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("restore: %w: %w", ErrCorrupt, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	sums := map[string]string{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return sums, nil
		}
		if err != nil {
			return nil, fmt.Errorf("restore: %w: %w", ErrCorrupt, err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || !validName(name) || h.Size < 0 || h.Size > maxMember {
			return nil, fmt.Errorf("restore: member %q: %w", name, ErrCorrupt)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("restore: member %q twice: %w", name, ErrCorrupt)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		hs := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, hs), tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("restore %s: %w: %w", name, ErrCorrupt, err)
		}
		sums[name] = hex.EncodeToString(hs.Sum(nil))
	}
}

func validName(name string) bool {
	if name == manifestName || name == dbName {
		return true
	}
	if !strings.HasPrefix(name, dataPrefix) || path.Clean(name) != name || strings.Contains(name, "\\") {
		return false
	}
	rel := strings.TrimPrefix(name, dataPrefix)
	if rel == "" || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) {
		return false
	}
	top := strings.SplitN(rel, "/", 2)[0]
	for _, e := range append(dataEntries, "packages") {
		if top == e {
			return true
		}
	}
	return false
}
