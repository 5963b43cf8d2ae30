//go:build !windows

package main

import "github.com/shoal-project/shoal/agent"

// platformMain handles OS-specific subcommands; there are none outside
// Windows (systemd runs the agent in the foreground).
func platformMain(*agent.Config, []string) (bool, error) { return false, nil }
