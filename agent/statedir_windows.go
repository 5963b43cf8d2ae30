package agent

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultStateDir is where the agent keeps its state when the config names
// no state_dir: the ProgramData known folder (%ProgramData%)\Shoal. The
// known folder comes first, so that the service, msiexec's enrollment and
// an administrator's prompt agree even where their environments differ
// (wine runs services with ProgramData set to C:\users\Public).
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
