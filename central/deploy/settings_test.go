package deploy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/store/storetest"
)

func TestSettings(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	if got := f.svc.Config().PrologFreqHours; got != 12 {
		t.Fatalf("default prolog freq %d, want 12", got)
	}
	want := Config{PrologFreqHours: 3, InventoryFrequencyDays: 2, InventoryOnStartup: true,
		Download:         DownloadConfig{CycleLatency: 5, FragLatency: 2, PeriodLatency: 1, PeriodLength: 4, TimeoutDays: 3, ExecutionTimeoutMins: 30},
		RelaySiteTimings: TimingsShort}
	if err := f.svc.SaveConfig(ctx, want); err != nil {
		t.Fatalf("SaveConfig: %v", err)
	}
	if diff := cmp.Diff(want, f.svc.Config()); diff != "" {
		t.Errorf("config in force (-want +got):\n%s", diff)
	}
	r, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: "new-2026-11-26-10-00-00"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PrologFreq != 3 || r.InventoryOnStartup != 1 || r.Download.Conf.CycleLatency != 5 || r.Download.Conf.Timeout != 3 {
		t.Errorf("prolog reply does not follow the new settings: %+v %+v", r, r.Download.Conf)
	}

	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "negative_frequency", cfg: Config{PrologFreqHours: -1}},
		{name: "inventory_frequency", cfg: Config{InventoryFrequencyDays: -2}},
		{name: "negative_latency", cfg: Config{Download: DownloadConfig{FragLatency: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.svc.SaveConfig(ctx, tt.cfg); !errors.Is(err, ErrInvalid) {
				t.Errorf("SaveConfig: %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(want, f.svc.Config()); diff != "" {
				t.Errorf("a refused config changed the one in force (-want +got):\n%s", diff)
			}
		})
	}

	// A new service on the same database starts with the stored settings.
	fresh, err := New(Config{PrologFreqHours: 24}, f.st, f.b, http.DefaultClient, Locations{}, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.Config().PrologFreqHours; got != 24 {
		t.Fatalf("before LoadStoredConfig: %d, want the file's 24", got)
	}
	if err := fresh.LoadStoredConfig(ctx); err != nil {
		t.Fatalf("LoadStoredConfig: %v", err)
	}
	if diff := cmp.Diff(want, fresh.Config()); diff != "" {
		t.Errorf("loaded config (-want +got):\n%s", diff)
	}
}

// TestSettingsConcurrentProlog changes the settings while PROLOGs run; the
// race detector checks the locking.
func TestSettingsConcurrentProlog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := f.svc.Prolog(ctx, PrologRequest{DeviceID: "new-2026-11-26-10-00-00"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 20 {
		if err := f.svc.SetConfig(Config{PrologFreqHours: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
