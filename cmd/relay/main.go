// Command shoal-relay runs Shoal's branch LAN cache (see package relay);
// `shoal-relay enroll -h` tells how to register it with central.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/relay"
)

func main() {
	cfg := relay.Config{Version: run.Version}
	if len(os.Args) > 1 && os.Args[1] == "enroll" {
		if err := enroll(&cfg, os.Args[2:]); err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "shoal-relay enroll: %v\n", err)
			os.Exit(1)
		}
		return
	}
	run.Main("shoal-relay", &cfg, []string{"http"}, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
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
