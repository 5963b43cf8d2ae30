package install

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// These tests run as a Windows test binary: on Windows, or on Linux with
// `GOOS=windows go test -exec scripts/wine-exec.sh ./agent/install`
// (see make wine-test), where cmd.exe is wine's.

// tempDir is t.TempDir with a cleanup that works under wine 8, whose
// NtSetInformationFile lacks the POSIX delete os.RemoveAll uses.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-install-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

func winZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func winManifest(action string, data []byte) *proto.Manifest {
	return &proto.Manifest{PackageID: "88", Platform: proto.PlatformWindows, Action: action, Size: int64(len(data))}
}

func TestWindowsInstall(t *testing.T) {
	pkg := winZip(t, map[string]string{
		"install.cmd":      "@echo off\r\necho installing %1\r\necho done> \"%MARK%\"\r\n",
		"reboot.cmd":       "@echo off\r\necho needs a reboot\r\nexit /b 3010\r\n",
		"fail.cmd":         "@echo off\r\nexit /b 1603\r\n",
		`conf\app.ini`:     "k=v",
		"sub/deeper/x.txt": "x",
	})
	tests := []struct {
		name     string
		action   string
		command  string
		launch   string
		storeTo  string
		wantCode string
		wantExit int // -1: none
		wantMark bool
	}{
		{name: "execute-cmd", action: proto.ActionExecute, command: `install.cmd first`, wantCode: ocs.ResultSuccess, wantExit: 0, wantMark: true},
		{name: "execute-builtin", action: proto.ActionExecute, command: `echo ok> "%MARK%"`, wantCode: ocs.ResultSuccess, wantExit: 0, wantMark: true},
		{name: "execute-3010", action: proto.ActionExecute, command: `reboot.cmd`, wantCode: ocs.ResultSuccessRebootRequired, wantExit: 3010},
		{name: "execute-1603", action: proto.ActionExecute, command: `fail.cmd`, wantCode: "EXIT_CODE_1603", wantExit: 1603},
		{name: "launch-cmd", action: proto.ActionLaunch, launch: `install.cmd arg`, wantCode: ocs.ResultSuccess, wantExit: 0, wantMark: true},
		{name: "launch-escape", action: proto.ActionLaunch, launch: `..\..\Windows\System32\cmd.exe`, wantCode: ocs.ResultErrBadParam, wantExit: -1},
		{name: "store-env", action: proto.ActionStore, storeTo: `%SHOAL_TEST_TARGET%\app`, wantCode: ocs.ResultSuccess, wantExit: -1},
		{name: "store-unknown-var", action: proto.ActionStore, storeTo: `%SHOAL_NOT_SET%\app`, wantCode: ocs.ResultErrBadParam, wantExit: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tempDir(t)
			mark := filepath.Join(dir, "mark")
			t.Setenv("MARK", mark)
			t.Setenv("SHOAL_TEST_TARGET", filepath.Join(dir, "target"))
			in, err := New(Config{}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			m := winManifest(tt.action, pkg)
			m.Command, m.LaunchName, m.Path = tt.command, tt.launch, tt.storeTo
			o, err := in.Install(t.Context(), m, bytes.NewReader(pkg), filepath.Join(dir, "work"))
			if err != nil {
				t.Fatal(err)
			}
			if o.Code != tt.wantCode {
				t.Fatalf("code %s, want %s (detail %q)", o.Code, tt.wantCode, o.Detail)
			}
			switch {
			case tt.wantExit < 0 && o.ExitCode != nil:
				t.Errorf("exit code %d, want none", *o.ExitCode)
			case tt.wantExit >= 0 && (o.ExitCode == nil || *o.ExitCode != tt.wantExit):
				t.Errorf("exit code %v, want %d", o.ExitCode, tt.wantExit)
			}
			if _, err := os.Stat(mark); (err == nil) != tt.wantMark {
				t.Errorf("marker exists: %v, want %v", err == nil, tt.wantMark)
			}
			if tt.name == "store-env" {
				b, err := os.ReadFile(filepath.Join(dir, "target", "app", "conf", "app.ini"))
				if err != nil || string(b) != "k=v" {
					t.Errorf("stored conf\\app.ini = %q, %v", b, err)
				}
			}
		})
	}
}

func TestWindowsUnpackRefuses(t *testing.T) {
	tests := []struct {
		name  string
		entry string
	}{
		{name: "dotdot-backslash", entry: `..\..\evil.txt`},
		{name: "drive-absolute", entry: `C:\Windows\evil.txt`},
		{name: "drive-relative", entry: `C:evil.txt`},
		{name: "unc", entry: `\\server\share\evil.txt`},
		{name: "stream", entry: `ok.txt:hidden`},
		{name: "device", entry: `sub\CON`},
		{name: "trailing-dot", entry: `sub.\x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := winZip(t, map[string]string{tt.entry: "x"})
			err := Unpack(bytes.NewReader(data), int64(len(data)), tempDir(t), Limits{})
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("Unpack(%q) = %v, want ErrUnsafeArchive", tt.entry, err)
			}
		})
	}
}

// TestWindowsUnpackRefusesLinks: a zip symlink entry is refused on Windows,
// and a reparse point already in the tree is never written through.
func TestWindowsUnpackRefusesLinks(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "link"}
	h.SetMode(os.ModeSymlink | 0o777)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("target"))
	zw.Close()
	if err := Unpack(bytes.NewReader(buf.Bytes()), int64(buf.Len()), tempDir(t), Limits{}); !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("zip with a symlink: %v, want ErrUnsafeArchive", err)
	}

	root, outside := tempDir(t), tempDir(t)
	if err := os.Symlink(outside, filepath.Join(root, "sub")); err != nil {
		t.Skipf("cannot create a directory link here (wine or no privilege): %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "sub")); err != nil || !isReparse(fi) {
		t.Skipf("the directory link is not a reparse point here (wine 8 makes a plain unix symlink); isReparse is covered by TestIsReparse")
	}
	u := &unpacker{root: root}
	if err := u.file("sub/evil.txt", 0o644, strings.NewReader("x")); !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("write through a directory link: %v, want ErrUnsafeArchive", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "evil.txt")); err == nil {
		t.Error("file written outside the root")
	}
}

// TestWindowsLongPath unpacks and stores a tree deeper than MAX_PATH (260).
func TestWindowsLongPath(t *testing.T) {
	deep := strings.Repeat("directory-name-of-forty-characters-long/", 8) + "file.txt"
	data := winZip(t, map[string]string{deep: "deep"})
	root := tempDir(t)
	if err := Unpack(bytes.NewReader(data), int64(len(data)), root, Limits{}); err != nil {
		t.Fatalf("unpack a %d-character path: %v", len(root)+len(deep), err)
	}
	dst := filepath.Join(tempDir(t), "store")
	if err := storeInto(root, dst); err != nil {
		t.Fatalf("store: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(deep)))
	if err != nil || string(b) != "deep" {
		t.Fatalf("read back %d-character path: %q, %v", len(dst)+len(deep), b, err)
	}
}

type fakeInfo struct {
	fs.FileInfo
	mode  fs.FileMode
	attrs uint32
}

func (f fakeInfo) Mode() fs.FileMode { return f.mode }
func (f fakeInfo) Sys() any          { return &syscall.Win32FileAttributeData{FileAttributes: f.attrs} }

func TestIsReparse(t *testing.T) {
	tests := []struct {
		name string
		fi   fakeInfo
		want bool
	}{
		{name: "plain-dir", fi: fakeInfo{mode: fs.ModeDir, attrs: windows.FILE_ATTRIBUTE_DIRECTORY}, want: false},
		{name: "symlink", fi: fakeInfo{mode: fs.ModeSymlink}, want: true},
		{name: "junction", fi: fakeInfo{mode: fs.ModeDir | fs.ModeIrregular}, want: true},
		{name: "other-reparse", fi: fakeInfo{mode: fs.ModeDir, attrs: windows.FILE_ATTRIBUTE_DIRECTORY | windows.FILE_ATTRIBUTE_REPARSE_POINT}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isReparse(tt.fi); got != tt.want {
				t.Errorf("isReparse = %v, want %v", got, tt.want)
			}
		})
	}
}
