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

// siteCacheTTL bounds how stale SiteForIP can be when another central
// instance (sharing a PostgreSQL database) changed the sites.
const siteCacheTTL = 30 * time.Second

// siteIndex is the in-memory copy of all sites used by SiteForIP.
type siteIndex struct {
	loaded  time.Time
	sites   []Site
	entries []siteEntry // most specific prefix first
}

type siteEntry struct {
	prefix netip.Prefix
	site   int // index into sites
}

// normalizeSite validates site and rewrites its CIDRs canonically (masked,
// deduplicated, sorted).
func normalizeSite(site *Site) error {
	site.Name = strings.TrimSpace(site.Name)
	if site.Name == "" {
		return fmt.Errorf("site name is empty: %w", ErrInvalid)
	}
	if site.FragmentLocation != "" {
		if err := validateLocation("fragment location", site.FragmentLocation); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(site.CIDRs))
	cidrs := make([]SiteCIDR, 0, len(site.CIDRs))
	for _, c := range site.CIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c.CIDR))
		if err != nil {
			return fmt.Errorf("site %s: cidr %q: %w", site.Name, c.CIDR, ErrInvalid)
		}
		text := p.Masked().String()
		if seen[text] {
			continue
		}
		seen[text] = true
		cidrs = append(cidrs, SiteCIDR{CIDR: text})
	}
	slices.SortFunc(cidrs, func(a, b SiteCIDR) int { return strings.Compare(a.CIDR, b.CIDR) })
	site.CIDRs = cidrs
	return nil
}

func insertCIDRs(tx *gorm.DB, site *Site) error {
	for i := range site.CIDRs {
		site.CIDRs[i].ID = 0
		site.CIDRs[i].SiteID = site.ID
	}
	if len(site.CIDRs) == 0 {
		return nil
	}
	return tx.CreateInBatches(site.CIDRs, batchSize).Error
}

func (s *Store) invalidateSites() {
	s.sites.mu.Lock()
	s.sites.idx = nil
	s.sites.mu.Unlock()
}

// CreateSite inserts a site and its CIDRs. A duplicate name, or a CIDR that
// already belongs to a site, gives ErrConflict.
func (s *Store) CreateSite(ctx context.Context, site *Site) error {
	if site == nil {
		return fmt.Errorf("create site: nil site: %w", ErrInvalid)
	}
	if err := normalizeSite(site); err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	site.ID = 0
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if err := tx.Omit("CIDRs").Create(site).Error; err != nil {
			return err
		}
		return insertCIDRs(tx, site)
	})
	s.invalidateSites()
	if err != nil {
		site.ID = 0
		return fmt.Errorf("create site %s: %w", site.Name, err)
	}
	return nil
}

// ListSites returns all sites with their CIDRs, ordered by name.
func (s *Store) ListSites(ctx context.Context) ([]Site, error) {
	var out []Site
	err := s.read(ctx).Preload("CIDRs", func(db *gorm.DB) *gorm.DB { return db.Order("cidr") }).
		Order("name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", translate(err))
	}
	return out, nil
}

// Site returns the site with the given ID and its CIDRs.
func (s *Store) Site(ctx context.Context, id uint) (*Site, error) {
	var site Site
	err := s.read(ctx).Preload("CIDRs", func(db *gorm.DB) *gorm.DB { return db.Order("cidr") }).
		Where("id = ?", id).Take(&site).Error
	if err != nil {
		return nil, fmt.Errorf("site %d: %w", id, translate(err))
	}
	return &site, nil
}

// UpdateSite replaces the name, description, fragment location, time zone, OCS timings and CIDRs of
// the site with site.ID.
func (s *Store) UpdateSite(ctx context.Context, site *Site) error {
	if site == nil {
		return fmt.Errorf("update site: nil site: %w", ErrInvalid)
	}
	if err := normalizeSite(site); err != nil {
		return fmt.Errorf("update site %d: %w", site.ID, err)
	}
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		r := tx.Model(&Site{}).Where("id = ?", site.ID).Updates(map[string]any{
			"name": site.Name, "description": site.Description, "fragment_location": site.FragmentLocation,
			"time_zone": site.TimeZone, "ocs_timings": site.OCSTimings, "deploy_window": site.Window,
		})
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("site_id = ?", site.ID).Delete(&SiteCIDR{}).Error; err != nil {
			return err
		}
		return insertCIDRs(tx, site)
	})
	s.invalidateSites()
	if err != nil {
		return fmt.Errorf("update site %d: %w", site.ID, err)
	}
	return nil
}

// DeleteSite deletes a site; its computers are left without a site.
func (s *Store) DeleteSite(ctx context.Context, id uint) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		if err := tx.Where("site_id = ?", id).Delete(&SiteCIDR{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&Computer{}).Where("site_id = ?", id).Update("site_id", nil).Error; err != nil {
			return err
		}
		if err := deleteSiteRelays(tx, id, time.Now()); err != nil { // relays.go
			return err
		}
		r := tx.Where("id = ?", id).Delete(&Site{})
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	s.invalidateSites()
	if err != nil {
		return fmt.Errorf("delete site %d: %w", id, err)
	}
	return nil
}

// SiteForIP returns the site whose CIDR contains ip, the most specific
// prefix winning (then the lowest site ID). It gives ErrNotFound when no
// site matches. Sites are cached in memory; changes made through this Store
// are seen at once, changes by other instances within siteCacheTTL.
func (s *Store) SiteForIP(ctx context.Context, ip netip.Addr) (*Site, error) {
	if !ip.IsValid() {
		return nil, fmt.Errorf("site for ip: invalid address: %w", ErrInvalid)
	}
	idx, err := s.siteIndex(ctx)
	if err != nil {
		return nil, fmt.Errorf("site for ip %s: %w", ip, err)
	}
	ip = ip.Unmap()
	for _, e := range idx.entries {
		if e.prefix.Contains(ip) {
			site := idx.sites[e.site]
			site.CIDRs = slices.Clone(site.CIDRs)
			return &site, nil
		}
	}
	return nil, fmt.Errorf("site for ip %s: %w", ip, ErrNotFound)
}

// siteIndex returns the cached site index, loading it when missing or
// stale. The lock is held while loading so that concurrent misses load once.
func (s *Store) siteIndex(ctx context.Context) (*siteIndex, error) {
	s.sites.mu.Lock()
	defer s.sites.mu.Unlock()
	if s.sites.idx != nil && time.Since(s.sites.idx.loaded) < siteCacheTTL {
		return s.sites.idx, nil
	}
	sites, err := s.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	idx := &siteIndex{loaded: time.Now(), sites: sites}
	for i, site := range sites {
		for _, c := range site.CIDRs {
			p, err := netip.ParsePrefix(c.CIDR)
			if err != nil {
				s.logger.Warn("ignoring bad stored cidr", "site", site.Name, "cidr", c.CIDR, "err", err)
				continue
			}
			idx.entries = append(idx.entries, siteEntry{prefix: p, site: i})
		}
	}
	slices.SortStableFunc(idx.entries, func(a, b siteEntry) int {
		return cmp.Or(cmp.Compare(b.prefix.Bits(), a.prefix.Bits()), cmp.Compare(sites[a.site].ID, sites[b.site].ID))
	})
	s.sites.idx = idx
	return idx, nil
}

// ComputerAddr is a computer's reported address and site.
type ComputerAddr struct {
	ID     uint
	IPAddr string
	SiteID *uint
}

// ComputerAddrsExcept returns the address and site of every computer not of
// source (SourceOCS, SourceShoal), by ID.
func (s *Store) ComputerAddrsExcept(ctx context.Context, source string) ([]ComputerAddr, error) {
	var out []ComputerAddr
	if err := s.read(ctx).Model(&Computer{}).Select("id", "ip_addr", "site_id").Where("source <> ? OR source IS NULL", source).
		Order("id").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("computer addresses: %w", translate(err))
	}
	return out, nil
}

// SetComputersSite moves the computers ids to site siteID.
func (s *Store) SetComputersSite(ctx context.Context, ids []uint, siteID uint) error {
	err := s.tx(ctx, false, func(tx *gorm.DB) error {
		for _, chunk := range chunks(ids) {
			if err := tx.Model(&Computer{}).Where("id IN ?", chunk).Update("site_id", siteID).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set computers site %d: %w", siteID, translate(err))
	}
	return nil
}
