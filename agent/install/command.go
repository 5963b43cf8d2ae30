package install

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto/ocs"
)

// The functions in this file decide how a package action runs on one
// operating system. They take the OS name (runtime.GOOS) as a parameter so
// that both the Linux and the Windows semantics are tested on either.

// executeCommand returns the command line for an EXECUTE command. On
// Windows a command naming a PowerShell script (.ps1) runs through
// PowerShell, as the OCS Windows agent does not; anything else goes to
// cmd.exe unchanged.
func executeCommand(goos, command string) string {
	if goos != "windows" {
		return command
	}
	prog, rest := splitProgram(command)
	if strings.EqualFold(path.Ext(strings.ReplaceAll(strings.Trim(prog, `"`), `\`, "/")), ".ps1") {
		return powershell(prog, rest)
	}
	return command
}

// launchCommand returns the command line that runs rel, a program of the
// package (a clean slash-separated path), with arguments rest.
func launchCommand(goos, rel, rest string) string {
	if goos != "windows" {
		return strings.TrimSpace("./" + rel + " " + rest)
	}
	prog := `"` + strings.ReplaceAll(rel, "/", `\`) + `"`
	switch strings.ToLower(path.Ext(rel)) {
	case ".ps1":
		return powershell(prog, rest)
	case ".msi":
		if rest == "" {
			rest = "/qn /norestart"
		}
		return "msiexec.exe /i " + prog + " " + rest
	}
	return strings.TrimSpace(prog + " " + rest)
}

func powershell(script, rest string) string {
	if !strings.HasPrefix(script, `"`) {
		script = `"` + script + `"`
	}
	return strings.TrimSpace("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File " + script + " " + rest)
}

// splitProgram splits a command line into its first word (which may be
// double-quoted, quotes kept) and the rest.
func splitProgram(command string) (prog, rest string) {
	command = strings.TrimSpace(command)
	if strings.HasPrefix(command, `"`) {
		if i := strings.Index(command[1:], `"`); i >= 0 {
			return command[:i+2], strings.TrimSpace(command[i+2:])
		}
		return command, ""
	}
	prog, rest, _ = strings.Cut(command, " ")
	return prog, strings.TrimSpace(rest)
}

// winVar matches a %NAME% reference of cmd.exe.
var winVar = regexp.MustCompile(`%([A-Za-z_][A-Za-z0-9_()]*)%`)

// storePath returns the target directory of a STORE action. On Windows
// it expands %VAR% references (%SYSTEMDRIVE%, %PROGRAMFILES%, %TEMP%…)
// with getenv, which looks names up without regard to case there, and
// leaves unknown ones as they are, so that the path is then refused as not
// absolute. Elsewhere the path is used as given.
func storePath(goos, p string, getenv func(string) string) string {
	if goos != "windows" {
		return p
	}
	return winVar.ReplaceAllStringFunc(p, func(ref string) string {
		if v := getenv(ref[1 : len(ref)-1]); v != "" {
			return v
		}
		return ref
	})
}

// Windows Installer exit codes with a meaning of their own (msiexec.exe
// and most installers built on it return them).
const (
	msiRebootInitiated = 1641 // ERROR_SUCCESS_REBOOT_INITIATED
	msiRebootRequired  = 3010 // ERROR_SUCCESS_REBOOT_REQUIRED
	msiUserExit        = 1602 // ERROR_INSTALL_USEREXIT
	msiAlreadyRunning  = 1618 // ERROR_INSTALL_ALREADY_RUNNING
	msiOtherVersion    = 1638 // ERROR_PRODUCT_VERSION: another version is installed
)

// exitOutcome maps a non-zero exit code to an outcome whose Detail is a
// suffix for the "exit code n after d" line. On Windows the MSI success
// codes count as success with a reboot required, and a few MSI failures
// get the OCS code that says what happened; every other code is
// EXIT_CODE_<n>, as the OCS agents report it. The exit code is always set.
func exitOutcome(goos string, code int) Outcome {
	o := Outcome{Code: "EXIT_CODE_" + strconv.Itoa(code), ExitCode: &code}
	if goos != "windows" {
		return o
	}
	switch code {
	case msiRebootRequired:
		o.Code, o.Detail = ocs.ResultSuccessRebootRequired, ": success, reboot required"
	case msiRebootInitiated:
		o.Code, o.Detail = ocs.ResultSuccessRebootRequired, ": success, the installer initiated a reboot"
	case msiUserExit:
		o.Code, o.Detail = ocs.ResultErrAborted, ": the installation was cancelled"
	case msiAlreadyRunning:
		o.Code, o.Detail = ocs.ResultErrExecute, ": another installation is in progress"
	case msiOtherVersion:
		o.Code, o.Detail = ocs.ResultErrAlreadySetup, ": another version of the product is installed"
	}
	return o
}

// windowsName checks one element of an archive entry's path against what
// Windows cannot store or would read differently: a drive or stream colon,
// characters invalid in file names, trailing dots or spaces (which Win32
// strips, so "a." and "a" collide) and reserved device names.
func windowsName(el string) error {
	if strings.ContainsAny(el, `<>:"|?*`) || strings.IndexFunc(el, func(r rune) bool { return r < 32 }) >= 0 {
		return fmt.Errorf("%q has a character Windows does not allow in names", el)
	}
	if strings.HasSuffix(el, ".") || strings.HasSuffix(el, " ") {
		return fmt.Errorf("%q ends with a dot or space", el)
	}
	base, _, _ := strings.Cut(el, ".")
	switch strings.ToUpper(strings.TrimRight(base, " ")) {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return fmt.Errorf("%q is a reserved device name on Windows", el)
	}
	return nil
}
