// Package shoal_test holds repository-wide checks: every package is
// documented, and the agent and relay binaries stay free of server
// dependencies.
package shoal_test

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs checks that every Go package in the repository has a
// package doc comment in at least one non-test file.
func TestPackageDocs(t *testing.T) {
	dirs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range dirs {
		pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", dir, err)
		}
		for name, p := range pkgs {
			documented := false
			for _, f := range p.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented = true
				}
			}
			if !documented {
				t.Errorf("package %s in %s has no package doc comment", name, dir)
			}
		}
	}
}

// TestLeanBinaries keeps gorm, echo and central's code out of the agent and
// relay binaries, which run on every managed computer and branch box, of
// the standalone tracker and of shoalctl, a thin API client. It has no
// exceptions; TestRoleImports (imports_test.go) keeps the roles apart.
func TestLeanBinaries(t *testing.T) {
	for _, cmd := range []string{"./cmd/agent", "./cmd/relay", "./cmd/tracker", "./cmd/shoalctl"} {
		if _, err := os.Stat(cmd); err != nil {
			continue
		}
		out, err := exec.Command("go", "list", "-deps", cmd).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", cmd, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "gorm.io/") || strings.HasPrefix(dep, "github.com/labstack/echo") ||
				strings.Contains(dep, "/shoal/central") {
				t.Errorf("%s links %s", cmd, dep)
			}
		}
	}
}
