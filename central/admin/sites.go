package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	_ "time/tzdata" // Site time zones are checked the same on every host.

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// ErrBadSite reports a site (or a line of a site import) that cannot be
// saved; its message says why.
var ErrBadSite = errkind.New(errkind.Invalid, "site: bad request")

// maxImportSites bounds the lines of one site import.
const maxImportSites = 5000

// SiteImport is what ImportSites did.
type SiteImport struct {
	Created, Updated, Moved int
}

// ImportSites creates or updates sites from CSV: name, CIDRs (separated by
// spaces or semicolons), time zone, one site a line; a first line whose
// first field is "name" is a header. A site that exists (same name,
// case-insensitive) gets the line's CIDRs and time zone and keeps its
// description and fragment location. Every line is checked before anything
// is saved, and all are saved in one transaction; then the computers whose
// last address falls in the sites' ranges move at once.
func (s *Service) ImportSites(ctx context.Context, who audit.Actor, r io.Reader) (SiteImport, error) {
	sites, err := parseSitesCSV(r)
	if err != nil {
		return SiteImport{}, err
	}
	var res SiteImport
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		res = SiteImport{}
		existing, err := tx.ListSites(ctx)
		if err != nil {
			return err
		}
		byName := map[string]store.Site{}
		for _, e := range existing {
			byName[strings.ToLower(e.Name)] = e
		}
		for i, site := range sites {
			if e, ok := byName[strings.ToLower(site.Name)]; ok {
				site.ID, site.Name, site.Description, site.FragmentLocation = e.ID, e.Name, e.Description, e.FragmentLocation
				site.OCSTimings = e.OCSTimings
				if err := tx.UpdateSite(ctx, site); err != nil {
					return fmt.Errorf("site %d of the file (%s): %w", i+1, site.Name, err)
				}
				res.Updated++
				continue
			}
			if err := tx.CreateSite(ctx, site); err != nil {
				return fmt.Errorf("site %d of the file (%s): %w", i+1, site.Name, err)
			}
			res.Created++
		}
		return nil
	})
	if err != nil {
		return SiteImport{}, fmt.Errorf("import sites: %w", err)
	}
	if res.Moved, err = s.ResiteComputers(ctx); err != nil {
		return SiteImport{}, err
	}
	s.changes.SitesChanged(ctx)
	s.audit.Record(ctx, who, "site.import", fmt.Sprintf("%d sites", len(sites)),
		fmt.Sprintf("created=%d updated=%d computers_moved=%d", res.Created, res.Updated, res.Moved))
	return res, nil
}

// parseSitesCSV reads and checks every line of a site import.
func parseSitesCSV(r io.Reader) ([]*store.Site, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var out []*store.Site
	seen := map[string]int{}
	var problems []error
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("import sites: %w: %w", err, ErrBadSite)
		}
		if len(out) == 0 && len(problems) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(out)+len(problems) >= maxImportSites {
			return nil, fmt.Errorf("import sites: more than %d sites in one file: %w", maxImportSites, ErrBadSite)
		}
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Errorf("line %d: "+format, append([]any{line}, args...)...))
		}
		if len(rec) < 2 || len(rec) > 3 {
			bad("want name, CIDRs, time zone; got %d fields", len(rec))
			continue
		}
		site := &store.Site{Name: strings.TrimSpace(rec[0])}
		if site.Name == "" {
			bad("the site name is empty")
			continue
		}
		if prev, dup := seen[strings.ToLower(site.Name)]; dup {
			bad("site %s is already on line %d", site.Name, prev)
			continue
		}
		seen[strings.ToLower(site.Name)] = line
		var badCIDRs []string
		for _, c := range strings.FieldsFunc(rec[1], func(r rune) bool { return r == ' ' || r == ';' || r == '\t' }) {
			if _, err := netip.ParsePrefix(c); err != nil {
				badCIDRs = append(badCIDRs, c)
			}
			site.CIDRs = append(site.CIDRs, store.SiteCIDR{CIDR: c})
		}
		if len(badCIDRs) > 0 {
			bad("site %s: not a range (write them like 10.1.0.0/16): %s", site.Name, strings.Join(badCIDRs, ", "))
			continue
		}
		if len(site.CIDRs) == 0 {
			bad("site %s has no CIDR range", site.Name)
			continue
		}
		if len(rec) == 3 {
			site.TimeZone = rec[2]
		}
		if err := checkSite(site); err != nil {
			bad("%s", strings.TrimSuffix(err.Error(), ": "+ErrBadSite.Error()))
			continue
		}
		out = append(out, site)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("import sites: %w: %w", errors.Join(problems...), ErrBadSite)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import sites: no site in the file (want lines of name, CIDRs, time zone): %w", ErrBadSite)
	}
	return out, nil
}
