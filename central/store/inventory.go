package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// ErrShoalManaged reports an anonymous (OCS) inventory or request that
// names a computer with a Shoal agent identity: only that agent, with its
// own secret, may change it.
var ErrShoalManaged = errors.New("store: computer is managed by a Shoal agent")

// InventorySnapshot is one full inventory of a computer as central/inventory
// hands it to the store. The ID and ComputerID fields of the rows are
// ignored.
type InventorySnapshot struct {
	Computer    Computer
	BIOS        BIOS
	CPUs        []CPU
	Memories    []Memory
	Storages    []Storage
	Drives      []Drive
	Networks    []Network
	Softwares   []Software
	Controllers []Controller
	AccountInfo []AccountInfo
	// History lists the package IDs the agent reports as installed.
	History []string
	// KeepHistory adds History to the stored history instead of replacing
	// it, inside the ingest transaction: a Shoal agent's history only grows,
	// and a result recorded while its inventory was on the way must stay.
	KeepHistory bool
	// OldDeviceID is the agent's previous DEVICEID (Windows OLD_DEVICEID).
	// When it names another computer, that computer is merged into this one.
	OldDeviceID string
	// Anonymous marks an inventory from the unauthenticated OCS endpoint:
	// a device ID (or OldDeviceID) with a reserved prefix is refused
	// (ErrInvalid), and one naming a computer with a Shoal agent identity
	// is refused (ErrShoalManaged), with nothing stored.
	Anonymous bool
	// Remote is the client address, kept in the audit events of merges.
	Remote string
}

// IngestResult describes what an inventory ingest (central/inventory.Record) did.
type IngestResult struct {
	ComputerID uint
	// Created is true when a new computer row was inserted.
	Created bool
	// PreviousDeviceID is set when an existing computer was found by the
	// duplicate rule (or OldDeviceID) and took the new DeviceID; it holds the
	// row's former DeviceID.
	PreviousDeviceID string
	// MergedFrom lists computers that were merged into ComputerID and
	// deleted.
	MergedFrom []uint
	// AccountUpdate is true when the stored account info differs from what
	// the agent sent; the agent must then be told AccountInfo (server wins).
	AccountUpdate bool
	// AccountInfo is the computer's stored account info after the ingest.
	AccountInfo []AccountInfo
}

// owned is implemented by the per-computer child rows.
type owned[T any] interface {
	*T
	setOwner(computerID uint)
}

func (r *BIOS) setOwner(id uint)            { r.ID, r.ComputerID = 0, id }
func (r *CPU) setOwner(id uint)             { r.ID, r.ComputerID = 0, id }
func (r *Memory) setOwner(id uint)          { r.ID, r.ComputerID = 0, id }
func (r *Storage) setOwner(id uint)         { r.ID, r.ComputerID = 0, id }
func (r *Drive) setOwner(id uint)           { r.ID, r.ComputerID = 0, id }
func (r *Network) setOwner(id uint)         { r.ID, r.ComputerID = 0, id }
func (r *Software) setOwner(id uint)        { r.ID, r.ComputerID = 0, id }
func (r *Controller) setOwner(id uint)      { r.ID, r.ComputerID = 0, id }
func (r *AccountInfo) setOwner(id uint)     { r.ID, r.ComputerID = 0, id }
func (r *DownloadHistory) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

// childModels are the tables that hold one computer's inventory and are
// replaced by every ingest.
var childModels = []any{&BIOS{}, &CPU{}, &Memory{}, &Storage{}, &Drive{}, &Network{}, &Software{}, &Controller{}}

// replaceRows deletes computerID's rows of T and inserts copies of rows in
// batches. The caller's slice is not modified.
func replaceRows[T any, P owned[T]](tx *gorm.DB, computerID uint, rows []T) error {
	if err := tx.Where("computer_id = ?", computerID).Delete(P(new(T))).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	cp := slices.Clone(rows)
	for i := range cp {
		P(&cp[i]).setOwner(computerID)
	}
	return tx.CreateInBatches(cp, batchSize).Error
}

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

// ReplaceInventory replaces a computer's inventory tables (BIOS, CPUs,
// memories, storages, drives, networks, softwares, controllers) with the
// rows of snap, and its download history with history.
func (s *Store) ReplaceInventory(ctx context.Context, computerID uint, snap *InventorySnapshot, history []string) error {
	hist := make([]DownloadHistory, len(history))
	for i, id := range history {
		hist[i].PackageID = id
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, replace := range []func() error{
			func() error { return replaceRows(tx, computerID, []BIOS{snap.BIOS}) },
			func() error { return replaceRows(tx, computerID, snap.CPUs) },
			func() error { return replaceRows(tx, computerID, snap.Memories) },
			func() error { return replaceRows(tx, computerID, snap.Storages) },
			func() error { return replaceRows(tx, computerID, snap.Drives) },
			func() error { return replaceRows(tx, computerID, snap.Networks) },
			func() error { return replaceRows(tx, computerID, snap.Softwares) },
			func() error { return replaceRows(tx, computerID, snap.Controllers) },
			func() error { return replaceRows(tx, computerID, hist) },
		} {
			if err := replace(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace inventory of computer %d: %w", computerID, err)
	}
	return nil
}

// AccountInfoOf returns a computer's account info ordered by key name.
func (s *Store) AccountInfoOf(ctx context.Context, computerID uint) ([]AccountInfo, error) {
	var out []AccountInfo
	if err := s.read(ctx).Where("computer_id = ?", computerID).Order("key_name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("account info of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// ReplaceAccountInfo replaces a computer's account info with copies of rows.
func (s *Store) ReplaceAccountInfo(ctx context.Context, computerID uint, rows []AccountInfo) error {
	if err := replaceRows(s.write(ctx), computerID, rows); err != nil {
		return fmt.Errorf("replace account info of computer %d: %w", computerID, translate(err))
	}
	return nil
}

// MoveAccountInfo gives computer from's account info to computer to.
func (s *Store) MoveAccountInfo(ctx context.Context, from, to uint) error {
	if err := s.write(ctx).Model(&AccountInfo{}).Where("computer_id = ?", from).Update("computer_id", to).Error; err != nil {
		return fmt.Errorf("move account info of computer %d to %d: %w", from, to, translate(err))
	}
	return nil
}

// HasAgentIdentity reports whether a computer has a Shoal agent identity.
func (s *Store) HasAgentIdentity(ctx context.Context, computerID uint) (bool, error) {
	var n int64
	if err := s.read(ctx).Model(&AgentIdentity{}).Where("computer_id = ?", computerID).Count(&n).Error; err != nil {
		return false, fmt.Errorf("agent identity of computer %d: %w", computerID, translate(err))
	}
	return n > 0, nil
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
	models := append(slices.Clone(childModels), &AccountInfo{}, &DownloadHistory{})
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

// TouchContact records a PROLOG contact with one UPDATE. known is false (and
// err nil) when no computer has deviceID. An empty userAgent leaves the
// stored one.
func (s *Store) TouchContact(ctx context.Context, deviceID, userAgent string, at time.Time) (uint, bool, error) {
	at = utc(at)
	var ids []uint
	var err error
	if userAgent == "" {
		err = s.write(ctx).Raw("UPDATE computers SET last_contact = ? WHERE device_id = ? RETURNING id",
			at, deviceID).Scan(&ids).Error
	} else {
		err = s.write(ctx).Raw("UPDATE computers SET last_contact = ?, user_agent = ? WHERE device_id = ? RETURNING id",
			at, userAgent, deviceID).Scan(&ids).Error
	}
	if err != nil {
		return 0, false, fmt.Errorf("touch contact %s: %w", deviceID, translate(err))
	}
	if len(ids) == 0 {
		return 0, false, nil
	}
	return ids[0], true, nil
}

// ShoalManaged reports whether the computer with deviceID has a Shoal
// agent identity; an unknown device ID is not managed.
func (s *Store) ShoalManaged(ctx context.Context, deviceID string) (bool, error) {
	var n int64
	err := s.read(ctx).Model(&AgentIdentity{}).
		Where("computer_id IN (?)", s.read(ctx).Model(&Computer{}).Select("id").Where("device_id = ?", deviceID)).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("shoal managed %s: %w", deviceID, translate(err))
	}
	return n > 0, nil
}

// ComputerByDeviceID returns the computer with the given DeviceID.
func (s *Store) ComputerByDeviceID(ctx context.Context, deviceID string) (*Computer, error) {
	var c Computer
	if err := s.read(ctx).Where("device_id = ?", deviceID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("computer %s: %w", deviceID, translate(err))
	}
	return &c, nil
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

// CountRows returns the number of rows of every table, keyed by table name.
func (s *Store) CountRows(ctx context.Context) (map[string]int64, error) {
	out := make(map[string]int64)
	db := s.read(ctx)
	for _, m := range allModels() {
		table := m.(interface{ TableName() string }).TableName()
		var n int64
		if err := db.Model(m).Count(&n).Error; err != nil {
			return nil, fmt.Errorf("count rows %s: %w", table, translate(err))
		}
		out[table] = n
	}
	return out, nil
}
