package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GossipKeySize is the size of a site's memberlist key (AES-256).
const GossipKeySize = 32

// SiteGossipKey is the key that encrypts a site's LAN membership traffic
// (memberlist). Central hands it to the agents of the site only.
type SiteGossipKey struct {
	SiteID    uint `gorm:"primaryKey;autoIncrement:false"`
	Key       []byte
	CreatedAt time.Time
}

// TableName implements gorm's tabler.
func (SiteGossipKey) TableName() string { return "site_gossip_keys" }

func siteGossipModels() []any { return []any{&SiteGossipKey{}} }

// GossipKey returns the memberlist key of a site, creating it at first
// use. Concurrent first calls agree on one key.
func (s *Store) GossipKey(ctx context.Context, siteID uint) ([]byte, error) {
	var k SiteGossipKey
	err := s.read(ctx).Where("site_id = ?", siteID).Take(&k).Error
	if err == nil && len(k.Key) == GossipKeySize {
		return k.Key, nil
	}
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("gossip key of site %d: %w", siteID, translate(err))
	}
	key := make([]byte, GossipKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("gossip key of site %d: %w", siteID, err)
	}
	err = s.write(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&SiteGossipKey{SiteID: siteID, Key: key, CreatedAt: time.Now().UTC()}).Error
	if err != nil {
		return nil, fmt.Errorf("gossip key of site %d: %w", siteID, translate(err))
	}
	if err := s.write(ctx).Where("site_id = ?", siteID).Take(&k).Error; err != nil {
		return nil, fmt.Errorf("gossip key of site %d: %w", siteID, translate(err))
	}
	return k.Key, nil
}
