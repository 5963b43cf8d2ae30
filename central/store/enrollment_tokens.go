package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// CheckEnrollmentToken reports whether the enrollment token with hash
// tokenHash could enroll one more agent or relay at now, without using it:
// ErrEnrollRefused when it is unknown, revoked, expired or used up. It is a
// single indexed read, cheap enough to run before a request body is read.
func (s *Store) CheckEnrollmentToken(ctx context.Context, tokenHash string, now time.Time) error {
	var tok EnrollmentToken
	err := s.read(ctx).Where("hash = ?", tokenHash).Take(&tok).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrEnrollRefused
	case err != nil:
		return fmt.Errorf("check enrollment token: %w", translate(err))
	case !tok.Usable(now):
		return ErrEnrollRefused
	}
	return nil
}
