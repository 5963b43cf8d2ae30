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
	cmd := run.Command{Name: "shoal-tracker", Listen: []string{"http"},
		Summary: "Shoal's tracker on its own (central embeds one): which peer of a site holds which fragment."}
	cmd.Main(&cfg, func(ctx context.Context, f *run.Flags, log *slog.Logger) error {
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
