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
