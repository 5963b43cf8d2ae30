package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Length limits of audit fields; longer values are cut.
const (
	maxAuditField  = 255
	maxAuditDetail = 4096
)

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// RecordAudit appends an admin action to the audit log. At defaults to now;
// Actor and Action must not be empty.
func (s *Store) RecordAudit(ctx context.Context, e *AuditEvent) error {
	if e == nil {
		return fmt.Errorf("record audit: nil event: %w", ErrInvalid)
	}
	e.Actor, e.Action = strings.TrimSpace(e.Actor), strings.TrimSpace(e.Action)
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("record audit: actor and action are required: %w", ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.ID, e.At = 0, utc(e.At)
	e.Actor, e.Action = cut(e.Actor, maxAuditField), cut(e.Action, maxAuditField)
	e.Target, e.Remote, e.Detail = cut(e.Target, maxAuditField), cut(e.Remote, maxAuditField), cut(e.Detail, maxAuditDetail)
	if err := s.write(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("record audit %s: %w", e.Action, translate(err))
	}
	return nil
}

// AuditFilter selects audit events. Empty fields do not filter.
type AuditFilter struct {
	Actor string
	// Action matches the action exactly, or every action under it when it
	// ends with a dot ("package." matches "package.create").
	Action string
	Target string
	Since  time.Time
	Before time.Time
	// Limit defaults to 50 and is capped at 1000.
	Limit, Offset int
}

// ListAudit returns one page of audit events, newest first, and the total.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, int64, error) {
	limit, offset, err := pageArgs(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", err)
	}
	db := s.read(ctx)
	q := func() *gorm.DB {
		q := db.Model(&AuditEvent{})
		if f.Actor != "" {
			q = q.Where("actor = ?", f.Actor)
		}
		switch {
		case strings.HasSuffix(f.Action, "."):
			q = q.Where(`action LIKE ? ESCAPE '\'`, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Action)+"%")
		case f.Action != "":
			q = q.Where("action = ?", f.Action)
		}
		if f.Target != "" {
			q = q.Where("target = ?", f.Target)
		}
		if !f.Since.IsZero() {
			q = q.Where("at >= ?", utc(f.Since))
		}
		if !f.Before.IsZero() {
			q = q.Where("at < ?", utc(f.Before))
		}
		return q
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", translate(err))
	}
	var out []AuditEvent
	if err := q().Order("id DESC").Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list audit: %w", translate(err))
	}
	return out, total, nil
}
