package store

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// ComputerFilter selects computers. Empty fields do not filter.
type ComputerFilter struct {
	// Name and OS match case-insensitively anywhere in the name / OS name.
	Name string
	OS   string
	// Software matches case-insensitively anywhere in an installed
	// software's name. SoftwareVersion, when set, compares that software's
	// version, version-aware: a bare version must be equal, and one after
	// <, <=, >, >=, = or != compares ("< 24.00": 9.20 and 23.01 match,
	// 24.08 does not; "24.0" equals "24.00"; see VersionKey). Every
	// comparison, equality included, is answered from the software index.
	Software        string
	SoftwareVersion string
	// NoSoftware keeps the computers with no installed software whose name
	// contains it (case-insensitively).
	NoSoftware string
	// IP is an address (equal to the computer's IPAddr or to any of its
	// network addresses) or a CIDR prefix containing one of them.
	IP string
	// Tag equals the computer's TAG account info.
	Tag    string
	SiteID *uint
	IDs    []uint
	// Scope keeps only the computers a scoped user may see.
	Scope Scope
	// ContactSince (inclusive) and ContactBefore (exclusive) bound the last
	// contact; zero times do not filter.
	ContactSince  time.Time
	ContactBefore time.Time
	// Limit defaults to 50 and is capped at 1000.
	Limit, Offset int
}

// maxFilterIDs bounds ComputerFilter.IDs, which becomes one IN (...) list.
const maxFilterIDs = 10000

// likeContains returns a LIKE pattern matching s anywhere, lower-cased, with
// the wildcards of s escaped by a backslash.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// SearchComputers returns one page of the computers matching f, ordered by
// name then ID, and the total number of matches.
//
// The total is read first, the cheapest way the filter allows (see
// searchScope.count), and chooses how the page is read: when the matches
// are dense, SQLite walks the name index and stops after the page instead
// of sorting every match (see searchScope.page).
func (s *Store) SearchComputers(ctx context.Context, f ComputerFilter) ([]Computer, int64, error) {
	limit, offset, err := pageArgs(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("search computers: %w", err)
	}
	db := s.read(ctx)
	sc, err := computerScope(db, f)
	if err != nil {
		return nil, 0, fmt.Errorf("search computers: %w", err)
	}
	if sc.prefix.IsValid() {
		out, total, err := s.searchPrefix(db, sc.base, sc.prefix, limit, offset)
		if err != nil {
			return nil, 0, fmt.Errorf("search computers: %w", translate(err))
		}
		return out, total, nil
	}

	total, err := sc.count(db)
	if err != nil {
		return nil, 0, fmt.Errorf("search computers: %w", translate(err))
	}
	if total == 0 || int64(offset) >= total {
		return nil, total, nil
	}
	out, err := sc.page(db, s.driver, total, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("search computers: %w", translate(err))
	}
	return out, total, nil
}

// searchScope is a computer search without paging: base builds its query;
// the software parts are kept apart so that count can read them from the
// software index alone.
type searchScope struct {
	f      ComputerFilter
	prefix netip.Prefix
	base   func() *gorm.DB
	// walk is base read in the order of the computers' name index
	// (SQLite only).
	walk func() *gorm.DB
	// has and not are the name IDs of f.Software and f.NoSoftware (a
	// list or a subquery); swCond is the condition on a software row of
	// f.Software and f.SoftwareVersion, with its arguments.
	has, not any
	swCond   string
	swArgs   []any
}

// softwareOnly reports whether f selects by installed software and
// nothing else (has == true) or by missing software and nothing else
// (has == false).
func (sc *searchScope) softwareOnly() (has, not bool) {
	f := sc.f
	other := f.Name != "" || f.OS != "" || strings.TrimSpace(f.IP) != "" || f.Tag != "" || f.SiteID != nil ||
		len(f.IDs) > 0 || f.Scope.Limited() || !f.ContactSince.IsZero() || !f.ContactBefore.IsZero()
	if other {
		return false, false
	}
	return sc.swCond != "" && f.NoSoftware == "", sc.swCond == "" && f.NoSoftware != ""
}

// count returns the number of computers sc matches. A search by software
// alone counts the distinct computers of the matching rows in the
// (name_id, version_key, computer_id) index, without reading a computer
// (every software row belongs to a computer: they are deleted together); a
// search by missing software alone is all computers minus those. Any other
// search counts its query, which looks each matching computer up.
func (sc *searchScope) count(db *gorm.DB) (int64, error) {
	var n int64
	err := sc.countQuery(db).Scan(&n).Error
	return n, err
}

// countQuery is the statement of count.
func (sc *searchScope) countQuery(db *gorm.DB) *gorm.DB {
	switch has, not := sc.softwareOnly(); {
	case has:
		return db.Raw("SELECT COUNT(*) FROM (SELECT DISTINCT computer_id FROM softwares WHERE "+sc.swCond+") AS m", sc.swArgs...)
	case not:
		return db.Raw("SELECT (SELECT COUNT(*) FROM computers) - "+
			"(SELECT COUNT(*) FROM (SELECT DISTINCT computer_id FROM softwares WHERE name_id IN ?) AS m)", sc.not)
	}
	return sc.base().Select("COUNT(*)")
}

// page returns the computers of sc from offset, ordered by name then ID.
// Given total matches, on SQLite, when walking the name index in order
// and testing each computer reads fewer computers than there are matches
// (offset+limit divided by the share of computers that match), the
// planner is made to do that: otherwise it looks up every match and sorts
// them all for one page ("has 7-Zip": 70,000 computers sorted for 50).
func (sc *searchScope) page(db *gorm.DB, driver string, total int64, limit, offset int) ([]Computer, error) {
	var out []Computer
	err := pageQuery(sc, db, driver, total, limit, offset).Find(&out).Error
	return out, err
}

// pageQuery is the statement of page (without its Find).
func pageQuery(sc *searchScope, db *gorm.DB, driver string, total int64, limit, offset int) *gorm.DB {
	q := sc.base()
	if driver == DriverSQLite {
		var all int64
		if err := db.Model(&Computer{}).Count(&all).Error; err != nil {
			_ = q.AddError(err)
			return q
		}
		if all > 0 && int64(offset+limit)*all/total < total {
			q = sc.walk()
		}
	}
	return q.Order("name, id").Limit(limit).Offset(offset)
}

// computerScope builds the query of f without paging. A CIDR in f.IP is
// returned as prefix for the caller to match in Go (see searchPrefix).
func computerScope(db *gorm.DB, f ComputerFilter) (*searchScope, error) {
	sc, err := buildScope(db, f)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

func buildScope(db *gorm.DB, f ComputerFilter) (*searchScope, error) {
	var prefix netip.Prefix
	var exact netip.Addr
	if ipText := strings.TrimSpace(f.IP); ipText != "" {
		var err error
		if strings.Contains(ipText, "/") {
			prefix, err = netip.ParsePrefix(ipText)
			prefix = prefix.Masked()
		} else {
			exact, err = netip.ParseAddr(ipText)
		}
		if err != nil {
			return nil, fmt.Errorf("ip %q: %w", ipText, ErrInvalid)
		}
	}
	if len(f.IDs) > maxFilterIDs {
		return nil, fmt.Errorf("%d ids, at most %d: %w", len(f.IDs), maxFilterIDs, ErrInvalid)
	}
	var verOp, ver string
	if strings.TrimSpace(f.SoftwareVersion) != "" {
		var err error
		if verOp, ver, err = ParseVersionFilter(f.SoftwareVersion); err != nil {
			return nil, err
		}
		if verOp == "!=" {
			verOp = "<>"
		}
	}
	// The names matching a software filter are looked up first: with
	// their IDs as a list, both databases read the rows through the
	// name_id index; as a subquery, SQLite scanned every software row.
	var hasIDs, notIDs any
	var err error
	if f.Software != "" {
		if hasIDs, err = softwareNameIDs(db, f.Software); err != nil {
			return nil, err
		}
	}
	if f.NoSoftware != "" {
		if notIDs, err = softwareNameIDs(db, f.NoSoftware); err != nil {
			return nil, err
		}
	}
	var where func(*gorm.DB) *gorm.DB
	// The software condition: "=" (a bare version too) compares
	// version_key alone, version-aware like the other operators, so that
	// it is answered from the index ("24.0" and "24.00" are equal).
	var swCond string
	var swArgs []any
	if f.Software != "" || f.SoftwareVersion != "" {
		var conds []string
		if f.Software != "" {
			conds = append(conds, "name_id IN ?")
			swArgs = append(swArgs, hasIDs)
		}
		if verOp != "" {
			conds = append(conds, "version_key "+verOp+" ?")
			swArgs = append(swArgs, VersionKey(ver))
		}
		swCond = strings.Join(conds, " AND ")
	}
	base := func() *gorm.DB { return where(db.Model(&Computer{})) }
	walk := func() *gorm.DB { return where(db.Table("`computers` INDEXED BY `idx_computers_name`")) }
	where = func(c *gorm.DB) *gorm.DB {
		if f.Name != "" {
			c = c.Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeContains(f.Name))
		}
		if f.OS != "" {
			c = c.Where(`LOWER(os_name) LIKE ? ESCAPE '\'`, likeContains(f.OS))
		}
		if swCond != "" {
			sw := db.Model(&Software{}).Select("computer_id").Where(swCond, swArgs...)
			if f.Tag != "" {
				// A TAG selects a few computers: test their software
				// rather than collect every computer having it first.
				c = c.Where("EXISTS (?)", db.Table("softwares AS s").Select("1").
					Where("s.computer_id = computers.id").Where(swCond, swArgs...))
			} else {
				c = c.Where("id IN (?)", sw)
			}
		}
		if f.NoSoftware != "" {
			c = c.Where("id NOT IN (?)", db.Model(&Software{}).Select("computer_id").Where("name_id IN ?", notIDs))
		}
		if f.Tag != "" {
			c = c.Where("id IN (?)", db.Model(&AccountInfo{}).Select("computer_id").
				Where("key_name = ? AND key_value = ?", AccountTag, f.Tag))
		}
		if f.SiteID != nil {
			c = c.Where("site_id = ?", *f.SiteID)
		}
		if len(f.IDs) > 0 {
			c = c.Where("id IN ?", f.IDs)
		}
		c = f.Scope.where(db, c)
		if exact.IsValid() {
			a := exact.String()
			c = c.Where("(ip_addr = ? OR id IN (?))", a,
				db.Model(&Network{}).Select("computer_id").Where("ip_address = ?", a))
		}
		if !f.ContactSince.IsZero() {
			c = c.Where("last_contact >= ?", utc(f.ContactSince))
		}
		if !f.ContactBefore.IsZero() {
			c = c.Where("last_contact < ?", utc(f.ContactBefore))
		}
		return c
	}
	return &searchScope{f: f, prefix: prefix, base: base, walk: walk, has: hasIDs, not: notIDs, swCond: swCond, swArgs: swArgs}, nil
}

// maxNameIDs bounds the name IDs a software filter lists; a filter
// matching more names (a substring of thousands of names) becomes a
// subquery.
const maxNameIDs = 5000

// softwareNameIDs returns the IDs of the software names that contain sub,
// case-insensitively, found by a scan of the distinct names (not of every
// row): a list of IDs ({0} when none match), or a subquery when there are
// more than maxNameIDs.
func softwareNameIDs(db *gorm.DB, sub string) (any, error) {
	q := db.Model(&SoftwareName{}).Select("id").Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeContains(sub))
	var ids []int64
	if err := q.Limit(maxNameIDs+1).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("software names like %q: %w", sub, translate(err))
	}
	switch {
	case len(ids) > maxNameIDs:
		return db.Model(&SoftwareName{}).Select("id").Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeContains(sub)), nil
	case len(ids) == 0:
		return []int64{0}, nil
	}
	return ids, nil
}

// prefixCand is a computer matched by address prefix.
type prefixCand struct {
	ID     uint
	Name   string
	IPAddr string
}

// prefixMatches returns the computers of base with an address (their own
// or one of their networks') in prefix, unordered. It matches candidates in
// Go (portable across backends), narrowing network addresses in SQL by
// their textual IPv4 prefix.
func prefixMatches(db *gorm.DB, base func() *gorm.DB, prefix netip.Prefix) ([]prefixCand, error) {
	like := ""
	if prefix.Addr().Is4() && prefix.Bits() >= 8 {
		octets := strings.Split(prefix.Addr().String(), ".")
		like = strings.Join(octets[:min(prefix.Bits()/8, 3)], ".") + ".%"
	}
	var cands []prefixCand
	if err := base().Select("id, name, ip_addr").Find(&cands).Error; err != nil {
		return nil, err
	}
	type netRow struct {
		ComputerID uint
		IPAddress  string
	}
	var nets []netRow
	nq := db.Model(&Network{}).Select("computer_id, ip_address").Where("computer_id IN (?)", base().Select("id"))
	if like != "" {
		nq = nq.Where("ip_address LIKE ?", like)
	}
	if err := nq.Find(&nets).Error; err != nil {
		return nil, err
	}

	contains := func(text string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(text))
		return err == nil && prefix.Contains(a.Unmap())
	}
	hit := make(map[uint]bool)
	for _, n := range nets {
		if contains(n.IPAddress) {
			hit[n.ComputerID] = true
		}
	}
	var matched []prefixCand
	for _, c := range cands {
		if hit[c.ID] || contains(c.IPAddr) {
			matched = append(matched, c)
		}
	}
	return matched, nil
}

// searchPrefix returns one page of the computers of base with an address
// in prefix, ordered by name then ID, and the number of matches.
func (s *Store) searchPrefix(db *gorm.DB, base func() *gorm.DB, prefix netip.Prefix, limit, offset int) ([]Computer, int64, error) {
	matched, err := prefixMatches(db, base, prefix)
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(matched, func(a, b prefixCand) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	total := int64(len(matched))
	if offset >= len(matched) {
		return nil, total, nil
	}
	page := matched[offset:min(offset+limit, len(matched))]
	ids := make([]uint, len(page))
	for i, c := range page {
		ids[i] = c.ID
	}
	var rows []Computer
	if err := db.Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	pos := make(map[uint]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	slices.SortFunc(rows, func(a, b Computer) int { return cmp.Compare(pos[a.ID], pos[b.ID]) })
	return rows, total, nil
}

// FindComputerIDs returns the IDs of every computer q selects (its page
// fields are ignored), in ascending order. More than max matches give
// ErrInvalid.
func (s *Store) FindComputerIDs(ctx context.Context, f ComputerFilter, max int) ([]uint, error) {
	db := s.read(ctx)
	sc, err := computerScope(db, f)
	if err != nil {
		return nil, fmt.Errorf("find computer ids: %w", err)
	}
	var ids []uint
	if sc.prefix.IsValid() {
		ids, err = prefixIDs(db, sc.base, sc.prefix)
	} else {
		err = sc.base().Order("id").Limit(max+1).Pluck("id", &ids).Error
	}
	if err != nil {
		return nil, fmt.Errorf("find computer ids: %w", translate(err))
	}
	if len(ids) > max {
		return nil, fmt.Errorf("find computer ids: more than %d computers match; narrow the search: %w", max, ErrInvalid)
	}
	return ids, nil
}

// prefixIDs returns the IDs of the computers of base with an address in
// prefix, ascending.
func prefixIDs(db *gorm.DB, base func() *gorm.DB, prefix netip.Prefix) ([]uint, error) {
	matched, err := prefixMatches(db, base, prefix)
	if err != nil {
		return nil, err
	}
	var ids []uint
	for _, c := range matched {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids, nil
}
