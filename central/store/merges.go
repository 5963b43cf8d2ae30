package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Reasons of a ComputerMerge.
const (
	// MergeRule is the duplicate rule: same name, serial and MAC.
	MergeRule = "rule"
	// MergeOldDeviceID is an inventory naming the computer as its
	// OLD_DEVICEID.
	MergeOldDeviceID = "old_device_id"
	// MergeManual is an administrator's merge.
	MergeManual = "manual"
)

// ComputerMerge records one computer merged into another and deleted, so
// that the duplicates page can show the merges that ingest makes on its
// own, and an administrator can split one. Merged* hold what identified
// the deleted computer.
type ComputerMerge struct {
	ID             uint      `gorm:"primaryKey"`
	At             time.Time `gorm:"index"`
	TargetID       uint      `gorm:"index;not null"`
	TargetDeviceID string
	MergedID       uint
	MergedDeviceID string `gorm:"index"`
	MergedName     string
	MergedSerial   string
	MergedMAC      string
	Reason         string
	Actor          string
	// SplitAt is set once an administrator split the merge; the duplicate
	// rule then never merges the two device IDs again.
	SplitAt *time.Time
	// SplitID is the computer the split created again.
	SplitID *uint
}

// TableName implements gorm's tabler.
func (ComputerMerge) TableName() string { return "computer_merges" }

func mergeModels() []any { return []any{&ComputerMerge{}} }

// RecordMerge stores m; At defaults to now.
func (s *Store) RecordMerge(ctx context.Context, m *ComputerMerge) error {
	if m == nil || m.TargetID == 0 || m.MergedID == 0 {
		return fmt.Errorf("record merge: no computers: %w", ErrInvalid)
	}
	if m.At.IsZero() {
		m.At = time.Now()
	}
	m.ID, m.At = 0, utc(m.At)
	if err := s.write(ctx).Create(m).Error; err != nil {
		return fmt.Errorf("record merge of computer %d into %d: %w", m.MergedID, m.TargetID, translate(err))
	}
	return nil
}

// Merges returns a page of the merges, newest first, and their total.
func (s *Store) Merges(ctx context.Context, limit, offset int) ([]ComputerMerge, int64, error) {
	var out []ComputerMerge
	var total int64
	q := s.read(ctx).Model(&ComputerMerge{})
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("merges: %w", translate(err))
	}
	if limit <= 0 {
		limit = 50
	}
	if err := q.Order("id DESC").Limit(limit).Offset(max(offset, 0)).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("merges: %w", translate(err))
	}
	return out, total, nil
}

// Merge returns one merge (ErrNotFound when there is none).
func (s *Store) Merge(ctx context.Context, id uint) (*ComputerMerge, error) {
	var m ComputerMerge
	err := s.read(ctx).Where("id = ?", id).Take(&m).Error
	if err != nil {
		return nil, fmt.Errorf("merge %d: %w", id, translate(err))
	}
	return &m, nil
}

// MarkSplit records that merge id was split at at into computer newID. A
// merge split already is ErrConflict.
func (s *Store) MarkSplit(ctx context.Context, id, newID uint, at time.Time) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		res := tx.Model(&ComputerMerge{}).Where("id = ? AND split_at IS NULL", id).
			Updates(map[string]any{"split_at": utc(at), "split_id": newID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrConflict
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("split merge %d: %w", id, err)
	}
	return nil
}

// SplitDeviceIDs returns the device IDs that an administrator split from
// deviceID (or deviceID from): the duplicate rule never merges them.
func (s *Store) SplitDeviceIDs(ctx context.Context, deviceID string) ([]string, error) {
	var rows []ComputerMerge
	err := s.read(ctx).Select("target_device_id", "merged_device_id").
		Where("split_at IS NOT NULL AND (target_device_id = ? OR merged_device_id = ?)", deviceID, deviceID).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("split device ids of %s: %w", deviceID, translate(err))
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if r.TargetDeviceID == deviceID {
			out = append(out, r.MergedDeviceID)
		} else {
			out = append(out, r.TargetDeviceID)
		}
	}
	return out, nil
}

// ComputersNotSeenSince returns at most limit computers whose last contact
// is before before, longest unseen first.
func (s *Store) ComputersNotSeenSince(ctx context.Context, before time.Time, limit int) ([]Computer, error) {
	if limit <= 0 {
		limit = 50
	}
	var out []Computer
	err := s.read(ctx).Where("last_contact < ?", utc(before)).Order("last_contact, id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("computers not seen since %s: %w", before.Format(time.RFC3339), translate(err))
	}
	return out, nil
}
