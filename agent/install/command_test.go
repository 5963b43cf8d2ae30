package install

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/ocs"
)

func TestExecuteCommand(t *testing.T) {
	tests := []struct {
		name, goos, command, want string
	}{
		{name: "linux-unchanged", goos: "linux", command: "sh setup.ps1", want: "sh setup.ps1"},
		{name: "windows-cmd", goos: "windows", command: `install.cmd /quiet`, want: `install.cmd /quiet`},
		{name: "windows-msiexec", goos: "windows", command: `msiexec /i "app.msi" /qn`, want: `msiexec /i "app.msi" /qn`},
		{name: "windows-ps1", goos: "windows", command: `setup.ps1 -Mode Full`,
			want: `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "setup.ps1" -Mode Full`},
		{name: "windows-ps1-quoted-upper", goos: "windows", command: `"My Setup.PS1"`,
			want: `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "My Setup.PS1"`},
		{name: "windows-ps1-in-dir", goos: "windows", command: `scripts\go.ps1`,
			want: `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "scripts\go.ps1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := executeCommand(tt.goos, tt.command); got != tt.want {
				t.Errorf("executeCommand(%q, %q) = %q, want %q", tt.goos, tt.command, got, tt.want)
			}
		})
	}
}

func TestLaunchCommand(t *testing.T) {
	tests := []struct {
		name, goos, rel, rest, want string
	}{
		{name: "linux", goos: "linux", rel: "bin/setup.sh", rest: "--quiet", want: "./bin/setup.sh --quiet"},
		{name: "windows-exe", goos: "windows", rel: "bin/setup.exe", rest: "/S", want: `"bin\setup.exe" /S`},
		{name: "windows-cmd-no-args", goos: "windows", rel: "install.cmd", want: `"install.cmd"`},
		{name: "windows-ps1", goos: "windows", rel: "go.ps1", rest: "-x",
			want: `powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "go.ps1" -x`},
		{name: "windows-msi-default-silent", goos: "windows", rel: "app.msi", want: `msiexec.exe /i "app.msi" /qn /norestart`},
		{name: "windows-msi-args", goos: "windows", rel: "app.msi", rest: "/qn FOO=1", want: `msiexec.exe /i "app.msi" /qn FOO=1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := launchCommand(tt.goos, tt.rel, tt.rest); got != tt.want {
				t.Errorf("launchCommand = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStorePath(t *testing.T) {
	env := map[string]string{"SYSTEMDRIVE": "C:", "PROGRAMFILES": `C:\Program Files`, "TEMP": `C:\Users\ann\AppData\Local\Temp`}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name, goos, path, want string
	}{
		{name: "linux-literal", goos: "linux", path: "/opt/%SYSTEMDRIVE%", want: "/opt/%SYSTEMDRIVE%"},
		{name: "windows-systemdrive", goos: "windows", path: `%SYSTEMDRIVE%\ocs\app`, want: `C:\ocs\app`},
		{name: "windows-two-vars", goos: "windows", path: `%PROGRAMFILES%\Vendor\%TEMP%`, want: `C:\Program Files\Vendor\C:\Users\ann\AppData\Local\Temp`},
		{name: "windows-unknown-kept", goos: "windows", path: `%NOPE%\x`, want: `%NOPE%\x`},
		{name: "windows-lone-percent", goos: "windows", path: `C:\100%\x`, want: `C:\100%\x`},
		{name: "windows-no-vars", goos: "windows", path: `D:\data`, want: `D:\data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := storePath(tt.goos, tt.path, getenv); got != tt.want {
				t.Errorf("storePath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExitOutcome(t *testing.T) {
	tests := []struct {
		name string
		goos string
		code int
		want string
	}{
		{name: "linux-3010-is-a-failure", goos: "linux", code: 3010, want: "EXIT_CODE_3010"},
		{name: "windows-3010", goos: "windows", code: 3010, want: ocs.ResultSuccessRebootRequired},
		{name: "windows-1641", goos: "windows", code: 1641, want: ocs.ResultSuccessRebootRequired},
		{name: "windows-1602-cancelled", goos: "windows", code: 1602, want: ocs.ResultErrAborted},
		{name: "windows-1618-busy", goos: "windows", code: 1618, want: ocs.ResultErrExecute},
		{name: "windows-1638-other-version", goos: "windows", code: 1638, want: ocs.ResultErrAlreadySetup},
		{name: "windows-1603-fatal", goos: "windows", code: 1603, want: "EXIT_CODE_1603"},
		{name: "windows-1", goos: "windows", code: 1, want: "EXIT_CODE_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := exitOutcome(tt.goos, tt.code)
			if o.Code != tt.want || o.ExitCode == nil || *o.ExitCode != tt.code {
				t.Errorf("exitOutcome(%s, %d) = %s (exit %v), want %s with the exit code", tt.goos, tt.code, o.Code, o.ExitCode, tt.want)
			}
		})
	}
}

func TestWindowsName(t *testing.T) {
	var bad []string
	for _, el := range []string{"C:", "a:stream", "con", "NUL.txt", "lpt1", "com9.log", "dot.", "space ", "q?", "pipe|", "tab\t"} {
		if err := windowsName(el); err == nil {
			bad = append(bad, el)
		}
	}
	for _, el := range []string{"setup.exe", "console.txt", "nul2", "a b", ".hidden", "Program Files"} {
		if err := windowsName(el); err != nil {
			bad = append(bad, el+": "+err.Error())
		}
	}
	if len(bad) > 0 {
		t.Errorf("windowsName misjudged: %s", cmp.Diff([]string(nil), bad))
	}
}
