package store

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"gorm.io/gorm"
)

var uiUserNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ValidUIUserName reports whether name may be used for a UI user: 1 to 64
// letters, digits or ._@- characters.
func ValidUIUserName(name string) bool { return uiUserNameRE.MatchString(name) }

func validateUIUser(db *gorm.DB, u *UIUser) error {
	switch {
	case !ValidUIUserName(u.Name):
		return fmt.Errorf("user name %q must be 1 to 64 letters, digits or ._@-: %w", u.Name, ErrInvalid)
	case !roleExists(db, u.Role):
		return fmt.Errorf("user %s: role %q: %w", u.Name, u.Role, ErrInvalid)
	case u.PasswordHash == "":
		return fmt.Errorf("user %s: no password hash: %w", u.Name, ErrInvalid)
	}
	return nil
}

// CreateUIUser inserts a UI user. A duplicate name gives ErrConflict.
func (s *Store) CreateUIUser(ctx context.Context, u *UIUser) error {
	if u == nil {
		return fmt.Errorf("create ui user: nil user: %w", ErrInvalid)
	}
	if err := validateUIUser(s.read(ctx), u); err != nil {
		return fmt.Errorf("create ui user: %w", err)
	}
	u.ID = 0
	if err := s.write(ctx).Create(u).Error; err != nil {
		return fmt.Errorf("create ui user %s: %w", u.Name, translate(err))
	}
	return nil
}

// UIUserByName returns the UI user with the given name.
func (s *Store) UIUserByName(ctx context.Context, name string) (*UIUser, error) {
	var u UIUser
	if err := s.read(ctx).Where("name = ?", name).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("ui user %s: %w", name, translate(err))
	}
	return &u, nil
}

// UIUser returns the UI user with the given ID.
func (s *Store) UIUser(ctx context.Context, id uint) (*UIUser, error) {
	var u UIUser
	if err := s.read(ctx).Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("ui user %d: %w", id, translate(err))
	}
	return &u, nil
}

// ListUIUsers returns every UI user ordered by name.
func (s *Store) ListUIUsers(ctx context.Context) ([]UIUser, error) {
	var out []UIUser
	if err := s.read(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list ui users: %w", translate(err))
	}
	return out, nil
}

// UpdateUIUser sets the role of a UI user and, when passwordHash is not
// empty, its password. The user's sessions are ended in the same
// transaction, so a changed role or password takes effect at once.
func (s *Store) UpdateUIUser(ctx context.Context, id uint, role, passwordHash string) error {
	return s.UpdateUIUserKeeping(ctx, id, role, passwordHash, "")
}

// UpdateUIUserKeeping is UpdateUIUser that keeps the session whose hash is
// keepSession (the session making the change, when it is the user's own),
// with the new role; every other session of the user ends.
func (s *Store) UpdateUIUserKeeping(ctx context.Context, id uint, role, passwordHash, keepSession string) error {
	if !roleExists(s.read(ctx), role) {
		return fmt.Errorf("update ui user %d: role %q: %w", id, role, ErrInvalid)
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var u UIUser
		if err := tx.Where("id = ?", id).Take(&u).Error; err != nil {
			return err
		}
		upd := map[string]any{"role": role, "updated_at": time.Now().UTC()}
		if passwordHash != "" {
			upd["password_hash"] = passwordHash
		}
		if err := tx.Model(&UIUser{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return err
		}
		if err := tx.Model(&UISession{}).Where("user_name = ? AND hash = ?", u.Name, keepSession).Update("role", role).Error; err != nil {
			return err
		}
		return tx.Where("user_name = ? AND hash <> ?", u.Name, keepSession).Delete(&UISession{}).Error
	})
	if err != nil {
		return fmt.Errorf("update ui user %d: %w", id, translate(err))
	}
	return nil
}

// DeleteUIUser deletes a UI user and its sessions and returns its name.
func (s *Store) DeleteUIUser(ctx context.Context, id uint) (string, error) {
	var name string
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var u UIUser
		if err := tx.Where("id = ?", id).Take(&u).Error; err != nil {
			return err
		}
		name = u.Name
		if err := tx.Where("user_name = ?", u.Name).Delete(&UISession{}).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", id).Delete(&UIUser{}).Error
	})
	if err != nil {
		return "", fmt.Errorf("delete ui user %d: %w", id, translate(err))
	}
	return name, nil
}

// TouchUIUserLogin records a successful login.
func (s *Store) TouchUIUserLogin(ctx context.Context, id uint, at time.Time) error {
	if err := s.write(ctx).Model(&UIUser{}).Where("id = ?", id).Update("last_login", utc(at)).Error; err != nil {
		return fmt.Errorf("touch ui user %d: %w", id, translate(err))
	}
	return nil
}

// CreateUISession stores a session. Hash must be the lower-case hex SHA-256
// of the session cookie.
func (s *Store) CreateUISession(ctx context.Context, sess *UISession) error {
	switch {
	case sess == nil:
		return fmt.Errorf("create ui session: nil session: %w", ErrInvalid)
	case !validHash(sess.Hash):
		return fmt.Errorf("create ui session: hash is not lower-case hex sha256: %w", ErrInvalid)
	case sess.UserName == "" || sess.CSRF == "":
		return fmt.Errorf("create ui session: user and csrf token are required: %w", ErrInvalid)
	case !roleExists(s.read(ctx), sess.Role):
		return fmt.Errorf("create ui session: role %q: %w", sess.Role, ErrInvalid)
	}
	sess.ID = 0
	sess.CreatedAt, sess.LastSeen, sess.ExpiresAt = utc(sess.CreatedAt), utc(sess.LastSeen), utc(sess.ExpiresAt)
	if err := s.write(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create ui session: %w", translate(err))
	}
	return nil
}

// UISessionByHash returns the session with the given cookie hash, expired
// or not.
func (s *Store) UISessionByHash(ctx context.Context, hash string) (*UISession, error) {
	var sess UISession
	if err := s.read(ctx).Where("hash = ?", hash).Take(&sess).Error; err != nil {
		return nil, fmt.Errorf("ui session: %w", translate(err))
	}
	return &sess, nil
}

// TouchUISession records activity on a session.
func (s *Store) TouchUISession(ctx context.Context, id uint, at time.Time) error {
	if err := s.write(ctx).Model(&UISession{}).Where("id = ?", id).Update("last_seen", utc(at)).Error; err != nil {
		return fmt.Errorf("touch ui session %d: %w", id, translate(err))
	}
	return nil
}

// DeleteUISession ends the session with the given cookie hash; an unknown
// hash is not an error.
func (s *Store) DeleteUISession(ctx context.Context, hash string) error {
	if err := s.write(ctx).Where("hash = ?", hash).Delete(&UISession{}).Error; err != nil {
		return fmt.Errorf("delete ui session: %w", translate(err))
	}
	return nil
}

// PruneUISessions deletes the sessions that expired before now, or whose
// last activity is before idleBefore, and returns how many.
func (s *Store) PruneUISessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	r := s.write(ctx).Where("expires_at < ? OR last_seen < ?", utc(now), utc(idleBefore)).Delete(&UISession{})
	if r.Error != nil {
		return 0, fmt.Errorf("prune ui sessions: %w", translate(r.Error))
	}
	return r.RowsAffected, nil
}
