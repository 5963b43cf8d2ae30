package ctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// siteRef resolves a site given by ID or by name (case-insensitive) to its
// ID; "none" and "" are returned as they are by siteParam instead.
func (c *cli) siteRef(ctx context.Context, ref string) (uint, error) {
	ref = strings.TrimSpace(ref)
	if n, err := strconv.ParseUint(ref, 10, 32); err == nil && n > 0 {
		return uint(n), nil
	}
	var l api.List[api.Site]
	if err := c.call(ctx, "GET", "/sites", nil, nil, &l); err != nil {
		return 0, err
	}
	var names []string
	for _, s := range l.Items {
		if strings.EqualFold(s.Name, ref) {
			return s.ID, nil
		}
		names = append(names, s.Name)
	}
	if len(names) == 0 {
		return 0, &usageError{msg: fmt.Sprintf("no site is named %q (there are no sites yet)", ref)}
	}
	return 0, &usageError{msg: fmt.Sprintf("no site is named %q; sites: %s", ref, strings.Join(names, ", "))}
}

// siteParam turns a --site value (a name, an ID or 'none') into the ID or
// 'none' the API takes.
func (c *cli) siteParam(ctx context.Context, ref string) (string, error) {
	if ref == "" || ref == "none" {
		return ref, nil
	}
	id, err := c.siteRef(ctx, ref)
	if err != nil {
		return "", err
	}
	return strconv.FormatUint(uint64(id), 10), nil
}

// resolveSite applies the saved search given to --search (its criteria
// fill the search flags not given) and replaces a site name given to
// --site by its ID.
func (f filterFlags) resolveSite(ctx context.Context, c *cli) error {
	if p, ok := f[api.QuerySavedSearch]; ok && *p != "" {
		var s api.SavedSearch
		if err := c.call(ctx, "GET", searchPath(*p), nil, nil, &s); err != nil {
			return err
		}
		for k, v := range s.Search {
			if q, ok := f[k]; ok && *q == "" {
				*q = v
			}
		}
		*p = ""
	}
	p, ok := f[api.QuerySite]
	if !ok || *p == "" {
		return nil
	}
	v, err := c.siteParam(ctx, *p)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func runSitesImport(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("sites import"), args, 1, 1)
	if err != nil {
		return err
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(c.io.Stdin, 8<<20))
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pos[0], err)
	}
	var res api.SiteImportResult
	if err := c.call(ctx, "POST", "/sites/import", nil, api.SiteImportRequest{CSV: string(data)}, &res); err != nil {
		return err
	}
	return c.report(res, "Sites created: %d, updated: %d; computers moved to them: %d.\n", res.Created, res.Updated, res.ComputersMoved)
}

func runSiteGet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("site get"), args, 1, 1)
	if err != nil {
		return err
	}
	id, err := c.siteRef(ctx, pos[0])
	if err != nil {
		return err
	}
	var s api.Site
	return c.show(ctx, fmt.Sprintf("/sites/%d", id), nil, &s, func() error {
		t := newTable(c.io.Stdout)
		tz := s.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		window := s.Window
		if window == "" {
			window = "always"
		}
		for _, kv := range [][2]any{
			{"ID", s.ID}, {"Name", s.Name}, {"Description", s.Description}, {"CIDRs", (*stringList)(&s.CIDRs).String()},
			{"Fragment location", s.FragmentLocation}, {"Time zone", tz}, {"Window", window}, {"OCS timings", s.OCSTimings},
			{"Computers", s.Computers},
		} {
			t.row(fmt.Sprint(kv[0])+":", kv[1])
		}
		return t.flush()
	})
}
