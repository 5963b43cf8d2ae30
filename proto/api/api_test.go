package api

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestComputerFilterRoundTrip(t *testing.T) {
	site := uint(4)
	since := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	f := ComputerFilter{Name: "pc", OS: "debian", Software: "curl", SoftwareVersion: "8.5", IP: "10.0.0.0/8",
		Tag: "lab", SiteID: &site, ContactSince: &since}
	got, err := ParseComputerFilter(f.Values(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if (ComputerFilter{}).Empty() != true || f.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want *time.Time
		bad  bool
	}{
		{name: "empty", in: ""},
		{name: "rfc3339", in: "2026-11-26T10:00:00+02:00", want: ptr(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC))},
		{name: "date", in: "2026-11-20", want: ptr(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))},
		{name: "duration", in: "36h", want: ptr(now.Add(-36 * time.Hour))},
		{name: "negative_duration", in: "-1h", bad: true},
		{name: "words", in: "yesterday", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.in, now)
			if tt.bad {
				if !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("ParseTime(%q) = %v, %v; want ErrInvalidFilter", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTime(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	if _, err := ParseComputerFilter(url.Values{QuerySite: {"x"}}, now); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("bad site: %v", err)
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestFormFields(t *testing.T) {
	zero := 0
	s := PackageSpec{Name: "app", Action: "EXECUTE", Command: "sh x", Priority: &zero, Fragments: 3, NotifyUser: true}
	want := [][2]string{{FormName, "app"}, {FormAction, "EXECUTE"}, {FormCommand, "sh x"}, {FormPriority, "0"},
		{FormFragments, "3"}, {FormNotifyUser, "true"}}
	if diff := cmp.Diff(want, s.FormFields()); diff != "" {
		t.Errorf("form fields (-want +got):\n%s", diff)
	}
	// The form field names are the spec's JSON names.
	typ := reflect.TypeFor[PackageSpec]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("json")
		if tag == "" {
			t.Errorf("field %s has no json tag", typ.Field(i).Name)
		}
	}
}

// TestSnakeCase checks the JSON names of every wire type.
func TestSnakeCase(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	types := []any{List[Computer]{}, Error{}, Principal{}, ServerInfo{}, Stats{}, Dashboard{}, Token{}, TokenRequest{},
		AuditEvent{}, Site{}, SiteRequest{}, Settings{}, ComputerDetail{}, ComputerFilter{}, PackageDetail{},
		PackageSpec{}, ActivateRequest{}, ActivateResult{}, AffectRequest{}, AffectResult{}, DeploymentDetail{},
		DeploymentCounts{}, CompletionSeries{}, SiteBytes{}, BulkRequest{}, BulkResult{}, Relay{}, PurgeResult{}}
	seen := map[reflect.Type]bool{}
	var walk func(t *testing.T, typ reflect.Type)
	walk = func(t *testing.T, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[time.Time]() {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				walk(t, f.Type)
				continue
			}
			if !snake.MatchString(name) {
				t.Errorf("%s.%s: json name %q is not snake_case", typ.Name(), f.Name, name)
			}
			walk(t, f.Type)
		}
	}
	for _, v := range types {
		walk(t, reflect.TypeOf(v))
	}
	// Times are RFC 3339.
	b, err := json.Marshal(AuditEvent{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil || !regexp.MustCompile(`"at":"2026-01-02T03:04:05Z"`).Match(b) {
		t.Errorf("audit event JSON %s, %v", b, err)
	}
}

func TestStates(t *testing.T) {
	final := 0
	for _, s := range States() {
		if Final(s) {
			final++
		}
	}
	if final != 3 || len(States()) != 8 {
		t.Errorf("%d final of %d states", final, len(States()))
	}
}
