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
	run.Main("shoal-central", &cfg, []string{"http", "https"}, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
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
