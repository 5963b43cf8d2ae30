package packages

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/proto"
)

func TestCheckUpload(t *testing.T) {
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	if _, err := zw.Create("run.sh"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		action  string
		content []byte
		ok      bool
	}{
		{name: "execute_targz", action: proto.ActionExecute, content: []byte{0x1f, 0x8b, 8, 0, 0}, ok: true},
		{name: "execute_zip", action: proto.ActionExecute, content: zipped.Bytes(), ok: true},
		{name: "launch_zip", action: proto.ActionLaunch, content: zipped.Bytes(), ok: true},
		{name: "execute_text", action: proto.ActionExecute, content: []byte("echo this is not an archive\n")},
		{name: "launch_text", action: proto.ActionLaunch, content: []byte("23 bytes of plain text.")},
		{name: "execute_empty", action: proto.ActionExecute, content: nil},
		{name: "execute_one_byte", action: proto.ActionExecute, content: []byte{0x1f}},
		{name: "store_text", action: proto.ActionStore, content: []byte("any file may be stored"), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(src, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			err := CheckUpload(Spec{Action: tt.action}, src)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckUpload = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "file" || !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("CheckUpload = %v, want a FieldError on file", err)
			}
			if !strings.Contains(fe.Problem, "tar.gz or zip archive") || !strings.Contains(fe.Problem, tt.action) {
				t.Errorf("problem %q does not say what is wrong", fe.Problem)
			}
		})
	}
}
