package api

import (
	"slices"
	"strings"
)

// codeHelp explains every result code an OCS agent or a Shoal agent
// reports, and those central records itself, in one sentence that says
// what to do. The codes of proto/ocs (§6.8) and proto (Shoal agents).
var codeHelp = map[string]string{
	"SUCCESS":                    "the package was installed and its command exited with 0",
	"SUCCESS_ALREADY_SETUP":      "the agent had installed this package before (its own history); nothing was run — affect with force to run it again",
	"SUCCESS_ALREADY_IN_HISTORY": "central found the package in the computer's download history; nothing was sent — affect with force to run it again",
	"SUCCESS_REBOOT_INITIATED":   "installed; the agent started a reboot",
	"SUCCESS_REBOOT_REQUIRED":    "installed; the computer must reboot to finish",
	"SUCCESS_RESTART_REQUIRED":   "installed; the application must restart to finish",
	"ERR_DOWNLOAD_INFO":          "the agent could not fetch the package's info file over HTTPS: usually it does not trust central's CA — run the OCS agent with --ca pointing at central's cacert.pem (or check that the info location is reachable)",
	"ERR_BAD_ID":                 "the agent got a package ID it could not use (bad or unknown info file); check that the package is active and its info file is served",
	"ERR_BAD_DIGEST":             "the assembled file does not match the package's digest: a fragment was altered or truncated on the way (proxy, relay cache, disk); redeploy, and check the relay or the fragment location",
	"ERR_DOWNLOAD_PACK":          "the agent could not download a fragment: check the fragment location (central or the site's relay) is reachable from the computer",
	"ERR_BUILD":                  "the agent could not assemble the fragments into the package file (disk full or permissions in the agent's download directory)",
	"ERR_EXECUTE":                "the command could not be run or failed: check the command, and that the package's platform matches the computer's OS",
	"ERR_CLEAN":                  "the package ran but the agent could not remove its temporary files",
	"ERR_TIMEOUT":                "the agent gave up: the download took longer than its timeout (slow link or unreachable fragment location); it will not retry until redeployed",
	"ERR_ABORTED":                "the user aborted the installation from the notification",
	"ERR_OUT_OF_SPACE":           "not enough free disk space on the computer to download or unpack the package",
	"ERR_UNZIP":                  "the agent could not unpack the package: EXECUTE, LAUNCH and STORE files must be a valid tar.gz (Linux, macOS) or zip (Windows) archive",
	"ERR_BAD_PARAM":              "the package's info file has a parameter the agent does not accept (action, path or command)",
	"ERR_EXECUTE_NO_EXIT_CODE":   "the command ran but returned no exit code (it was killed or detached)",
	"ERR_EXECUTE_TIMEOUT":        "the command did not finish within the agent's time limit and was stopped",
	"ERR_EXECUTE_TOO_MANY_TRY":   "the agent tried to run the command too many times and gave up",
	"ERR_DONE_FAILED":            "the agent could not record the package as done (its history file)",
	"ERR_ALREADY_SETUP":          "old Windows agents' way to say the package was already installed; counted as an error like the OCS console does",
	"ERR_BAD_SIGNATURE":          "the Shoal agent rejected the manifest: it is not signed by the central key the agent pinned at enrollment (altered, or another central); re-enroll the agent if central's key changed",
	"ERR_BAD_MANIFEST":           "the Shoal agent rejected the manifest: it verifies but is invalid or names another package; rebuild the package",
	"UNKNOWN_CODE":               "the agent reported a result without a code central knows",
}

// CodeHelp explains a deployment result code (an OCS or Shoal agent's, or
// central's), or returns "" for an empty code. Codes carrying a number
// (EXIT_CODE_<n>, SUCCESS_<n>, ERR_EXIT_CODE_<n>) are explained with it;
// other unknown codes get a generic sentence by class.
func CodeHelp(code string) string {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "" {
		return ""
	}
	if h, ok := codeHelp[c]; ok {
		return h
	}
	for _, prefix := range []string{"EXIT_CODE_", "ERR_EXIT_CODE_"} {
		if n, ok := strings.CutPrefix(c, prefix); ok && digits(n) {
			return "the command exited with code " + n + " (non-zero: failed); check its output on the computer"
		}
	}
	if n, ok := strings.CutPrefix(c, "SUCCESS_"); ok && digits(n) {
		return "the LAUNCH program exited with code " + n + "; OCS counts it as a success"
	}
	switch {
	case strings.HasPrefix(c, "SUCCESS"):
		return "a success code this central does not know in detail"
	case strings.HasPrefix(c, "ERR_"):
		return "an error code this central does not know in detail; see the agent's log"
	}
	return "a code this central does not know; see the agent's log"
}

// ResultCode is a result code and its explanation: GET /result-codes.
type ResultCode struct {
	Code string `json:"code"`
	Help string `json:"help"`
}

// ResultCodes lists the codes CodeHelp explains individually, sorted.
func ResultCodes() []string {
	out := make([]string, 0, len(codeHelp))
	for c := range codeHelp {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
