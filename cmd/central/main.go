// Command shoal-central runs Shoal's central server.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/shoal-project/shoal/central"
	"github.com/shoal-project/shoal/cmd/internal/run"
)

func main() {
	var cfg central.Config
	cmd := run.Command{Name: "shoal-central", Listen: []string{"http", "https"},
		Summary:     "Shoal's central server: inventory, packages, deployments, REST API, web UI, OCS endpoint, CA.",
		Subcommands: subcommands(&cfg)}
	cmd.Main(&cfg, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
		if v := *f.Listen["http"]; v != "" {
			cfg.HTTPAddr = v
		}
		if v := *f.Listen["https"]; v != "" {
			cfg.HTTPSAddr = v
		}
		if f.DataDir != "" {
			cfg.DataDir = f.DataDir
		}
		cfg.AdminPassword = os.Getenv("SHOAL_ADMIN_PASSWORD")
		srv, err := central.New(cfg, log, os.Stdout)
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	})
}
