//go:build !windows

package agent

// DefaultStateDir is where the agent keeps its state when the config names
// no state_dir.
func DefaultStateDir() string { return "/var/lib/shoal-agent" }
