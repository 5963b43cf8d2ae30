//go:build !windows

package install

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

func manifest(action string, data []byte) *proto.Manifest {
	return &proto.Manifest{PackageID: "77", Platform: proto.PlatformLinux, Action: action, Size: int64(len(data))}
}

func TestInstall(t *testing.T) {
	script := targzOf(t, []entry{
		{name: "setup.sh", body: "#!/bin/sh\necho installing \"$@\"\necho done > \"$MARK\"\n"},
		{name: "conf/app.conf", body: "k=v"},
	})
	evil := targzOf(t, []entry{{name: "conf/app.conf", body: "k=v"}, {name: "../../escape", body: "x"}})
	tests := []struct {
		name       string
		action     string
		data       []byte
		command    string
		launch     string
		storeTo    string
		timeout    time.Duration
		wantCode   string
		wantExit   int // -1: no exit code
		wantDetail string
		wantMark   bool
		wantStored []string
	}{
		{name: "execute", action: proto.ActionExecute, data: script, command: "sh setup.sh a b", wantCode: ocs.ResultSuccess, wantExit: 0, wantDetail: "installing a b", wantMark: true},
		{name: "execute-no-payload", action: proto.ActionExecute, command: "echo nothing; echo done > \"$MARK\"", wantCode: ocs.ResultSuccess, wantExit: 0, wantMark: true},
		{name: "execute-exit-3", action: proto.ActionExecute, data: script, command: "echo failing >&2; exit 3", wantCode: "EXIT_CODE_3", wantExit: 3, wantDetail: "failing"},
		{name: "execute-timeout", action: proto.ActionExecute, data: script, command: "echo started; sleep 30", timeout: time.Second, wantCode: ocs.ResultErrExecuteTimeout, wantExit: -1, wantDetail: "started"},
		{name: "execute-missing-command", action: proto.ActionExecute, data: script, command: "./nothere", wantCode: "EXIT_CODE_127", wantExit: 127},
		{name: "launch", action: proto.ActionLaunch, data: script, launch: "setup.sh --quiet", wantCode: ocs.ResultSuccess, wantExit: 0, wantDetail: "installing --quiet", wantMark: true},
		{name: "launch-missing", action: proto.ActionLaunch, data: script, launch: "nothere.sh", wantCode: ocs.ResultErrBadParam, wantExit: -1},
		{name: "launch-escape", action: proto.ActionLaunch, data: script, launch: "../../bin/sh", wantCode: ocs.ResultErrBadParam, wantExit: -1},
		{name: "store", action: proto.ActionStore, data: script, storeTo: "target", wantCode: ocs.ResultSuccess, wantExit: -1,
			wantStored: []string{"conf/", "conf/app.conf=k=v", "setup.sh=#!/bin/sh\necho installing \"$@\"\necho done > \"$MARK\"\n"}},
		{name: "store-relative", action: proto.ActionStore, data: script, storeTo: "relative", wantCode: ocs.ResultErrBadParam, wantExit: -1},
		{name: "store-evil", action: proto.ActionStore, data: evil, storeTo: "target", wantCode: ocs.ResultErrUnzip, wantExit: -1, wantDetail: "unsafe archive entry"},
		{name: "execute-evil", action: proto.ActionExecute, data: evil, command: "echo done > \"$MARK\"", wantCode: ocs.ResultErrUnzip, wantExit: -1},
		{name: "not-archive", action: proto.ActionExecute, data: []byte("plain text"), command: "true", wantCode: ocs.ResultErrUnzip, wantExit: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mark := filepath.Join(dir, "mark")
			t.Setenv("MARK", mark)
			in, err := New(Config{Timeout: tt.timeout}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			m := manifest(tt.action, tt.data)
			m.Command, m.LaunchName = tt.command, tt.launch
			target := filepath.Join(dir, "target")
			switch tt.storeTo {
			case "target":
				m.Path = target
			case "relative":
				m.Path = "relative/path"
			}
			out, err := in.Install(t.Context(), m, bytes.NewReader(tt.data), filepath.Join(dir, "work"))
			if err != nil {
				t.Fatal(err)
			}
			if out.Code != tt.wantCode {
				t.Fatalf("code = %s, want %s (detail %q)", out.Code, tt.wantCode, out.Detail)
			}
			switch {
			case tt.wantExit < 0 && out.ExitCode != nil:
				t.Errorf("exit code %d, want none", *out.ExitCode)
			case tt.wantExit >= 0 && (out.ExitCode == nil || *out.ExitCode != tt.wantExit):
				t.Errorf("exit code %v, want %d", out.ExitCode, tt.wantExit)
			}
			if !strings.Contains(out.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", out.Detail, tt.wantDetail)
			}
			if _, err := os.Stat(mark); (err == nil) != tt.wantMark {
				t.Errorf("command ran = %v, want %v", err == nil, tt.wantMark)
			}
			if tt.storeTo == "target" {
				got := tree(t, target)
				if strings.Join(got, "|") != strings.Join(tt.wantStored, "|") {
					t.Errorf("stored %q, want %q", got, tt.wantStored)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
				t.Error("an archive entry escaped")
			}
		})
	}
}

func TestStoreRefusesSymlinkInTarget(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	target := filepath.Join(dir, "target")
	os.Mkdir(target, 0o755)
	if err := os.Symlink(outside, filepath.Join(target, "conf")); err != nil {
		t.Fatal(err)
	}
	data := targzOf(t, []entry{{name: "conf/app.conf", body: "k=v"}})
	in, _ := New(Config{}, slog.New(slog.DiscardHandler))
	m := manifest(proto.ActionStore, data)
	m.Path = target
	out, err := in.Install(t.Context(), m, bytes.NewReader(data), filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Code != ocs.ResultErrExecute {
		t.Errorf("code = %s, want %s", out.Code, ocs.ResultErrExecute)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote through the target's symlink: %v", entries)
	}
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 10}
	for range 1000 {
		w.Write([]byte("0123456789abcdef"))
	}
	if got := w.String(); got != "6789abcdef" {
		t.Errorf("tail = %q", got)
	}
}
