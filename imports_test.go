package shoal_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shoal-project/shoal"

// roleRules says which roles' packages a tree of the module must not
// depend on, directly or through another package. A role's internals are
// its own: what two roles share lives in internal/ (fragment store,
// fragment protocol, tracker client) or proto/. Central's own edges are
// checked by the central tests.
var roleRules = []struct {
	tree      string
	forbidden []string
}{
	{"agent", []string{"relay", "tracker", "central"}},
	{"relay", []string{"agent", "tracker", "central"}},
	{"tracker", []string{"agent", "relay", "central"}},
	{"internal", []string{"agent", "relay", "tracker", "central"}},
}

// TestRoleImports fails when a role imports another role's internals: an
// agent package that needs the relay, the tracker server or central, a
// relay package that needs the agent, and so on, and a shared internal/
// package that needs any role. It reads the non-test dependency graph
// (go list -deps), so an import through a third package counts too. Tests
// may still run other roles' real components (a relay test starts a real
// tracker), since they do not reach the binaries.
func TestRoleImports(t *testing.T) {
	pkgs := listPackages(t, "./...")
	for _, p := range pkgs {
		for _, r := range roleRules {
			if !inTree(p.ImportPath, r.tree) {
				continue
			}
			for _, dep := range p.Deps {
				for _, f := range r.forbidden {
					if inTree(dep, f) {
						t.Errorf("%s depends on %s (via %s): %s must not import %s/", short(p.ImportPath), short(dep), via(pkgs, p, dep), r.tree, f)
					}
				}
			}
		}
	}
}

// TestProtoImports keeps proto/ (the wire types every component shares)
// down to the standard library and go-cid, with what go-cid itself needs.
func TestProtoImports(t *testing.T) {
	allowed := map[string]bool{}
	for _, p := range listPackages(t, "github.com/ipfs/go-cid") {
		allowed[p.ImportPath] = true
		for _, d := range p.Deps {
			allowed[d] = true
		}
	}
	pkgs := listPackages(t, "./proto/...")
	for _, p := range pkgs {
		for _, dep := range p.Deps {
			if !standard(dep) && !inTree(dep, "proto") && !allowed[dep] {
				t.Errorf("%s depends on %s (via %s): proto/ may use only the standard library and go-cid", short(p.ImportPath), dep, via(pkgs, p, dep))
			}
		}
	}
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list -json on the patterns and returns the
// packages, each with its Imports and Deps (all its non-test
// dependencies).
func listPackages(t *testing.T, patterns ...string) map[string]*listedPackage {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-json=ImportPath,Imports,Deps"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("go list -json %s: %v", strings.Join(patterns, " "), err)
	}
	pkgs := map[string]*listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s: no packages", strings.Join(patterns, " "))
	}
	return pkgs
}

// via names the direct import of p through which it reaches dep: dep
// itself, or the first of p's module imports whose dependencies hold it.
func via(pkgs map[string]*listedPackage, p *listedPackage, dep string) string {
	if slices.Contains(p.Imports, dep) {
		return "a direct import"
	}
	for _, imp := range p.Imports {
		if q := pkgs[imp]; q != nil && slices.Contains(q.Deps, dep) {
			return short(imp)
		}
	}
	return "an indirect import"
}

// inTree reports whether path is the module's package tree or below it.
func inTree(path, tree string) bool {
	root := module + "/" + tree
	return path == root || strings.HasPrefix(path, root+"/")
}

// standard reports whether path is a standard library package: its first
// element has no dot.
func standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func short(path string) string { return strings.TrimPrefix(path, module+"/") }
