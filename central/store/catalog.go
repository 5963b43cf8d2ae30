package store

import (
	"context"
	"database/sql"
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

// CatalogRow is one software row as the catalog's fleet index reads it.
// Its byte slices are valid only during the visit that gets them.
type CatalogRow struct {
	ComputerID uint
	NameID     int64
	VersionKey []byte
	Version    []byte
	Publisher  []byte
}

// ScanSoftware calls visit with every software row, in storage order (one
// sequential read of the table, no join, no sort: on SQLite a
// `SCAN softwares`), until visit returns an error. The catalog builds its
// counts from it in memory.
func (s *Store) ScanSoftware(ctx context.Context, visit func(*CatalogRow) error) error {
	rows, err := s.read(ctx).Raw("SELECT computer_id, name_id, version_key, version, publisher FROM softwares").Rows()
	if err != nil {
		return fmt.Errorf("scan software: %w", translate(err))
	}
	defer rows.Close()
	var r CatalogRow
	var key, version, publisher sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&r.ComputerID, &r.NameID, &key, &version, &publisher); err != nil {
			return fmt.Errorf("scan software: %w", translate(err))
		}
		r.VersionKey, r.Version, r.Publisher = key, version, publisher
		if err := visit(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan software: %w", translate(err))
	}
	return nil
}

// CatalogComputer is a computer as the catalog's fleet index holds it.
type CatalogComputer struct {
	ID            uint
	SiteID        *uint
	LastInventory time.Time
}

// CatalogComputers returns every computer with its site and last
// inventory, by ID.
func (s *Store) CatalogComputers(ctx context.Context) ([]CatalogComputer, error) {
	var out []CatalogComputer
	if err := s.read(ctx).Model(&Computer{}).Select("id, site_id, last_inventory").Order("id").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("catalog computers: %w", translate(err))
	}
	for i := range out {
		out[i].LastInventory = out[i].LastInventory.UTC()
	}
	return out, nil
}

// ComputerSitesInScope calls visit with the ID and site (nil: none) of
// each computer of scope sc, which must be limited. It reads only the two
// columns, without gorm's reflection: a scoped user's catalog page asks
// for it, at tens of thousands of computers.
func (s *Store) ComputerSitesInScope(ctx context.Context, sc Scope, visit func(id uint, site *uint)) error {
	if !sc.Limited() {
		return fmt.Errorf("computer sites in scope: %w", ErrInvalid)
	}
	db := s.read(ctx)
	rows, err := sc.where(db, db.Model(&Computer{}).Select("id, site_id")).Rows()
	if err != nil {
		return fmt.Errorf("computer sites in scope: %w", translate(err))
	}
	defer rows.Close()
	var id uint
	var site sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&id, &site); err != nil {
			return fmt.Errorf("computer sites in scope: %w", translate(err))
		}
		if site.Valid {
			v := uint(site.Int64)
			visit(id, &v)
		} else {
			visit(id, nil)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("computer sites in scope: %w", translate(err))
	}
	return nil
}

// CatalogName is a stored software name and when an inventory first
// reported it (zero: before the software catalog).
type CatalogName struct {
	ID        int64
	Name      string
	FirstSeen time.Time
}

// CatalogNames returns every stored software name.
func (s *Store) CatalogNames(ctx context.Context) ([]CatalogName, error) {
	var rows []SoftwareName
	if err := s.read(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("catalog names: %w", translate(err))
	}
	out := make([]CatalogName, len(rows))
	for i, r := range rows {
		out[i] = CatalogName{ID: r.ID, Name: r.Name}
		if r.FirstSeen != nil {
			out[i].FirstSeen = r.FirstSeen.UTC()
		}
	}
	return out, nil
}
