package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Wake request reasons.
const (
	WakeManual = "manual" // an admin asked (UI, API, shoalctl)
	WakeWindow = "window" // a deployment window opens soon
)

// WakeRequest asks a relay or an awake Shoal agent of a computer's site to
// send the Wake-on-LAN magic packet to its MAC (central/wake). SentAt and
// SentBy are set when a sender takes the request; whether the computer
// woke is read from its last contact, not stored.
type WakeRequest struct {
	ID         uint  `gorm:"primaryKey"`
	ComputerID uint  `gorm:"index;not null"`
	SiteID     *uint `gorm:"index"`
	MAC        string
	// Broadcast is the directed broadcast address of the computer's
	// network (from its inventory), empty when unknown.
	Broadcast   string
	Reason      string
	RequestedBy string
	RequestedAt time.Time `gorm:"index"`
	// ExpiresAt is when a request no sender took is given up.
	ExpiresAt time.Time
	SentAt    *time.Time
	SentBy    string
	// WokenAt is the computer's first contact seen after the request,
	// recorded by central/wake within its woken_within; nil otherwise.
	WokenAt *time.Time
}

// TableName implements gorm's tabler.
func (WakeRequest) TableName() string { return "wake_requests" }

func wakeModels() []any { return []any{&WakeRequest{}} }

// CreateWakeRequests stores requests (their IDs are set).
func (s *Store) CreateWakeRequests(ctx context.Context, reqs []*WakeRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	for _, r := range reqs {
		r.RequestedAt, r.ExpiresAt = utc(r.RequestedAt), utc(r.ExpiresAt)
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error { return tx.Create(reqs).Error })
	if err != nil {
		return fmt.Errorf("create %d wake requests: %w", len(reqs), err)
	}
	return nil
}

// AnyOpenWakes reports whether some wake request waits for a sender at now.
func (s *Store) AnyOpenWakes(ctx context.Context, now time.Time) (bool, error) {
	var n int64
	err := s.read(ctx).Model(&WakeRequest{}).Where("sent_at IS NULL AND expires_at > ?", utc(now)).Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("open wake requests: %w", translate(err))
	}
	return n > 0, nil
}

// ClaimWakes gives the open requests of a site (nil: computers without a
// site) to sender, at most limit, leaving out the computer exclude (a
// Shoal agent does not wake itself; 0 for none). A request is claimed by
// one sender only, even with several replicas.
func (s *Store) ClaimWakes(ctx context.Context, siteID *uint, exclude uint, sender string, now time.Time, limit int) ([]WakeRequest, error) {
	now = utc(now)
	// Read first, outside a write transaction: while requests wait for a
	// sender of another site, the polls of this one cost no write.
	q := s.read(ctx).Where("sent_at IS NULL AND expires_at > ? AND computer_id <> ?", now, exclude)
	if siteID != nil {
		q = q.Where("site_id = ?", *siteID)
	} else {
		q = q.Where("site_id IS NULL")
	}
	var open []WakeRequest
	if err := q.Order("id").Limit(limit).Find(&open).Error; err != nil {
		return nil, fmt.Errorf("claim wake requests: %w", translate(err))
	}
	if len(open) == 0 {
		return nil, nil
	}
	var out []WakeRequest
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		out = out[:0]
		for _, r := range open {
			res := tx.Model(&WakeRequest{}).Where("id = ? AND sent_at IS NULL", r.ID).
				Updates(map[string]any{"sent_at": now, "sent_by": sender})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				r.SentAt, r.SentBy = &now, sender
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim wake requests: %w", err)
	}
	return out, nil
}

// WakeRequests returns a computer's requests since since, newest first.
func (s *Store) WakeRequests(ctx context.Context, computerID uint, since time.Time) ([]WakeRequest, error) {
	var out []WakeRequest
	err := s.read(ctx).Where("computer_id = ? AND requested_at >= ?", computerID, utc(since)).
		Order("requested_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("wake requests of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// LastWakes returns, for each of computerIDs that has one, its newest
// request at or after since.
func (s *Store) LastWakes(ctx context.Context, computerIDs []uint, since time.Time) (map[uint]WakeRequest, error) {
	out := map[uint]WakeRequest{}
	for rest := computerIDs; len(rest) > 0; {
		n := min(len(rest), 500)
		var rows []WakeRequest
		err := s.read(ctx).Where("computer_id IN ? AND requested_at >= ?", rest[:n], utc(since)).
			Order("requested_at, id").Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("last wake requests: %w", translate(err))
		}
		for _, r := range rows {
			out[r.ComputerID] = r
		}
		rest = rest[n:]
	}
	return out, nil
}

// MarkWoken records, for the requests made since since and not yet
// marked, the last contact of their computer when it is after the request.
func (s *Store) MarkWoken(ctx context.Context, since time.Time) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		return tx.Exec("UPDATE wake_requests SET woken_at = (SELECT c.last_contact FROM computers c WHERE c.id = wake_requests.computer_id) "+
			"WHERE woken_at IS NULL AND requested_at >= ? AND EXISTS (SELECT 1 FROM computers c "+
			"WHERE c.id = wake_requests.computer_id AND c.last_contact > wake_requests.requested_at)", utc(since)).Error
	})
	if err != nil {
		return fmt.Errorf("mark woken computers: %w", err)
	}
	return nil
}

// PruneWakeRequests deletes the requests made before before.
func (s *Store) PruneWakeRequests(ctx context.Context, before time.Time) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		return tx.Where("requested_at < ?", utc(before)).Delete(&WakeRequest{}).Error
	})
	if err != nil {
		return fmt.Errorf("prune wake requests: %w", err)
	}
	return nil
}

// WakeTarget is what a wake request needs of a computer.
type WakeTarget struct {
	ID          uint
	Name        string
	SiteID      *uint
	FirstMAC    string
	IPAddr      string
	LastContact time.Time
	// Mask is the netmask of the network entry that carries IPAddr, if
	// the inventory has one.
	Mask string
}

// WakeTargets reads the computers ids for a wake request.
func (s *Store) WakeTargets(ctx context.Context, ids []uint) ([]WakeTarget, error) {
	var out []WakeTarget
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), 500)
		var rows []WakeTarget
		err := s.read(ctx).Table("computers AS c").
			Select("c.id, c.name, c.site_id, c.first_mac, c.ip_addr, c.last_contact, "+
				"(SELECT n.ip_mask FROM networks n WHERE n.computer_id = c.id AND n.ip_address = c.ip_addr LIMIT 1) AS mask").
			Where("c.id IN ?", rest[:n]).Order("c.id").Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("wake targets: %w", translate(err))
		}
		out = append(out, rows...)
		rest = rest[n:]
	}
	return out, nil
}

// HeldComputers returns the computers with a waiting deployment whose last
// contact is before asleepSince: candidates for a wake before their
// deployment window opens.
func (s *Store) HeldComputers(ctx context.Context, asleepSince time.Time) ([]uint, error) {
	var ids []uint
	err := s.read(ctx).Table("deployments AS d").Joins("JOIN computers c ON c.id = d.computer_id").
		Where("d.state = ? AND c.last_contact < ? AND c.revoked = ?", StateWaiting, utc(asleepSince), false).
		Distinct().Order("d.computer_id").Pluck("d.computer_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("computers with held deployments: %w", translate(err))
	}
	return ids, nil
}

// AwakeAgents returns up to limit Shoal agents of a site (nil: no site)
// that polled since since, most recent first.
func (s *Store) AwakeAgents(ctx context.Context, siteID *uint, since time.Time, limit int) ([]uint, error) {
	q := s.read(ctx).Table("agent_identities AS a").Joins("JOIN computers c ON c.id = a.computer_id").
		Where("a.last_seen >= ? AND c.revoked = ?", utc(since), false)
	if siteID != nil {
		q = q.Where("c.site_id = ?", *siteID)
	} else {
		q = q.Where("c.site_id IS NULL")
	}
	var ids []uint
	if err := q.Order("a.last_seen DESC").Limit(limit).Pluck("a.computer_id", &ids).Error; err != nil {
		return nil, fmt.Errorf("awake agents: %w", translate(err))
	}
	return ids, nil
}
