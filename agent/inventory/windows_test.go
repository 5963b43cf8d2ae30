package inventory

import (
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// snapshot is a registry captured as JSON: key path → values. Subkeys are
// implied by the key paths; JSON numbers are REG_DWORD/REG_QWORD values.
type snapshot map[string]map[string]any

func loadSnapshot(t *testing.T, name string) snapshot {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s snapshot) Values(key string) (map[string]any, error) {
	v, ok := s[key]
	if !ok {
		if len(s.sub(key)) == 0 {
			return nil, fs.ErrNotExist
		}
		return map[string]any{}, nil
	}
	out := map[string]any{}
	for k, x := range v {
		if f, ok := x.(float64); ok {
			out[k] = uint64(f)
		} else {
			out[k] = x
		}
	}
	return out, nil
}

func (s snapshot) sub(key string) []string {
	var out []string
	for k := range s {
		if rest, ok := strings.CutPrefix(k, key+`\`); ok {
			name, _, _ := strings.Cut(rest, `\`)
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (s snapshot) SubKeys(key string) ([]string, error) {
	out := s.sub(key)
	if _, ok := s[key]; !ok && len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

type fakeSystem struct {
	user string
	err  error
}

func (f fakeSystem) Memory() (int, int, error) { return 16072, 2432, f.err }
func (f fakeSystem) Volumes() ([]proto.InvDrive, error) {
	return []proto.InvDrive{{MountPoint: `C:\`, Device: `C:`, FileSystem: "NTFS", TotalMB: 487000, FreeMB: 301200}}, f.err
}
func (f fakeSystem) User() (string, error) { return f.user, f.err }

// TestWindowsFacts parses a Windows 11 Pro registry snapshot into the same
// wire inventory the Linux agent sends and compares it with a golden file
// (go test -run TestWindowsFacts -update rewrites it).
func TestWindowsFacts(t *testing.T) {
	tests := []struct {
		name   string
		sys    fakeSystem
		golden string
	}{
		{name: "console-user", sys: fakeSystem{user: `CORP\bob`}, golden: "testdata/win11-pro.inventory.json"},
		{name: "no-console-user", sys: fakeSystem{err: errors.New("WTSQueryUserToken: no session")}, golden: "testdata/win11-pro-nouser.inventory.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New("", "", slog.New(slog.DiscardHandler))
			inv := &proto.AgentInventory{}
			c.windowsFacts(inv, loadSnapshot(t, "registry-win11-pro.json"), tt.sys)
			slices.Sort(c.problems)
			inv.Problems = c.problems
			got, err := json.MarshalIndent(inv, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			if *update {
				if err := os.WriteFile(tt.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tt.golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("inventory differs from %s (-want +got):\n%s", tt.golden, d)
			}
		})
	}
}

// TestWindowsFactsEmptyRegistry: a registry without the expected keys
// gives an inventory with defaults and problems, not a panic.
func TestWindowsFactsEmptyRegistry(t *testing.T) {
	c := New("", "", slog.New(slog.DiscardHandler))
	inv := &proto.AgentInventory{}
	c.windowsFacts(inv, snapshot{}, fakeSystem{err: errors.New("nothing")})
	if inv.OSName != "Microsoft Windows" || len(inv.Softwares) != 0 || len(c.problems) == 0 {
		t.Errorf("OSName %q, %d softwares, problems %q", inv.OSName, len(inv.Softwares), c.problems)
	}
}
