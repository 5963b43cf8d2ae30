package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shoal-project/shoal/internal/errkind"
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

// RelayRevocation keeps the peer ID of a deleted or replaced relay refused
// until the peer record central signed for it expires.
type RelayRevocation struct {
	PeerID    string `gorm:"primaryKey"`
	RelayName string
	Expires   time.Time `gorm:"index"`
}

// TableName implements gorm's tabler.
func (RelayRevocation) TableName() string { return "relay_revocations" }

func relayModels() []any { return []any{&Relay{}, &RelayPurge{}, &RelayRevocation{}} }

// revokeRelays deletes the relays matched by where and keeps their peer IDs
// (except keep) refused until their records expire.
func revokeRelays(tx *gorm.DB, keep string, now time.Time, where string, args ...any) (int64, error) {
	var old []Relay
	if err := tx.Where(where, args...).Find(&old).Error; err != nil {
		return 0, err
	}
	for _, r := range old {
		if r.PeerID == "" || r.PeerID == keep || !r.RecordExpires.After(now) {
			continue
		}
		rev := RelayRevocation{PeerID: r.PeerID, RelayName: r.Name, Expires: utc(r.RecordExpires)}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&rev).Error; err != nil {
			return 0, err
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	// The relays were told their site's gossip key (site_gossip.go).
	sites := map[uint]bool{}
	for _, r := range old {
		if !sites[r.SiteID] {
			sites[r.SiteID] = true
			if err := rotateGossipKeyTx(tx, r.SiteID, now); err != nil {
				return 0, err
			}
		}
	}
	res := tx.Where(where, args...).Delete(&Relay{})
	return res.RowsAffected, res.Error
}

// ErrRelayExists reports an enrollment under the name (or peer ID) of a
// relay that is still enrolled: an admin removes that relay first.
var ErrRelayExists = errkind.New(errkind.Conflict, "store: relay already enrolled")

// useRelayToken consumes one use of the relay token with hash tokenHash
// for relay r inside tx: ErrEnrollRefused when the token is unknown,
// revoked, expired or used up, ErrTokenKind when it is an agent token,
// ErrTokenTarget when it is bound to another site or relay name.
func useRelayToken(tx *gorm.DB, tokenHash string, r *Relay, now time.Time) error {
	var tok EnrollmentToken
	if err := tx.Where("hash = ?", tokenHash).Take(&tok).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrEnrollRefused
		}
		return err
	}
	switch {
	case !tok.Usable(now):
		return ErrEnrollRefused
	case tok.KindOrAgent() != TokenKindRelay:
		return fmt.Errorf("token %q is an %s token, not a relay token: %w", tok.Name, tok.KindOrAgent(), ErrTokenKind)
	case tok.SiteID == nil || *tok.SiteID != r.SiteID || tok.RelayName != r.Name:
		return fmt.Errorf("token %q enrolls relay %q of another site or name: %w", tok.Name, tok.RelayName, ErrTokenTarget)
	}
	return tx.Model(&EnrollmentToken{}).Where("id = ?", tok.ID).
		Updates(map[string]any{"uses": gorm.Expr("uses + 1"), "last_used": now}).Error
}

// EnrollRelay consumes one use of the relay token with hash tokenHash and
// stores r. The token must be a relay token bound to r's site and name
// (see useRelayToken). A relay of the same name or peer ID that is still
// enrolled is never replaced: ErrRelayExists, until an admin removes it
// (DeleteRelay). A refusal changes nothing, not even the token's uses.
func (s *Store) EnrollRelay(ctx context.Context, tokenHash string, r *Relay, now time.Time) error {
	now = utc(now)
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		if err := useRelayToken(tx, tokenHash, r, now); err != nil {
			return err
		}
		var old Relay
		err := tx.Where("name = ? OR peer_id = ?", r.Name, r.PeerID).Take(&old).Error
		if err == nil {
			return fmt.Errorf("relay %s (peer %s) is enrolled; remove relay %s first, then enroll again: %w", old.Name, old.PeerID, old.Name, ErrRelayExists)
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		// A removed relay's peer ID stays refused; enrolling it again
		// with a new relay token (an admin's decision) trusts it again.
		if err := tx.Where("peer_id = ?", r.PeerID).Delete(&RelayRevocation{}).Error; err != nil {
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

// Relay returns the relay with the given ID.
func (s *Store) Relay(ctx context.Context, id uint) (*Relay, error) {
	var r Relay
	if err := s.read(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("relay %d: %w", id, translate(err))
	}
	return &r, nil
}

// DeleteRelay removes a relay: its secret stops working at once, its site
// stops using it, and its peer ID stays refused (RevokedPeerIDs) until the
// peer record central signed for it expires.
func (s *Store) DeleteRelay(ctx context.Context, id uint, now time.Time) error {
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		n, err := revokeRelays(tx, "", utc(now), "id = ?", id)
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete relay %d: %w", id, translate(err))
	}
	return nil
}

// RelayRevokedPeerIDs lists the peer IDs of deleted or replaced relays
// whose peer records have not expired at now.
func (s *Store) RelayRevokedPeerIDs(ctx context.Context, now time.Time) ([]string, error) {
	var out []string
	err := s.read(ctx).Model(&RelayRevocation{}).Where("expires > ?", utc(now)).Order("peer_id").Pluck("peer_id", &out).Error
	if err != nil {
		return nil, fmt.Errorf("revoked relay peer IDs: %w", translate(err))
	}
	return out, nil
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
	pkgs := db.Model(&Deployment{}).Select("package_id").Where("computer_id IN (?) AND state IN ?", comps, unfinishedStates)
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

// unfinishedStates are the deployment states a relay keeps a package for.
var unfinishedStates = []string{StateWaiting, StateNotified, StateDownloading, StateDownloaded, StateRunning}

// RelaysKeeping counts the relays whose site still has unfinished
// deployments of package id: they ignore a purge of it until those finish
// (the package is active for them, see RelayPackages).
func (s *Store) RelaysKeeping(ctx context.Context, id string) (int64, error) {
	db := s.read(ctx)
	sites := db.Model(&Computer{}).Select("site_id").Where("site_id IS NOT NULL AND id IN (?)",
		db.Model(&Deployment{}).Select("computer_id").Where("package_id = ? AND state IN ?", id, unfinishedStates))
	var n int64
	if err := db.Model(&Relay{}).Where("site_id IN (?)", sites).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("relays keeping %s: %w", id, translate(err))
	}
	return n, nil
}

// deleteSiteRelays removes the relays of a site being deleted (a relay
// serves one site; without it nobody is sent to the relay) and the site's
// gossip key. Their peer IDs stay refused until their records expire.
func deleteSiteRelays(tx *gorm.DB, siteID uint, now time.Time) error {
	if _, err := revokeRelays(tx, "", utc(now), "site_id = ?", siteID); err != nil {
		return err
	}
	return deleteSiteGossipKeys(tx, siteID)
}
