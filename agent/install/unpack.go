package install

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Sentinel errors of unpacking.
var (
	// ErrUnsafeArchive reports an entry that would land outside the target
	// directory (.., absolute path, escaping or traversed symlink, link to
	// a missing file) or a special file.
	ErrUnsafeArchive = errors.New("install: unsafe archive entry")
	// ErrNotArchive reports a payload that is neither zip nor tar.gz.
	ErrNotArchive = errors.New("install: payload is not a zip or tar.gz archive")
	// ErrTooBig reports an archive over the unpack limits.
	ErrTooBig = errors.New("install: archive too big")
)

// Limits bound what Unpack writes.
type Limits struct {
	MaxBytes   int64
	MaxEntries int
}

// Unpack extracts the zip or tar.gz archive in ra (size bytes) into dst,
// which must be an empty directory private to the caller. Every entry is
// checked before it is written: its name must be relative without ".."
// elements, no entry may be written through a symlink, a symlink must point
// inside dst even when resolved through the other links (checked as each is
// created and again for all at the end), a hard link must name a regular file already extracted, and
// devices and FIFOs are refused. On error dst holds a partial extraction
// that the caller deletes; nothing is ever written outside dst.
func Unpack(ra io.ReaderAt, size int64, dst string, lim Limits) error {
	var magic [4]byte
	if _, err := ra.ReadAt(magic[:], 0); err != nil && size >= 4 {
		return fmt.Errorf("unpack: read header: %w", err)
	}
	u := &unpacker{root: dst, lim: lim}
	var err error
	switch {
	case bytes.Equal(magic[:], []byte("PK\x03\x04")), bytes.Equal(magic[:], []byte("PK\x05\x06")):
		err = u.zip(ra, size)
	case magic[0] == 0x1f && magic[1] == 0x8b:
		err = u.targz(io.NewSectionReader(ra, 0, size))
	default:
		return fmt.Errorf("unpack: %w", ErrNotArchive)
	}
	if err != nil {
		return err
	}
	if err := u.checkLinks(); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

type unpacker struct {
	root    string
	lim     Limits
	written int64
	entries int
}

// cleanName checks an archive entry name and returns it cleaned and
// slash-separated.
func cleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry %q: empty or NUL in name: %w", name, ErrUnsafeArchive)
	}
	if strings.HasPrefix(name, "/") || strings.HasPrefix(name, `\`) || (len(name) > 1 && name[1] == ':') {
		return "", fmt.Errorf("entry %q: absolute path: %w", name, ErrUnsafeArchive)
	}
	for _, el := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return "", fmt.Errorf("entry %q: '..' in path: %w", name, ErrUnsafeArchive)
		}
		if goos == "windows" && el != "." {
			if err := windowsName(el); err != nil {
				return "", fmt.Errorf("entry %q: %w: %w", name, err, ErrUnsafeArchive)
			}
		}
	}
	if goos == "windows" {
		// A backslash separates directories there, as in OCS's zip files.
		name = strings.ReplaceAll(name, `\`, "/")
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// count applies the entry limit.
func (u *unpacker) count() error {
	u.entries++
	if u.lim.MaxEntries > 0 && u.entries > u.lim.MaxEntries {
		return fmt.Errorf("more than %d entries: %w", u.lim.MaxEntries, ErrTooBig)
	}
	return nil
}

// parent makes sure every directory above rel exists as a real directory
// (not a symlink) inside root, creating missing ones.
func (u *unpacker) parent(rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	return u.mkdirs(dir)
}

func (u *unpacker) mkdirs(rel string) error {
	cur := u.root
	for _, el := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, el)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", rel, err)
			}
		case err != nil:
			return fmt.Errorf("stat %s: %w", rel, err)
		case isReparse(fi):
			return fmt.Errorf("entry under %q goes through a symlink or junction: %w", rel, ErrUnsafeArchive)
		case !fi.IsDir():
			return fmt.Errorf("entry under %q: not a directory: %w", rel, ErrUnsafeArchive)
		}
	}
	return nil
}

// target returns the path of rel in root after removing what an earlier
// entry of the same name left (a file or link, never a directory).
func (u *unpacker) target(rel string) (string, error) {
	if err := u.parent(rel); err != nil {
		return "", err
	}
	p := filepath.Join(u.root, filepath.FromSlash(rel))
	fi, err := os.Lstat(p)
	if err == nil {
		if fi.IsDir() {
			return "", fmt.Errorf("entry %q: replaces a directory: %w", rel, ErrUnsafeArchive)
		}
		if err := os.Remove(p); err != nil {
			return "", fmt.Errorf("replace %s: %w", rel, err)
		}
	}
	return p, nil
}

func (u *unpacker) file(rel string, mode fs.FileMode, r io.Reader) error {
	p, err := u.target(rel)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, mode.Perm()&0o777|0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", rel, err)
	}
	limit := int64(-1)
	if u.lim.MaxBytes > 0 {
		limit = u.lim.MaxBytes - u.written
	}
	var n int64
	if limit >= 0 {
		n, err = io.Copy(f, io.LimitReader(r, limit+1))
	} else {
		n, err = io.Copy(f, r)
	}
	u.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if limit >= 0 && n > limit {
		return fmt.Errorf("more than %d bytes unpacked: %w", u.lim.MaxBytes, ErrTooBig)
	}
	return nil
}

func (u *unpacker) symlink(rel, linkTarget string) error {
	if !symlinksAllowed {
		return fmt.Errorf("symlink %q -> %q: links are not unpacked on this system: %w", rel, linkTarget, ErrUnsafeArchive)
	}
	if linkTarget == "" || strings.HasPrefix(linkTarget, "/") || strings.ContainsAny(linkTarget, "\x00\\") {
		return fmt.Errorf("symlink %q -> %q: absolute or empty target, or NUL or backslash in it: %w", rel, linkTarget, ErrUnsafeArchive)
	}
	// The link's own parents are never symlinks (see parent), but its
	// target may go through links extracted before ("a -> ." then
	// "b -> a/.."): resolve it through them. Links extracted later can
	// still change what this one names; Unpack checks every link again
	// at the end.
	if err := u.resolve(path.Dir(rel), linkTarget); err != nil {
		return fmt.Errorf("symlink %q -> %q: %w", rel, linkTarget, err)
	}
	p, err := u.target(rel)
	if err != nil {
		return err
	}
	if err := os.Symlink(linkTarget, p); err != nil {
		return fmt.Errorf("symlink %s: %w", rel, err)
	}
	return nil
}

// maxLinkHops bounds the symlinks followed to resolve one link, like the
// kernel's limit (40 on Linux).
const maxLinkHops = 40

// resolve follows target, the target of a symlink in directory dir (both
// slash-separated and relative to root), element by element through the
// symlinks already in root, as the kernel would, and fails with
// ErrUnsafeArchive when it leaves root at any step, uses an absolute
// target, or follows more than maxLinkHops links. Elements that do not
// exist (yet) are taken literally.
func (u *unpacker) resolve(dir, target string) error {
	var cur []string // The resolved path so far, relative to root.
	if dir != "." && dir != "" {
		cur = strings.Split(dir, "/")
	}
	todo := strings.Split(target, "/")
	for hops := 0; len(todo) > 0; {
		el := todo[0]
		todo = todo[1:]
		switch el {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return fmt.Errorf("resolves outside the package: %w", ErrUnsafeArchive)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], el)
		p := filepath.Join(u.root, filepath.FromSlash(strings.Join(next, "/")))
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxLinkHops {
			return fmt.Errorf("more than %d links to follow: %w", maxLinkHops, ErrUnsafeArchive)
		}
		t, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("read link %s: %w", strings.Join(next, "/"), err)
		}
		if t == "" || strings.HasPrefix(t, "/") || strings.ContainsAny(t, "\x00\\") {
			return fmt.Errorf("goes through %s -> %q: %w", strings.Join(next, "/"), t, ErrUnsafeArchive)
		}
		// The link's target is relative to its directory, which is cur.
		todo = append(strings.Split(t, "/"), todo...)
	}
	return nil
}

// checkLinks resolves every symlink in root again once all are in place,
// since a later link can change where an earlier one points ("b -> c/.."
// then "c -> ."). A link that resolves outside root is removed and
// reported.
func (u *unpacker) checkLinks() error {
	var bad []string // Links that escape, as full paths.
	var errs []error
	err := filepath.WalkDir(u.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		rel, err := filepath.Rel(u.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		t, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if err := u.resolve(path.Dir(rel), t); err != nil {
			bad = append(bad, p)
			errs = append(errs, fmt.Errorf("symlink %q -> %q: %w", rel, t, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check links: %w", err)
	}
	for _, p := range bad {
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("remove escaping link: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (u *unpacker) hardlink(rel, linkName string) error {
	to, err := cleanName(linkName)
	if err != nil || to == "" {
		return fmt.Errorf("hard link %q -> %q: %w", rel, linkName, ErrUnsafeArchive)
	}
	if err := u.parent(to); err != nil {
		return err
	}
	src := filepath.Join(u.root, filepath.FromSlash(to))
	fi, err := os.Lstat(src)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link %q -> %q: target is not a file of the package: %w", rel, linkName, ErrUnsafeArchive)
	}
	p, err := u.target(rel)
	if err != nil {
		return err
	}
	if err := os.Link(src, p); err != nil {
		return fmt.Errorf("hard link %s: %w", rel, err)
	}
	return nil
}

func (u *unpacker) targz(r io.Reader) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("unpack tar.gz: %w: %w", ErrNotArchive, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("unpack tar.gz: %w", err)
		}
		if err := u.count(); err != nil {
			return fmt.Errorf("unpack tar.gz: %w", err)
		}
		rel, err := cleanName(h.Name)
		if err != nil {
			return fmt.Errorf("unpack tar.gz: %w", err)
		}
		if err := u.tarEntry(h, rel, tr); err != nil {
			return fmt.Errorf("unpack tar.gz: %w", err)
		}
	}
}

func (u *unpacker) tarEntry(h *tar.Header, rel string, r io.Reader) error {
	switch h.Typeflag {
	case tar.TypeDir:
		if rel == "" {
			return nil
		}
		return u.mkdirs(rel)
	case tar.TypeReg:
		if rel == "" {
			return fmt.Errorf("file entry %q has no name: %w", h.Name, ErrUnsafeArchive)
		}
		return u.file(rel, fs.FileMode(h.Mode), r)
	case tar.TypeSymlink:
		return u.symlink(rel, h.Linkname)
	case tar.TypeLink:
		return u.hardlink(rel, h.Linkname)
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return nil
	}
	return fmt.Errorf("entry %q: type %q is not a file, directory or link: %w", h.Name, h.Typeflag, ErrUnsafeArchive)
}

func (u *unpacker) zip(ra io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("unpack zip: %w", err)
	}
	for _, f := range zr.File {
		if err := u.count(); err != nil {
			return fmt.Errorf("unpack zip: %w", err)
		}
		rel, err := cleanName(f.Name)
		if err != nil {
			return fmt.Errorf("unpack zip: %w", err)
		}
		if err := u.zipEntry(f, rel); err != nil {
			return fmt.Errorf("unpack zip: %w", err)
		}
	}
	return nil
}

func (u *unpacker) zipEntry(f *zip.File, rel string) error {
	mode := f.Mode()
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
		if rel == "" {
			return nil
		}
		return u.mkdirs(rel)
	case mode&fs.ModeSymlink != 0:
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, 4096))
		if err != nil {
			return err
		}
		return u.symlink(rel, string(b))
	case mode.IsRegular():
		if rel == "" {
			return fmt.Errorf("file entry %q has no name: %w", f.Name, ErrUnsafeArchive)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		perm := mode.Perm()
		if perm == 0 {
			perm = 0o644
		}
		return u.file(rel, perm, rc)
	}
	return fmt.Errorf("entry %q: mode %s is not a file, directory or link: %w", f.Name, mode, ErrUnsafeArchive)
}
