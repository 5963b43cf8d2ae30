package store

import "time"

// AuditEvent is one admin action: who did what to which object, from where.
// Rows are only ever inserted.
type AuditEvent struct {
	ID     uint      `gorm:"primaryKey"`
	At     time.Time `gorm:"index;not null"`
	Actor  string    `gorm:"index;not null"`
	Action string    `gorm:"index;not null"`
	Target string
	Detail string
	Remote string
}

// TableName implements gorm's tabler.
func (AuditEvent) TableName() string { return "audit_events" }

// auditModels lists the tables of the audit feature for migration.
func auditModels() []any {
	return []any{&AuditEvent{}}
}
