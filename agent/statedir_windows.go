package agent

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultStateDir is where the agent keeps its state when the config names
// no state_dir: the ProgramData known folder (%ProgramData%)\Shoal. The
// known folder comes first, so that processes with another environment
// agree; the MSI names the dir explicitly all the same (-state-dir), as
// wine gives services another ProgramData (C:\users\Public).
func DefaultStateDir() string {
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || !filepath.IsAbs(pd) {
		pd = os.Getenv("ProgramData")
	}
	if !filepath.IsAbs(pd) {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "Shoal")
}
