// Command shoal-agent runs Shoal's agent; `shoal-agent enroll -h` tells how to enroll it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/shoal-project/shoal/agent"
	"github.com/shoal-project/shoal/cmd/internal/run"
)

func main() {
	cfg := agent.Config{Version: run.Version}
	if handled, err := platformMain(&cfg, os.Args[1:]); handled { // the Windows service subcommands
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "shoal-agent: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "enroll" {
		if err := enroll(&cfg, os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "shoal-agent enroll: %v\n", err)
			os.Exit(1)
		}
		return
	}
	run.Main("shoal-agent", &cfg, nil, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
		if f.DataDir != "" {
			cfg.StateDir = f.DataDir
		}
		a, err := agent.New(cfg, log)
		if err != nil {
			return err
		}
		return a.Run(ctx)
	})
}

func enroll(cfg *agent.Config, args []string) error {
	fs := flag.NewFlagSet("shoal-agent enroll", flag.ContinueOnError)
	conf, level := fs.String("config", "", "YAML config file"), fs.String("log-level", "info", "log level")
	dataDir, server := fs.String("data-dir", "", "state directory"), fs.String("server", "", "central's https:// URL")
	token, ca, fp := fs.String("token", "", "enrollment token"), fs.String("ca", "", "central's CA certificate file"),
		fs.String("ca-fingerprint", "", "SHA-256 of central's CA certificate, instead of --ca")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := run.Logger(os.Stderr, *level, false)
	if err == nil {
		err = run.LoadConfig(*conf, cfg)
	}
	if err != nil {
		return err
	}
	for dst, v := range map[*string]string{&cfg.StateDir: *dataDir, &cfg.Server: *server, &cfg.Enroll.Token: *token,
		&cfg.Enroll.CAFile: *ca, &cfg.Enroll.CAFingerprint: *fp} {
		if v != "" {
			*dst = v
		}
	}
	ctx, cancel := run.Context()
	defer cancel()
	return agent.Enroll(ctx, *cfg, log)
}
