package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// RelayStale is how long after its last contact a relay is still used as
// its site's fragment location and source.
const RelayStale = 2 * time.Minute

// Relay is an enrolled shoal-relay: the branch cache of one site.
type Relay struct {
	ID         uint   `gorm:"primaryKey"`
	Name       string `gorm:"uniqueIndex;not null"`
	SiteID     uint   `gorm:"index;not null"`
	PeerID     string `gorm:"index"`
	PublicKey  []byte
	SecretHash string `gorm:"uniqueIndex;not null"`
	HTTPURL    string
	HTTPSURL   string
	Version    string
	// LastSeen is the last authenticated call; LastReport the last
	// proto.RelayReport as JSON.
	LastSeen      *time.Time
	LastReport    string
	RecordExpires time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName implements gorm's tabler.
func (Relay) TableName() string { return "relays" }

// RelayPurge asks every relay to drop a package from its cache.
type RelayPurge struct {
	PackageID   string `gorm:"primaryKey"`
	RequestedAt time.Time
}

// TableName implements gorm's tabler.
func (RelayPurge) TableName() string { return "relay_purges" }

func relayModels() []any { return []any{&Relay{}, &RelayPurge{}} }

// EnrollRelay consumes one use of the enrollment token with hash tokenHash
// (ErrEnrollRefused when it is not usable) and stores r, replacing the
// relay of the same name (a re-enrolled relay gets a new secret).
func (s *Store) EnrollRelay(ctx context.Context, tokenHash string, r *Relay, now time.Time) error {
	now = utc(now)
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		var tok EnrollmentToken
		if err := tx.Where("hash = ?", tokenHash).Take(&tok).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrEnrollRefused
			}
			return err
		}
		if !tok.Usable(now) {
			return ErrEnrollRefused
		}
		if err := tx.Model(&EnrollmentToken{}).Where("id = ?", tok.ID).
			Updates(map[string]any{"uses": gorm.Expr("uses + 1"), "last_used": now}).Error; err != nil {
			return err
		}
		if err := tx.Where("name = ? OR peer_id = ?", r.Name, r.PeerID).Delete(&Relay{}).Error; err != nil {
			return err
		}
		r.ID = 0
		r.LastSeen = &now
		return tx.Create(r).Error
	})
	if err != nil {
		return fmt.Errorf("enroll relay %s: %w", r.Name, translate(err))
	}
	return nil
}

// RelayBySecretHash returns the relay whose secret hashes to h.
func (s *Store) RelayBySecretHash(ctx context.Context, h string) (*Relay, error) {
	var r Relay
	if err := s.read(ctx).Where("secret_hash = ?", h).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("relay by secret: %w", translate(err))
	}
	return &r, nil
}

// TouchRelay records a relay's contact, its report (JSON, empty keeps the
// last) and the expiry of its current peer record (zero keeps it).
func (s *Store) TouchRelay(ctx context.Context, id uint, report string, recordExpires, now time.Time) error {
	up := map[string]any{"last_seen": utc(now)}
	if report != "" {
		up["last_report"] = report
	}
	if !recordExpires.IsZero() {
		up["record_expires"] = utc(recordExpires)
	}
	if err := s.write(ctx).Model(&Relay{}).Where("id = ?", id).Updates(up).Error; err != nil {
		return fmt.Errorf("touch relay %d: %w", id, translate(err))
	}
	return nil
}

// LiveRelays lists the relays of a site seen since, by name.
func (s *Store) LiveRelays(ctx context.Context, siteID uint, since time.Time) ([]Relay, error) {
	var out []Relay
	err := s.read(ctx).Where("site_id = ? AND last_seen >= ?", siteID, utc(since)).Order("name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("live relays of site %d: %w", siteID, translate(err))
	}
	return out, nil
}

// Relays lists every relay by name.
func (s *Store) Relays(ctx context.Context) ([]Relay, error) {
	var out []Relay
	if err := s.read(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list relays: %w", translate(err))
	}
	return out, nil
}

// DeleteRelay removes a relay; its secret stops working at once.
func (s *Store) DeleteRelay(ctx context.Context, id uint) error {
	r := s.write(ctx).Where("id = ?", id).Delete(&Relay{})
	if r.Error != nil {
		return fmt.Errorf("delete relay %d: %w", id, translate(r.Error))
	}
	if r.RowsAffected == 0 {
		return fmt.Errorf("delete relay %d: %w", id, ErrNotFound)
	}
	return nil
}

// RelayPackage is a package a site's relay should hold.
type RelayPackage struct {
	ID   string
	Name string
	Size int64
}

// RelayPackages lists the packages with unfinished deployments to
// computers of a site, by ID: the relay prefetches them and never evicts
// them.
func (s *Store) RelayPackages(ctx context.Context, siteID uint) ([]RelayPackage, error) {
	var out []RelayPackage
	db := s.read(ctx)
	comps := db.Model(&Computer{}).Select("id").Where("site_id = ?", siteID)
	pkgs := db.Model(&Deployment{}).Select("package_id").Where("computer_id IN (?) AND state IN ?", comps,
		[]string{StateWaiting, StateNotified, StateDownloading, StateDownloaded, StateRunning})
	err := db.Model(&Package{}).Select("id, name, size").Where("id IN (?)", pkgs).Order("id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("relay packages of site %d: %w", siteID, translate(err))
	}
	return out, nil
}

// RequestPurge asks every relay to drop package id.
func (s *Store) RequestPurge(ctx context.Context, id string, now time.Time) error {
	err := s.write(ctx).Save(&RelayPurge{PackageID: id, RequestedAt: utc(now)}).Error
	if err != nil {
		return fmt.Errorf("purge %s from relays: %w", id, translate(err))
	}
	return nil
}

// Purges lists the packages whose purge was asked since.
func (s *Store) Purges(ctx context.Context, since time.Time) ([]string, error) {
	var out []string
	err := s.read(ctx).Model(&RelayPurge{}).Where("requested_at >= ?", utc(since)).Order("package_id").Pluck("package_id", &out).Error
	if err != nil {
		return nil, fmt.Errorf("relay purges: %w", translate(err))
	}
	return out, nil
}

// SiteByName returns the site named name.
func (s *Store) SiteByName(ctx context.Context, name string) (*Site, error) {
	var site Site
	if err := s.read(ctx).Where("name = ?", name).Take(&site).Error; err != nil {
		return nil, fmt.Errorf("site %q: %w", name, translate(err))
	}
	return &site, nil
}
