// Command shoalctl is the command-line client of shoal-central's REST API:
// log in, upload and activate packages, affect them to computers found by
// an inventory search, and follow deployments. Run "shoalctl help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/cmd/shoalctl/ctl"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Main(ctx, os.Args[1:], ctl.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: run.Version})
	cancel()
	os.Exit(code)
}
