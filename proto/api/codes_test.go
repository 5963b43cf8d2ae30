package api

import (
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// TestCodeHelpCoversEveryCode: every OCS and Shoal result code has its own
// explanation, and numbered codes carry their number.
func TestCodeHelpCoversEveryCode(t *testing.T) {
	codes := []string{ocs.ResultSuccess, ocs.ResultSuccessAlreadySetup, ocs.ResultSuccessRebootInitiated,
		ocs.ResultSuccessRebootRequired, ocs.ResultSuccessRestartRequired, ocs.ResultErrBadID, ocs.ResultErrDownloadInfo,
		ocs.ResultErrBadDigest, ocs.ResultErrDownloadPack, ocs.ResultErrBuild, ocs.ResultErrExecute, ocs.ResultErrClean,
		ocs.ResultErrTimeout, ocs.ResultErrAborted, ocs.ResultErrOutOfSpace, ocs.ResultErrUnzip, ocs.ResultErrBadParam,
		ocs.ResultErrExecuteNoExitCode, ocs.ResultErrExecuteTimeout, ocs.ResultErrExecuteTooManyTry, ocs.ResultErrDoneFailed,
		ocs.ResultErrAlreadySetup, ocs.StatusSuccessAlreadyInHistory, ocs.StatusUnknownCode,
		proto.ResultErrBadSignature, proto.ResultErrBadManifest, proto.ResultSuccessAlreadyInstalled}
	for _, c := range codes {
		if codeHelp[c] == "" {
			t.Errorf("%s has no explanation", c)
		}
	}
	tests := []struct {
		name, code, want string
	}{
		{name: "download_info", code: "ERR_DOWNLOAD_INFO", want: "run the OCS agent with --ca"},
		{name: "lower_case", code: " err_bad_digest ", want: "fragment was altered"},
		{name: "exit_code", code: "EXIT_CODE_3", want: "exited with code 3"},
		{name: "launch_code", code: "SUCCESS_2", want: "exited with code 2"},
		{name: "unknown_error", code: "ERR_SOMETHING_NEW", want: "does not know"},
		{name: "empty", code: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CodeHelp(tt.code)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("CodeHelp(%q) = %q, want %q in it", tt.code, got, tt.want)
			}
		})
	}
}
