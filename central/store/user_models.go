package store

import "time"

// UIUser is a person who logs in to the admin web UI. The built-in
// administrator (pki.Admin) is not stored here. PasswordHash is a bcrypt
// hash; Role is RoleAdmin or RoleReadonly.
type UIUser struct {
	ID           uint   `gorm:"primaryKey"`
	Name         string `gorm:"uniqueIndex;not null"`
	PasswordHash string `gorm:"not null"`
	Role         string `gorm:"not null"`
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

// uiModels lists the tables of the ui feature for migration.
func uiModels() []any {
	return []any{&UIUser{}, &UISession{}}
}
