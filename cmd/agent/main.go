// Command shoal-agent runs Shoal's agent; `shoal-agent enroll -h` tells how to enroll it.
package main

import (
	"cmp"
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
	if handled, err := serviceMain(&cfg, os.Args[1:]); handled { // started by Windows' service manager
		if err != nil {
			fmt.Fprintf(os.Stderr, "shoal-agent: %v\n", err)
			os.Exit(1)
		}
		return
	}
	cmd := run.Command{Name: "shoal-agent", DirFlag: "state-dir",
		Summary: "Shoal's agent: inventory, deployments pushed by central, fragments from relays and peers.",
		Subcommands: append([]run.Subcommand{{Name: "enroll", Summary: "enroll this computer with central (once, before the agent runs)",
			Run: func(args []string) error { return enroll(&cfg, args) }}}, platformSubcommands(&cfg)...)}
	cmd.Main(&cfg, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
		if f.DataDir != "" {
			cfg.StateDir = f.DataDir
		}
		a, err := agent.New(cfg, log)
		if errors.Is(err, agent.ErrNotEnrolled) {
			fmt.Fprintf(os.Stderr, "shoal-agent: not enrolled. Enroll this computer with:\n\n  %s\n\n", agent.EnrollCommand(cfg, f.Config))
		}
		if err != nil {
			return err
		}
		return a.Run(ctx)
	})
}

func enroll(cfg *agent.Config, args []string) error {
	fs := flag.NewFlagSet("shoal-agent enroll", flag.ContinueOnError)
	conf, level := fs.String("config", "", "YAML config file (the agent's own, for its state_dir and server)"), fs.String("log-level", "info", "log level")
	stateDir, server := fs.String("state-dir", "", "override the config's state_dir (default /var/lib/shoal-agent)"), fs.String("server", "", "central's https:// URL")
	token, ca, fp := fs.String("token", "", "enrollment token"), fs.String("ca", "", "central's CA certificate file"),
		fs.String("ca-fingerprint", "", "SHA-256 of central's CA certificate, instead of -ca")
	fs.BoolVar(&cfg.Enroll.Force, "force", false, "enroll a state directory that is already enrolled (a running agent reloads it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	log, err := run.Logger(os.Stderr, *level, false)
	if err == nil {
		err = run.LoadConfig(*conf, cfg)
	}
	if err != nil {
		return err
	}
	for dst, v := range map[*string]string{&cfg.StateDir: *stateDir, &cfg.Server: *server, &cfg.Enroll.Token: *token,
		&cfg.Enroll.CAFile: *ca, &cfg.Enroll.CAFingerprint: *fp} {
		if v != "" {
			*dst = v
		}
	}
	if err := secureStateDir(cmp.Or(cfg.StateDir, agent.DefaultStateDir())); err != nil {
		return err
	}
	ctx, cancel := run.Context()
	defer cancel()
	return agent.Enroll(ctx, *cfg, log)
}
