package central

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// derivedDefaults are the keys the example shows as 0 because their
// default is computed at start (its comment says how); every other value
// the example states must be the code's default.
var derivedDefaults = map[string]bool{
	"http.ocs_concurrency":         true, // 0 = 4 x GOMAXPROCS
	"agent_api.ingest_concurrency": true, // 0 = 2 x GOMAXPROCS
	"database.ingest_group":        true, // 0 = 8 on SQLite, 1 on PostgreSQL
}

// defaultConfig returns the configuration an empty file gives, with every
// section at its defaults.
func defaultConfig() Config {
	c := Config{}.withDefaults()
	c.TLS = c.TLS.WithDefaults()
	c.Database = c.Database.WithDefaults()
	c.Packages = c.Packages.WithDefaults()
	c.Agents = c.Agents.WithDefaults()
	c.HTTP = c.HTTP.WithDefaults()
	c.UI = c.UI.WithDefaults()
	c.AgentAPI = c.AgentAPI.WithDefaults()
	c.Groups = c.Groups.WithDefaults()
	c.Inventory = c.Inventory.WithDefaults()
	c.Wake = c.Wake.WithDefaults()
	return c
}

// leaves flattens a decoded YAML document into dotted keys.
func leaves(prefix string, v any, out map[string]any) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = v
		return
	}
	for k, sub := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		leaves(key, sub, out)
	}
}

// asMap encodes c and decodes it again as plain maps, so that the example
// and the defaults compare in one spelling (durations, sizes).
func asMap(t *testing.T, c Config) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	leaves("", m, out)
	return out
}

// TestExampleConfigStatesDefaults checks that docs/central.example.yaml,
// which says "the values shown are the defaults", is a valid configuration
// and that every value it states is the code's default.
func TestExampleConfigStatesDefaults(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "central.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var example Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&example); err != nil {
		t.Fatalf("decode the example strictly: %v", err)
	}
	if err := example.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	stated := map[string]any{}
	leaves("", doc, stated)
	keys := make([]string, 0, len(stated))
	for k := range stated {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	got, want := asMap(t, example), asMap(t, defaultConfig())
	for _, k := range keys {
		if derivedDefaults[k] {
			if got[k] != 0 {
				t.Errorf("%s: the example shows %v; it documents 0 (a default computed at start)", k, got[k])
			}
			continue
		}
		if _, ok := want[k]; !ok {
			t.Errorf("%s: stated in the example but not a configuration key", k)
			continue
		}
		if d := cmp.Diff(want[k], got[k]); d != "" {
			t.Errorf("%s: the example states %v, the code's default is %v", k, got[k], want[k])
		}
	}
}

// TestExampleConfigLDAPBlock checks that the commented auth: block of
// docs/central.example.yaml, uncommented as printed, is a valid
// configuration.
func TestExampleConfigLDAPBlock(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "central.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "# auth:") || len(block) > 0 && strings.HasPrefix(line, "#   ") {
			block = append(block, strings.TrimPrefix(line, "# "))
		}
	}
	if len(block) < 5 {
		t.Fatalf("no commented auth: block in the example (%d lines)", len(block))
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(strings.Join(block, "\n")))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode the auth block strictly: %v\n%s", err, strings.Join(block, "\n"))
	}
	if err := cfg.Auth.Validate(); err != nil || !cfg.Auth.LDAP.Enabled() || len(cfg.Auth.LDAP.Groups) != 2 {
		t.Fatalf("the auth block: %+v, %v", cfg.Auth, err)
	}
}
