// Command shoal-relay runs Shoal's branch LAN cache (see package relay);
// `shoal-relay enroll -h` tells how to register it with central.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/relay"
)

func main() {
	cfg := relay.Config{Version: run.Version}
	cmd := run.Command{Name: "shoal-relay", Listen: []string{"http"},
		Summary: "Shoal's branch LAN cache: each fragment crosses the WAN once, for OCS and Shoal agents.",
		Subcommands: []run.Subcommand{{Name: "enroll", Summary: "register this relay with central for a site (once, before it runs)",
			Run: func(args []string) error { return enroll(&cfg, args) }}}}
	cmd.Main(&cfg, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
		if f.DataDir != "" {
			cfg.DataDir = f.DataDir
		}
		if v := *f.Listen["http"]; v != "" {
			cfg.HTTPAddr = v
		}
		r, err := relay.New(cfg, log)
		if err != nil {
			return err
		}
		return r.Run(ctx)
	})
}

func enroll(cfg *relay.Config, args []string) error {
	fs := flag.NewFlagSet("shoal-relay enroll", flag.ContinueOnError)
	conf, level := fs.String("config", "", "YAML config file"), fs.String("log-level", "info", "log level")
	dataDir := fs.String("data-dir", "", "data directory")
	opts := relay.EnrollFlags(fs)
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
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	ctx, cancel := run.Context()
	defer cancel()
	return relay.Enroll(ctx, *cfg, *opts, log)
}
