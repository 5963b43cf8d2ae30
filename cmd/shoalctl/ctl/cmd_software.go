package ctl

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the software catalog commands (software list, software
// get, the dictionary rules) and computer history.

func runSoftwareList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("software list")
	category := set.String("category", "", "only titles of this category")
	asCSV := set.Bool("csv", false, "print CSV (title, category, publisher, computers, installs, first_seen, last_seen, names)")
	pos, err := c.parse(set, args, 0, 1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if len(pos) == 1 {
		q.Set(api.QuerySoftwareText, pos[0])
	}
	if *category != "" {
		q.Set(api.QuerySoftwareCategory, *category)
	}
	var l api.List[api.SoftwareTitle]
	if *asCSV {
		if err := c.call(ctx, "GET", "/software", q, nil, &l); err != nil {
			return err
		}
		return api.WriteTitlesCSV(c.io.Stdout, l.Items)
	}
	return c.show(ctx, "/software", q, &l, func() error {
		t := newTable(c.io.Stdout, "TITLE", "CATEGORY", "PUBLISHER", "COMPUTERS", "NAMES", "LAST SEEN")
		for _, s := range l.Items {
			t.row(s.Title, s.Category, s.Publisher, s.Computers, len(s.Names), when(s.LastSeen))
		}
		return t.flush()
	})
}

func runSoftwareGet(ctx context.Context, c *cli, args []string) error {
	set := c.flags("software get")
	version := set.String("version", "", "list only the computers with this version")
	computers := set.Bool("computers", false, "list the title's computers instead of its versions and sites")
	asCSV := set.Bool("csv", false, "print the title's computers as CSV")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	path := "/software/" + url.PathEscape(pos[0])
	if *computers || *asCSV || *version != "" {
		q := url.Values{}
		if *version != "" {
			q.Set("version", *version)
		}
		var l api.List[api.SoftwareHolder]
		if *asCSV {
			q.Set("limit", "1000")
			var all []api.SoftwareHolder
			for {
				q.Set("offset", strconv.Itoa(len(all)))
				if err := c.call(ctx, "GET", path+"/computers", q, nil, &l); err != nil {
					return err
				}
				all = append(all, l.Items...)
				if len(l.Items) == 0 || int64(len(all)) >= l.Total {
					break
				}
			}
			return api.WriteHoldersCSV(c.io.Stdout, all)
		}
		q.Set("limit", "1000")
		return c.show(ctx, path+"/computers", q, &l, func() error {
			t := newTable(c.io.Stdout, "COMPUTER", "NAME", "SITE", "SOFTWARE", "VERSION", "LAST INVENTORY")
			for _, h := range l.Items {
				t.row(h.ComputerID, h.ComputerName, h.SiteName, h.Name, h.Version, when(h.LastInventory))
			}
			if err := t.flush(); err != nil {
				return err
			}
			return c.more(len(l.Items), l.Offset, l.Total)
		})
	}
	var d api.SoftwareTitleDetail
	return c.show(ctx, path, nil, &d, func() error {
		t := newTable(c.io.Stdout)
		for _, kv := range [][2]any{
			{"Title", d.Title}, {"Category", d.Category}, {"Publisher", d.Publisher}, {"Computers", d.Computers},
			{"First seen", when(d.FirstSeen)}, {"Last seen", when(d.LastSeen)}, {"Names", strings.Join(d.Names, "; ")},
		} {
			t.row(fmt.Sprint(kv[0])+":", kv[1])
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(c.io.Stdout, "\nVersions:")
		vt := newTable(c.io.Stdout, "VERSION", "COMPUTERS", "SITES")
		for _, v := range d.Versions {
			vt.row(v.Version, v.Computers, siteCounts(v.Sites))
		}
		return vt.flush()
	})
}

// siteCounts prints per-site counts as "paris: 2, no site: 1".
func siteCounts(sites []api.SoftwareSite) string {
	parts := make([]string, len(sites))
	for i, s := range sites {
		name := s.SiteName
		if s.SiteID == nil {
			name = "no site"
		}
		parts[i] = fmt.Sprintf("%s: %d", name, s.Computers)
	}
	return strings.Join(parts, ", ")
}

func runSoftwareRules(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("software rules"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.SoftwareRule]
	return c.show(ctx, "/software/rules", nil, &l, func() error {
		t := newTable(c.io.Stdout, "ID", "POSITION", "PATTERN", "TITLE", "CATEGORY")
		for _, r := range l.Items {
			t.row(r.ID, r.Position, r.Pattern, r.Title, r.Category)
		}
		return t.flush()
	})
}

func runSoftwareRuleAdd(ctx context.Context, c *cli, args []string) error {
	set := c.flags("software rule add")
	title := set.String("title", "", "the title of the matching names (empty: their automatic title)")
	category := set.String("category", "", "the category of the matching names")
	position := set.Int("position", 0, "rules apply by position, then id; the first match wins")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	var r api.SoftwareRule
	if err := c.call(ctx, "POST", "/software/rules", nil, api.SoftwareRuleRequest{Pattern: pos[0], Title: *title, Category: *category, Position: *position}, &r); err != nil {
		return err
	}
	return c.report(&r, "Rule %d: names matching %q → title %q, category %q.\n", r.ID, r.Pattern, r.Title, r.Category)
}

func runSoftwareRuleDelete(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("software rule delete"), args, "rule")
	if err != nil {
		return err
	}
	if err := c.call(ctx, "DELETE", fmt.Sprintf("/software/rules/%d", id), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Rule %d deleted.\n", id)
	return nil
}

func runComputerHistory(ctx context.Context, c *cli, args []string) error {
	set := c.flags("computer history")
	limit := set.Int("limit", 100, "entries, newest first (1..10000)")
	rest, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := idArg(rest[0], "computer")
	if err != nil {
		return err
	}
	var l api.List[api.HistoryEntry]
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	return c.show(ctx, fmt.Sprintf("/computers/%d/history", id), q, &l, func() error {
		t := newTable(c.io.Stdout, "DATE", "CHANGE", "WHAT", "BEFORE", "AFTER")
		for _, h := range l.Items {
			t.row(when(&h.At), h.Kind, h.Subject, h.Old, h.New)
		}
		return t.flush()
	})
}
