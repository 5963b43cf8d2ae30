package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// This file holds the software catalog's queries (central/inventory's
// Catalog groups the fleet's software names into titles with them) and the
// dictionary rules an admin edits.

// SoftwareRule is one rule of the software dictionary: software names
// matching Pattern (a regular expression, case-insensitive) belong to the
// title Title (empty: the name's automatic title) and to Category. Rules
// apply in Position order, then ID; the first match wins.
type SoftwareRule struct {
	ID        uint   `gorm:"primaryKey"`
	Pattern   string `gorm:"not null"`
	Title     string
	Category  string
	Position  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName implements gorm's tabler.
func (SoftwareRule) TableName() string { return "software_rules" }

// catalogModels are the software dictionary and the change history.
func catalogModels() []any { return []any{&SoftwareRule{}, &HistoryEntry{}} }

// NameStat is one distinct software name with the number of software rows
// that carry it (installs: a computer with two versions counts twice), the
// highest publisher, when the name was first stored and the last inventory
// of a computer that reported it.
type NameStat struct {
	NameID    int64
	Name      string
	Publisher string
	Installs  int64
	Computers int64
	FirstSeen time.Time
	LastSeen  time.Time
}

// SoftwareNameStats returns every software name of the fleet with its
// counts. It reads every software row once (a GROUP BY over the name_id
// index): callers cache its answer.
func (s *Store) SoftwareNameStats(ctx context.Context) ([]NameStat, error) {
	return s.SoftwareNameStatsIn(ctx, Scope{})
}

// SoftwareNameStatsIn is SoftwareNameStats counting only the computers of
// scope sc (a scoped user's catalog): names no computer of sc has are
// left out.
func (s *Store) SoftwareNameStatsIn(ctx context.Context, sc Scope) ([]NameStat, error) {
	type row struct {
		NameID    int64
		Name      string
		Publisher string
		Installs  int64
		Computers int64
		FirstSeen *time.Time
		LastSeen  scanTime
	}
	var rows []row
	db := s.read(ctx)
	q := db.Table("softwares AS s").
		Select("s.name_id AS name_id, n.name AS name, MAX(s.publisher) AS publisher, COUNT(*) AS installs, " +
			"COUNT(DISTINCT s.computer_id) AS computers, n.first_seen AS first_seen, MAX(c.last_inventory) AS last_seen").
		Joins("JOIN software_names AS n ON n.id = s.name_id").
		Joins("JOIN computers AS c ON c.id = s.computer_id")
	err := sc.on(db, q, "c.id").Group("s.name_id, n.name, n.first_seen").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("software name stats: %w", translate(err))
	}
	out := make([]NameStat, len(rows))
	for i, r := range rows {
		out[i] = NameStat{NameID: r.NameID, Name: r.Name, Publisher: r.Publisher, Installs: r.Installs, Computers: r.Computers,
			LastSeen: r.LastSeen.Time}
		if r.FirstSeen != nil {
			out[i].FirstSeen = r.FirstSeen.UTC()
		}
	}
	return out, nil
}

// scanTime reads what a driver returns for MAX(timestamp).
type scanTime struct{ time.Time }

// Scan implements sql.Scanner.
func (t *scanTime) Scan(v any) error {
	t.Time = anyTime(v)
	return nil
}

// Value implements driver.Valuer (gorm wants both).
func (t scanTime) Value() (driver.Value, error) { return t.Time, nil }

// anyTime converts what a driver returns for MAX(timestamp) to a time:
// PostgreSQL gives a time, SQLite the stored text.
func anyTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case string:
		return parseDBTime(t)
	case []byte:
		return parseDBTime(string(t))
	}
	return time.Time{}
}

func parseDBTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// VersionStat counts the computers of one site (nil: none) that have one
// version of one software name.
type VersionStat struct {
	NameID     int64
	Version    string
	VersionKey string
	Publisher  string
	SiteID     *uint
	Computers  int64
	LastSeen   time.Time
}

// SoftwareVersionStats returns, for the software names nameIDs, the number
// of computers per version and site. It reads the rows through the name_id
// index.
func (s *Store) SoftwareVersionStats(ctx context.Context, nameIDs []int64) ([]VersionStat, error) {
	return s.SoftwareVersionStatsIn(ctx, nameIDs, Scope{})
}

// SoftwareVersionStatsIn is SoftwareVersionStats counting only the
// computers of scope sc.
func (s *Store) SoftwareVersionStatsIn(ctx context.Context, nameIDs []int64, sc Scope) ([]VersionStat, error) {
	if len(nameIDs) == 0 {
		return nil, nil
	}
	type row struct {
		NameID     int64
		Version    string
		VersionKey string
		Publisher  string
		SiteID     *uint
		Computers  int64
		LastSeen   scanTime
	}
	var rows []row
	db := s.read(ctx)
	q := db.Table("softwares AS s").
		Select("s.name_id AS name_id, s.version AS version, s.version_key AS version_key, MAX(s.publisher) AS publisher, "+
			"c.site_id AS site_id, COUNT(DISTINCT s.computer_id) AS computers, MAX(c.last_inventory) AS last_seen").
		Joins("JOIN computers AS c ON c.id = s.computer_id").
		Where("s.name_id IN ?", nameIDs)
	err := sc.on(db, q, "c.id").
		Group("s.name_id, s.version, s.version_key, c.site_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("software version stats: %w", translate(err))
	}
	out := make([]VersionStat, len(rows))
	for i, r := range rows {
		out[i] = VersionStat{NameID: r.NameID, Version: r.Version, VersionKey: r.VersionKey, Publisher: r.Publisher,
			SiteID: r.SiteID, Computers: r.Computers, LastSeen: r.LastSeen.Time}
	}
	return out, nil
}

// SoftwareHolder is one computer that has one of a title's names.
type SoftwareHolder struct {
	ComputerID    uint
	ComputerName  string
	SiteID        *uint
	LastInventory time.Time
	Name          string
	Version       string
	Publisher     string
}

// SoftwareHolders returns one page of the computers that have a software
// named by one of nameIDs (and, when version is not empty, in that
// version), by computer name, and their total count.
func (s *Store) SoftwareHolders(ctx context.Context, nameIDs []int64, version string, limit, offset int) ([]SoftwareHolder, int64, error) {
	return s.SoftwareHoldersIn(ctx, nameIDs, version, Scope{}, limit, offset)
}

// SoftwareHoldersIn is SoftwareHolders limited to the computers of scope
// sc.
func (s *Store) SoftwareHoldersIn(ctx context.Context, nameIDs []int64, version string, sc Scope, limit, offset int) ([]SoftwareHolder, int64, error) {
	if len(nameIDs) == 0 {
		return nil, 0, nil
	}
	q := func() *gorm.DB {
		rd := s.read(ctx)
		db := rd.Table("softwares AS s").Joins("JOIN computers AS c ON c.id = s.computer_id").Where("s.name_id IN ?", nameIDs)
		if version != "" {
			db = db.Where("s.version = ?", version)
		}
		return sc.on(rd, db, "c.id")
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("software holders: %w", translate(err))
	}
	var out []SoftwareHolder
	err := q().Select("c.id AS computer_id, c.name AS computer_name, c.site_id AS site_id, c.last_inventory AS last_inventory, " +
		"s.name AS name, s.version AS version, s.publisher AS publisher").
		Order("c.name, c.id, s.version_key").Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("software holders: %w", translate(err))
	}
	for i := range out {
		out[i].LastInventory = out[i].LastInventory.UTC()
	}
	return out, total, nil
}

// SoftwareRules returns the dictionary rules in the order they apply.
func (s *Store) SoftwareRules(ctx context.Context) ([]SoftwareRule, error) {
	var out []SoftwareRule
	if err := s.read(ctx).Order("position, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("software rules: %w", translate(err))
	}
	return out, nil
}

// SoftwareRule returns one dictionary rule.
func (s *Store) SoftwareRule(ctx context.Context, id uint) (*SoftwareRule, error) {
	var r SoftwareRule
	if err := s.read(ctx).Take(&r, id).Error; err != nil {
		return nil, fmt.Errorf("software rule %d: %w", id, translate(err))
	}
	return &r, nil
}

// SaveSoftwareRule creates r (ID 0) or replaces the stored rule r.ID
// (ErrNotFound when there is none).
func (s *Store) SaveSoftwareRule(ctx context.Context, r *SoftwareRule) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if r.ID == 0 {
			return tx.Create(r).Error
		}
		res := tx.Model(&SoftwareRule{}).Where("id = ?", r.ID).
			Updates(map[string]any{"pattern": r.Pattern, "title": r.Title, "category": r.Category, "position": r.Position, "updated_at": time.Now().UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Take(r, r.ID).Error
	})
	if err != nil {
		return fmt.Errorf("save software rule: %w", translate(err))
	}
	return nil
}

// DeleteSoftwareRule deletes a dictionary rule (ErrNotFound when there is
// none).
func (s *Store) DeleteSoftwareRule(ctx context.Context, id uint) error {
	res := s.write(ctx).Delete(&SoftwareRule{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete software rule %d: %w", id, translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete software rule %d: %w", id, ErrNotFound)
	}
	return nil
}
