package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// GossipKeySize is the size of a site's memberlist key (AES-256).
const GossipKeySize = 32

// SiteGossipKey is the single key per site of earlier versions. It is only
// read, once, to carry a site's key over into its key ring.
type SiteGossipKey struct {
	SiteID    uint `gorm:"primaryKey;autoIncrement:false"`
	Key       []byte
	CreatedAt time.Time
}

// TableName implements gorm's tabler.
func (SiteGossipKey) TableName() string { return "site_gossip_keys" }

// GossipRingKey is one key of a site's gossip key ring, which encrypts the
// site's LAN membership traffic (memberlist). Central hands the ring to
// the agents of the site only.
//
// Rotation (RotateGossipKey, on the revocation of one of the site's
// computers or relays, or on a schedule) retires the current keys and
// adds a new one. With the overlap window W of GossipKeys, a key is
// handed out for decryption from its creation, becomes the key members
// send with W later (every member has had a job list, so has it, by then),
// and a retired key is handed out until 2W after its retirement (every
// member has switched to the new key by then). A node that holds only
// retired keys is cut off 2W after the rotation.
type GossipRingKey struct {
	ID     uint `gorm:"primaryKey"`
	SiteID uint `gorm:"index;not null"`
	Key    []byte
	// CreatedAt is when the key was made.
	CreatedAt time.Time
	// Initial marks a site's first key: in use at once, nobody has another.
	Initial bool
	// RetiredAt is when a newer key replaced this one (nil: current).
	RetiredAt *time.Time
}

// TableName implements gorm's tabler.
func (GossipRingKey) TableName() string { return "site_gossip_ring" }

func siteGossipModels() []any { return []any{&SiteGossipKey{}, &GossipRingKey{}} }

// GossipKeyPolicy sets how site gossip keys rotate.
type GossipKeyPolicy struct {
	// Rotation is how long a key stays current before GossipKeys replaces
	// it (0: never on a schedule).
	Rotation time.Duration
	// Overlap is the window W described at GossipRingKey.
	Overlap time.Duration
}

// GossipKeys returns a site's gossip key ring at now: primary, the key
// members send with, and others, the keys they must still accept. It
// creates the site's first key at first use, rotates the ring when its
// current key is older than p.Rotation, and drops keys past their window.
func (s *Store) GossipKeys(ctx context.Context, siteID uint, now time.Time, p GossipKeyPolicy) (primary []byte, others [][]byte, err error) {
	now = utc(now)
	var ring []GossipRingKey
	if err := s.read(ctx).Where("site_id = ?", siteID).Order("id").Find(&ring).Error; err != nil {
		return nil, nil, fmt.Errorf("gossip keys of site %d: %w", siteID, translate(err))
	}
	if ringNeedsWrite(ring, now, p) {
		err := s.tx(ctx, true, func(tx *gorm.DB) error {
			var err error
			ring, err = maintainRing(tx, siteID, now, p)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("gossip keys of site %d: %w", siteID, err)
		}
	}
	primary, others = ringKeys(ring, now, p.Overlap)
	if primary == nil {
		return nil, nil, fmt.Errorf("gossip keys of site %d: empty key ring", siteID)
	}
	return primary, others, nil
}

// ringNeedsWrite reports whether the ring (ordered by ID) is empty, due
// for a scheduled rotation or holds keys past their window.
func ringNeedsWrite(ring []GossipRingKey, now time.Time, p GossipKeyPolicy) bool {
	if len(ring) == 0 {
		return true
	}
	newest := ring[len(ring)-1]
	if newest.RetiredAt != nil || (p.Rotation > 0 && !now.Before(newest.CreatedAt.Add(p.Rotation))) {
		return true
	}
	for _, k := range ring {
		if k.RetiredAt != nil && !now.Before(k.RetiredAt.Add(2*p.Overlap)) {
			return true
		}
	}
	return false
}

// maintainRing, inside a write transaction, creates the first key (taking
// over the key of earlier versions), rotates on schedule, drops expired
// keys and returns the ring ordered by ID.
func maintainRing(tx *gorm.DB, siteID uint, now time.Time, p GossipKeyPolicy) ([]GossipRingKey, error) {
	var ring []GossipRingKey
	if err := tx.Where("site_id = ?", siteID).Order("id").Find(&ring).Error; err != nil {
		return nil, err
	}
	if len(ring) == 0 {
		k := GossipRingKey{SiteID: siteID, CreatedAt: now, Initial: true}
		var old SiteGossipKey
		err := tx.Where("site_id = ?", siteID).Take(&old).Error
		switch {
		case err == nil && len(old.Key) == GossipKeySize:
			k.Key = old.Key
		case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
			return nil, err
		default:
			if k.Key, err = newGossipKey(); err != nil {
				return nil, err
			}
		}
		if err := tx.Create(&k).Error; err != nil {
			return nil, err
		}
		return []GossipRingKey{k}, nil
	}
	newest := ring[len(ring)-1]
	if newest.RetiredAt != nil || (p.Rotation > 0 && !now.Before(newest.CreatedAt.Add(p.Rotation))) {
		if err := rotateGossipKeyTx(tx, siteID, now); err != nil {
			return nil, err
		}
	}
	if err := tx.Where("site_id = ? AND retired_at IS NOT NULL AND retired_at <= ?", siteID, now.Add(-2*p.Overlap)).
		Delete(&GossipRingKey{}).Error; err != nil {
		return nil, err
	}
	ring = ring[:0]
	if err := tx.Where("site_id = ?", siteID).Order("id").Find(&ring).Error; err != nil {
		return nil, err
	}
	return ring, nil
}

// ringKeys picks the primary key (the newest in use: initial, or made at
// least overlap ago) and the others still handed out.
func ringKeys(ring []GossipRingKey, now time.Time, overlap time.Duration) (primary []byte, others [][]byte) {
	p := -1
	for i, k := range slices.Backward(ring) {
		if k.Initial || !now.Before(k.CreatedAt.Add(overlap)) {
			p = i
			break
		}
	}
	if p < 0 && len(ring) > 0 {
		// The keys members used were dropped (a very short overlap): use
		// the oldest left.
		p = 0
	}
	for i, k := range ring {
		switch {
		case i == p:
			primary = k.Key
		case k.RetiredAt == nil || now.Before(k.RetiredAt.Add(2*overlap)):
			others = append(others, k.Key)
		}
	}
	return primary, others
}

// RotateGossipKey replaces the current gossip key of a site now (an
// admin's action; revocations rotate by themselves).
func (s *Store) RotateGossipKey(ctx context.Context, siteID uint, now time.Time) error {
	if err := s.tx(ctx, true, func(tx *gorm.DB) error { return rotateGossipKeyTx(tx, siteID, utc(now)) }); err != nil {
		return fmt.Errorf("rotate gossip key of site %d: %w", siteID, err)
	}
	return nil
}

// rotateGossipKeyTx retires the site's current keys and adds a new one,
// inside tx. A site without keys has nothing to rotate: its first key is
// made at first use.
func rotateGossipKeyTx(tx *gorm.DB, siteID uint, now time.Time) error {
	now = utc(now)
	var n int64
	if err := tx.Model(&GossipRingKey{}).Where("site_id = ?", siteID).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := tx.Model(&GossipRingKey{}).Where("site_id = ? AND retired_at IS NULL", siteID).
		Update("retired_at", now).Error; err != nil {
		return err
	}
	key, err := newGossipKey()
	if err != nil {
		return err
	}
	return tx.Create(&GossipRingKey{SiteID: siteID, Key: key, CreatedAt: now}).Error
}

// rotateAgentSiteKeys rotates, inside tx, the gossip keys of the sites
// of the computers matched by where that have a Shoal agent identity (a
// peer record): their agents hold the site's key.
func rotateAgentSiteKeys(tx *gorm.DB, now time.Time, where string, args ...any) error {
	var sites []uint
	agents := tx.Model(&AgentPeerRecord{}).Select("computer_id")
	if err := tx.Model(&Computer{}).Where(where, args...).Where("site_id IS NOT NULL AND id IN (?)", agents).
		Distinct().Pluck("site_id", &sites).Error; err != nil {
		return err
	}
	for _, id := range sites {
		if err := rotateGossipKeyTx(tx, id, now); err != nil {
			return err
		}
	}
	return nil
}

func newGossipKey() ([]byte, error) {
	key := make([]byte, GossipKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("new gossip key: %w", err)
	}
	return key, nil
}

// deleteSiteGossipKeys drops a deleted site's keys.
func deleteSiteGossipKeys(tx *gorm.DB, siteID uint) error {
	if err := tx.Where("site_id = ?", siteID).Delete(&GossipRingKey{}).Error; err != nil {
		return err
	}
	return tx.Where("site_id = ?", siteID).Delete(&SiteGossipKey{}).Error
}
