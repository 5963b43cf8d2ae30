package packages

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shoal-project/shoal/proto"
)

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(s *Spec)
		wantFields []string // Fields reported, in order; none means valid.
	}{
		{name: "valid", mutate: func(s *Spec) {}},
		{name: "valid-store", mutate: func(s *Spec) { s.Action, s.Path, s.Command = proto.ActionStore, "/opt/app", "" }},
		{name: "valid-launch", mutate: func(s *Spec) { s.Action, s.LaunchName = proto.ActionLaunch, "setup.exe /S" }},
		{name: "valid-priority-zero", mutate: func(s *Spec) { s.Priority = 0 }},
		{name: "valid-multiline-notify", mutate: func(s *Spec) { s.NotifyText = "line one\nline two" }},
		{name: "id-empty", mutate: func(s *Spec) { s.ID = "" }, wantFields: []string{"id"}},
		{name: "id-traversal", mutate: func(s *Spec) { s.ID = "../1" }, wantFields: []string{"id"}},
		{name: "id-letters", mutate: func(s *Spec) { s.ID = "12ab" }, wantFields: []string{"id"}},
		{name: "name-empty", mutate: func(s *Spec) { s.Name = " " }, wantFields: []string{"name"}},
		{name: "name-too-long", mutate: func(s *Spec) { s.Name = strings.Repeat("n", 256) }, wantFields: []string{"name"}},
		{name: "name-newline", mutate: func(s *Spec) { s.Name = "a\nb" }, wantFields: []string{"name"}},
		{name: "command-nul", mutate: func(s *Spec) { s.Command = "rm\x00" }, wantFields: []string{"command"}},
		{name: "invalid-utf8", mutate: func(s *Spec) { s.Description = "\xff" }, wantFields: []string{"description"}},
		{name: "platform", mutate: func(s *Spec) { s.Platform = "BeOS" }, wantFields: []string{"platform"}},
		{name: "action", mutate: func(s *Spec) { s.Action = "RUN" }, wantFields: []string{"action"}},
		{name: "execute-needs-command", mutate: func(s *Spec) { s.Command = "" }, wantFields: []string{"command"}},
		{name: "store-needs-path", mutate: func(s *Spec) { s.Action = proto.ActionStore }, wantFields: []string{"path"}},
		{name: "launch-needs-name", mutate: func(s *Spec) { s.Action = proto.ActionLaunch }, wantFields: []string{"launch_name"}},
		{name: "priority-high", mutate: func(s *Spec) { s.Priority = 11 }, wantFields: []string{"priority"}},
		{name: "priority-negative", mutate: func(s *Spec) { s.Priority = -1 }, wantFields: []string{"priority"}},
		{name: "ocs-fragments-negative", mutate: func(s *Spec) { s.OCSFragments = -1 }, wantFields: []string{"ocs_fragments"}},
		{name: "ocs-fragments-too-many", mutate: func(s *Spec) { s.OCSFragments = MaxOCSFragments + 1 }, wantFields: []string{"ocs_fragments"}},
		{name: "ocs-fragment-size-small", mutate: func(s *Spec) { s.OCSFragmentSize = 1 }, wantFields: []string{"ocs_fragment_size"}},
		{name: "ocs-count-and-size", mutate: func(s *Spec) { s.OCSFragments, s.OCSFragmentSize = 2, 1<<20 }, wantFields: []string{"ocs_fragments"}},
		{name: "proto", mutate: func(s *Spec) { s.Proto = "ftp" }, wantFields: []string{"proto"}},
		{name: "countdown", mutate: func(s *Spec) { s.NotifyCountdown = "10s" }, wantFields: []string{"notify_countdown"}},
		{name: "several", mutate: func(s *Spec) { s.ID, s.Priority, s.Platform = "x", 99, "" },
			wantFields: []string{"id", "platform", "priority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec("1700000001")
			tt.mutate(&s)
			err := s.Validate()
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Validate = %v, want ErrInvalidSpec", err)
			}
			var fields []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				fe, ok := e.(*FieldError)
				if !ok {
					t.Fatalf("error %T is not a *FieldError", e)
				}
				if !strings.Contains(fe.Error(), fe.Field) {
					t.Errorf("message %q does not name field %q", fe.Error(), fe.Field)
				}
				fields = append(fields, fe.Field)
			}
			if diff := cmp.Diff(tt.wantFields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{Dir: "/data"}},
		{name: "no-dir", cfg: Config{}, wantErr: true},
		{name: "fragment-too-small", cfg: Config{Dir: "/d", FragmentSize: 1024}, wantErr: true},
		{name: "fragment-too-large", cfg: Config{Dir: "/d", FragmentSize: 1 << 30}, wantErr: true},
		{name: "negative-upload", cfg: Config{Dir: "/d", MaxUploadBytes: -1}, wantErr: true},
		{name: "ocs-fragment-too-small", cfg: Config{Dir: "/d", DefaultOCSFragmentSize: 10}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.withDefaults().Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate = %v, want error %t", err, tt.wantErr)
			}
		})
	}
	got := Config{Dir: "/d"}.withDefaults()
	want := Config{Dir: "/d", MaxUploadBytes: DefaultMaxUploadBytes, FragmentSize: DefaultFragmentSize, DefaultOCSFragmentSize: DefaultOCSFragmentSize}
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
}

func TestFragmentLayout(t *testing.T) {
	tests := []struct {
		name      string
		total     int64
		count     int
		fragSize  int64
		wantOCS   []int64
		wantErr   bool
		wantShoal []int64 // With fragment size 4.
	}{
		{name: "empty", total: 0, count: 3, fragSize: 4, wantOCS: nil, wantShoal: nil},
		{name: "console-split", total: 10, count: 3, fragSize: 4, wantOCS: []int64{3, 3, 4}, wantShoal: []int64{4, 4, 2}},
		{name: "count-above-size", total: 2, count: 5, fragSize: 4, wantOCS: []int64{1, 1}, wantShoal: []int64{2}},
		{name: "from-size", total: 9, fragSize: 4, wantOCS: []int64{3, 3, 3}, wantShoal: []int64{4, 4, 1}},
		{name: "from-size-exact", total: 8, fragSize: 4, wantOCS: []int64{4, 4}, wantShoal: []int64{4, 4}},
		{name: "too-many", total: MaxOCSFragments + 1, fragSize: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ocsCount(tt.total, tt.count, tt.fragSize)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidSpec) {
					t.Fatalf("ocsCount = %d, %v; want ErrInvalidSpec", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantOCS, ocsSizes(tt.total, n)); diff != "" {
				t.Errorf("ocsSizes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantShoal, shoalSizes(tt.total, 4)); diff != "" {
				t.Errorf("shoalSizes (-want +got):\n%s", diff)
			}
		})
	}
}
