package store

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

var roleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidRoleName reports whether name may name a role: 1 to 63 lower-case
// letters, digits or ._- characters, starting with a letter or digit.
func ValidRoleName(name string) bool { return roleNameRE.MatchString(name) }

// CreateRole inserts a custom role. A duplicate name gives ErrConflict; the
// names of the built-in roles are refused.
func (s *Store) CreateRole(ctx context.Context, r *Role) error {
	if r == nil || !ValidRoleName(r.Name) || r.Name == RoleAdmin || r.Name == RoleReadonly {
		return fmt.Errorf("create role: name must be 1 to 63 of a-z 0-9 ._- and not a built-in role: %w", ErrInvalid)
	}
	r.ID = 0
	if err := s.write(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("create role %s: %w", r.Name, translate(err))
	}
	return nil
}

// UpdateRole sets the permissions and description of the role with id.
func (s *Store) UpdateRole(ctx context.Context, id uint, permissions, description string) error {
	r := s.write(ctx).Model(&Role{}).Where("id = ?", id).
		Updates(map[string]any{"permissions": permissions, "description": description, "updated_at": time.Now().UTC()})
	if r.Error != nil {
		return fmt.Errorf("update role %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("update role %d: %w", id, ErrNotFound)
	}
	return nil
}

// RoleByName returns the custom role called name.
func (s *Store) RoleByName(ctx context.Context, name string) (*Role, error) {
	var r Role
	if err := s.read(ctx).Where("name = ?", name).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("role %s: %w", name, translate(err))
	}
	return &r, nil
}

// ListRoles returns the custom roles ordered by name.
func (s *Store) ListRoles(ctx context.Context) ([]Role, error) {
	var out []Role
	if err := s.read(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list roles: %w", translate(err))
	}
	return out, nil
}

// DeleteRole deletes the custom role with id and returns its name. A role
// that users or API tokens still hold gives ErrConflict.
func (s *Store) DeleteRole(ctx context.Context, id uint) (string, error) {
	var name string
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var r Role
		if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
			return err
		}
		name = r.Name
		var n int64
		if err := tx.Model(&UIUser{}).Where("role = ?", r.Name).Count(&n).Error; err != nil {
			return err
		}
		var m int64
		if err := tx.Model(&APIToken{}).Where("role = ? AND revoked = ?", r.Name, false).Count(&m).Error; err != nil {
			return err
		}
		if n+m > 0 {
			return fmt.Errorf("%d users and %d API tokens hold role %s: %w", n, m, r.Name, ErrConflict)
		}
		return tx.Where("id = ?", id).Delete(&Role{}).Error
	})
	if err != nil {
		return "", fmt.Errorf("delete role %d: %w", id, translate(err))
	}
	return name, nil
}

// Scope limits a query to the computers of some sites or with some OCS
// TAGs (either matches). The zero Scope is the whole fleet.
type Scope struct {
	SiteIDs []uint
	Tags    []string
}

// Limited reports whether s restricts anything.
func (s Scope) Limited() bool { return len(s.SiteIDs) > 0 || len(s.Tags) > 0 }

// where adds s's condition to a query of computers.
func (s Scope) where(db, c *gorm.DB) *gorm.DB {
	if !s.Limited() {
		return c
	}
	tagged := func() *gorm.DB {
		return db.Model(&AccountInfo{}).Select("computer_id").Where("key_name = ? AND key_value IN ?", AccountTag, s.Tags)
	}
	// No placeholder for the missing half: PostgreSQL refuses a NUL byte
	// in a text parameter.
	switch {
	case len(s.Tags) == 0:
		return c.Where("site_id IN ?", s.SiteIDs)
	case len(s.SiteIDs) == 0:
		return c.Where("id IN (?)", tagged())
	}
	return c.Where("(site_id IN ? OR id IN (?))", s.SiteIDs, tagged())
}

// on adds s's condition to q, a query whose column col is a computer's ID
// (such as "c.id" in a join): a subquery of the computers in scope.
func (s Scope) on(db, q *gorm.DB, col string) *gorm.DB {
	if !s.Limited() {
		return q
	}
	return q.Where(col+" IN (?)", s.where(db, db.Model(&Computer{}).Select("id")))
}

// ComputerInScope reports whether the computer with id exists and is in
// scope. An unlimited scope only checks that it exists.
func (s *Store) ComputerInScope(ctx context.Context, id uint, sc Scope) (bool, error) {
	db := s.read(ctx)
	var n int64
	if err := sc.where(db, db.Model(&Computer{}).Where("id = ?", id)).Count(&n).Error; err != nil {
		return false, fmt.Errorf("computer %d in scope: %w", id, translate(err))
	}
	return n > 0, nil
}

// JoinIDs writes site IDs as ScopeSites keeps them: comma-separated.
func JoinIDs(ids []uint) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(parts, ",")
}

// SplitIDs reads ScopeSites; entries that are not numbers are skipped.
func SplitIDs(s string) []uint {
	var out []uint
	for _, p := range strings.Split(s, ",") {
		if v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32); err == nil && v > 0 {
			out = append(out, uint(v))
		}
	}
	return out
}

// SplitTags reads ScopeTags: comma-separated, blanks dropped.
func SplitTags(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SetUIUserScope sets the scope of a UI user and ends its sessions, so
// that a narrower scope takes effect at once.
func (s *Store) SetUIUserScope(ctx context.Context, id uint, sites []uint, tags []string) error {
	for _, t := range tags {
		if strings.Contains(t, ",") {
			return fmt.Errorf("set scope of ui user %d: a TAG may not contain a comma: %w", id, ErrInvalid)
		}
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var u UIUser
		if err := tx.Where("id = ?", id).Take(&u).Error; err != nil {
			return err
		}
		if err := tx.Model(&UIUser{}).Where("id = ?", id).Updates(map[string]any{
			"scope_sites": JoinIDs(sites), "scope_tags": strings.Join(tags, ","), "updated_at": time.Now().UTC()}).Error; err != nil {
			return err
		}
		return tx.Where("user_name = ?", u.Name).Delete(&UISession{}).Error
	})
	if err != nil {
		return fmt.Errorf("set scope of ui user %d: %w", id, translate(err))
	}
	return nil
}

// UpsertDirectoryUser creates or refreshes the UI user of a directory
// (LDAP) account at login: its role and scope come from its groups. A
// local user of that name is left alone and gives ErrConflict.
func (s *Store) UpsertDirectoryUser(ctx context.Context, name, role string, sites []uint, tags []string, unusableHash string, at time.Time) (*UIUser, error) {
	if !ValidUIUserName(name) || !roleExists(s.read(ctx), role) {
		return nil, fmt.Errorf("directory user %q role %q: %w", name, role, ErrInvalid)
	}
	var out UIUser
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var u UIUser
		err := tx.Where("name = ?", name).Take(&u).Error
		switch {
		case err == gorm.ErrRecordNotFound:
			u = UIUser{Name: name, PasswordHash: unusableHash, Role: role, Source: UserSourceLDAP,
				ScopeSites: JoinIDs(sites), ScopeTags: strings.Join(tags, ","), LastLogin: utcPtr(at)}
			if err := tx.Create(&u).Error; err != nil {
				return err
			}
		case err != nil:
			return err
		case u.Source != UserSourceLDAP:
			return fmt.Errorf("a local user is called %s: %w", name, ErrConflict)
		default:
			u.Role, u.ScopeSites, u.ScopeTags, u.LastLogin = role, JoinIDs(sites), strings.Join(tags, ","), utcPtr(at)
			if err := tx.Model(&UIUser{}).Where("id = ?", u.ID).Updates(map[string]any{"role": u.Role,
				"scope_sites": u.ScopeSites, "scope_tags": u.ScopeTags, "last_login": u.LastLogin, "updated_at": time.Now().UTC()}).Error; err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory user %s: %w", name, translate(err))
	}
	return &out, nil
}

// roleExists reports whether role is a built-in role or a stored custom
// one.
func roleExists(db *gorm.DB, role string) bool {
	if role == RoleAdmin || role == RoleReadonly {
		return true
	}
	if !ValidRoleName(role) {
		return false
	}
	var n int64
	return db.Model(&Role{}).Where("name = ?", role).Count(&n).Error == nil && n > 0
}
