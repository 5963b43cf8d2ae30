package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shoal-project/shoal/internal/errkind"
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

// Sentinel errors of the agent feature.
var (
	// ErrEnrollRefused reports an enrollment token that is unknown,
	// revoked, expired or used up.
	ErrEnrollRefused = errkind.New(errkind.Forbidden, "store: enrollment token refused")
	// ErrRevoked reports a computer an admin revoked.
	ErrRevoked = errkind.New(errkind.Forbidden, "store: computer revoked")
	// ErrAlreadyEnrolled reports an enrollment that claims a computer
	// enrolled with another identity key. Only the current key may enroll
	// it again; an admin deletes the computer to let a new key enroll.
	ErrAlreadyEnrolled = fmt.Errorf("store: computer is enrolled with another identity key (delete it to enroll anew): %w", ErrConflict)
	// ErrTokenKind reports a usable token of the wrong kind: an agent
	// token presented to enroll a relay or the reverse. It is also an
	// ErrEnrollRefused.
	ErrTokenKind = fmt.Errorf("enrollment token is of another kind: %w", ErrEnrollRefused)
	// ErrTokenTarget reports a relay token presented for another site or
	// relay name than the one it is bound to. It is also an
	// ErrEnrollRefused.
	ErrTokenTarget = fmt.Errorf("relay token is bound to another site or relay name: %w", ErrEnrollRefused)
)

// CreateEnrollmentToken stores an enrollment token. Hash must be the
// lower-case hex SHA-256 of the token. An empty Kind is TokenKindAgent. A
// relay token needs an existing site and a relay name, and is single use
// unless MaxUses says otherwise (it never has unlimited uses).
func (s *Store) CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error {
	if t == nil {
		return fmt.Errorf("create enrollment token: nil token: %w", ErrInvalid)
	}
	t.Name = strings.TrimSpace(t.Name)
	t.Kind = t.KindOrAgent()
	t.RelayName = strings.TrimSpace(t.RelayName)
	switch t.Kind {
	case TokenKindAgent:
		if t.SiteID != nil || t.RelayName != "" {
			return fmt.Errorf("create enrollment token %s: an agent token has no site or relay name: %w", t.Name, ErrInvalid)
		}
	case TokenKindRelay:
		if t.SiteID == nil || t.RelayName == "" {
			return fmt.Errorf("create enrollment token %s: a relay token needs a site and a relay name: %w", t.Name, ErrInvalid)
		}
		if t.MaxUses == 0 {
			t.MaxUses = 1
		}
	default:
		return fmt.Errorf("create enrollment token %s: kind %q is neither %q nor %q: %w", t.Name, t.Kind, TokenKindAgent, TokenKindRelay, ErrInvalid)
	}
	switch {
	case t.Name == "":
		return fmt.Errorf("create enrollment token: name is empty: %w", ErrInvalid)
	case !validHash(t.Hash):
		return fmt.Errorf("create enrollment token %s: hash is not lower-case hex sha256: %w", t.Name, ErrInvalid)
	case t.MaxUses < 0:
		return fmt.Errorf("create enrollment token %s: max uses %d is negative: %w", t.Name, t.MaxUses, ErrInvalid)
	}
	if t.ExpiresAt != nil {
		t.ExpiresAt = utcPtr(*t.ExpiresAt)
	}
	t.ID, t.Uses, t.LastUsed = 0, 0, nil
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		if t.SiteID != nil {
			if err := tx.Where("id = ?", *t.SiteID).Take(&Site{}).Error; err != nil {
				return err
			}
		}
		return tx.Create(t).Error
	})
	if err != nil {
		return fmt.Errorf("create enrollment token %s: %w", t.Name, translate(err))
	}
	return nil
}

// EnrollmentTokenByHash returns the enrollment token whose hash is h,
// whether usable or not.
func (s *Store) EnrollmentTokenByHash(ctx context.Context, h string) (*EnrollmentToken, error) {
	var t EnrollmentToken
	if err := s.read(ctx).Where("hash = ?", h).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("enrollment token by hash: %w", translate(err))
	}
	return &t, nil
}

// ListEnrollmentTokens returns every enrollment token ordered by ID.
func (s *Store) ListEnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	var out []EnrollmentToken
	if err := s.read(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list enrollment tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeEnrollmentToken revokes an enrollment token; agents enrolled with
// it stay enrolled.
func (s *Store) RevokeEnrollmentToken(ctx context.Context, id uint) error {
	r := s.write(ctx).Model(&EnrollmentToken{}).Where("id = ?", id).Update("revoked", true)
	if r.Error != nil {
		return fmt.Errorf("revoke enrollment token %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("revoke enrollment token %d: %w", id, ErrNotFound)
	}
	return nil
}

// UseEnrollmentToken counts one use of an enrollment token at now.
func (s *Store) UseEnrollmentToken(ctx context.Context, id uint, now time.Time) error {
	err := s.write(ctx).Model(&EnrollmentToken{}).Where("id = ?", id).
		Updates(map[string]any{"uses": gorm.Expr("uses + 1"), "last_used": utc(now)}).Error
	if err != nil {
		return fmt.Errorf("use enrollment token %d: %w", id, translate(err))
	}
	return nil
}

// EnrollmentTokenByID returns the enrollment token with the given ID.
func (s *Store) EnrollmentTokenByID(ctx context.Context, id uint) (*EnrollmentToken, error) {
	var t EnrollmentToken
	if err := s.read(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("enrollment token %d: %w", id, translate(err))
	}
	return &t, nil
}
