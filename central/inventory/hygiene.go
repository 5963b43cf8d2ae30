package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// StalePurgeSetting is the settings key of the automatic purge of stale
// computers: a StalePurge, off (0 days) by default.
const StalePurgeSetting = "stale_purge"

// StalePurge is the automatic purge setting: computers not seen (no
// inventory, PROLOG or agent contact) for Days days are deleted. Days 0
// turns the purge off.
type StalePurge struct {
	Days int `json:"days"`
}

// MaxStaleDays bounds StalePurge.Days (ten years).
const MaxStaleDays = 3650

// Validate refuses a negative or absurd number of days.
func (p StalePurge) Validate() error {
	if p.Days < 0 || p.Days > MaxStaleDays {
		return fmt.Errorf("stale purge after %d days: want 0 (off) to %d: %w", p.Days, MaxStaleDays, store.ErrInvalid)
	}
	return nil
}

// recordMerge stores the merge of dup into target (which took deviceID) in
// tx. A device ID takeover (dup is target under its former device ID) is
// recorded with MergedID = TargetID.
func recordMerge(ctx context.Context, tx *store.Store, target *store.Computer, deviceID string, dup *store.Computer, reason, actor string) (*store.ComputerMerge, error) {
	m := &store.ComputerMerge{
		At: time.Now().UTC(), TargetID: target.ID, TargetDeviceID: deviceID, MergedID: dup.ID,
		MergedDeviceID: dup.DeviceID, MergedName: dup.Name, MergedSerial: dup.Serial, MergedMAC: dup.FirstMAC,
		Reason: reason, Actor: actor,
	}
	return m, tx.RecordMerge(ctx, m)
}

// dropSplit removes from dups the computers an administrator split from
// deviceID: the duplicate rule never merges them again.
func dropSplit(ctx context.Context, tx *store.Store, deviceID string, dups []store.Computer) ([]store.Computer, error) {
	if len(dups) == 0 {
		return dups, nil
	}
	split, err := tx.SplitDeviceIDs(ctx, deviceID)
	if err != nil || len(split) == 0 {
		return dups, err
	}
	return slices.DeleteFunc(dups, func(d store.Computer) bool { return slices.Contains(split, d.DeviceID) }), nil
}

// MergeComputers merges computer dupID into targetID as the duplicate rule
// does (deployments, account info when target has none, site, first seen),
// deletes dupID and records the merge with reason store.MergeManual. A
// computer with a Shoal agent identity is never the one deleted
// (store.ErrShoalManaged): its agent would lose its identity.
func MergeComputers(ctx context.Context, st *store.Store, targetID, dupID uint, actor string) (*store.ComputerMerge, error) {
	if targetID == dupID {
		return nil, fmt.Errorf("merge computer %d into itself: %w", dupID, store.ErrInvalid)
	}
	var rec *store.ComputerMerge
	err := st.Tx(ctx, func(tx *store.Store) error {
		target, err := tx.Computer(ctx, targetID)
		if err != nil {
			return err
		}
		dup, err := tx.Computer(ctx, dupID)
		if err != nil {
			return err
		}
		managed, err := tx.HasAgentIdentity(ctx, dup.ID)
		if err != nil {
			return err
		}
		if managed {
			return fmt.Errorf("computer %d: %w", dup.ID, store.ErrShoalManaged)
		}
		if err := merge(ctx, tx, target, dup, true); err != nil {
			return err
		}
		if err := tx.SaveComputer(ctx, target); err != nil {
			return err
		}
		rec, err = recordMerge(ctx, tx, target, target.DeviceID, dup, store.MergeManual, actor)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("merge computer %d into %d: %w", dupID, targetID, err)
	}
	return rec, nil
}

// SplitMerge undoes merge mergeID as far as the record allows: the merged
// computer is created again, empty, under its device ID, name, serial and
// MAC (its agent's next inventory fills it), and the duplicate rule never
// merges the two device IDs again. Deployments stay with the survivor. A
// merge split already, or whose device ID is in use again, is
// store.ErrConflict.
func SplitMerge(ctx context.Context, st *store.Store, mergeID uint) (*store.Computer, *store.ComputerMerge, error) {
	var c *store.Computer
	var m *store.ComputerMerge
	err := st.Tx(ctx, func(tx *store.Store) error {
		var err error
		if m, err = tx.Merge(ctx, mergeID); err != nil {
			return err
		}
		if m.SplitAt != nil {
			return fmt.Errorf("split already at %s: %w", m.SplitAt.Format(time.RFC3339), store.ErrConflict)
		}
		if m.MergedDeviceID == "" || m.MergedDeviceID == m.TargetDeviceID {
			return fmt.Errorf("merge %d has no other device id: %w", mergeID, store.ErrInvalid)
		}
		switch _, err := tx.ComputerByDeviceID(ctx, m.MergedDeviceID); {
		case err == nil:
			return fmt.Errorf("device id %s is in use: %w", m.MergedDeviceID, store.ErrConflict)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		now := time.Now().UTC()
		c = &store.Computer{DeviceID: m.MergedDeviceID, Name: m.MergedName, Serial: m.MergedSerial, FirstMAC: m.MergedMAC,
			Source: store.SourceOCS, FirstSeen: m.At, LastInventory: m.At, LastContact: m.At}
		if err := tx.CreateComputer(ctx, c); err != nil {
			return err
		}
		if err := tx.MarkSplit(ctx, m.ID, c.ID, now); err != nil {
			return err
		}
		m.SplitAt, m.SplitID = &now, &c.ID
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("split merge %d: %w", mergeID, err)
	}
	return c, m, nil
}

// StaleComputers returns the computers not seen since before (no
// inventory, PROLOG or agent contact), at most limit, longest unseen first.
func StaleComputers(ctx context.Context, st *store.Store, before time.Time, limit int) ([]store.Computer, error) {
	cs, err := st.ComputersNotSeenSince(ctx, before, limit)
	if err != nil {
		return nil, fmt.Errorf("stale computers: %w", err)
	}
	return cs, nil
}

// purgeBatch bounds the computers one purge pass deletes.
const purgeBatch = 500

// PurgeStale deletes up to purgeBatch computers not seen since before and
// returns them; onDelete is called for each (for the audit log). A
// computer deleted meanwhile (by another replica) is skipped.
func PurgeStale(ctx context.Context, st *store.Store, before time.Time, onDelete func(store.Computer)) ([]store.Computer, error) {
	cs, err := StaleComputers(ctx, st, before, purgeBatch)
	if err != nil {
		return nil, err
	}
	var done []store.Computer
	for _, c := range cs {
		err := st.DeleteComputer(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("purge stale computers: %w", err)
		}
		done = append(done, c)
		if onDelete != nil {
			onDelete(c)
		}
	}
	return done, nil
}
