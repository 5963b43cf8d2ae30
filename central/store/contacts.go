package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Contact is one agent contact (a PROLOG) to record.
type Contact struct {
	DeviceID  string
	UserAgent string // empty keeps the stored one
	At        time.Time
}

// TouchContacts records many contacts in one write transaction. Contacts of
// unknown devices change nothing. Central batches PROLOG contacts through
// this so that thousands of PROLOGs a second cost one commit a second.
func (s *Store) TouchContacts(ctx context.Context, contacts []Contact) error {
	if len(contacts) == 0 {
		return nil
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, c := range contacts {
			q := tx.Exec("UPDATE computers SET last_contact = ? WHERE device_id = ?", utc(c.At), c.DeviceID)
			if c.UserAgent != "" {
				q = tx.Exec("UPDATE computers SET last_contact = ?, user_agent = ? WHERE device_id = ?", utc(c.At), c.UserAgent, c.DeviceID)
			}
			if q.Error != nil {
				return q.Error
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch %d contacts: %w", len(contacts), err)
	}
	return nil
}

// TouchContact records a PROLOG contact with one UPDATE. known is false (and
// err nil) when no computer has deviceID. An empty userAgent leaves the
// stored one.
func (s *Store) TouchContact(ctx context.Context, deviceID, userAgent string, at time.Time) (uint, bool, error) {
	at = utc(at)
	var ids []uint
	var err error
	if userAgent == "" {
		err = s.write(ctx).Raw("UPDATE computers SET last_contact = ? WHERE device_id = ? RETURNING id",
			at, deviceID).Scan(&ids).Error
	} else {
		err = s.write(ctx).Raw("UPDATE computers SET last_contact = ?, user_agent = ? WHERE device_id = ? RETURNING id",
			at, userAgent, deviceID).Scan(&ids).Error
	}
	if err != nil {
		return 0, false, fmt.Errorf("touch contact %s: %w", deviceID, translate(err))
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	return ids[0], true, nil
}
