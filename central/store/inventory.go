package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto"
)

// ErrShoalManaged reports an anonymous (OCS) inventory or request that
// names a computer with a Shoal agent identity: only that agent, with its
// own secret, may change it.
var ErrShoalManaged = errkind.New(errkind.Forbidden, "store: computer is managed by a Shoal agent")

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

// IngestResult describes what IngestInventory did.
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

// normalizeComputer fills the derived fields of c from the snapshot.
func normalizeComputer(snap *InventorySnapshot) (Computer, error) {
	c := snap.Computer
	c.DeviceID = strings.TrimSpace(c.DeviceID)
	if c.DeviceID == "" {
		return c, fmt.Errorf("empty device id: %w", ErrInvalid)
	}
	c.Name = strings.TrimSpace(c.Name)
	if c.Serial == "" {
		c.Serial = snap.BIOS.SystemSerial
	}
	c.Serial = strings.TrimSpace(c.Serial)
	if c.FirstMAC == "" {
		for _, n := range snap.Networks {
			if m := strings.TrimSpace(n.MACAddr); m != "" {
				c.FirstMAC = m
				break
			}
		}
	}
	c.FirstMAC = strings.ToLower(strings.TrimSpace(c.FirstMAC))
	if c.Source == "" {
		c.Source = SourceOCS
	}
	now := time.Now().UTC()
	if c.LastInventory.IsZero() {
		c.LastInventory = now
	}
	if c.LastContact.IsZero() {
		c.LastContact = c.LastInventory
	}
	c.LastInventory, c.LastContact = utc(c.LastInventory), utc(c.LastContact)
	c.ID = 0
	return c, nil
}

// normalizeAccount trims key names, drops empty ones and keeps the last
// value of a repeated key, ordered by key name.
func normalizeAccount(in []AccountInfo) []AccountInfo {
	m := make(map[string]string, len(in))
	for _, a := range in {
		k := strings.TrimSpace(a.KeyName)
		if k == "" {
			continue
		}
		m[k] = a.KeyValue
	}
	out := make([]AccountInfo, 0, len(m))
	for k, v := range m {
		out = append(out, AccountInfo{KeyName: k, KeyValue: v})
	}
	slices.SortFunc(out, func(a, b AccountInfo) int { return strings.Compare(a.KeyName, b.KeyName) })
	return out
}

func accountDiffers(stored, sent []AccountInfo) bool {
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

// IngestInventory stores a full inventory in one transaction and returns
// after the commit.
//
// The computer is found by DeviceID, else by the duplicate rule (same name,
// case-insensitive, same Serial and same FirstMAC, all non-empty) or by
// snap.OldDeviceID; a duplicate found that way keeps its ID and takes the
// new DeviceID. A computer with a Shoal agent identity is never a
// duplicate: it is never renamed, merged or deleted by another inventory.
// Each computer a merge deletes is recorded in the audit log. When a DeviceID match and a different duplicate both exist,
// the duplicate's deployments (and account info, if the match has none) are
// moved to the match and the duplicate is deleted. The computer row is then
// updated, every inventory table and the download history are replaced, and
// account info follows the OCS rule: a new computer (or one without stored
// account info) stores what the agent sent; otherwise the server wins and
// AccountUpdate reports a difference. Deployments are not touched.
func (s *Store) IngestInventory(ctx context.Context, snap *InventorySnapshot) (*IngestResult, error) {
	if snap == nil {
		return nil, fmt.Errorf("ingest inventory: nil snapshot: %w", ErrInvalid)
	}
	c, err := normalizeComputer(snap)
	if err != nil {
		return nil, fmt.Errorf("ingest inventory: %w", err)
	}
	sentAccount := normalizeAccount(snap.AccountInfo)
	history := normalizeHistory(snap.History)

	var res *IngestResult
	err = s.tx(ctx, true, func(tx *gorm.DB) error {
		var err error
		res, err = ingest(tx, c, snap, sentAccount, history)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest inventory %s: %w", c.DeviceID, err)
	}
	return res, nil
}

func ingest(tx *gorm.DB, c Computer, snap *InventorySnapshot, sentAccount []AccountInfo, history []string) (*IngestResult, error) {
	res := &IngestResult{}
	if snap.Anonymous && (proto.ReservedDeviceID(c.DeviceID) || proto.ReservedDeviceID(snap.OldDeviceID)) {
		return nil, fmt.Errorf("device id %q: reserved prefix: %w", c.DeviceID, ErrInvalid)
	}
	var found []Computer
	if err := tx.Where("device_id = ?", c.DeviceID).Limit(1).Find(&found).Error; err != nil {
		return nil, err
	}
	if snap.Anonymous && len(found) == 1 {
		managed, err := hasIdentity(tx, found[0].ID)
		if err != nil {
			return nil, err
		}
		if managed {
			return nil, fmt.Errorf("computer %d: %w", found[0].ID, ErrShoalManaged)
		}
	}
	dups, err := findDuplicates(tx, c, snap.OldDeviceID)
	if err != nil {
		return nil, err
	}

	var target *Computer
	switch {
	case len(found) == 1:
		target = &found[0]
	case len(dups) > 0:
		target = &dups[0]
		dups = dups[1:]
		res.PreviousDeviceID = target.DeviceID
	}
	// A Shoal agent's site comes from its connection address or an
	// admin's decision, never from a computer it absorbs or takes over,
	// whose site an anonymous OCS inventory may have chosen by its
	// reported address.
	shoal := c.Source == SourceShoal
	keepSite := target != nil && (!shoal || target.Source == SourceShoal)
	for i := range dups {
		if err := mergeComputer(tx, target, &dups[i], !shoal); err != nil {
			return nil, err
		}
		res.MergedFrom = append(res.MergedFrom, dups[i].ID)
		if err := tx.Create(&AuditEvent{At: time.Now().UTC(), Actor: "inventory " + c.Source, Action: "computer.merge",
			Target: fmt.Sprintf("%d", dups[i].ID),
			Detail: cut(fmt.Sprintf("computer %d %q (device %s) deleted: merged into computer %d (device %s) by the duplicate rule",
				dups[i].ID, dups[i].Name, dups[i].DeviceID, target.ID, c.DeviceID), maxAuditDetail),
			Remote: cut(snap.Remote, maxAuditField)}).Error; err != nil {
			return nil, err
		}
	}

	if target == nil {
		c.FirstSeen = c.LastInventory
		if err := tx.Create(&c).Error; err != nil {
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
		if err := tx.Save(&c).Error; err != nil {
			return nil, err
		}
	}
	res.ComputerID = c.ID

	if snap.KeepHistory {
		var stored []string
		if err := tx.Model(&DownloadHistory{}).Where("computer_id = ?", c.ID).Pluck("package_id", &stored).Error; err != nil {
			return nil, err
		}
		history = normalizeHistory(append(history, stored...))
	}
	hist := make([]DownloadHistory, len(history))
	for i, id := range history {
		hist[i].PackageID = id
	}
	for _, replace := range []func() error{
		func() error { return replaceRows(tx, c.ID, []BIOS{snap.BIOS}) },
		func() error { return replaceRows(tx, c.ID, snap.CPUs) },
		func() error { return replaceRows(tx, c.ID, snap.Memories) },
		func() error { return replaceRows(tx, c.ID, snap.Storages) },
		func() error { return replaceRows(tx, c.ID, snap.Drives) },
		func() error { return replaceRows(tx, c.ID, snap.Networks) },
		func() error { return replaceRows(tx, c.ID, snap.Softwares) },
		func() error { return replaceRows(tx, c.ID, snap.Controllers) },
		func() error { return replaceRows(tx, c.ID, hist) },
	} {
		if err := replace(); err != nil {
			return nil, err
		}
	}

	var stored []AccountInfo
	if !res.Created {
		if err := tx.Where("computer_id = ?", c.ID).Order("key_name").Find(&stored).Error; err != nil {
			return nil, err
		}
	}
	if len(stored) == 0 {
		if err := replaceRows(tx, c.ID, sentAccount); err != nil {
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

// hasIdentity reports whether a computer has a Shoal agent identity.
func hasIdentity(tx *gorm.DB, computerID uint) (bool, error) {
	var n int64
	if err := tx.Model(&AgentIdentity{}).Where("computer_id = ?", computerID).Count(&n).Error; err != nil {
		return false, err
	}
	return n > 0, nil
}

// findDuplicates returns the other computers that the duplicate rule or
// oldDeviceID designate, oldest first. Computers with a Shoal agent
// identity are never duplicates: only their agent changes them.
func findDuplicates(tx *gorm.DB, c Computer, oldDeviceID string) ([]Computer, error) {
	var dups []Computer
	managed := tx.Model(&AgentIdentity{}).Select("computer_id")
	if c.Name != "" && c.Serial != "" && c.FirstMAC != "" {
		err := tx.Where("LOWER(name) = LOWER(?) AND serial = ? AND first_mac = ? AND device_id <> ? AND id NOT IN (?)",
			c.Name, c.Serial, c.FirstMAC, c.DeviceID, managed).Order("id").Find(&dups).Error
		if err != nil {
			return nil, err
		}
	}
	oldDeviceID = strings.TrimSpace(oldDeviceID)
	if oldDeviceID != "" && oldDeviceID != c.DeviceID {
		var old []Computer
		if err := tx.Where("device_id = ? AND id NOT IN (?)", oldDeviceID, managed).Limit(1).Find(&old).Error; err != nil {
			return nil, err
		}
		if len(old) == 1 && !slices.ContainsFunc(dups, func(d Computer) bool { return d.ID == old[0].ID }) {
			dups = append(dups, old[0])
			slices.SortFunc(dups, func(a, b Computer) int { return cmp.Compare(a.ID, b.ID) })
		}
	}
	return dups, nil
}

// mergeComputer moves dup's deployments (and account info when target has
// none) to target, then deletes dup. Where both have a deployment of the
// same package, target's is kept. With inheritSite, a target without a
// site takes dup's.
func mergeComputer(tx *gorm.DB, target, dup *Computer, inheritSite bool) error {
	same := tx.Model(&Deployment{}).Select("package_id").Where("computer_id = ?", target.ID)
	dupIDs := tx.Model(&Deployment{}).Select("id").Where("computer_id = ? AND package_id IN (?)", dup.ID, same)
	if err := tx.Where("deployment_id IN (?)", dupIDs).Delete(&DeploymentEvent{}).Error; err != nil {
		return err
	}
	if err := tx.Where("computer_id = ? AND package_id IN (?)", dup.ID, same).Delete(&Deployment{}).Error; err != nil {
		return err
	}
	if err := tx.Model(&Deployment{}).Where("computer_id = ?", dup.ID).Update("computer_id", target.ID).Error; err != nil {
		return err
	}
	var n int64
	if err := tx.Model(&AccountInfo{}).Where("computer_id = ?", target.ID).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		if err := tx.Model(&AccountInfo{}).Where("computer_id = ?", dup.ID).Update("computer_id", target.ID).Error; err != nil {
			return err
		}
	}
	if inheritSite && target.SiteID == nil && dup.SiteID != nil {
		target.SiteID = dup.SiteID
	}
	if !dup.FirstSeen.IsZero() && (target.FirstSeen.IsZero() || dup.FirstSeen.Before(target.FirstSeen)) {
		target.FirstSeen = dup.FirstSeen
	}
	return deleteComputerRows(tx, dup.ID)
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
