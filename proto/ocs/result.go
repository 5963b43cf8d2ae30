package ocs

import "strings"

// Result codes of QUERY=DOWNLOAD (§6.8), as agents send them in ERR. Codes
// are free-form: store the raw string and classify it with ResultClass.
// SUCCESS_<n> (Unix LAUNCH exit code n) and EXIT_CODE_<n> (Windows) carry a
// number and have no constant.
const (
	ResultSuccess             = "SUCCESS"
	ResultSuccessAlreadySetup = "SUCCESS_ALREADY_SETUP"
	// ResultSuccessResent is what the Unix agent (2.10, Download.pm
	// period) sends for a package whose "done" file is still there: its
	// first result message failed (server unreachable, or a relative --ca
	// path after the worker changed directory), and it re-sends the
	// success through done() without the suffix argument, so the code is
	// "SUCCESS" . "_" . undef. It is the agent's code, not a mangled one.
	ResultSuccessResent          = "SUCCESS_"
	ResultSuccessRebootInitiated = "SUCCESS_REBOOT_INITIATED"
	ResultSuccessRebootRequired  = "SUCCESS_REBOOT_REQUIRED"
	ResultSuccessRestartRequired = "SUCCESS_RESTART_REQUIRED"
	ResultErrBadID               = "ERR_BAD_ID"
	ResultErrDownloadInfo        = "ERR_DOWNLOAD_INFO"
	ResultErrBadDigest           = "ERR_BAD_DIGEST"
	ResultErrDownloadPack        = "ERR_DOWNLOAD_PACK"
	ResultErrBuild               = "ERR_BUILD"
	ResultErrExecute             = "ERR_EXECUTE"
	ResultErrClean               = "ERR_CLEAN"
	ResultErrTimeout             = "ERR_TIMEOUT"
	ResultErrAborted             = "ERR_ABORTED"
	ResultErrOutOfSpace          = "ERR_OUT_OF_SPACE"
	ResultErrUnzip               = "ERR_UNZIP"
	ResultErrBadParam            = "ERR_BAD_PARAM"
	ResultErrExecuteNoExitCode   = "ERR_EXECUTE_NO_EXIT_CODE"
	ResultErrExecuteTimeout      = "ERR_EXECUTE_TIMEOUT"
	ResultErrExecuteTooManyTry   = "ERR_EXECUTE_TOO_MANY_TRY"
	ResultErrDoneFailed          = "ERR_DONE_FAILED"
	ResultErrAlreadySetup        = "ERR_ALREADY_SETUP" // old Windows agents' SUCCESS_ALREADY_SETUP
)

// Statuses the real server itself records for a (computer, package) pair
// (§6.1), next to the agent's result codes.
const (
	StatusNotified                = "NOTIFIED"
	StatusSuccessAlreadyInHistory = "SUCCESS_ALREADY_IN_HISTORY"
	StatusUnknownCode             = "UNKNOWN_CODE" // a result without ERR
)

// The classes ResultClass returns.
const (
	ClassSuccess = "success"
	ClassError   = "error"
	ClassUnknown = "unknown"
)

// ResultClass classifies a result code the way the console counts them:
// "success" for SUCCESS* (SUCCESS_3 after a failed Unix LAUNCH included),
// "error" for ERR_* and EXIT_CODE_*, "unknown" for anything else (an empty
// code included). Surrounding space and letter case are ignored. Like the
// console, it counts the old Windows ERR_ALREADY_SETUP as an error.
func ResultClass(code string) string {
	c := strings.ToUpper(strings.TrimSpace(code))
	switch {
	case strings.HasPrefix(c, ResultSuccess):
		return ClassSuccess
	case strings.HasPrefix(c, "ERR_") || strings.HasPrefix(c, "EXIT_CODE_"):
		return ClassError
	}
	return ClassUnknown
}
