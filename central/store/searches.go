package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SavedSearch is an inventory search kept under a name (GET /searches).
// A private one is visible to its Owner only; a shared one to everyone.
type SavedSearch struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"uniqueIndex;not null"`
	Description string
	// Owner is the actor that saved it: a user name or token:NAME.
	Owner  string `gorm:"index;not null"`
	Shared bool
	// Filter holds the search as URL query parameters of GET /computers,
	// like Group.Filter.
	Filter    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func searchModels() []any { return []any{&SavedSearch{}} }

// SavedSearches returns the saved searches owner may see: its own and the
// shared ones, by name.
func (s *Store) SavedSearches(ctx context.Context, owner string) ([]SavedSearch, error) {
	var out []SavedSearch
	if err := s.read(ctx).Where("shared = ? OR owner = ?", true, owner).Order("name, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list saved searches: %w", translate(err))
	}
	return out, nil
}

// SavedSearch returns the saved search that ref names (its ID or name)
// among those owner may see; ErrNotFound otherwise, also for another
// owner's private one.
func (s *Store) SavedSearch(ctx context.Context, owner, ref string) (*SavedSearch, error) {
	ref = strings.TrimSpace(ref)
	q := s.read(ctx).Where("shared = ? OR owner = ?", true, owner)
	if id, err := strconv.ParseUint(ref, 10, 32); err == nil && id > 0 {
		q = q.Where("id = ? OR name = ?", id, ref)
	} else {
		q = q.Where("name = ?", ref)
	}
	var out SavedSearch
	if err := q.Order("id").Take(&out).Error; err != nil {
		return nil, fmt.Errorf("saved search %q: %w", ref, translate(err))
	}
	return &out, nil
}

// SaveSearch creates a saved search (ID 0) or replaces one; a name in use
// is ErrConflict.
func (s *Store) SaveSearch(ctx context.Context, ss *SavedSearch) error {
	if err := s.write(ctx).Save(ss).Error; err != nil {
		return fmt.Errorf("save search %q: %w", ss.Name, translate(err))
	}
	return nil
}

// DeleteSavedSearch deletes a saved search by ID.
func (s *Store) DeleteSavedSearch(ctx context.Context, id uint) error {
	res := s.write(ctx).Delete(&SavedSearch{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete saved search %d: %w", id, translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete saved search %d: %w", id, ErrNotFound)
	}
	return nil
}

// TableName is the table of saved searches.
func (SavedSearch) TableName() string { return "saved_searches" }
