package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// Record stores a full inventory in one transaction and returns after the
// commit. Both agent protocols' inventories go through it.
//
// The computer is found by DeviceID, else by the duplicate rule (same name,
// case-insensitive, same Serial and same FirstMAC, all non-empty) or by
// snap.OldDeviceID; a duplicate found that way keeps its ID and takes the
// new DeviceID. A computer with a Shoal agent identity is never a
// duplicate: it is never renamed, merged or deleted by another inventory.
// Each computer a merge deletes is recorded in the audit log, and every
// merge (a takeover of the new DeviceID included) in computer_merges for
// the duplicates page; device IDs an administrator split apart
// (SplitMerge) are never merged again. When a
// DeviceID match and a different duplicate both exist, the duplicate's
// deployments (and account info, if the match has none) are moved to the
// match and the duplicate is deleted. The computer row is then updated,
// every inventory table and the download history are replaced, and account
// info follows the OCS rule: a new computer (or one without stored account
// info) stores what the agent sent; otherwise the server wins and
// AccountUpdate reports a difference. Deployments are not touched. An
// inventory of a known computer writes what changed since the stored one
// to the computer's change history (history.go; the software part is
// written by the store from the rows it replaces): a first inventory
// writes none.
func Record(ctx context.Context, st *store.Store, snap *store.InventorySnapshot) (*store.IngestResult, error) {
	if snap == nil {
		return nil, fmt.Errorf("ingest inventory: nil snapshot: %w", store.ErrInvalid)
	}
	c, err := normalizeComputer(snap)
	if err != nil {
		return nil, fmt.Errorf("ingest inventory: %w", err)
	}
	sentAccount := normalizeAccount(snap.AccountInfo)
	history := normalizeHistory(snap.History)

	var res *store.IngestResult
	// Concurrent inventories commit together (store.TxGrouped): a first
	// inventory's software rows dirty hundreds of index pages, which a
	// group writes once.
	err = st.TxGrouped(ctx, func(tx *store.Store) error {
		var err error
		res, err = ingest(ctx, tx, c, snap, sentAccount, history)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest inventory %s: %w", c.DeviceID, err)
	}
	return res, nil
}

// EnrollAgent enrolls a Shoal agent in one transaction: it consumes one use
// of the token with hash tokenHash (store.ErrEnrollRefused when it is not
// usable), records snap like Record (the computer is created or found by
// device ID or the duplicate rule), refuses a revoked computer
// (store.ErrRevoked) and a computer enrolled with another peer ID
// (store.ErrAlreadyEnrolled: the caller proved possession of ident's key,
// so the same peer ID proves the current key), and stores ident for the
// computer, replacing an earlier identity of the same computer or peer ID.
func EnrollAgent(ctx context.Context, st *store.Store, tokenHash string, snap *store.InventorySnapshot, ident *store.AgentIdentity, now time.Time) (*store.IngestResult, error) {
	if snap == nil || ident == nil {
		return nil, fmt.Errorf("enroll agent: nil snapshot or identity: %w", store.ErrInvalid)
	}
	if err := ident.Validate(); err != nil {
		return nil, fmt.Errorf("enroll agent: %w", err)
	}
	snap.Computer.Source = store.SourceShoal
	c, err := normalizeComputer(snap)
	if err != nil {
		return nil, fmt.Errorf("enroll agent: %w", err)
	}
	sentAccount := normalizeAccount(snap.AccountInfo)
	history := normalizeHistory(snap.History)
	now = now.UTC()
	var res *store.IngestResult
	err = st.TxRetryConflicts(ctx, func(tx *store.Store) error {
		tok, err := tx.EnrollmentTokenByHash(ctx, tokenHash)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrEnrollRefused
		}
		if err != nil {
			return err
		}
		if !tok.Usable(now) {
			return store.ErrEnrollRefused
		}
		cur, err := tx.AgentIdentityOfDevice(ctx, c.DeviceID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case cur.PeerID != ident.PeerID:
			return fmt.Errorf("computer %d (peer %s): %w", cur.ComputerID, cur.PeerID, store.ErrAlreadyEnrolled)
		}
		if res, err = ingest(ctx, tx, c, snap, sentAccount, history); err != nil {
			return err
		}
		comp, err := tx.Computer(ctx, res.ComputerID)
		if err != nil {
			return err
		}
		if comp.Revoked {
			return store.ErrRevoked
		}
		if err := tx.UseEnrollmentToken(ctx, tok.ID, now); err != nil {
			return err
		}
		id := *ident
		id.ComputerID, id.DeviceID, id.TokenID = res.ComputerID, comp.DeviceID, tok.ID
		id.EnrolledAt, id.LastSeen = now, now
		if err := tx.ReplaceAgentIdentity(ctx, &id); err != nil {
			return err
		}
		*ident = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enroll agent %s: %w", c.DeviceID, err)
	}
	return res, nil
}

// ingest runs Record's rules in tx for the normalized computer c.
func ingest(ctx context.Context, tx *store.Store, c store.Computer, snap *store.InventorySnapshot, sentAccount []store.AccountInfo, history []string) (*store.IngestResult, error) {
	res := &store.IngestResult{}
	if snap.Anonymous && (proto.ReservedDeviceID(c.DeviceID) || proto.ReservedDeviceID(snap.OldDeviceID)) {
		return nil, fmt.Errorf("device id %q: reserved prefix: %w", c.DeviceID, store.ErrInvalid)
	}
	found, err := tx.ComputerByDeviceID(ctx, c.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		found, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if snap.Anonymous && found != nil {
		managed, err := tx.HasAgentIdentity(ctx, found.ID)
		if err != nil {
			return nil, err
		}
		if managed {
			return nil, fmt.Errorf("computer %d: %w", found.ID, store.ErrShoalManaged)
		}
	}
	dups, err := findDuplicates(ctx, tx, c, snap.OldDeviceID)
	if err != nil {
		return nil, err
	}

	if dups, err = dropSplit(ctx, tx, c.DeviceID, dups); err != nil {
		return nil, err
	}
	reason := func(d *store.Computer) string {
		if old := strings.TrimSpace(snap.OldDeviceID); old != "" && d.DeviceID == old {
			return store.MergeOldDeviceID
		}
		return store.MergeRule
	}
	actor := "inventory " + c.Source

	target := found
	if target == nil && len(dups) > 0 {
		target = &dups[0]
		dups = dups[1:]
		res.PreviousDeviceID = target.DeviceID
		// The computer keeps its row and takes the new device ID: a
		// merge without a deleted computer, shown on the duplicates page.
		if _, err := recordMerge(ctx, tx, target, c.DeviceID, target, reason(target), actor); err != nil {
			return nil, err
		}
	}
	// A Shoal agent's site comes from its connection address or an
	// admin's decision, never from a computer it absorbs or takes over,
	// whose site an anonymous OCS inventory may have chosen by its
	// reported address.
	shoal := c.Source == store.SourceShoal
	keepSite := target != nil && (!shoal || target.Source == store.SourceShoal)
	for i := range dups {
		if err := merge(ctx, tx, target, &dups[i], !shoal); err != nil {
			return nil, err
		}
		res.MergedFrom = append(res.MergedFrom, dups[i].ID)
		if _, err := recordMerge(ctx, tx, target, c.DeviceID, &dups[i], reason(&dups[i]), actor); err != nil {
			return nil, err
		}
		err := tx.RecordAudit(ctx, &store.AuditEvent{At: time.Now().UTC(), Actor: actor, Action: "computer.merge",
			Target: fmt.Sprintf("%d", dups[i].ID),
			Detail: fmt.Sprintf("computer %d %q (device %s) deleted: merged into computer %d (device %s) by the duplicate rule",
				dups[i].ID, dups[i].Name, dups[i].DeviceID, target.ID, c.DeviceID),
			Remote: snap.Remote})
		if err != nil {
			return nil, err
		}
	}

	snap.TrackChanges = target != nil
	snap.NewComputer = target == nil
	if target == nil {
		c.FirstSeen = c.LastInventory
		if err := tx.CreateComputer(ctx, &c); err != nil {
			return nil, err
		}
		res.Created = true
	} else {
		c.ID = target.ID
		c.CreatedAt = target.CreatedAt
		c.FirstSeen = target.FirstSeen
		if c.FirstSeen.IsZero() || c.LastInventory.Before(c.FirstSeen) {
			c.FirstSeen = c.LastInventory
		}
		c.Revoked = target.Revoked
		if c.SiteID == nil && keepSite {
			c.SiteID = target.SiteID
		}
		if err := tx.SaveComputer(ctx, &c); err != nil {
			return nil, err
		}
		// The change history (history.go); software changes are
		// recorded by ReplaceInventory.
		if err := tx.AddHistoryEntries(ctx, computerChanges(target, &c, c.LastInventory)); err != nil {
			return nil, err
		}
	}
	res.ComputerID = c.ID

	if snap.KeepHistory {
		stored, err := tx.History(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		history = normalizeHistory(append(history, stored...))
	}
	if err := tx.ReplaceInventory(ctx, c.ID, snap, history); err != nil {
		return nil, err
	}

	var stored []store.AccountInfo
	if !res.Created {
		if stored, err = tx.AccountInfoOf(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	if len(stored) == 0 {
		if err := tx.ReplaceAccountInfo(ctx, c.ID, sentAccount); err != nil {
			return nil, err
		}
		stored = slices.Clone(sentAccount)
		for i := range stored {
			stored[i].ComputerID = c.ID
		}
	} else {
		res.AccountUpdate = accountDiffers(stored, sentAccount)
	}
	res.AccountInfo = stored
	return res, nil
}

// findDuplicates returns the other computers that the duplicate rule or
// oldDeviceID designate, oldest first. Computers with a Shoal agent
// identity are never duplicates: only their agent changes them.
func findDuplicates(ctx context.Context, tx *store.Store, c store.Computer, oldDeviceID string) ([]store.Computer, error) {
	var dups []store.Computer
	if c.Name != "" && c.Serial != "" && c.FirstMAC != "" {
		var err error
		if dups, err = tx.ComputersLike(ctx, c.Name, c.Serial, c.FirstMAC, c.DeviceID); err != nil {
			return nil, err
		}
	}
	oldDeviceID = strings.TrimSpace(oldDeviceID)
	if oldDeviceID == "" || oldDeviceID == c.DeviceID {
		return dups, nil
	}
	old, err := tx.ComputerByDeviceID(ctx, oldDeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return dups, nil
	}
	if err != nil {
		return nil, err
	}
	managed, err := tx.HasAgentIdentity(ctx, old.ID)
	if err != nil {
		return nil, err
	}
	if !managed && !slices.ContainsFunc(dups, func(d store.Computer) bool { return d.ID == old.ID }) {
		dups = append(dups, *old)
		slices.SortFunc(dups, func(a, b store.Computer) int { return cmp.Compare(a.ID, b.ID) })
	}
	return dups, nil
}

// merge moves dup's deployments (and account info when target has none) to
// target, then deletes dup. Where both have a deployment of the same
// package, target's is kept. With inheritSite, a target without a site
// takes dup's. target keeps the earlier FirstSeen of the two.
func merge(ctx context.Context, tx *store.Store, target, dup *store.Computer, inheritSite bool) error {
	have, err := tx.DeploymentsOf(ctx, target.ID)
	if err != nil {
		return err
	}
	theirs, err := tx.DeploymentsOf(ctx, dup.ID)
	if err != nil {
		return err
	}
	var drop []uint
	for _, d := range theirs {
		if slices.ContainsFunc(have, func(h store.Deployment) bool { return h.PackageID == d.PackageID }) {
			drop = append(drop, d.ID)
		}
	}
	if err := tx.DeleteDeployments(ctx, drop); err != nil {
		return err
	}
	if err := tx.MoveDeployments(ctx, dup.ID, target.ID); err != nil {
		return err
	}
	acct, err := tx.AccountInfoOf(ctx, target.ID)
	if err != nil {
		return err
	}
	if len(acct) == 0 {
		if err := tx.MoveAccountInfo(ctx, dup.ID, target.ID); err != nil {
			return err
		}
	}
	if inheritSite && target.SiteID == nil && dup.SiteID != nil {
		target.SiteID = dup.SiteID
	}
	if !dup.FirstSeen.IsZero() && (target.FirstSeen.IsZero() || dup.FirstSeen.Before(target.FirstSeen)) {
		target.FirstSeen = dup.FirstSeen
	}
	return tx.DeleteComputer(ctx, dup.ID)
}

// normalizeComputer fills the derived fields of c from the snapshot.
func normalizeComputer(snap *store.InventorySnapshot) (store.Computer, error) {
	c := snap.Computer
	c.DeviceID = strings.TrimSpace(c.DeviceID)
	if c.DeviceID == "" {
		return c, fmt.Errorf("empty device id: %w", store.ErrInvalid)
	}
	c.Name = strings.TrimSpace(c.Name)
	if c.Serial == "" {
		c.Serial = snap.BIOS.SystemSerial
	}
	c.Serial = strings.TrimSpace(c.Serial)
	if c.FirstMAC == "" {
		c.FirstMAC = PrimaryMAC(snap.Networks, c.IPAddr)
	}
	c.FirstMAC = strings.ToLower(strings.TrimSpace(c.FirstMAC))
	if c.Source == "" {
		c.Source = store.SourceOCS
	}
	now := time.Now().UTC()
	if c.LastInventory.IsZero() {
		c.LastInventory = now
	}
	if c.LastContact.IsZero() {
		c.LastContact = c.LastInventory
	}
	c.LastInventory, c.LastContact = c.LastInventory.UTC(), c.LastContact.UTC()
	c.ID = 0
	return c, nil
}

// normalizeAccount trims key names, drops empty ones and keeps the last
// value of a repeated key, ordered by key name.
func normalizeAccount(in []store.AccountInfo) []store.AccountInfo {
	m := make(map[string]string, len(in))
	for _, a := range in {
		k := strings.TrimSpace(a.KeyName)
		if k == "" {
			continue
		}
		m[k] = a.KeyValue
	}
	out := make([]store.AccountInfo, 0, len(m))
	for k, v := range m {
		out = append(out, store.AccountInfo{KeyName: k, KeyValue: v})
	}
	slices.SortFunc(out, func(a, b store.AccountInfo) int { return strings.Compare(a.KeyName, b.KeyName) })
	return out
}

func accountDiffers(stored, sent []store.AccountInfo) bool {
	if len(stored) != len(sent) {
		return true
	}
	m := make(map[string]string, len(sent))
	for _, a := range sent {
		m[a.KeyName] = a.KeyValue
	}
	for _, a := range stored {
		v, ok := m[a.KeyName]
		if !ok || v != a.KeyValue {
			return true
		}
	}
	return false
}

func normalizeHistory(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
