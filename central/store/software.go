package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SoftwareName is one distinct software name of the fleet. A software row
// refers to its name by NameID, a hash of the exact name (SoftwareNameID),
// so that an ingest needs no lookup to number its rows: a search matches
// the few thousand distinct names, then reads the matching rows through the
// (name_id, version_key) index instead of scanning every software row.
// Names are never deleted.
type SoftwareName struct {
	ID   int64  `gorm:"primaryKey;autoIncrement:false"`
	Name string `gorm:"not null"`
	// FirstSeen is when an inventory first reported the name (nil for
	// names stored before the software catalog).
	FirstSeen *time.Time
}

// TableName implements gorm's tabler.
func (SoftwareName) TableName() string { return "software_names" }

// SoftwareNameID is the NameID of the software called name: the first 63
// bits of its FNV-1a hash, never 0. Two names with the same ID (about one
// chance in 10⁸ for a million names) share the first one's name row.
func SoftwareNameID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	id := int64(h.Sum64() >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// maxVersionSegments bounds the segments of a version key.
const maxVersionSegments = 8

// VersionKey returns a text that sorts like the version v: runs of digits
// compare as numbers ("24.00" > "9.20", "1.10" > "1.9") and runs of letters
// as lower-case text; other characters only separate runs. A Debian epoch
// ("2:") is dropped. Versions that differ only in separators or leading
// zeros get the same key ("24.0" and "24.00").
func VersionKey(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i > 0 && isDigits(v[:i]) {
		v = v[i+1:]
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(v) && n < maxVersionSegments; {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			j := i
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			d := strings.TrimLeft(v[i:j], "0")
			if len(d) > 20 {
				d = d[:20]
			}
			// A number is "1" then its digit count as a letter, so a
			// longer number sorts after a shorter one; it sorts after
			// every word ("0").
			b.WriteByte('1')
			b.WriteByte(byte('a' + len(d)))
			b.WriteString(d)
			b.WriteByte('.')
			n++
			i = j
		case isLetter(c):
			j := i
			for j < len(v) && isLetter(v[j]) {
				j++
			}
			w := strings.ToLower(v[i:j])
			if len(w) > 20 {
				w = w[:20]
			}
			b.WriteByte('0')
			b.WriteString(w)
			b.WriteByte('.')
			n++
			i = j
		default:
			i++
		}
	}
	return b.String()
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// CompareVersions compares two versions the way VersionKey orders them.
func CompareVersions(a, b string) int { return strings.Compare(VersionKey(a), VersionKey(b)) }

// softwareKey is what identifies a stored software row's content.
type softwareKey struct {
	Name, Version, Publisher, Architecture, InstallDate, From, Comments, Folder string
	FileSize                                                                    int64
}

func keyOf(r *Software) softwareKey {
	return softwareKey{r.Name, r.Version, r.Publisher, r.Architecture, r.InstallDate, r.From, r.Comments, r.Folder, r.FileSize}
}

// replaceSoftware makes computerID's software rows equal to rows, writing
// only the difference: a re-inventory usually changes a few rows of
// hundreds, and rewriting them all (with their indexes) was most of its
// cost.
//
// It returns the name IDs it wrote to software_names, for the caller to
// add to names once the transaction commits, and the rows it dropped and
// added (for the change history). A new computer's (isNew) stored rows are
// not read: it has none.
func replaceSoftware(tx *gorm.DB, names *nameCache, computerID uint, rows []Software, isNew bool) (written []int64, dropped, add []Software, err error) {
	if isNew {
		// Nothing stored to diff against: every row is added, in order
		// (rows is the caller's copy). Hashing 8 strings a row into the
		// diff map was most of a first inventory's Go work here.
		add = rows
	} else {
		var have []Software
		if err := tx.Where("computer_id = ?", computerID).Find(&have).Error; err != nil {
			return nil, nil, nil, err
		}
		pending := make(map[softwareKey]int, len(rows))
		for i := range rows {
			pending[keyOf(&rows[i])]++
		}
		var drop []uint
		for i := range have {
			k := keyOf(&have[i])
			if pending[k] > 0 && have[i].NameID != 0 {
				pending[k]--
				continue
			}
			drop = append(drop, have[i].ID)
			dropped = append(dropped, have[i])
		}
		add = make([]Software, 0, len(rows))
		for i := range rows {
			k := keyOf(&rows[i])
			if pending[k] > 0 {
				pending[k]--
				add = append(add, rows[i])
			}
		}
		for len(drop) > 0 {
			n := min(len(drop), 500)
			if err := tx.Where("id IN ?", drop[:n]).Delete(&Software{}).Error; err != nil {
				return nil, nil, nil, err
			}
			drop = drop[n:]
		}
	}
	if len(add) == 0 {
		return nil, dropped, nil, nil
	}
	written, err = numberSoftware(tx, names, add)
	if err != nil {
		return nil, nil, nil, err
	}
	ins := make([]softwareInsert, len(add))
	for i := range add {
		add[i].setOwner(computerID)
		ins[i] = insertOf(&add[i])
	}
	return written, dropped, add, insertSoftware(tx, ins)
}

// softwareColumns are softwareInsert's columns in the order
// insertSoftware binds them.
const softwareColumns = "`computer_id`,`name_id`,`version_key`,`name`,`version`,`publisher`,`architecture`,`install_date`,`file_size`,`origin`,`comments`,`folder`"

// softwareInsertSQL is the SQLite INSERT of n software rows.
func softwareInsertSQL(n int) string {
	const row = "(?,?,?,?,?,?,?,?,?,?,?,?)"
	var b strings.Builder
	b.Grow(64 + len(softwareColumns) + n*(len(row)+1))
	b.WriteString("INSERT OR FAIL INTO `softwares` (" + softwareColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// fullSoftwareInsertSQL is softwareInsertSQL(batchSize), built once.
var fullSoftwareInsertSQL = sync.OnceValue(func() string { return softwareInsertSQL(batchSize) })

// insertSoftware inserts rows in batches. On SQLite it binds the rows
// itself to one INSERT OR FAIL statement per batch, which the writer's
// statement cache keeps parsed: gorm's reflection over the rows was a
// seventh of a first inventory's time in the single writer.
// TestInsertSoftwareStoresEveryColumn keeps it in step with Software.
//
// OR FAIL: a multi-row INSERT into a table with a NOT NULL column aborts
// by default, and for that SQLite copies every page the statement changes
// into a statement journal first, so that the abort can undo the
// statement alone; with 16 KiB pages and a first inventory's rows landing
// on hundreds of (name_id) index pages, that copy cost more than the
// inserts' own B-tree work. OR FAIL keeps the error and drops the copy;
// the caller's error rolls the whole transaction back, and no row an
// ingest inserts can violate a constraint (no NULL, no unique index).
func insertSoftware(tx *gorm.DB, rows []softwareInsert) error {
	if tx.Dialector.Name() != "sqlite" {
		return tx.CreateInBatches(rows, batchSize).Error
	}
	ctx := tx.Statement.Context
	args := make([]any, 0, 12*min(len(rows), batchSize))
	for len(rows) > 0 {
		n := min(len(rows), batchSize)
		args = args[:0]
		for i := range rows[:n] {
			r := &rows[i]
			args = append(args, int64(r.ComputerID), r.NameID, r.VersionKey, r.Name, r.Version, r.Publisher,
				r.Architecture, r.InstallDate, r.FileSize, r.From, r.Comments, r.Folder)
		}
		query := fullSoftwareInsertSQL()
		if n < batchSize {
			query = softwareInsertSQL(n)
		}
		if _, err := tx.Statement.ConnPool.ExecContext(ctx, query, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// softwareInsert is a Software row without its ID, which is what an ingest
// inserts: for a model with an ID gorm appends RETURNING id and scans one
// row back per software row (a twentieth of a first inventory's CPU), and
// no caller reads those IDs. TestSoftwareInsertMirrorsSoftware keeps its
// fields those of Software.
type softwareInsert struct {
	ComputerID   uint
	NameID       int64
	VersionKey   string
	Name         string
	Version      string
	Publisher    string
	Architecture string
	InstallDate  string
	FileSize     int64
	From         string `gorm:"column:origin"`
	Comments     string
	Folder       string
}

// TableName implements gorm's tabler.
func (softwareInsert) TableName() string { return "softwares" }

func insertOf(r *Software) softwareInsert {
	return softwareInsert{
		ComputerID: r.ComputerID, NameID: r.NameID, VersionKey: r.VersionKey,
		Name: r.Name, Version: r.Version, Publisher: r.Publisher, Architecture: r.Architecture,
		InstallDate: r.InstallDate, FileSize: r.FileSize, From: r.From, Comments: r.Comments, Folder: r.Folder,
	}
}

// numberSoftware sets the NameID and VersionKey of rows and records in
// software_names the names that cache does not know to be there already. It
// returns the IDs of the names it wrote.
func numberSoftware(tx *gorm.DB, cache *nameCache, rows []Software) ([]int64, error) {
	names := make([]SoftwareName, 0, len(rows))
	now := time.Now().UTC()
	for i := range rows {
		rows[i].NameID = SoftwareNameID(rows[i].Name)
		rows[i].VersionKey = VersionKey(rows[i].Version)
		if !cache.has(rows[i].NameID) {
			names = append(names, SoftwareName{ID: rows[i].NameID, Name: rows[i].Name, FirstSeen: &now})
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.SortFunc(names, func(a, b SoftwareName) int { return cmpInt64(a.ID, b.ID) })
	names = slices.CompactFunc(names, func(a, b SoftwareName) bool { return a.ID == b.ID })
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(names, batchSize).Error; err != nil {
		return nil, err
	}
	ids := make([]int64, len(names))
	for i, n := range names {
		ids[i] = n.ID
	}
	return ids, nil
}

// maxCachedNames bounds the name cache (about 40 bytes an entry). Past it,
// an ingest writes the names it does not find, as without a cache.
const maxCachedNames = 500_000

// nameCache holds the IDs of names known to be committed in
// software_names, so that an ingest writes only new names. An ID enters
// only after the transaction that wrote it committed: a rolled-back
// transaction's names are written again by the next ingest that has them.
type nameCache struct {
	mu  sync.RWMutex // owns ids
	ids map[int64]struct{}
}

func newNameCache() *nameCache { return &nameCache{ids: make(map[int64]struct{})} }

func (c *nameCache) has(id int64) bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.ids[id]
	return ok
}

func (c *nameCache) add(ids []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if len(c.ids) >= maxCachedNames {
			return
		}
		c.ids[id] = struct{}{}
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// backfillSoftwareNames numbers the software rows stored before the names
// table existed (NameID 0), once, at open.
func (s *Store) backfillSoftwareNames(ctx context.Context) error {
	type pair struct{ Name, Version string }
	var pairs []pair
	err := s.w.WithContext(ctx).Model(&Software{}).Distinct("name", "version").Where("name_id = 0 OR name_id IS NULL").Find(&pairs).Error
	if err != nil || len(pairs) == 0 {
		return err
	}
	s.logger.Info("numbering stored software rows", "pairs", len(pairs))
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		names := make([]SoftwareName, 0, len(pairs))
		for _, p := range pairs {
			names = append(names, SoftwareName{ID: SoftwareNameID(p.Name), Name: p.Name})
		}
		slices.SortFunc(names, func(a, b SoftwareName) int { return cmpInt64(a.ID, b.ID) })
		names = slices.CompactFunc(names, func(a, b SoftwareName) bool { return a.ID == b.ID })
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(names, batchSize).Error; err != nil {
			return err
		}
		for _, p := range pairs {
			err := tx.Model(&Software{}).Where("name = ? AND version = ? AND (name_id = 0 OR name_id IS NULL)", p.Name, p.Version).
				Updates(map[string]any{"name_id": SoftwareNameID(p.Name), "version_key": VersionKey(p.Version)}).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// versionOps are the comparisons a software version filter may start with.
var versionOps = []string{"<=", ">=", "!=", "<", ">", "="}

// ParseVersionFilter splits a software version filter into its operator
// and version: "< 24.00" is ("<", "24.00"); a bare version means "=".
func ParseVersionFilter(f string) (op, version string, err error) {
	f = strings.TrimSpace(f)
	op = "="
	for _, o := range versionOps {
		if strings.HasPrefix(f, o) {
			op, f = o, strings.TrimSpace(f[len(o):])
			break
		}
	}
	if f == "" {
		return "", "", fmt.Errorf("software version filter without a version: %w", ErrInvalid)
	}
	return op, f, nil
}
