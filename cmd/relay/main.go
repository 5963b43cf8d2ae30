// Command shoal-relay runs Shoal's branch LAN cache (see package relay).
package main

import (
	"context"
	"log/slog"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/relay"
)

func main() {
	var cfg relay.Config
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
