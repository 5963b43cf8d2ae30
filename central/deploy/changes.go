package deploy

import (
	"context"
)

// changes is told what the service changed, so that every replica of
// central learns of it (central/notify.Hub): job lists (held long-polls
// re-read them) and the stored agent settings (each replica keeps them in
// memory).
type changes interface {
	// JobsChanged: the job lists of the computers ids (none: all) may
	// have changed.
	JobsChanged(ctx context.Context, ids []uint)
	// SettingsChanged: the stored agent settings changed.
	SettingsChanged(ctx context.Context)
}

// SetChanges sets who is told of changes; central calls it once before
// serving. Without it, nobody is told (held long-polls poll).
func (s *Service) SetChanges(c changes) { s.changes = c }

func (s *Service) jobsChanged(ctx context.Context, ids []uint) {
	if s.changes != nil {
		s.changes.JobsChanged(ctx, ids)
	}
}

func (s *Service) settingsChanged(ctx context.Context) {
	if s.changes != nil {
		s.changes.SettingsChanged(ctx)
	}
}

// computerOfDeployment returns the computer of a deployment for a wake-up;
// 0 (every computer) when it cannot be read.
func (s *Service) computerOfDeployment(ctx context.Context, id uint) []uint {
	d, err := s.store.Deployment(ctx, id)
	if err != nil {
		return nil
	}
	return []uint{d.ComputerID}
}
