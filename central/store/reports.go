package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// DeploymentRow is a deployment with the names the status pages show.
type DeploymentRow struct {
	Deployment
	ComputerName string
	// SiteID and SiteName are the computer's site.
	SiteID      *uint
	SiteName    string
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
	// ByComputer orders by computer name instead of by ID (Recent wins).
	ByComputer bool
	// Limit defaults to 50 and is capped at 1000.
	Limit, Offset int
}

func (f DeploymentRowFilter) scope(db *gorm.DB) *gorm.DB {
	q := db.Table("deployments").
		Joins("LEFT JOIN computers ON computers.id = deployments.computer_id").
		Joins("LEFT JOIN sites ON sites.id = computers.site_id").
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
	switch {
	case f.Recent:
		order = "deployments.updated_at DESC, deployments.id DESC"
	case f.ByComputer:
		order = "computers.name, deployments.id"
	}
	var out []DeploymentRow
	err = f.scope(db).Select("deployments.*, computers.name AS computer_name, computers.site_id AS site_id, " +
		"sites.name AS site_name, packages.name AS package_name").
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

// FirstDeploymentAt returns when a package's first deployment was created,
// zero when it has none.
func (s *Store) FirstDeploymentAt(ctx context.Context, packageID string) (time.Time, error) {
	var first []Deployment
	if err := s.read(ctx).Where("package_id = ?", packageID).Order("created_at, id").Limit(1).Find(&first).Error; err != nil {
		return time.Time{}, fmt.Errorf("first deployment %s: %w", packageID, translate(err))
	}
	if len(first) == 0 {
		return time.Time{}, nil
	}
	return first[0].CreatedAt, nil
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

// UICounts are the totals of the dashboard.
type UICounts struct {
	Computers, Sites, Packages, ActivePackages int64
	// SeenSince counts the computers whose last contact is after the time
	// given to UIDashboardCounts.
	SeenSince int64
	// ComputersInProgress counts the distinct computers with at least one
	// unfinished deployment.
	ComputersInProgress int64
}

// UIDashboardCounts counts computers, sites and packages, and the computers
// seen since the given time.
func (s *Store) UIDashboardCounts(ctx context.Context, since time.Time) (*UICounts, error) {
	db := s.read(ctx)
	out := &UICounts{}
	for _, c := range []struct {
		q   *gorm.DB
		dst *int64
	}{
		{db.Model(&Computer{}), &out.Computers},
		{db.Model(&Site{}), &out.Sites},
		{db.Model(&Package{}), &out.Packages},
		{db.Model(&Package{}).Where("active = ?", true), &out.ActivePackages},
		{db.Model(&Computer{}).Where("last_contact >= ?", utc(since)), &out.SeenSince},
		{db.Model(&Deployment{}).Distinct("computer_id").Where("state NOT IN ?", []string{StateSuccess, StateError, StateCancelled}), &out.ComputersInProgress},
	} {
		if err := c.q.Count(c.dst).Error; err != nil {
			return nil, fmt.Errorf("dashboard counts: %w", translate(err))
		}
	}
	return out, nil
}

// UIPackageStates is one package's deployments per state.
type UIPackageStates struct {
	PackageID   string
	PackageName string
	Active      bool
	Counts      map[string]int64
}

// UIUnfinishedPackages returns, for every package that has at least one
// unfinished deployment, its deployments per state, ordered by package ID.
func (s *Store) UIUnfinishedPackages(ctx context.Context) ([]UIPackageStates, error) {
	type row struct {
		PackageID string
		Name      string
		Active    bool
		State     string
		N         int64
	}
	var rows []row
	db := s.read(ctx)
	unfinished := db.Model(&Deployment{}).Select("package_id").
		Where("state NOT IN ?", []string{StateSuccess, StateError, StateCancelled})
	err := db.Table("deployments").
		Select("deployments.package_id AS package_id, packages.name AS name, packages.active AS active, deployments.state AS state, COUNT(*) AS n").
		Joins("JOIN packages ON packages.id = deployments.package_id").
		Where("deployments.package_id IN (?)", unfinished).
		Group("deployments.package_id, packages.name, packages.active, deployments.state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("unfinished packages: %w", translate(err))
	}
	byID := map[string]*UIPackageStates{}
	var out []*UIPackageStates
	for _, r := range rows {
		p := byID[r.PackageID]
		if p == nil {
			p = &UIPackageStates{PackageID: r.PackageID, PackageName: r.Name, Active: r.Active, Counts: map[string]int64{}}
			byID[r.PackageID] = p
			out = append(out, p)
		}
		p.Counts[r.State] = r.N
	}
	res := make([]UIPackageStates, len(out))
	for i, p := range out {
		res[i] = *p
	}
	slices.SortFunc(res, func(a, b UIPackageStates) int { return strings.Compare(a.PackageID, b.PackageID) })
	return res, nil
}

// UIComputerTags returns the TAG account info of the given computers.
func (s *Store) UIComputerTags(ctx context.Context, ids []uint) (map[uint]string, error) {
	out := make(map[uint]string, len(ids))
	for _, chunk := range chunks(ids) {
		var rows []AccountInfo
		if err := s.read(ctx).Where("key_name = ? AND computer_id IN ?", AccountTag, chunk).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("computer tags: %w", translate(err))
		}
		for _, r := range rows {
			out[r.ComputerID] = r.KeyValue
		}
	}
	return out, nil
}
