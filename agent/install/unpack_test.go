//go:build !windows

package install

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// entry describes one archive member for the test builders.
type entry struct {
	name string
	body string
	// kind is "file" (default), "dir", "symlink", "hardlink" or "char".
	kind string
	link string
}

func targzOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Linkname: e.link}
		switch e.kind {
		case "dir":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "symlink":
			h.Typeflag = tar.TypeSymlink
		case "hardlink":
			h.Typeflag = tar.TypeLink
		case "char":
			h.Typeflag = tar.TypeChar
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func zipOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		body := e.body
		switch e.kind {
		case "dir":
			h.SetMode(fs.ModeDir | 0o755)
		case "symlink":
			h.SetMode(fs.ModeSymlink | 0o777)
			body = e.link
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

// tree lists dir recursively as "path" or "path -> target" or "path/".
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			rel += " -> " + target
		case d.IsDir():
			rel += "/"
		default:
			b, _ := os.ReadFile(p)
			rel += "=" + string(b)
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestUnpackGood(t *testing.T) {
	entries := []entry{
		{name: "./", kind: "dir"},
		{name: "bin/", kind: "dir"},
		{name: "bin/run.sh", body: "echo hi"},
		{name: "docs/readme.txt", body: "read me"},
		{name: "docs/current", kind: "symlink", link: "readme.txt"},
		{name: "bin/up", kind: "symlink", link: "../docs"},
	}
	want := []string{"bin/", "bin/run.sh=echo hi", "bin/up -> ../docs", "docs/", "docs/current -> readme.txt", "docs/readme.txt=read me"}
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{name: "targz", data: targzOf(t, append(entries, entry{name: "docs/copy", kind: "hardlink", link: "docs/readme.txt"})),
			want: append(append([]string{}, want...), "docs/copy=read me")},
		{name: "zip", data: zipOf(t, entries), want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			if err := Unpack(bytes.NewReader(tt.data), int64(len(tt.data)), dst, Limits{}); err != nil {
				t.Fatal(err)
			}
			got := tree(t, dst)
			sort.Strings(tt.want)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnpackEvil feeds archives that try to write outside the target; each
// must fail with ErrUnsafeArchive and leave nothing outside dst.
func TestUnpackEvil(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		zipToo  bool
	}{
		{name: "dotdot", entries: []entry{{name: "ok.txt", body: "x"}, {name: "../evil.txt", body: "pwned"}}, zipToo: true},
		{name: "nested-dotdot", entries: []entry{{name: "a/../../evil.txt", body: "pwned"}}, zipToo: true},
		{name: "absolute", entries: []entry{{name: "/tmp/shoal-evil.txt", body: "pwned"}}, zipToo: true},
		{name: "backslash-dotdot", entries: []entry{{name: `..\evil.txt`, body: "pwned"}}, zipToo: true},
		{name: "symlink-escape", entries: []entry{{name: "link", kind: "symlink", link: "../../outside"}}, zipToo: true},
		{name: "symlink-absolute", entries: []entry{{name: "etc", kind: "symlink", link: "/etc"}}, zipToo: true},
		{name: "write-through-symlink", entries: []entry{{name: "sub/", kind: "dir"}, {name: "d", kind: "symlink", link: "sub"}, {name: "d/x", body: "via link"}}, zipToo: true},
		{name: "dot-symlink-trick", entries: []entry{{name: "x", kind: "symlink", link: "."}, {name: "x/y/l", kind: "symlink", link: "../../outside"}}, zipToo: true},
		{name: "symlink-then-file-over-it", entries: []entry{{name: "f", kind: "symlink", link: "../outside"}}, zipToo: true},
		{name: "hardlink-outside", entries: []entry{{name: "h", kind: "hardlink", link: "/etc/passwd"}}},
		{name: "hardlink-dotdot", entries: []entry{{name: "h", kind: "hardlink", link: "../outside"}}},
		{name: "hardlink-missing", entries: []entry{{name: "h", kind: "hardlink", link: "nothere"}}},
		{name: "hardlink-to-symlink", entries: []entry{{name: "s", kind: "symlink", link: "a"}, {name: "h", kind: "hardlink", link: "s"}}},
		{name: "device", entries: []entry{{name: "dev", kind: "char"}}},
	}
	for _, tt := range tests {
		builders := map[string]func(*testing.T, []entry) []byte{"targz": targzOf}
		if tt.zipToo {
			builders["zip"] = zipOf
		}
		for format, build := range builders {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				root := t.TempDir()
				dst := filepath.Join(root, "a", "b", "dst")
				os.MkdirAll(dst, 0o700)
				data := build(t, tt.entries)
				err := Unpack(bytes.NewReader(data), int64(len(data)), dst, Limits{})
				if !errors.Is(err, ErrUnsafeArchive) {
					t.Fatalf("Unpack = %v, want ErrUnsafeArchive", err)
				}
				if got := tree(t, root); !cmp.Equal(got, []string{"a/", "a/b/", "a/b/dst/"}) && !onlyUnder(got, "a/b/dst/") {
					t.Errorf("files outside dst: %v", got)
				}
				if _, err := os.Stat("/tmp/shoal-evil.txt"); err == nil {
					t.Error("/tmp/shoal-evil.txt was written")
				}
			})
		}
	}
}

func onlyUnder(paths []string, prefix string) bool {
	for _, p := range paths {
		if p != "a/" && p != "a/b/" && !bytes.HasPrefix([]byte(p), []byte(prefix)) {
			return false
		}
	}
	return true
}

func TestUnpackLimitsAndFormats(t *testing.T) {
	many := make([]entry, 20)
	for i := range many {
		many[i] = entry{name: "f" + string(rune('a'+i)), body: "0123456789"}
	}
	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		wantErr error
	}{
		{name: "too-many-entries", data: targzOf(t, many), lim: Limits{MaxEntries: 10}, wantErr: ErrTooBig},
		{name: "too-many-bytes", data: zipOf(t, many), lim: Limits{MaxBytes: 100}, wantErr: ErrTooBig},
		{name: "not-an-archive", data: []byte("#!/bin/sh\necho hi\n"), wantErr: ErrNotArchive},
		{name: "empty", data: nil, wantErr: ErrNotArchive},
		{name: "within-limits", data: targzOf(t, many), lim: Limits{MaxEntries: 20, MaxBytes: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Unpack(bytes.NewReader(tt.data), int64(len(tt.data)), t.TempDir(), tt.lim)
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("Unpack = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestUnpackSymlinkChains feeds archives whose links each look harmless
// alone but chain through earlier (or later) links to a path outside the
// extraction directory, such as "a -> ." then "b -> a/..". Each is refused
// with ErrUnsafeArchive, nothing is written outside, and no link left in
// dst resolves outside it. Chains that stay inside are accepted.
func TestUnpackSymlinkChains(t *testing.T) {
	file := entry{name: "file.txt", body: "inside"}
	tests := []struct {
		name    string
		entries []entry
		ok      bool
	}{
		{name: "dot-then-dotdot", entries: []entry{{name: "a", kind: "symlink", link: "."}, {name: "b", kind: "symlink", link: "a/.."}}},
		{name: "dotdot-before-dot", entries: []entry{{name: "b", kind: "symlink", link: "c/.."}, {name: "c", kind: "symlink", link: "."}}},
		{name: "repeated-dot", entries: []entry{{name: "a", kind: "symlink", link: "."}, {name: "b", kind: "symlink", link: "a/a/a/../x"}}},
		{name: "link-to-link", entries: []entry{{name: "a", kind: "symlink", link: "."}, {name: "b", kind: "symlink", link: "a"},
			{name: "c", kind: "symlink", link: "b/./.."}}},
		{name: "subdir-up-link", entries: []entry{{name: "d/", kind: "dir"}, {name: "d/x", kind: "symlink", link: ".."},
			{name: "y", kind: "symlink", link: "d/x/../outside"}}},
		{name: "in-subdir", entries: []entry{{name: "d/", kind: "dir"}, {name: "d/a", kind: "symlink", link: "."},
			{name: "d/b", kind: "symlink", link: "a/../.."}}},
		{name: "loop", entries: []entry{{name: "l1", kind: "symlink", link: "l2"}, {name: "l2", kind: "symlink", link: "l1"}}},
		{name: "backslash", entries: []entry{{name: "w", kind: "symlink", link: `..\..\outside`}}},
		{name: "chain-inside", ok: true, entries: []entry{file, {name: "a", kind: "symlink", link: "."},
			{name: "b", kind: "symlink", link: "a/a/file.txt"}, {name: "d/", kind: "dir"}, {name: "d/up", kind: "symlink", link: ".."},
			{name: "c", kind: "symlink", link: "d/up/d/up/file.txt"}}},
	}
	for _, tt := range tests {
		for format, build := range map[string]func(*testing.T, []entry) []byte{"targz": targzOf, "zip": zipOf} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				root := t.TempDir()
				dst := filepath.Join(root, "a", "b", "dst")
				if err := os.MkdirAll(dst, 0o700); err != nil {
					t.Fatal(err)
				}
				data := build(t, tt.entries)
				err := Unpack(bytes.NewReader(data), int64(len(data)), dst, Limits{})
				if tt.ok {
					if err != nil {
						t.Fatalf("Unpack: %v", err)
					}
					if b, err := os.ReadFile(filepath.Join(dst, "c")); err != nil || string(b) != "inside" {
						t.Errorf("c: %q, %v", b, err)
					}
				} else if !errors.Is(err, ErrUnsafeArchive) {
					t.Fatalf("Unpack = %v, want ErrUnsafeArchive", err)
				} else {
					t.Logf("refused: %v", err)
				}
				if got := tree(t, root); !onlyUnder(got, "a/b/dst/") {
					t.Errorf("files outside dst: %v", got)
				}
				filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.Type()&fs.ModeSymlink == 0 {
						return err
					}
					real, err := filepath.EvalSymlinks(p)
					if err != nil {
						return nil // Dangling or a loop: it names nothing.
					}
					if real != dst && !strings.HasPrefix(real, dst+string(filepath.Separator)) {
						t.Errorf("link %s resolves outside dst, to %s", p, real)
					}
					return nil
				})
			})
		}
	}
}
