package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// GetSetting decodes the JSON value of key into v. found is false (and v
// untouched) when the key is not set.
func (s *Store) GetSetting(ctx context.Context, key string, v any) (bool, error) {
	var rows []Setting
	if err := s.read(ctx).Where(clause.Eq{Column: clause.Column{Name: "key"}, Value: key}).Limit(1).Find(&rows).Error; err != nil {
		return false, fmt.Errorf("get setting %s: %w", key, translate(err))
	}
	if len(rows) == 0 {
		return false, nil
	}
	if err := json.Unmarshal([]byte(rows[0].Value), v); err != nil {
		return true, fmt.Errorf("get setting %s: %w", key, err)
	}
	return true, nil
}

// PutSetting stores v, encoded as JSON, under key.
func (s *Store) PutSetting(ctx context.Context, key string, v any) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("put setting: empty key: %w", ErrInvalid)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("put setting %s: %w: %w", key, ErrInvalid, err)
	}
	row := Setting{Key: key, Value: string(b), UpdatedAt: time.Now().UTC()}
	err = s.write(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("put setting %s: %w", key, translate(err))
	}
	return nil
}
