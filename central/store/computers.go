package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/shoal-project/shoal/internal/errkind"
)

// ErrShoalManaged reports an anonymous (OCS) inventory or request that
// names a computer with a Shoal agent identity: only that agent, with its
// own secret, may change it.
var ErrShoalManaged = errkind.New(errkind.Forbidden, "store: computer is managed by a Shoal agent")

// CreateComputer inserts a computer row; c.ID is set.
func (s *Store) CreateComputer(ctx context.Context, c *Computer) error {
	if err := s.write(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create computer %s: %w", c.DeviceID, translate(err))
	}
	return nil
}

// SaveComputer writes every field of an existing computer row.
func (s *Store) SaveComputer(ctx context.Context, c *Computer) error {
	if err := s.write(ctx).Save(c).Error; err != nil {
		return fmt.Errorf("save computer %d: %w", c.ID, translate(err))
	}
	return nil
}

// ComputersLike returns the computers without a Shoal agent identity whose
// name (case-insensitive), serial and first MAC equal the given ones, other
// than the one with device ID exceptDeviceID, oldest first.
func (s *Store) ComputersLike(ctx context.Context, name, serial, firstMAC, exceptDeviceID string) ([]Computer, error) {
	db := s.read(ctx)
	var out []Computer
	err := db.Where("LOWER(name) = LOWER(?) AND serial = ? AND first_mac = ? AND device_id <> ? AND id NOT IN (?)",
		name, serial, firstMAC, exceptDeviceID, db.Model(&AgentIdentity{}).Select("computer_id")).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("computers like %q: %w", name, translate(err))
	}
	return out, nil
}

// deleteComputerRows deletes a computer and everything that refers to it.
func deleteComputerRows(tx *gorm.DB, id uint) error {
	// Its agent knew the site's gossip key (site_gossip.go).
	if err := rotateAgentSiteKeys(tx, time.Now(), "id = ?", id); err != nil {
		return err
	}
	models := append(slices.Clone(childModels), &AccountInfo{}, &DownloadHistory{}, &HistoryEntry{})
	for _, m := range models {
		if err := tx.Where("computer_id = ?", id).Delete(m).Error; err != nil {
			return err
		}
	}
	deps := tx.Model(&Deployment{}).Select("id").Where("computer_id = ?", id)
	if err := tx.Where("deployment_id IN (?)", deps).Delete(&DeploymentEvent{}).Error; err != nil {
		return err
	}
	if err := tx.Where("computer_id = ?", id).Delete(&Deployment{}).Error; err != nil {
		return err
	}
	return tx.Delete(&Computer{}, id).Error
}

// ComputerByDeviceID returns the computer with the given DeviceID.
func (s *Store) ComputerByDeviceID(ctx context.Context, deviceID string) (*Computer, error) {
	var c Computer
	if err := s.read(ctx).Where("device_id = ?", deviceID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("computer %s: %w", deviceID, translate(err))
	}
	return &c, nil
}

// ExistingComputerIDs returns those of ids that name a computer, in no
// particular order.
func (s *Store) ExistingComputerIDs(ctx context.Context, ids []uint) ([]uint, error) {
	db := s.read(ctx)
	var out []uint
	for _, chunk := range chunks(ids) {
		var known []uint
		if err := db.Model(&Computer{}).Where("id IN ?", chunk).Pluck("id", &known).Error; err != nil {
			return nil, fmt.Errorf("existing computers: %w", translate(err))
		}
		out = append(out, known...)
	}
	return out, nil
}

// ComputerOSNames returns the OS name of each of the computers ids that
// exists (unknown IDs are left out).
func (s *Store) ComputerOSNames(ctx context.Context, ids []uint) (map[uint]string, error) {
	db := s.read(ctx)
	out := make(map[uint]string, len(ids))
	for _, chunk := range chunks(ids) {
		var rows []struct {
			ID     uint
			OSName string
		}
		if err := db.Model(&Computer{}).Select("id", "os_name").Where("id IN ?", chunk).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("computer os names: %w", translate(err))
		}
		for _, r := range rows {
			out[r.ID] = r.OSName
		}
	}
	return out, nil
}

// Computer returns the computer with the given ID.
func (s *Store) Computer(ctx context.Context, id uint) (*Computer, error) {
	var c Computer
	if err := s.read(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("computer %d: %w", id, translate(err))
	}
	return &c, nil
}

// ComputerDetail is a computer with its whole inventory, account info,
// history and deployments.
type ComputerDetail struct {
	Computer
	BIOS        *BIOS
	CPUs        []CPU
	Memories    []Memory
	Storages    []Storage
	Drives      []Drive
	Networks    []Network
	Softwares   []Software
	Controllers []Controller
	Monitors    []Monitor
	Printers    []Printer
	Videos      []Video
	LocalUsers  []LocalUser
	AccountInfo []AccountInfo
	History     []string
	Deployments []Deployment
}

// ComputerDetail returns the computer and everything stored about it, read
// in one consistent snapshot.
func (s *Store) ComputerDetail(ctx context.Context, id uint) (*ComputerDetail, error) {
	d := &ComputerDetail{}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.driver == DriverPostgres {
		// SQLite read transactions are snapshots already; the ncruces
		// driver rejects explicit isolation levels.
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := s.read(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("id = ?", id).Take(&d.Computer).Error; err != nil {
			return err
		}
		var bios []BIOS
		by := func(dest any, order string) func() error {
			return func() error { return tx.Where("computer_id = ?", id).Order(order).Find(dest).Error }
		}
		for _, load := range []func() error{
			by(&bios, "id"),
			by(&d.CPUs, "id"),
			by(&d.Memories, "id"),
			by(&d.Storages, "id"),
			by(&d.Drives, "id"),
			by(&d.Networks, "id"),
			by(&d.Softwares, "name, id"),
			by(&d.Controllers, "id"),
			by(&d.Monitors, "id"),
			by(&d.Printers, "id"),
			by(&d.Videos, "id"),
			by(&d.LocalUsers, "id"),
			by(&d.AccountInfo, "key_name"),
			by(&d.Deployments, "id"),
			func() error {
				return tx.Model(&DownloadHistory{}).Where("computer_id = ?", id).Order("package_id").Pluck("package_id", &d.History).Error
			},
		} {
			if err := load(); err != nil {
				return err
			}
		}
		if len(bios) > 0 {
			d.BIOS = &bios[0]
		}
		return nil
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("computer detail %d: %w", id, translate(err))
	}
	return d, nil
}

// DeleteComputer deletes a computer with its inventory, history, account
// info and deployments.
func (s *Store) DeleteComputer(ctx context.Context, id uint) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Computer{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return deleteComputerRows(tx, id)
	})
	if err != nil {
		return fmt.Errorf("delete computer %d: %w", id, err)
	}
	return nil
}

// SetComputerSite assigns a computer to a site, or to none when siteID is
// nil. Moving a computer with a Shoal agent out of a site rotates that
// site's gossip key.
func (s *Store) SetComputerSite(ctx context.Context, id uint, siteID *uint) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if siteID != nil {
			var n int64
			if err := tx.Model(&Site{}).Where("id = ?", *siteID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("site %d: %w", *siteID, ErrNotFound)
			}
			if err := rotateAgentSiteKeys(tx, time.Now(), "id = ? AND site_id <> ?", id, *siteID); err != nil {
				return err
			}
		} else if err := rotateAgentSiteKeys(tx, time.Now(), "id = ?", id); err != nil {
			return err
		}
		r := tx.Model(&Computer{}).Where("id = ?", id).Update("site_id", siteID)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set computer %d site: %w", id, err)
	}
	return nil
}

// SetComputerRevoked marks a computer as revoked (or not). Revoking a
// computer with a Shoal agent rotates its site's gossip key.
func (s *Store) SetComputerRevoked(ctx context.Context, id uint, revoked bool) error {
	err := s.tx(ctx, true, func(tx *gorm.DB) error {
		r := tx.Model(&Computer{}).Where("id = ?", id).Update("revoked", revoked)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return ErrNotFound
		}
		if !revoked {
			return nil
		}
		return rotateAgentSiteKeys(tx, time.Now(), "id = ?", id)
	})
	if err != nil {
		return fmt.Errorf("revoke computer %d: %w", id, translate(err))
	}
	return nil
}
