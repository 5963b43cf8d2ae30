package ocs

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestResultClass(t *testing.T) {
	tests := []struct {
		code string
		want string
	}{
		{code: ResultSuccess, want: ClassSuccess},
		{code: "SUCCESS_3", want: ClassSuccess},
		{code: "SUCCESS_", want: ClassSuccess},
		{code: ResultSuccessAlreadySetup, want: ClassSuccess},
		{code: ResultSuccessRebootRequired, want: ClassSuccess},
		{code: StatusSuccessAlreadyInHistory, want: ClassSuccess},
		{code: " success ", want: ClassSuccess},
		{code: ResultErrBadDigest, want: ClassError},
		{code: ResultErrDownloadInfo, want: ClassError},
		{code: ResultErrTimeout, want: ClassError},
		{code: ResultErrAlreadySetup, want: ClassError},
		{code: "ERR_SOMETHING_NEW", want: ClassError},
		{code: "EXIT_CODE_1603", want: ClassError},
		{code: "err_build", want: ClassError},
		{code: "", want: ClassUnknown},
		{code: StatusNotified, want: ClassUnknown},
		{code: StatusUnknownCode, want: ClassUnknown},
		{code: "ERR", want: ClassUnknown},
		{code: "EXIT_CODE", want: ClassUnknown},
		{code: "FAILED", want: ClassUnknown},
	}
	for _, tt := range tests {
		if got := ResultClass(tt.code); got != tt.want {
			t.Errorf("ResultClass(%q) = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// TestResultClassCaptures classifies every code the real agent sent.
func TestResultClassCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(captureDir, "download-results", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		req, err := ParseRequest(readCapture(t, filepath.Join("download-results", filepath.Base(path))))
		if err != nil {
			t.Fatal(err)
		}
		want := ClassError
		if strings.HasPrefix(req.Err, "SUCCESS") {
			want = ClassSuccess
		}
		if got := ResultClass(req.Err); got != want {
			t.Errorf("ResultClass(%q) = %q, want %q", req.Err, got, want)
		}
	}
}
