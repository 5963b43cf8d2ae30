package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps shoal-relay (it runs on a branch box) free of
// central's code, gorm and echo.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "gorm.io/") || strings.HasPrefix(dep, "github.com/labstack/echo") ||
			strings.Contains(dep, "/shoal/central") {
			t.Errorf("shoal-relay links %s", dep)
		}
	}
}
