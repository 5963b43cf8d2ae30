package agent

import (
	"os"
	"path/filepath"
)

// DefaultStateDir is where the agent keeps its state when the config names
// no state_dir: %ProgramData%\Shoal.
func DefaultStateDir() string {
	pd := os.Getenv("ProgramData")
	if !filepath.IsAbs(pd) {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "Shoal")
}
