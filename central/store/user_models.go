package store

import "time"

// UIUser is a person who logs in to the admin web UI. The built-in
// administrator (pki.Admin) is not stored here. PasswordHash is a bcrypt
// hash; Role is RoleAdmin, RoleReadonly or the name of a custom Role.
// ScopeSites (site IDs) and ScopeTags (OCS TAG values), comma-separated,
// limit what the user sees and changes to the computers of those sites or
// with those TAGs; both empty is the whole fleet. Source is "local" (a
// password set in central) or "ldap" (a directory account whose role and
// scope each login refreshes; its PasswordHash matches no password).
type UIUser struct {
	ID           uint   `gorm:"primaryKey"`
	Name         string `gorm:"uniqueIndex;not null"`
	PasswordHash string `gorm:"not null"`
	Role         string `gorm:"not null"`
	ScopeSites   string `gorm:"not null;default:''"`
	ScopeTags    string `gorm:"not null;default:''"`
	Source       string `gorm:"not null;default:'local'"`
	LastLogin    *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName implements gorm's tabler.
func (UIUser) TableName() string { return "ui_users" }

// UISession is a logged-in web UI session. Hash is the lower-case hex
// SHA-256 of the session cookie; the cookie itself is never stored. CSRF is
// the token every form of the session must carry.
type UISession struct {
	ID        uint   `gorm:"primaryKey"`
	Hash      string `gorm:"uniqueIndex;not null"`
	UserName  string `gorm:"index;not null"`
	Role      string `gorm:"not null"`
	CSRF      string `gorm:"column:csrf;not null"`
	Remote    string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time `gorm:"index;not null"`
}

// TableName implements gorm's tabler.
func (UISession) TableName() string { return "ui_sessions" }

// Role is a custom role: a name and the permissions it grants
// (space-separated, see central/auth). The built-in roles admin and
// readonly are not stored.
type Role struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"uniqueIndex;not null"`
	Permissions string `gorm:"not null;default:''"`
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName implements gorm's tabler.
func (Role) TableName() string { return "roles" }

// User sources.
const (
	UserSourceLocal = "local"
	UserSourceLDAP  = "ldap"
)

// uiModels lists the tables of the ui feature for migration.
func uiModels() []any {
	return []any{&UIUser{}, &UISession{}, &Role{}}
}
