package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Contact is one agent contact (a PROLOG) to record.
type Contact struct {
	DeviceID  string
	UserAgent string // empty keeps the stored one
	At        time.Time
}

// contactChunk bounds the rows of one PostgreSQL UPDATE (three
// parameters each, far below PostgreSQL's 65,535).
const contactChunk = 5000

// TouchContacts records many contacts in one write transaction. Contacts of
// unknown devices change nothing. Central batches PROLOG contacts through
// this so that thousands of PROLOGs a second cost one commit a second. On
// PostgreSQL a batch is one UPDATE … FROM (VALUES …) statement (per 5,000
// contacts), not one UPDATE per contact; on SQLite, where a statement costs
// no round trip, it is one UPDATE per contact in the transaction.
func (s *Store) TouchContacts(ctx context.Context, contacts []Contact) error {
	if len(contacts) == 0 {
		return nil
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if s.driver == DriverPostgres {
			for rest := contacts; len(rest) > 0; {
				n := min(len(rest), contactChunk)
				if err := touchContactsPostgres(tx, rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
			return nil
		}
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

// touchContactsPostgres updates the computers of batch in one statement;
// an empty user agent keeps the stored one.
func touchContactsPostgres(tx *gorm.DB, batch []Contact) error {
	var b strings.Builder
	b.WriteString("UPDATE computers AS c SET last_contact = v.at, " +
		"user_agent = CASE WHEN v.ua = '' THEN c.user_agent ELSE v.ua END FROM (VALUES ")
	args := make([]any, 0, 3*len(batch))
	for i, c := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?::text, ?::timestamptz, ?::text)")
		args = append(args, c.DeviceID, utc(c.At), c.UserAgent)
	}
	b.WriteString(") AS v(device_id, at, ua) WHERE c.device_id = v.device_id")
	return tx.Exec(b.String(), args...).Error
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
