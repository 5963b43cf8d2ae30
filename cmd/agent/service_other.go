//go:build !windows

package main

import (
	"github.com/shoal-project/shoal/agent"
	"github.com/shoal-project/shoal/cmd/internal/run"
)

// serviceMain runs the agent as an OS service when the OS started it as
// one; outside Windows, systemd runs the agent in the foreground.
func serviceMain(*agent.Config, []string) (bool, error) { return false, nil }

// platformSubcommands are the OS-specific subcommands: none outside
// Windows.
func platformSubcommands(*agent.Config) []run.Subcommand { return nil }

// secureStateDir restricts the state dir to the administrators before
// enrollment writes the identity into it; outside Windows, enrollment
// creates it 0700.
func secureStateDir(string) error { return nil }
