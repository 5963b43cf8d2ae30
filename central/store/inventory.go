package store

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

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
	Monitors    []Monitor
	Printers    []Printer
	Videos      []Video
	LocalUsers  []LocalUser
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
	// TrackChanges makes ReplaceInventory record the software installed,
	// removed and upgraded since the stored inventory in the computer's
	// change history, at Computer.LastInventory. A first inventory leaves
	// it off: everything would be "installed".
	TrackChanges bool
	// NewComputer tells ReplaceInventory that the computer row was created
	// in the same transaction: it has no inventory rows yet, so none are
	// read or deleted (computer IDs are never reused).
	NewComputer bool
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

func (r *BIOS) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *CPU) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Memory) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Storage) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Drive) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Network) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Software) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *Controller) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *AccountInfo) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

func (r *DownloadHistory) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

// childModels are the tables that hold one computer's inventory and are
// replaced by every ingest.
var childModels = []any{&BIOS{}, &CPU{}, &Memory{}, &Storage{}, &Drive{}, &Network{}, &Software{}, &Controller{},
	&Monitor{}, &Printer{}, &Video{}, &LocalUser{}}

// replaceRows deletes computerID's rows of T, unless the computer is new
// (it has none), and inserts copies of rows in batches. The caller's slice
// is not modified.
func replaceRows[T any, P owned[T]](tx *gorm.DB, computerID uint, rows []T, isNew bool) error {
	if !isNew {
		if err := tx.Where("computer_id = ?", computerID).Delete(P(new(T))).Error; err != nil {
			return err
		}
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

// ReplaceInventory replaces a computer's inventory tables (BIOS, CPUs,
// memories, storages, drives, networks, softwares, controllers, monitors,
// printers, videos, local users) with the
// rows of snap, and its download history with history.
func (s *Store) ReplaceInventory(ctx context.Context, computerID uint, snap *InventorySnapshot, history []string) error {
	hist := make([]DownloadHistory, len(history))
	for i, id := range history {
		hist[i].PackageID = id
	}
	err := s.txStore(ctx, false, func(txs *Store) error {
		tx := txs.w.WithContext(ctx)
		for _, replace := range []func() error{
			func() error { return replaceRows(tx, computerID, []BIOS{snap.BIOS}, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.CPUs, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Memories, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Storages, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Drives, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Networks, snap.NewComputer) },
			func() error {
				written, dropped, added, err := replaceSoftware(tx, txs.names, computerID, slices.Clone(snap.Softwares), snap.NewComputer)
				if err != nil {
					return err
				}
				if len(written) > 0 && txs.names != nil {
					txs.onCommit = append(txs.onCommit, func() { txs.names.add(written) })
				}
				if (len(dropped) > 0 || len(added) > 0) && txs.softwareGen != nil {
					txs.onCommit = append(txs.onCommit, func() { txs.softwareGen.Add(1) })
				}
				if !snap.TrackChanges {
					return nil
				}
				changes := softwareChanges(computerID, snap.Computer.LastInventory.UTC(), dropped, added)
				if len(changes) == 0 {
					return nil
				}
				return tx.CreateInBatches(changes, batchSize).Error
			},
			func() error { return replaceRows(tx, computerID, snap.Controllers, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Monitors, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Printers, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.Videos, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, snap.LocalUsers, snap.NewComputer) },
			func() error { return replaceRows(tx, computerID, hist, snap.NewComputer) },
		} {
			if err := replace(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replace inventory of computer %d: %w", computerID, translate(err))
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
	if err := replaceRows(s.write(ctx), computerID, rows, false); err != nil {
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

// AddHistory adds a package to a computer's download history; a package
// already there is left as it is.
func (s *Store) AddHistory(ctx context.Context, computerID uint, packageID string) error {
	err := s.write(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&DownloadHistory{ComputerID: computerID, PackageID: packageID}).Error
	if err != nil {
		return fmt.Errorf("add package %s to the history of computer %d: %w", packageID, computerID, translate(err))
	}
	return nil
}

// History returns the package IDs in a computer's download history, sorted.
func (s *Store) History(ctx context.Context, computerID uint) ([]string, error) {
	var out []string
	err := s.read(ctx).Model(&DownloadHistory{}).Where("computer_id = ?", computerID).Order("package_id").Pluck("package_id", &out).Error
	if err != nil {
		return nil, fmt.Errorf("history of computer %d: %w", computerID, translate(err))
	}
	return out, nil
}

// SetAccountValue sets one account info key of a computer (the OCS TAG is
// key AccountTag), replacing its value or adding the key. The agent is told
// at its next inventory (ACCOUNT_UPDATE: the server's values win). It
// returns ErrNotFound for an unknown computer.
func (s *Store) SetAccountValue(ctx context.Context, computerID uint, key, value string) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Computer{}).Where("id = ?", computerID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "computer_id"}, {Name: "key_name"}},
			DoUpdates: clause.AssignmentColumns([]string{"key_value"}),
		}).Create(&AccountInfo{ComputerID: computerID, KeyName: key, KeyValue: value}).Error
	})
	if err != nil {
		return fmt.Errorf("set %s of computer %d: %w", key, computerID, translate(err))
	}
	return nil
}

// SoftwareGeneration counts the committed inventories that added or
// removed software on a computer: a cache of the fleet's software (the
// catalog's index) read at one generation is stale at a later one.
func (s *Store) SoftwareGeneration() int64 {
	if s.softwareGen == nil {
		return 0
	}
	return s.softwareGen.Load()
}
