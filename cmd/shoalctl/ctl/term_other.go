//go:build !linux

package ctl

import (
	"errors"
	"os"
)

// isTerminal reports false off Linux: shoalctl then draws no progress bar
// redraws and asks no password (use SHOAL_PASSWORD or --password-stdin).
func isTerminal(*os.File) bool { return false }

func noEcho(*os.File) (func(), error) {
	return nil, errors.New("no password prompt on this system")
}
