package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kinds of HistoryEntry.
const (
	ChangeSoftwareInstalled  = "software.installed"
	ChangeSoftwareRemoved    = "software.removed"
	ChangeSoftwareUpgraded   = "software.upgraded"
	ChangeSoftwareDowngraded = "software.downgraded"
	// ChangeHardware is a hardware fact of the computer (memory, CPU,
	// serial, a disk) that changed; Subject names it.
	ChangeHardware = "hardware"
	// ChangeOS is the operating system's name, version or architecture.
	ChangeOS = "os"
	// ChangeNetwork is the computer's address or primary MAC.
	ChangeNetwork = "network"
	// ChangeSite is the computer's site (Old and New hold site IDs, empty
	// for none).
	ChangeSite = "site"
	// ChangeName is the computer's name.
	ChangeName = "name"
)

// HistoryEntry is one entry of a computer's change history, written by
// an inventory that differs from the previous one: Subject is what changed
// (a software name, "memory_mb", …), Old and New its values.
type HistoryEntry struct {
	ID         uint      `gorm:"primaryKey"`
	ComputerID uint      `gorm:"not null;index:idx_computer_history_computer_at,priority:1"`
	At         time.Time `gorm:"not null;index:idx_computer_history_computer_at,priority:2;index"`
	Kind       string    `gorm:"not null"`
	Subject    string
	Old        string
	New        string
}

// TableName implements gorm's tabler.
func (HistoryEntry) TableName() string { return "computer_history" }

func (r *HistoryEntry) setOwner(id uint) { r.ID, r.ComputerID = 0, id }

// AddHistoryEntries stores changes of a computer.
func (s *Store) AddHistoryEntries(ctx context.Context, changes []HistoryEntry) error {
	if len(changes) == 0 {
		return nil
	}
	if err := s.write(ctx).CreateInBatches(slices.Clone(changes), batchSize).Error; err != nil {
		return fmt.Errorf("add computer changes: %w", translate(err))
	}
	return nil
}

// ComputerHistory returns a computer's change history, newest first, at
// most limit entries (1..10000).
func (s *Store) ComputerHistory(ctx context.Context, computerID uint, limit int) ([]HistoryEntry, error) {
	if limit < 1 || limit > 10000 {
		limit = 10000
	}
	var out []HistoryEntry
	err := s.read(ctx).Where("computer_id = ?", computerID).Order("at DESC, id DESC").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("changes of computer %d: %w", computerID, translate(err))
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}

// PruneHistory deletes the change history older than before and
// returns how many entries it deleted.
func (s *Store) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	res := s.write(ctx).Where("at < ?", before.UTC()).Delete(&HistoryEntry{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune computer changes: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// softwareChanges turns the software rows an ingest dropped and added into
// history entries: per name, a version that went away while another came
// is an upgrade (or downgrade), the others are removals and installs. Rows
// dropped and added with the same name and version (another field
// changed) are no change.
func softwareChanges(computerID uint, at time.Time, dropped, added []Software) []HistoryEntry {
	if len(dropped) == 0 && len(added) == 0 {
		return nil
	}
	type versions struct{ old, new []string }
	byName := map[string]*versions{}
	get := func(name string) *versions {
		v := byName[name]
		if v == nil {
			v = &versions{}
			byName[name] = v
		}
		return v
	}
	for i := range dropped {
		v := get(dropped[i].Name)
		v.old = append(v.old, dropped[i].Version)
	}
	for i := range added {
		v := get(added[i].Name)
		v.new = append(v.new, added[i].Version)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []HistoryEntry
	add := func(kind, name, old, new string) {
		out = append(out, HistoryEntry{ComputerID: computerID, At: at, Kind: kind, Subject: name, Old: old, New: new})
	}
	for _, name := range names {
		v := byName[name]
		old, new := slices.Clone(v.old), slices.Clone(v.new)
		// Versions on both sides did not change (another field did).
		for i := 0; i < len(old); {
			if j := slices.Index(new, old[i]); j >= 0 {
				new = slices.Delete(new, j, j+1)
				old = slices.Delete(old, i, i+1)
				continue
			}
			i++
		}
		sortVersions(old)
		sortVersions(new)
		for len(old) > 0 && len(new) > 0 {
			kind := ChangeSoftwareUpgraded
			if CompareVersions(new[0], old[0]) < 0 {
				kind = ChangeSoftwareDowngraded
			}
			add(kind, name, old[0], new[0])
			old, new = old[1:], new[1:]
		}
		for _, o := range old {
			add(ChangeSoftwareRemoved, name, o, "")
		}
		for _, n := range new {
			add(ChangeSoftwareInstalled, name, "", n)
		}
	}
	return out
}

func sortVersions(v []string) {
	slices.SortFunc(v, func(a, b string) int {
		if c := CompareVersions(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}
