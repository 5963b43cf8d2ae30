// Command shoal-tracker runs Shoal's tracker on its own (see package
// tracker); central embeds the same tracker by default.
package main

import (
	"context"
	"log/slog"

	"github.com/shoal-project/shoal/cmd/internal/run"
	"github.com/shoal-project/shoal/tracker"
)

func main() {
	var cfg tracker.StandaloneConfig
	run.Main("shoal-tracker", &cfg, []string{"http"}, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
		if v := *f.Listen["http"]; v != "" {
			cfg.Listen = v
		}
		t, err := tracker.NewStandalone(cfg, log)
		if err != nil {
			return err
		}
		return t.Run(ctx)
	})
}
