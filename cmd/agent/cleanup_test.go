package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFirewallCommands(t *testing.T) {
	exe := `C:\Program Files\Shoal\shoal-agent.exe`
	tests := []struct {
		name string
		add  bool
		want []string
	}{
		{name: "add", add: true, want: []string{
			`netsh.exe advfirewall firewall delete rule name=ShoalAgent-TCP`,
			`netsh.exe advfirewall firewall add rule name=ShoalAgent-TCP dir=in action=allow enable=yes profile=private,domain protocol=TCP program="C:\Program Files\Shoal\shoal-agent.exe" description="Shoal agent: LAN peers (memberlist and libp2p)"`,
			`netsh.exe advfirewall firewall delete rule name=ShoalAgent-UDP`,
			`netsh.exe advfirewall firewall add rule name=ShoalAgent-UDP dir=in action=allow enable=yes profile=private,domain protocol=UDP program="C:\Program Files\Shoal\shoal-agent.exe" description="Shoal agent: LAN peers (memberlist and libp2p)"`,
		}},
		{name: "remove", want: []string{
			`netsh.exe advfirewall firewall delete rule name=ShoalAgent-TCP`,
			`netsh.exe advfirewall firewall delete rule name=ShoalAgent-UDP`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, firewallCommands(exe, tt.add)); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}

// TestPurgeStateDir: an uninstall keeps the logs directory and nothing
// else of the state dir; a missing dir is fine, a root is refused.
func TestPurgeStateDir(t *testing.T) {
	base, err := os.MkdirTemp("", "shoal-purge-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(base); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	dir := filepath.Join(base, "Shoal")
	for _, f := range []string{"identity.json", "enrollment.json", "jobs/1/state.json", "fragments/ab/cd", "logs/shoal-agent.log", "logs/shoal-agent.log.1"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := purgeStateDir(dir); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(dir, p)
			left = append(left, filepath.ToSlash(r))
		}
		return err
	})
	slices.Sort(left)
	if d := cmp.Diff([]string{"logs/shoal-agent.log", "logs/shoal-agent.log.1"}, left); d != "" {
		t.Errorf("left after purge -want +got:\n%s", d)
	}
	if err := purgeStateDir(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
	root := string(filepath.Separator)
	if v := filepath.VolumeName(dir); v != "" {
		root = v + root
	}
	for _, bad := range []string{"", " ", root} {
		if err := purgeStateDir(bad); err == nil {
			t.Errorf("purgeStateDir(%q) did not refuse", bad)
		}
	}
}
