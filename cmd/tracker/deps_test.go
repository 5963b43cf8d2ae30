package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps shoal-tracker (and so the tracker package agents and
// relays link) free of central's code, gorm and echo.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "gorm.io/") || strings.HasPrefix(dep, "github.com/labstack/echo") ||
			strings.Contains(dep, "/shoal/central") {
			t.Errorf("shoal-tracker links %s", dep)
		}
	}
}
