package run

import (
	"bytes"
	"strings"
	"testing"
)

type testConfig struct {
	Name string `yaml:"name"`
	Sub  struct {
		Port int `yaml:"port"`
	} `yaml:"sub"`
}

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		want    testConfig
	}{
		{name: "empty", in: ""},
		{name: "ok", in: "name: a\nsub:\n  port: 3\n", want: testConfig{Name: "a", Sub: struct {
			Port int `yaml:"port"`
		}{Port: 3}}},
		{name: "unknown_key", in: "nmae: a\n", wantErr: "field nmae not found"},
		{name: "bad_type", in: "sub:\n  port: x\n", wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testConfig
			err := DecodeConfig([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	f, err := Parse("x", []string{"-config", "c.yaml", "-http-addr", ":1", "-log-level", "debug"}, "http", "https")
	if err != nil {
		t.Fatal(err)
	}
	if f.Config != "c.yaml" || *f.Listen["http"] != ":1" || *f.Listen["https"] != "" || f.LogLevel != "debug" {
		t.Fatalf("unexpected flags %+v", f)
	}
	if _, err := Parse("x", []string{"extra"}); err == nil {
		t.Fatal("want error for positional argument")
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := Logger(&buf, "warn", true)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Fatalf("unexpected log output %q", buf.String())
	}
	if _, err := Logger(&buf, "loud", false); err == nil {
		t.Fatal("want error for bad level")
	}
}

func TestUsageListsSubcommands(t *testing.T) {
	c := Command{Name: "shoal-x", Summary: "does x.", DirFlag: "state-dir", Listen: []string{"http"},
		Subcommands: []Subcommand{{Name: "enroll", Summary: "enroll it"}, {Name: "other", Summary: "other thing"}}}
	var out bytes.Buffer
	if _, err := c.Parse([]string{"-h"}, &out); err == nil {
		t.Fatal("-h: no error")
	}
	for _, want := range []string{"shoal-x: does x.", "\n  enroll     enroll it\n", "\n  other      other thing\n", "-state-dir", "-http-addr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "-data-dir") {
		t.Errorf("usage names -data-dir besides -state-dir:\n%s", out.String())
	}
}
