package inventory

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// This file is the catalog's fleet index: one read of every software row,
// kept in memory, from which the title list, a title's versions, sites and
// first/last seen are counted, for the whole fleet and for a scoped user
// alike, without reading the rows again. A title's computers are counted
// once each, also when they have two of its names.

// fleetIndex is one read of the fleet's software: every software row
// reduced to its computer's position in comps, grouped by name and
// version. It is never changed once built (readers share it without a
// lock). 10 million rows take about 40 MB.
type fleetIndex struct {
	names []indexName
	comps []indexComputer
	byID  map[uint]uint32 // computer ID → position in comps
	// all is the view of every computer that still existed when the index
	// was read.
	all view
}

type indexComputer struct {
	last int64 // last inventory, Unix nanoseconds (0: unknown)
}

// indexName is one software name with its versions and, for the whole
// fleet, its counts.
type indexName struct {
	id        int64
	name      string
	publisher string // the highest of its rows, as MAX(publisher) gives it
	firstSeen time.Time
	versions  []indexVersion
	// Counts over view all.
	installs, computers int64
	last                int64
}

// indexVersion is one version text of a name and the computers that
// report it, once per software row.
type indexVersion struct {
	key, version string
	comps        []uint32
}

// view says which computers a reader counts and their sites: one siteCode
// per position of fleetIndex.comps.
type view []siteCode

// siteCode is a computer's site in a view: outOfView, noSite, or a site ID
// plus siteBase.
type siteCode uint32

const (
	outOfView siteCode = iota
	noSite
	siteBase
)

func codeOf(site *uint) siteCode {
	if site == nil {
		return noSite
	}
	return siteCode(*site) + siteBase
}

// scanCheckEvery is how many rows the index read visits between two looks
// at its context.
const scanCheckEvery = 1 << 16

// readIndex reads the fleet's software into a new index: one sequential
// scan of the software table, then the computers and the names.
func readIndex(ctx context.Context, st *store.Store) (*fleetIndex, error) {
	ix := &fleetIndex{byID: map[uint]uint32{}}
	byName := map[int64]int{}
	var versionsOf []map[string]int // per name: version text NUL key → position
	var buf []byte
	rows := 0
	err := st.ScanSoftware(ctx, func(r *store.CatalogRow) error {
		if rows++; rows%scanCheckEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		ci, ok := ix.byID[r.ComputerID]
		if !ok {
			ci = uint32(len(ix.comps))
			ix.byID[r.ComputerID] = ci
			ix.comps = append(ix.comps, indexComputer{})
		}
		ni, ok := byName[r.NameID]
		if !ok {
			ni = len(ix.names)
			byName[r.NameID] = ni
			ix.names = append(ix.names, indexName{id: r.NameID})
			versionsOf = append(versionsOf, map[string]int{})
		}
		n := &ix.names[ni]
		if string(r.Publisher) > n.publisher {
			n.publisher = string(r.Publisher)
		}
		buf = append(append(append(buf[:0], r.Version...), 0), r.VersionKey...)
		vi, ok := versionsOf[ni][string(buf)]
		if !ok {
			vi = len(n.versions)
			versionsOf[ni][string(buf)] = vi
			n.versions = append(n.versions, indexVersion{key: string(r.VersionKey), version: string(r.Version)})
		}
		n.versions[vi].comps = append(n.versions[vi].comps, ci)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Computers and names are read after the rows: a computer deleted
	// meanwhile is left out of every view, a name whose row is missing is
	// dropped.
	comps, err := st.CatalogComputers(ctx)
	if err != nil {
		return nil, err
	}
	ix.all = make(view, len(ix.comps))
	for _, c := range comps {
		if ci, ok := ix.byID[c.ID]; ok {
			ix.all[ci] = codeOf(c.SiteID)
			if !c.LastInventory.IsZero() {
				ix.comps[ci].last = c.LastInventory.UnixNano()
			}
		}
	}
	names, err := st.CatalogNames(ctx)
	if err != nil {
		return nil, err
	}
	kept := make([]indexName, 0, len(ix.names))
	m := newMarks(len(ix.comps))
	for _, nm := range names {
		ni, ok := byName[nm.ID]
		if !ok {
			continue
		}
		n := ix.names[ni]
		n.name, n.firstSeen = nm.Name, nm.FirstSeen
		// Each name is counted once here, so the title list of a title
		// with one name (most) needs no pass over its rows.
		c := m.count(ix, ix.all, []*indexName{&n})
		n.installs, n.computers, n.last = c.installs, c.computers, c.last
		kept = append(kept, n)
		delete(byName, nm.ID) // a name listed twice is kept once
	}
	ix.names = kept
	return ix, nil
}

// scopeView is the view of the computers of scope sc, with the sites they
// have now.
func (ix *fleetIndex) scopeView(ctx context.Context, st *store.Store, sc store.Scope) (view, error) {
	if !sc.Limited() {
		return ix.all, nil
	}
	v := make(view, len(ix.comps))
	err := st.ComputerSitesInScope(ctx, sc, func(id uint, site *uint) {
		if ci, ok := ix.byID[id]; ok {
			v[ci] = codeOf(site)
		}
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// group is a catalog title before counting: the names (positions in
// fleetIndex.names, by name) the dictionary merges into it.
type group struct {
	key, title, category string
	names                []int
}

// groups merges the index's names into titles with dictionary d, sorted
// by title.
func (ix *fleetIndex) groups(d dictionary) []group {
	byKey := map[string]int{}
	var out []group
	for i := range ix.names {
		name, category := d.apply(ix.names[i].name)
		k := TitleKey(name)
		gi, ok := byKey[k]
		if !ok {
			gi = len(out)
			byKey[k] = gi
			out = append(out, group{key: k, title: name})
		}
		g := &out[gi]
		if g.category == "" {
			g.category = category
		}
		g.names = append(g.names, i)
	}
	for i := range out {
		slices.SortFunc(out[i].names, func(a, b int) int { return strings.Compare(ix.names[a].name, ix.names[b].name) })
	}
	slices.SortFunc(out, func(a, b group) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.title), strings.ToLower(b.title)), strings.Compare(a.key, b.key))
	})
	return out
}

// marks tells which computers a count has already seen: a computer is
// seen when its mark is the current one, so a new count starts without
// clearing anything.
type marks struct {
	m   []uint32
	cur uint32
}

func newMarks(n int) *marks { return &marks{m: make([]uint32, n)} }

// next starts a new count.
func (m *marks) next() {
	m.cur++
	if m.cur == 0 { // wrapped: clear once every 4 billion counts
		clear(m.m)
		m.cur = 1
	}
}

// counts are a title's (or a name's) figures in one view.
type counts struct {
	installs, computers, last int64
}

// count counts the rows of names in view v and their distinct computers.
func (m *marks) count(ix *fleetIndex, v view, names []*indexName) counts {
	m.next()
	var c counts
	for _, n := range names {
		for _, ver := range n.versions {
			for _, ci := range ver.comps {
				if v[ci] == outOfView {
					continue
				}
				c.installs++
				if m.m[ci] != m.cur {
					m.m[ci] = m.cur
					c.computers++
					c.last = max(c.last, ix.comps[ci].last)
				}
			}
		}
	}
	return c
}

// title counts group g in view v (fleetWide: v is ix.all, whose per-name
// counts are kept): nil when none of its computers is in v. Only the
// names some computer of v has are listed.
func (ix *fleetIndex) title(g *group, v view, fleetWide bool, m *marks) *title {
	t := &title{SoftwareTitle: api.SoftwareTitle{Key: g.key, Title: g.title, Category: g.category, Names: []string{}}}
	var in []*indexName
	var c counts // of the last name in
	for _, i := range g.names {
		n := &ix.names[i]
		nc := counts{installs: n.installs, computers: n.computers, last: n.last}
		if !fleetWide {
			nc = m.count(ix, v, []*indexName{n})
		}
		if nc.computers == 0 {
			continue
		}
		in, c = append(in, n), nc
		t.Names = append(t.Names, n.name)
		t.nameIDs = append(t.nameIDs, n.id)
		t.Publisher = max(t.Publisher, n.publisher)
		if !n.firstSeen.IsZero() && (t.FirstSeen == nil || n.firstSeen.Before(*t.FirstSeen)) {
			at := n.firstSeen
			t.FirstSeen = &at
		}
	}
	if len(in) == 0 {
		return nil
	}
	if len(in) > 1 {
		// A computer with two of the names counts once.
		c = m.count(ix, v, in)
	}
	t.Computers, t.Installs = c.computers, c.installs
	t.LastSeen = unixTime(c.last)
	return t
}

func unixTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	at := time.Unix(0, ns).UTC()
	return &at
}

// detail is title t (counted by ix.title in v) with its versions, newest
// first, and its computers per site, each computer counted once per
// version and once in the sites.
func (ix *fleetIndex) detail(g *group, t *title, v view, siteNames map[uint]string) *api.SoftwareTitleDetail {
	d := &api.SoftwareTitleDetail{SoftwareTitle: t.SoftwareTitle, Versions: []api.SoftwareVersion{}, Sites: []api.SoftwareSite{}}
	type vkey struct{ key, version string }
	members := map[vkey][]*indexVersion{}
	var order []vkey
	for _, i := range g.names {
		for j := range ix.names[i].versions {
			ver := &ix.names[i].versions[j]
			k := vkey{ver.key, ver.version}
			if members[k] == nil {
				order = append(order, k)
			}
			members[k] = append(members[k], ver)
		}
	}
	slices.SortFunc(order, func(a, b vkey) int {
		return cmp.Or(-strings.Compare(a.key, b.key), strings.Compare(a.version, b.version))
	})
	inTitle, inVersion := newMarks(len(ix.comps)), newMarks(len(ix.comps))
	inTitle.next()
	sites := map[siteCode]int64{}
	for _, k := range order {
		inVersion.next()
		var n, last int64
		perSite := map[siteCode]int64{}
		for _, ver := range members[k] {
			for _, ci := range ver.comps {
				sc := v[ci]
				if sc == outOfView || inVersion.m[ci] == inVersion.cur {
					continue
				}
				inVersion.m[ci] = inVersion.cur
				n++
				perSite[sc]++
				last = max(last, ix.comps[ci].last)
				if inTitle.m[ci] != inTitle.cur {
					inTitle.m[ci] = inTitle.cur
					sites[sc]++
				}
			}
		}
		if n == 0 {
			continue
		}
		d.Versions = append(d.Versions, api.SoftwareVersion{Version: k.version, Computers: n,
			Sites: siteList(perSite, siteNames), LastSeen: unixTime(last)})
	}
	d.Sites = siteList(sites, siteNames)
	return d
}

// siteList turns per-site counts into the API's list, most computers
// first.
func siteList(counts map[siteCode]int64, names map[uint]string) []api.SoftwareSite {
	out := make([]api.SoftwareSite, 0, len(counts))
	for sc, n := range counts {
		s := api.SoftwareSite{Computers: n}
		if sc >= siteBase {
			id := uint(sc - siteBase)
			s.SiteID, s.SiteName = &id, names[id]
			if s.SiteName == "" {
				s.SiteName = "site " + strconv.FormatUint(uint64(id), 10)
			}
		}
		out = append(out, s)
	}
	sortSites(out)
	return out
}
