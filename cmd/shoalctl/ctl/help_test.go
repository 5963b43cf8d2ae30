package ctl

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto/api"
)

// shellWords splits a command line the way sh does for the quoting the
// examples use: single and double quotes, no escapes or expansions.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// newAnyFake answers every API request with a plausible document: two
// sites (paris, branch-12), a saved search, settings, and for everything
// else an empty list, which decodes into any answer type.
func newAnyFake(t *testing.T) (*fake, *[]string) {
	f := newFake(t)
	var mu sync.Mutex
	var seen []string
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		switch p := strings.TrimPrefix(r.URL.Path, api.BasePath); {
		case p == "/sites":
			writeJSON(w, 200, api.List[api.Site]{Items: []api.Site{{ID: 3, Name: "paris"}, {ID: 4, Name: "branch-12"}}, Total: 2})
		case strings.HasPrefix(p, "/searches/"):
			writeJSON(w, 200, api.SavedSearch{ID: 1, Name: "old-7zip", Search: map[string]string{"software": "7-Zip"}})
		case p == "/packages" && r.Method == "POST":
			writeJSON(w, 201, api.Package{ID: "20261205064500", Name: "app"})
		case p == "/users":
			writeJSON(w, 200, api.List[api.User]{Items: []api.User{{ID: 5, Name: "tom", Role: "technician", Sites: []string{"paris"}, Source: "local"}}, Total: 1})
		case p == "/roles":
			writeJSON(w, 200, api.List[api.Role]{Items: []api.Role{{Name: "admin", BuiltIn: true, Permissions: []string{"admin"}},
				{ID: 2, Name: "technician", Permissions: []string{"computers.read", "deploy", "packages.read"}}}, Total: 2})
		case p == "/settings":
			writeJSON(w, 200, api.Settings{PrologFreqHours: 10})
		case p == "/computers/export":
			w.Header().Set("Content-Type", "text/csv")
			_, _ = io.WriteString(w, strings.Join(api.ComputerCSVHeader, ",")+"\n")
		case p == "/packages/20261205064500/deployment-counts":
			writeJSON(w, 200, api.DeploymentCounts{})
		default:
			writeJSON(w, 200, map[string]any{"items": []any{}, "total": 0})
		}
	})
	return f, &seen
}

// TestHelpExamplesRun runs every example that help prints, as printed
// (with the fake central's address and CA file for the login example's):
// each one parses, resolves its names and reaches the API, so none of
// them is a usage error.
func TestHelpExamplesRun(t *testing.T) {
	f, _ := newAnyFake(t)
	t.Chdir(t.TempDir())
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	if err := os.WriteFile("app.tar.gz", []byte("not really"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("sites.csv", []byte("paris,10.1.0.0/16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("tom.pw", []byte("tom-password-12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("cacert.pem", mustRead(t, f.caFile), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cmd := range commands() {
		if len(cmd.examples) == 0 {
			t.Errorf("%s has no example", cmd.name)
		}
		for _, ex := range cmd.examples {
			n++
			line := strings.ReplaceAll(ex, "https://central.example:8443", f.srv.URL)
			words := shellWords(t, line)
			if words[0] != "shoalctl" {
				t.Fatalf("example %q does not start with shoalctl", ex)
			}
			code, out, errOut := run(t, env, words[1:]...)
			if code != exitOK {
				t.Errorf("%s: exit %d\n%s%s", ex, code, out, errOut)
			}
		}
	}
	t.Logf("%d examples ran", n)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCommandHelp: help CMD and CMD --help print the same description,
// arguments, options and examples, without Go's flag dump.
func TestCommandHelp(t *testing.T) {
	env := map[string]string{EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, viaHelp, errOut := run(t, env, "help", "computer", "list")
	if code != exitOK {
		t.Fatalf("help computer list: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"shoalctl computer list: Search computers.", "Usage:\n  shoalctl computer list [--name N]",
		"Options:\n", "  --software-version TEXT", "--search TEXT", "Examples:\n  shoalctl computer list --software 7-Zip --software-version '< 24'",
		"Also spelled: computers, computers list, computer search"} {
		if !strings.Contains(viaHelp, want) {
			t.Errorf("help computer list lacks %q:\n%s", want, viaHelp)
		}
	}
	if strings.Contains(viaHelp, "\t") || strings.Contains(viaHelp, "  -name string") {
		t.Errorf("help computer list dumps Go's flag defaults:\n%s", viaHelp)
	}
	for _, args := range [][]string{{"computer", "list", "--help"}, {"computers", "-h"}, {"help", "computers"}} {
		code, out, _ := run(t, env, args...)
		if code != exitOK || out != viaHelp {
			t.Errorf("%v: exit %d, output differs from help computer list:\n%s", args, code, cmp.Diff(viaHelp, out))
		}
	}
	code, out, _ := run(t, env, "help", "package", "get")
	if code != exitOK || !strings.Contains(out, "Arguments:\n  PKG") || !strings.Contains(out, "Also spelled: package show") {
		t.Errorf("help package get: exit %d:\n%s", code, out)
	}
}

// TestNounHelp: a noun alone lists its verbs.
func TestNounHelp(t *testing.T) {
	env := map[string]string{EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "help_noun", args: []string{"help", "group"}, code: exitOK},
		{name: "noun_help_flag", args: []string{"group", "--help"}, code: exitOK},
		{name: "noun_alone", args: []string{"group"}, code: exitUsage},
		{name: "unknown_verb", args: []string{"group", "frobnicate"}, code: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, env, tt.args...)
			if code != tt.code || !strings.Contains(out, "group create") || !strings.Contains(out, "group window") || strings.Contains(out, "package create") {
				t.Errorf("exit %d, want %d:\n%s%s", code, tt.code, out, errOut)
			}
		})
	}
}

// TestAliasesKeepOldSpellings: every earlier spelling runs the command its
// new name runs.
func TestAliasesKeepOldSpellings(t *testing.T) {
	tests := []struct{ old, now string }{
		{"computers", "computer list"}, {"computers show", "computer get"}, {"computers tag", "computer tag"},
		{"package show", "package get"}, {"sites list", "site list"}, {"sites create", "site create"},
		{"sites update", "site update"}, {"sites import", "site import"}, {"sites delete", "site delete"},
		{"groups list", "group list"}, {"groups create", "group create"}, {"groups show", "group get"},
		{"groups window", "group window"}, {"relays", "relay list"}, {"relays token", "relay token"},
		{"relays delete", "relay delete"}, {"assign", "assignment create"}, {"assignments", "assignment list"},
		{"resume", "assignment resume"}, {"unassign", "assignment delete"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.old, " ", "_"), func(t *testing.T) {
			cmd, rest, ok := lookup(append(strings.Fields(tt.old), "x"))
			if !ok || cmd.name != tt.now || !cmp.Equal(rest, []string{"x"}) {
				t.Errorf("lookup(%q) = %q %v %v, want %q", tt.old, cmd.name, rest, ok, tt.now)
			}
		})
	}
}

// TestOutputFormats: -o yaml keeps the API's field names and order, -o
// wide adds columns, --no-headers drops the header line, and times carry
// their zone.
func TestOutputFormats(t *testing.T) {
	f := newFake(t)
	created := time.Date(2026, 12, 5, 6, 45, 0, 0, time.UTC)
	f.mux.HandleFunc("GET /api/v1/packages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.List[api.Package]{Items: []api.Package{{ID: "20261205064500", Name: "app", Platform: "LINUX", Action: "EXECUTE",
			MD5: "0123abcd", Size: 2048, CreatedAt: created}}, Total: 1, Limit: 50})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}

	_, out, _ := run(t, env, "package", "list", "-o", "yaml")
	want := "items:\n  - id: \"20261205064500\"\n    name: app\n    platform: LINUX\n"
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "total: 1\n") {
		t.Errorf("-o yaml:\n%s\nwant it to start with:\n%s", out, want)
	}
	_, table, _ := run(t, env, "package", "list")
	_, wide, _ := run(t, env, "package", "list", "-o", "wide")
	_, bare, _ := run(t, env, "package", "list", "--no-headers")
	if strings.Contains(table, "MD5") || !strings.Contains(wide, "MD5") || !strings.Contains(wide, "0123abcd") || !strings.Contains(wide, "LINUX") {
		t.Errorf("-o wide adds no columns:\ntable:\n%s\nwide:\n%s", table, wide)
	}
	if !strings.HasPrefix(table, "ID ") || strings.Contains(bare, "NAME") || !strings.HasPrefix(bare, "20261205064500 ") {
		t.Errorf("--no-headers:\n%s\ntable:\n%s", bare, table)
	}
	if local := created.Local().Format("2006-01-02 15:04:05 MST"); !strings.Contains(table, local) {
		t.Errorf("time not in the local zone with its name:\n%s", table)
	}
}

// TestRedrawFrame: --watch overwrites the previous frame line by line.
func TestRedrawFrame(t *testing.T) {
	first := string(redrawFrame([]byte("a\nbb\n"), false))
	if first != "\x1b[2J\x1b[Ha\x1b[K\nbb\x1b[K\n\x1b[J" {
		t.Errorf("first frame %q", first)
	}
	next := string(redrawFrame([]byte("c\n"), true))
	if next != "\x1b[Hc\x1b[K\n\x1b[J" {
		t.Errorf("next frame %q", next)
	}
}

// TestCompletion: the words the completion scripts get back.
func TestCompletion(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{name: "noun", words: []string{"--", "si"}, want: []string{"site", "sites"}},
		{name: "verb", words: []string{"site", "--", ""}, want: []string{"create", "delete", "get", "import", "list", "show", "update"}},
		{name: "after_global", words: []string{"-o", "json", "relay", "--", "t"}, want: []string{"token"}},
		{name: "option", words: []string{"computer", "list", "--", "--soft"}, want: []string{"--software", "--software-version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, append([]string{"__complete"}, tt.words...)...)
			if got := strings.Fields(out); code != 0 || !cmp.Equal(got, tt.want) {
				t.Errorf("exit %d, got %q, want %q %s", code, got, tt.want, errOut)
			}
		})
	}
	for _, sh := range []string{"bash", "zsh"} {
		if code, out, _ := run(t, nil, "completion", sh); code != 0 || !strings.Contains(out, "shoalctl __complete") {
			t.Errorf("completion %s: exit %d\n%s", sh, code, out)
		}
	}
}

// TestSettingsSet: settings set changes only the keys given.
func TestSettingsSet(t *testing.T) {
	f := newFake(t)
	cur := api.Settings{PrologFreqHours: 10, InventoryFrequencyDays: 7, Download: api.DownloadSettings{FragLatency: 10, CycleLatency: 60}}
	var got api.Settings
	f.mux.HandleFunc("GET /api/v1/settings", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, cur) })
	f.mux.HandleFunc("PUT /api/v1/settings", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, 200, got)
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	code, out, errOut := run(t, env, "settings", "set", "prolog_freq_hours=12", "download.frag_latency=5", "inventory_on_startup=true")
	want := cur
	want.PrologFreqHours, want.Download.FragLatency, want.InventoryOnStartup = 12, 5, true
	if code != 0 || !cmp.Equal(got, want) || !strings.Contains(out, "download.frag_latency") {
		t.Errorf("exit %d, sent %s\n%s%s", code, cmp.Diff(want, got), out, errOut)
	}
	code, _, errOut = run(t, env, "settings", "set", "prolog=3")
	if code != exitUsage || !strings.Contains(errOut, `no setting "prolog"`) {
		t.Errorf("unknown key: exit %d: %s", code, errOut)
	}
}

// TestSavedSearchFlag: --search fills the flags not given from the saved
// search; a flag given beside it wins.
func TestSavedSearchFlag(t *testing.T) {
	f := newFake(t)
	f.mux.HandleFunc("GET /api/v1/searches/{ref}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("ref") != "old 7zip" {
			writeJSON(w, 404, api.Error{Error: "saved search not found"})
			return
		}
		writeJSON(w, 200, api.SavedSearch{ID: 2, Name: "old 7zip", Search: map[string]string{"software": "7-Zip", "software_version": "< 24", "tag": "paris"}})
	})
	var q guarded[string]
	f.mux.HandleFunc("GET /api/v1/computers", func(w http.ResponseWriter, r *http.Request) {
		q.set(r.URL.RawQuery)
		writeJSON(w, 200, api.List[api.Computer]{})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	if code, _, errOut := run(t, env, "computer", "list", "--search", "old 7zip", "--tag", "lyon"); code != 0 ||
		q.get() != "limit=50&offset=0&software=7-Zip&software_version=%3C+24&tag=lyon" {
		t.Errorf("exit %d, query %q: %s", code, q.get(), errOut)
	}
	if code, _, errOut := run(t, env, "computer", "list", "--search", "nope"); code != exitError || !strings.Contains(errOut, "saved search not found") {
		t.Errorf("unknown saved search: exit %d: %s", code, errOut)
	}
}

// guarded is a value guarded by a mutex.
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (a *guarded[T]) set(v T) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
func (a *guarded[T]) get() T  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

// TestListWatch: relay list --watch -o json writes one JSON document per
// refresh until the context ends, and exits 0.
func TestListWatch(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n guarded[int]
	f.mux.HandleFunc("GET /api/v1/relays", func(w http.ResponseWriter, r *http.Request) {
		n.set(n.get() + 1)
		if n.get() == 3 {
			cancel()
		}
		writeJSON(w, 200, api.List[api.Relay]{Items: []api.Relay{{ID: 1, Name: "relay-12"}}, Total: 1})
	})
	env := map[string]string{EnvServer: f.srv.URL, EnvCA: f.caFile, EnvToken: "t", EnvConfig: filepath.Join(t.TempDir(), "c.json")}
	var out, errOut strings.Builder
	code := Main(ctx, []string{"relay", "list", "--watch", "--interval", "100ms", "-o", "json"},
		IO{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if code != 0 || len(lines) < 2 {
		t.Fatalf("exit %d, %d lines:\n%s%s", code, len(lines), out.String(), errOut.String())
	}
	for _, l := range lines {
		var doc api.List[api.Relay]
		if err := json.Unmarshal([]byte(l), &doc); err != nil || len(doc.Items) != 1 {
			t.Errorf("line %q: %v", l, err)
		}
	}
}
