package packages

import (
	"bytes"
	"errors"
	"mime/multipart"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

// part is one part of a test multipart body.
type part struct {
	name, file, value string
}

func multipartOf(t *testing.T, parts []part) *multipart.Reader {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		var err error
		if p.file != "" {
			w, e := mw.CreateFormFile(p.name, p.file)
			if e == nil {
				_, e = w.Write([]byte(p.value))
			}
			err = e
		} else {
			err = mw.WriteField(p.name, p.value)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return multipart.NewReader(&body, mw.Boundary())
}

func TestReadUpload(t *testing.T) {
	errHook := errors.New("hook")
	file := part{name: "file", file: "a.sh", value: "echo hi"}
	tests := []struct {
		name       string
		parts      []part
		hooks      UploadHooks
		wantFields map[string]string
		wantFile   string
		wantErr    error
		wantProb   UploadProblem
	}{
		{name: "fields-and-file", parts: []part{{name: "name", value: "n"}, file},
			wantFields: map[string]string{"name": "n", "filename": "a.sh"}, wantFile: "echo hi"},
		{name: "no-file", parts: []part{{name: "name", value: "n"}}, wantFields: map[string]string{"name": "n"}},
		{name: "second-file", parts: []part{file, file}, wantProb: UploadSecondFile},
		{name: "field-too-long", parts: []part{{name: "x", value: strings.Repeat("a", MaxUploadFieldBytes+1)}}, wantProb: UploadFieldTooLong},
		{name: "dropped-field", parts: []part{{name: "_csrf", value: "t"}, file},
			hooks:      UploadHooks{Field: func(name, _ string) (bool, error) { return name != "_csrf", nil }},
			wantFields: map[string]string{"filename": "a.sh"}, wantFile: "echo hi"},
		{name: "before-file-fails", parts: []part{file},
			hooks: UploadHooks{BeforeFile: func(map[string]string) error { return errHook }}, wantErr: errHook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBuilder(t)
			fields, spooled, err := ReadUpload(multipartOf(t, tt.parts), b, tt.hooks)
			if spooled != "" {
				defer os.Remove(spooled)
			}
			if tt.wantErr != nil || tt.wantProb != 0 {
				var ue *UploadError
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantProb != 0 && (!errors.As(err, &ue) || ue.Problem != tt.wantProb) {
					t.Fatalf("err = %v, want problem %d", err, tt.wantProb)
				}
				if spooled != "" {
					t.Errorf("spool file %s left after an error", spooled)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			if tt.wantFile == "" {
				if spooled != "" {
					t.Errorf("spooled %s without a file part", spooled)
				}
				return
			}
			got, err := os.ReadFile(spooled)
			if err != nil || string(got) != tt.wantFile {
				t.Errorf("spooled %q, %v; want %q", got, err, tt.wantFile)
			}
		})
	}
}

func TestSpecFromFields(t *testing.T) {
	tests := []struct {
		name    string
		fields  map[string]string
		want    Spec
		wantBad []string
	}{
		{name: "defaults", fields: map[string]string{"filename": "a.sh", "action": "run", "command": " sh a.sh "},
			want: Spec{Name: "a.sh", Platform: proto.PlatformLinux, Action: proto.ActionExecute, Command: "sh a.sh", Priority: DefaultPriority}},
		{name: "checkboxes", fields: map[string]string{"name": "n", "platform": "windows", "notify_user": "on", "notify_can_abort": "true", "notify_can_delay": "0"},
			want: Spec{Name: "n", Platform: "WINDOWS", NotifyUser: true, NotifyCanAbort: true, Priority: DefaultPriority}},
		{name: "numbers", fields: map[string]string{"name": "n", "priority": "3", "fragments": "2", "fragment_size": "4096"},
			want: Spec{Name: "n", Platform: proto.PlatformLinux, Priority: 3, OCSFragments: 2, OCSFragmentSize: 4096}},
		{name: "bad-numbers", fields: map[string]string{"name": "n", "priority": "x", "fragments": "y"},
			want: Spec{Name: "n", Platform: proto.PlatformLinux}, wantBad: []string{"priority", "fragments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SpecFromFields(tt.fields)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			var bad []string
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					var fe *FieldError
					if errors.As(e, &fe) {
						bad = append(bad, fe.Field)
					}
				}
			}
			if diff := cmp.Diff(tt.wantBad, bad); diff != "" {
				t.Errorf("bad fields (-want +got):\n%s", diff)
			}
		})
	}
}
