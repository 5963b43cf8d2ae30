package deploy

import (
	"context"
	"fmt"
)

// SettingsKey is the store setting that holds the agent timings an admin
// changed at run time (through the API or the UI). When set, it overrides
// the configuration file's agents section at start (LoadStoredConfig).
const SettingsKey = "deploy.config"

// storedConfig is the JSON form of Config in the settings table.
type storedConfig struct {
	PrologFreqHours        int  `json:"prolog_freq_hours"`
	InventoryFrequencyDays int  `json:"inventory_frequency_days"`
	InventoryOnStartup     bool `json:"inventory_on_startup"`
	Download               struct {
		Disabled             bool `json:"disabled"`
		CycleLatency         int  `json:"cycle_latency"`
		FragLatency          int  `json:"frag_latency"`
		PeriodLatency        int  `json:"period_latency"`
		PeriodLength         int  `json:"period_length"`
		TimeoutDays          int  `json:"timeout_days"`
		ExecutionTimeoutMins int  `json:"execution_timeout_mins"`
	} `json:"download"`
}

func (c Config) stored() storedConfig {
	var sc storedConfig
	sc.PrologFreqHours, sc.InventoryFrequencyDays, sc.InventoryOnStartup = c.PrologFreqHours, c.InventoryFrequencyDays, c.InventoryOnStartup
	d := c.Download
	sc.Download.Disabled, sc.Download.CycleLatency, sc.Download.FragLatency = d.Disabled, d.CycleLatency, d.FragLatency
	sc.Download.PeriodLatency, sc.Download.PeriodLength = d.PeriodLatency, d.PeriodLength
	sc.Download.TimeoutDays, sc.Download.ExecutionTimeoutMins = d.TimeoutDays, d.ExecutionTimeoutMins
	return sc
}

func (sc storedConfig) config() Config {
	d := sc.Download
	return Config{
		PrologFreqHours: sc.PrologFreqHours, InventoryFrequencyDays: sc.InventoryFrequencyDays,
		InventoryOnStartup: sc.InventoryOnStartup,
		Download: DownloadConfig{
			Disabled: d.Disabled, CycleLatency: d.CycleLatency, FragLatency: d.FragLatency,
			PeriodLatency: d.PeriodLatency, PeriodLength: d.PeriodLength, TimeoutDays: d.TimeoutDays,
			ExecutionTimeoutMins: d.ExecutionTimeoutMins,
		},
	}
}

// Config returns the agent timings in force, defaults applied.
func (s *Service) Config() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

// SetConfig replaces the agent timings in force from the next PROLOG on.
// Zero values take their defaults, except an empty RelaySiteTimings, which
// keeps the one in force; an invalid cfg changes nothing.
func (s *Service) SetConfig(cfg Config) error {
	if cfg.RelaySiteTimings == "" {
		cfg.RelaySiteTimings = s.Config().RelaySiteTimings
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("set agent settings: %w: %w", ErrInvalid, err)
	}
	s.cfgMu.Lock()
	s.cfg = cfg.withDefaults()
	s.cfgMu.Unlock()
	return nil
}

// SaveConfig validates cfg, stores it under SettingsKey so it survives a
// restart, and puts it in force.
func (s *Service) SaveConfig(ctx context.Context, cfg Config) error {
	if cfg.RelaySiteTimings == "" {
		cfg.RelaySiteTimings = s.Config().RelaySiteTimings
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("save agent settings: %w: %w", ErrInvalid, err)
	}
	cfg = cfg.withDefaults()
	if err := s.store.PutSetting(ctx, SettingsKey, cfg.stored()); err != nil {
		return fmt.Errorf("save agent settings: %w", err)
	}
	if err := s.SetConfig(cfg); err != nil {
		return fmt.Errorf("save agent settings: %w", err)
	}
	s.settingsChanged(ctx)
	s.log.Info("agent settings changed", "prolog_freq_hours", cfg.PrologFreqHours, "download_disabled", cfg.Download.Disabled)
	return nil
}

// LoadStoredConfig puts the stored settings (SaveConfig) in force, if there
// are any. Central calls it once after New.
func (s *Service) LoadStoredConfig(ctx context.Context) error {
	var sc storedConfig
	found, err := s.store.GetSetting(ctx, SettingsKey, &sc)
	if err != nil {
		return fmt.Errorf("load agent settings: %w", err)
	}
	if !found {
		return nil
	}
	if err := s.SetConfig(sc.config()); err != nil {
		return fmt.Errorf("load agent settings: %w", err)
	}
	return nil
}
