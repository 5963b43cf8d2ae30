package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, r := range h {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// CreateToken stores an API token. Hash must be the lower-case hex SHA-256
// of the token. A duplicate hash gives ErrConflict.
func (s *Store) CreateToken(ctx context.Context, t *APIToken) error {
	if t == nil {
		return fmt.Errorf("create token: nil token: %w", ErrInvalid)
	}
	t.Name = strings.TrimSpace(t.Name)
	switch {
	case t.Name == "":
		return fmt.Errorf("create token: name is empty: %w", ErrInvalid)
	case !validHash(t.Hash):
		return fmt.Errorf("create token %s: hash is not lower-case hex sha256: %w", t.Name, ErrInvalid)
	case !roleExists(s.read(ctx), t.Role):
		return fmt.Errorf("create token %s: role %q: %w", t.Name, t.Role, ErrInvalid)
	}
	if t.ExpiresAt != nil {
		t.ExpiresAt = utcPtr(*t.ExpiresAt)
	}
	t.ID = 0
	if err := s.write(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, translate(err))
	}
	return nil
}

// TokenByHash returns the token with the given hash, revoked or expired
// ones included (see APIToken.Valid).
func (s *Store) TokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	if err := s.read(ctx).Where("hash = ?", hash).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("token by hash: %w", translate(err))
	}
	return &t, nil
}

// ListTokens returns all tokens ordered by ID.
func (s *Store) ListTokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	if err := s.read(ctx).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list tokens: %w", translate(err))
	}
	return out, nil
}

// RevokeToken revokes a token.
func (s *Store) RevokeToken(ctx context.Context, id uint) error {
	r := s.write(ctx).Model(&APIToken{}).Where("id = ?", id).Update("revoked", true)
	if r.Error != nil {
		return fmt.Errorf("revoke token %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("revoke token %d: %w", id, ErrNotFound)
	}
	return nil
}

// TouchToken records the last use of a token.
func (s *Store) TouchToken(ctx context.Context, id uint, at time.Time) error {
	r := s.write(ctx).Model(&APIToken{}).Where("id = ?", id).Update("last_used", utc(at))
	if r.Error != nil {
		return fmt.Errorf("touch token %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("touch token %d: %w", id, ErrNotFound)
	}
	return nil
}
