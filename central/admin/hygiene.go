package admin

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
)

// MergeComputers merges computer dupID into targetID (inventory.MergeComputers)
// and audits it.
func (s *Service) MergeComputers(ctx context.Context, who audit.Actor, targetID, dupID uint) (*store.ComputerMerge, error) {
	m, err := inventory.MergeComputers(ctx, s.store, targetID, dupID, who.Name)
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, who, "computer.merge", strconv.FormatUint(uint64(dupID), 10),
		fmt.Sprintf("computer %d %q (device %s) deleted: merged into computer %d by hand", dupID, m.MergedName, m.MergedDeviceID, targetID))
	return m, nil
}

// SplitMerge splits merge id (inventory.SplitMerge) and audits it.
func (s *Service) SplitMerge(ctx context.Context, who audit.Actor, id uint) (*store.Computer, error) {
	c, m, err := inventory.SplitMerge(ctx, s.store, id)
	if err != nil {
		return nil, err
	}
	s.audit.Record(ctx, who, "computer.split", strconv.FormatUint(uint64(c.ID), 10),
		fmt.Sprintf("merge %d split: computer %d %q (device %s) apart from computer %d again", id, c.ID, c.Name, c.DeviceID, m.TargetID))
	return c, nil
}

// StalePurge returns the automatic purge setting (off when never set).
func (s *Service) StalePurge(ctx context.Context) (inventory.StalePurge, error) {
	var p inventory.StalePurge
	if _, err := s.store.GetSetting(ctx, inventory.StalePurgeSetting, &p); err != nil {
		return inventory.StalePurge{}, err
	}
	return p, nil
}

// SaveStalePurge stores the automatic purge setting and audits it.
func (s *Service) SaveStalePurge(ctx context.Context, who audit.Actor, p inventory.StalePurge) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.store.PutSetting(ctx, inventory.StalePurgeSetting, p); err != nil {
		return err
	}
	s.audit.Record(ctx, who, "settings.stale_purge", "computers", fmt.Sprintf("purge computers not seen for %d days (0: off)", p.Days))
	return nil
}

// purgeActor is the audit actor of the automatic purge.
var purgeActor = audit.Actor{Name: "stale purge"}

// PurgeStale deletes the computers not seen for the setting's days, when
// it is on, and audits each; it returns how many it deleted.
func (s *Service) PurgeStale(ctx context.Context) (int, error) {
	p, err := s.StalePurge(ctx)
	if err != nil || p.Days == 0 {
		return 0, err
	}
	before := s.now().Add(-time.Duration(p.Days) * 24 * time.Hour)
	done, err := inventory.PurgeStale(ctx, s.store, before, func(c store.Computer) {
		s.audit.Record(ctx, purgeActor, "computer.purge", strconv.FormatUint(uint64(c.ID), 10),
			fmt.Sprintf("%s (device %s) not seen since %s (%d days)", c.Name, c.DeviceID, c.LastContact.UTC().Format(time.RFC3339), p.Days))
	})
	return len(done), err
}

// RunStalePurge runs PurgeStale a minute after start, then every
// interval, until ctx ends; errors are logged. Replicas may all run it: a computer
// another one deleted is skipped.
func (s *Service) RunStalePurge(ctx context.Context, interval time.Duration, logger *slog.Logger) error {
	log := logger.With("component", "stale-purge")
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := s.PurgeStale(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purge stale computers", "err", err)
		case n > 0:
			log.Info("purged stale computers", "count", n)
		}
		t.Reset(interval)
	}
}
