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

// This file holds the read queries of the admin REST API: computer search
// with a last-contact window, deployment rows joined with their computer
// and package, and the aggregates of the status pages.

// ComputerQuery is a ComputerFilter with a last-contact window. Zero times
// do not filter; ContactSince is inclusive, ContactBefore exclusive.
type ComputerQuery struct {
	ComputerFilter
	ContactSince  time.Time
	ContactBefore time.Time
}

// FindComputers is SearchComputers with the last-contact window of q.
func (s *Store) FindComputers(ctx context.Context, q ComputerQuery) ([]Computer, int64, error) {
	if q.ContactSince.IsZero() && q.ContactBefore.IsZero() {
		return s.SearchComputers(ctx, q.ComputerFilter)
	}
	limit, offset, err := pageArgs(q.Limit, q.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("find computers: %w", err)
	}
	db := s.read(ctx)
	base, prefix, err := computerScope(db, q)
	if err != nil {
		return nil, 0, fmt.Errorf("find computers: %w", err)
	}
	if prefix.IsValid() {
		out, total, err := s.searchPrefix(db, base, prefix, limit, offset)
		if err != nil {
			return nil, 0, fmt.Errorf("find computers: %w", translate(err))
		}
		return out, total, nil
	}
	var total int64
	if err := base().Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("find computers: %w", translate(err))
	}
	var out []Computer
	if err := base().Order("name, id").Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("find computers: %w", translate(err))
	}
	return out, total, nil
}

// FindComputerIDs returns the IDs of every computer q selects (its page
// fields are ignored), in ascending order. More than max matches give
// ErrInvalid.
func (s *Store) FindComputerIDs(ctx context.Context, q ComputerQuery, max int) ([]uint, error) {
	db := s.read(ctx)
	base, prefix, err := computerScope(db, q)
	if err != nil {
		return nil, fmt.Errorf("find computer ids: %w", err)
	}
	var ids []uint
	if prefix.IsValid() {
		ids, err = prefixIDs(db, base, prefix)
	} else {
		err = base().Order("id").Limit(max+1).Pluck("id", &ids).Error
	}
	if err != nil {
		return nil, fmt.Errorf("find computer ids: %w", translate(err))
	}
	if len(ids) > max {
		return nil, fmt.Errorf("find computer ids: more than %d computers match; narrow the search: %w", max, ErrInvalid)
	}
	return ids, nil
}

// computerScope builds the query of q without paging. A CIDR in q.IP is
// returned as prefix for the caller to match in Go (see searchPrefix).
func computerScope(db *gorm.DB, q ComputerQuery) (func() *gorm.DB, netip.Prefix, error) {
	f := q.ComputerFilter
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
			return nil, prefix, fmt.Errorf("ip %q: %w", ipText, ErrInvalid)
		}
	}
	if len(f.IDs) > maxFilterIDs {
		return nil, prefix, fmt.Errorf("%d ids, at most %d: %w", len(f.IDs), maxFilterIDs, ErrInvalid)
	}
	base := func() *gorm.DB {
		c := db.Model(&Computer{})
		if f.Name != "" {
			c = c.Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeContains(f.Name))
		}
		if f.OS != "" {
			c = c.Where(`LOWER(os_name) LIKE ? ESCAPE '\'`, likeContains(f.OS))
		}
		if f.Software != "" || f.SoftwareVersion != "" {
			sw := db.Model(&Software{}).Select("computer_id")
			if f.Software != "" {
				sw = sw.Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeContains(f.Software))
			}
			if f.SoftwareVersion != "" {
				sw = sw.Where("version = ?", f.SoftwareVersion)
			}
			c = c.Where("id IN (?)", sw)
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
		if exact.IsValid() {
			a := exact.String()
			c = c.Where("(ip_addr = ? OR id IN (?))", a,
				db.Model(&Network{}).Select("computer_id").Where("ip_address = ?", a))
		}
		if !q.ContactSince.IsZero() {
			c = c.Where("last_contact >= ?", utc(q.ContactSince))
		}
		if !q.ContactBefore.IsZero() {
			c = c.Where("last_contact < ?", utc(q.ContactBefore))
		}
		return c
	}
	return base, prefix, nil
}

// prefixIDs returns the IDs of the computers of base with an address in
// prefix, ascending.
func prefixIDs(db *gorm.DB, base func() *gorm.DB, prefix netip.Prefix) ([]uint, error) {
	contains := func(text string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(text))
		return err == nil && prefix.Contains(a.Unmap())
	}
	type row struct {
		ID     uint
		IPAddr string
	}
	var cands []row
	if err := base().Select("id, ip_addr").Find(&cands).Error; err != nil {
		return nil, err
	}
	type netRow struct {
		ComputerID uint
		IPAddress  string
	}
	var nets []netRow
	if err := db.Model(&Network{}).Select("computer_id, ip_address").
		Where("computer_id IN (?)", base().Select("id")).Find(&nets).Error; err != nil {
		return nil, err
	}
	hit := make(map[uint]bool)
	for _, n := range nets {
		if contains(n.IPAddress) {
			hit[n.ComputerID] = true
		}
	}
	var ids []uint
	for _, c := range cands {
		if hit[c.ID] || contains(c.IPAddr) {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// DeploymentRow is a deployment with the names the status pages show.
type DeploymentRow struct {
	Deployment
	ComputerName string
	// SiteID is the computer's site.
	SiteID      *uint
	PackageName string
}

// DeploymentRowFilter selects deployment rows. Empty fields do not filter.
type DeploymentRowFilter struct {
	// IDs selects these deployments (at most maxFilterIDs).
	IDs        []uint
	PackageID  string
	ComputerID uint
	State      string
	// SiteID selects the computers of one site; NoSite those without one.
	SiteID *uint
	NoSite bool
	// Recent orders by last change, newest first, instead of by ID.
	Recent bool
	// Limit defaults to 50 and is capped at 1000.
	Limit, Offset int
}

func (f DeploymentRowFilter) scope(db *gorm.DB) *gorm.DB {
	q := db.Table("deployments").
		Joins("LEFT JOIN computers ON computers.id = deployments.computer_id").
		Joins("LEFT JOIN packages ON packages.id = deployments.package_id")
	if len(f.IDs) > 0 {
		q = q.Where("deployments.id IN ?", f.IDs)
	}
	if f.PackageID != "" {
		q = q.Where("deployments.package_id = ?", f.PackageID)
	}
	if f.ComputerID != 0 {
		q = q.Where("deployments.computer_id = ?", f.ComputerID)
	}
	if f.State != "" {
		q = q.Where("deployments.state = ?", f.State)
	}
	switch {
	case f.NoSite:
		q = q.Where("computers.site_id IS NULL")
	case f.SiteID != nil:
		q = q.Where("computers.site_id = ?", *f.SiteID)
	}
	return q
}

// DeploymentRows returns one page of deployment rows and the total number
// of matches.
func (s *Store) DeploymentRows(ctx context.Context, f DeploymentRowFilter) ([]DeploymentRow, int64, error) {
	limit, offset, err := pageArgs(f.Limit, f.Offset)
	if err != nil {
		return nil, 0, fmt.Errorf("deployment rows: %w", err)
	}
	if len(f.IDs) > maxFilterIDs {
		return nil, 0, fmt.Errorf("deployment rows: %d ids, at most %d: %w", len(f.IDs), maxFilterIDs, ErrInvalid)
	}
	db := s.read(ctx)
	var total int64
	if err := f.scope(db).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("deployment rows: %w", translate(err))
	}
	order := "deployments.id"
	if f.Recent {
		order = "deployments.updated_at DESC, deployments.id DESC"
	}
	var out []DeploymentRow
	err = f.scope(db).Select("deployments.*, computers.name AS computer_name, computers.site_id AS site_id, packages.name AS package_name").
		Order(order).Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("deployment rows: %w", translate(err))
	}
	return out, total, nil
}

// DeploymentRowCounts counts the deployments f selects per state; f.State
// and the page fields are ignored.
func (s *Store) DeploymentRowCounts(ctx context.Context, f DeploymentRowFilter) (map[string]int64, error) {
	f.State = ""
	type row struct {
		State string
		N     int64
	}
	var rows []row
	if err := f.scope(s.read(ctx)).Select("deployments.state AS state, COUNT(*) AS n").
		Group("deployments.state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("deployment counts: %w", translate(err))
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// Completion is when one deployment reached a final state.
type Completion struct {
	State      string
	FinishedAt time.Time
}

// Completions returns the finish times of a package's finished deployments,
// oldest first.
func (s *Store) Completions(ctx context.Context, packageID string) ([]Completion, error) {
	var out []Completion
	err := s.read(ctx).Model(&Deployment{}).Select("state, finished_at").
		Where("package_id = ? AND state IN ? AND finished_at IS NOT NULL", packageID, []string{StateSuccess, StateError, StateCancelled}).
		Order("finished_at, id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("completions %s: %w", packageID, translate(err))
	}
	return out, nil
}

// SiteBytes sums a package's bytes by source for the computers of one site
// (SiteID nil: computers without a site).
type SiteBytes struct {
	SiteID       *uint
	SiteName     string
	Deployments  int64
	BytesPeer    int64
	BytesRelay   int64
	BytesCentral int64
}

// BytesBySite returns a package's bytes by source per site, ordered by site
// name with the computers without a site first.
func (s *Store) BytesBySite(ctx context.Context, packageID string) ([]SiteBytes, error) {
	var out []SiteBytes
	err := s.read(ctx).Table("deployments").
		Select("computers.site_id AS site_id, sites.name AS site_name, COUNT(*) AS deployments, "+
			"COALESCE(SUM(deployments.bytes_peer), 0) AS bytes_peer, COALESCE(SUM(deployments.bytes_relay), 0) AS bytes_relay, "+
			"COALESCE(SUM(deployments.bytes_central), 0) AS bytes_central").
		Joins("JOIN computers ON computers.id = deployments.computer_id").
		Joins("LEFT JOIN sites ON sites.id = computers.site_id").
		Where("deployments.package_id = ?", packageID).
		Group("computers.site_id, sites.name").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("bytes by site %s: %w", packageID, translate(err))
	}
	slices.SortFunc(out, func(a, b SiteBytes) int {
		if (a.SiteID == nil) != (b.SiteID == nil) {
			if a.SiteID == nil {
				return -1
			}
			return 1
		}
		return strings.Compare(a.SiteName, b.SiteName)
	})
	return out, nil
}

// ComputerCountsBySite returns the number of computers of each site.
func (s *Store) ComputerCountsBySite(ctx context.Context) (map[uint]int64, error) {
	type row struct {
		SiteID uint
		N      int64
	}
	var rows []row
	if err := s.read(ctx).Model(&Computer{}).Select("site_id, COUNT(*) AS n").Where("site_id IS NOT NULL").
		Group("site_id").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("computer counts by site: %w", translate(err))
	}
	out := make(map[uint]int64, len(rows))
	for _, r := range rows {
		out[r.SiteID] = r.N
	}
	return out, nil
}

// Overview holds the dashboard's counts.
type Overview struct {
	Computers, Sites, Packages, ActivePackages int64
	// DeploymentCounts counts deployments per state, all packages.
	DeploymentCounts map[string]int64
	// Active lists the active packages with unfinished deployments, by ID.
	Active []PackageCounts
}

// PackageCounts is one package's deployments per state.
type PackageCounts struct {
	PackageID   string
	PackageName string
	Counts      map[string]int64
}

// Overview counts computers, sites, packages and deployments.
func (s *Store) Overview(ctx context.Context) (*Overview, error) {
	db := s.read(ctx)
	o := &Overview{}
	for _, c := range []struct {
		q   *gorm.DB
		dst *int64
	}{
		{db.Model(&Computer{}), &o.Computers},
		{db.Model(&Site{}), &o.Sites},
		{db.Model(&Package{}), &o.Packages},
		{db.Model(&Package{}).Where("active = ?", true), &o.ActivePackages},
	} {
		if err := c.q.Count(c.dst).Error; err != nil {
			return nil, fmt.Errorf("overview: %w", translate(err))
		}
	}
	var err error
	if o.DeploymentCounts, err = s.DeploymentCounts(ctx, ""); err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	type row struct {
		PackageID string
		Name      string
		State     string
		N         int64
	}
	var rows []row
	err = db.Table("deployments").Select("deployments.package_id AS package_id, packages.name AS name, deployments.state AS state, COUNT(*) AS n").
		Joins("JOIN packages ON packages.id = deployments.package_id").Where("packages.active = ?", true).
		Group("deployments.package_id, packages.name, deployments.state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("overview: %w", translate(err))
	}
	byID := map[string]*PackageCounts{}
	unfinished := map[string]bool{}
	for _, r := range rows {
		pc := byID[r.PackageID]
		if pc == nil {
			pc = &PackageCounts{PackageID: r.PackageID, PackageName: r.Name, Counts: map[string]int64{}}
			byID[r.PackageID] = pc
		}
		pc.Counts[r.State] = r.N
		if !(Deployment{State: r.State}).Finished() {
			unfinished[r.PackageID] = true
		}
	}
	for id, pc := range byID {
		if unfinished[id] {
			o.Active = append(o.Active, *pc)
		}
	}
	slices.SortFunc(o.Active, func(a, b PackageCounts) int { return cmp.Compare(a.PackageID, b.PackageID) })
	return o, nil
}
