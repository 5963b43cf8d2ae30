package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// Config is the inventory: section of central's configuration.
type Config struct {
	// HistoryRetention is how long a computer's change history is kept
	// (default 8760h, a year); older entries are pruned every hour.
	HistoryRetention time.Duration `yaml:"history_retention"`
	// CatalogCacheTTL is how long the catalog's per-name counts, which read
	// every software row, are reused (default 30s). When reading them took
	// a second or more (a large fleet), expired counts are served while one
	// background read replaces them.
	CatalogCacheTTL time.Duration `yaml:"catalog_cache_ttl"`
}

func (c Config) withDefaults() Config {
	if c.HistoryRetention == 0 {
		c.HistoryRetention = 365 * 24 * time.Hour
	}
	if c.CatalogCacheTTL == 0 {
		c.CatalogCacheTTL = 30 * time.Second
	}
	return c
}

// WithDefaults returns c with every unset value at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.HistoryRetention < time.Hour {
		return errors.New("inventory: history_retention must be at least 1h")
	}
	if c.CatalogCacheTTL < 0 {
		return errors.New("inventory: catalog_cache_ttl must not be negative")
	}
	return nil
}

// pruneInterval is how often the change history is pruned.
const pruneInterval = time.Hour

// maxHolders bounds one page (and a CSV export) of a title's computers.
const maxHolders = 100000

// Catalog is the fleet's software catalog: it groups the distinct software
// names into titles (AutoTitle, then the dictionary's rules), counts their
// computers per version and site, lists a title's computers, keeps the
// dictionary, and prunes the computers' change history.
type Catalog struct {
	cfg   Config
	store *store.Store
	audit *audit.Log
	log   *slog.Logger

	mu       sync.Mutex // owns stats, statsAt, statsTook and refreshing
	stats    []store.NameStat
	statsAt  time.Time
	statsGen int
	// statsTook is how long the last read of stats took; refreshing is
	// set while a background re-read runs (see nameStats).
	statsTook  time.Duration
	refreshing bool
}

// slowStatsRead is how long a read of the per-name counts must have taken
// for expired counts to be served while one background read replaces them
// (a fleet of millions of software rows: tens of seconds), instead of
// making the page wait. Faster reads stay synchronous, so a small fleet's
// counts are never older than CatalogCacheTTL.
var slowStatsRead = time.Second

// statsReadTimeout bounds a background read of the per-name counts.
const statsReadTimeout = 10 * time.Minute

// NewCatalog returns a Catalog.
func NewCatalog(cfg Config, st *store.Store, logger *slog.Logger) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Catalog{cfg: cfg.withDefaults(), store: st, audit: audit.New(st, logger), log: logger.With("component", "catalog")}, nil
}

// Run reads the catalog's counts once, so that the first catalog page
// need not wait for them (tens of seconds at millions of software rows),
// then prunes the change history every hour until ctx ends.
func (c *Catalog) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.stats == nil {
		if _, err := c.readStats(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("catalog counts", "err", err)
		}
	}
	c.mu.Unlock()
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		c.prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Catalog) prune(ctx context.Context) {
	n, err := c.store.PruneHistory(ctx, time.Now().Add(-c.cfg.HistoryRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("prune change history", "err", err)
	case n > 0:
		c.log.Info("change history pruned", "entries", n, "retention", c.cfg.HistoryRetention)
	}
}

// History returns a computer's change history, newest first; site
// changes name the sites (siteNames, else "site N").
func (c *Catalog) History(ctx context.Context, computerID uint, limit int, siteNames map[uint]string) ([]api.HistoryEntry, error) {
	if _, err := c.store.Computer(ctx, computerID); err != nil {
		return nil, err
	}
	rows, err := c.store.ComputerHistory(ctx, computerID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]api.HistoryEntry, len(rows))
	for i, r := range rows {
		out[i] = api.HistoryEntry{At: r.At, Kind: r.Kind, Subject: r.Subject, Old: r.Old, New: r.New}
		if r.Kind == store.ChangeSite {
			out[i].Old, out[i].New = siteName(r.Old, siteNames), siteName(r.New, siteNames)
		}
	}
	return out, nil
}

// TitleFilter selects catalog titles: Text matches a title or one of its
// names anywhere, any case; Category equals the title's category. A
// limited Scope counts only its computers and leaves out the titles none
// of them has (a scoped user's catalog, read uncached).
type TitleFilter struct {
	Text     string
	Category string
	Scope    store.Scope
}

// title is a catalog title with the name IDs it merges.
type title struct {
	api.SoftwareTitle
	nameIDs []int64
}

// Titles returns the catalog's titles matching f, by title.
func (c *Catalog) Titles(ctx context.Context, f TitleFilter) ([]api.SoftwareTitle, error) {
	all, err := c.titlesIn(ctx, f.Scope)
	if err != nil {
		return nil, err
	}
	text := strings.ToLower(strings.TrimSpace(f.Text))
	out := make([]api.SoftwareTitle, 0, len(all))
	for _, t := range all {
		if f.Category != "" && !strings.EqualFold(t.Category, f.Category) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(t.Title), text) &&
			!slices.ContainsFunc(t.Names, func(n string) bool { return strings.Contains(strings.ToLower(n), text) }) {
			continue
		}
		out = append(out, t.SoftwareTitle)
	}
	return out, nil
}

// Categories returns the categories the rules give, sorted.
func (c *Catalog) Categories(ctx context.Context) ([]string, error) {
	rules, err := c.store.SoftwareRules(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rules {
		if r.Category != "" && !slices.Contains(out, r.Category) {
			out = append(out, r.Category)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Title returns one title with its versions (newest first) and its
// computers per version and per site. key is a title's Key or its title.
func (c *Catalog) Title(ctx context.Context, key string, siteNames map[uint]string) (*api.SoftwareTitleDetail, error) {
	return c.TitleIn(ctx, key, store.Scope{}, siteNames)
}

// TitleIn is Title counting only the computers of scope sc; a title none
// of them has is not found.
func (c *Catalog) TitleIn(ctx context.Context, key string, sc store.Scope, siteNames map[uint]string) (*api.SoftwareTitleDetail, error) {
	t, err := c.find(ctx, key, sc)
	if err != nil {
		return nil, err
	}
	stats, err := c.store.SoftwareVersionStatsIn(ctx, t.nameIDs, sc)
	if err != nil {
		return nil, err
	}
	d := &api.SoftwareTitleDetail{SoftwareTitle: t.SoftwareTitle, Versions: []api.SoftwareVersion{}, Sites: []api.SoftwareSite{}}
	type vkey struct{ key, version string }
	versions := map[vkey]*api.SoftwareVersion{}
	var order []vkey
	for _, s := range stats {
		k := vkey{s.VersionKey, s.Version}
		v := versions[k]
		if v == nil {
			v = &api.SoftwareVersion{Version: s.Version}
			versions[k] = v
			order = append(order, k)
		}
		v.Computers += s.Computers
		v.Sites = addSite(v.Sites, s.SiteID, s.Computers, siteNames)
		if !s.LastSeen.IsZero() && (v.LastSeen == nil || s.LastSeen.After(*v.LastSeen)) {
			at := s.LastSeen
			v.LastSeen = &at
		}
		d.Sites = addSite(d.Sites, s.SiteID, s.Computers, siteNames)
	}
	slices.SortFunc(order, func(a, b vkey) int {
		return cmp.Or(-strings.Compare(a.key, b.key), strings.Compare(a.version, b.version))
	})
	for _, k := range order {
		v := versions[k]
		sortSites(v.Sites)
		d.Versions = append(d.Versions, *v)
	}
	sortSites(d.Sites)
	return d, nil
}

func siteName(id string, names map[uint]string) string {
	n, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return id
	}
	if name := names[uint(n)]; name != "" {
		return name
	}
	return "site " + id
}

func addSite(sites []api.SoftwareSite, id *uint, n int64, names map[uint]string) []api.SoftwareSite {
	for i := range sites {
		if (sites[i].SiteID == nil) == (id == nil) && (id == nil || *sites[i].SiteID == *id) {
			sites[i].Computers += n
			return sites
		}
	}
	s := api.SoftwareSite{Computers: n}
	if id != nil {
		v := *id
		s.SiteID, s.SiteName = &v, names[v]
		if s.SiteName == "" {
			s.SiteName = "site " + strconv.FormatUint(uint64(v), 10)
		}
	}
	return append(sites, s)
}

func sortSites(s []api.SoftwareSite) {
	slices.SortFunc(s, func(a, b api.SoftwareSite) int {
		return cmp.Or(cmp.Compare(b.Computers, a.Computers), strings.Compare(a.SiteName, b.SiteName))
	})
}

// Computers returns one page of the computers that have the title key (in
// version, when not empty), by computer name, and their total.
func (c *Catalog) Computers(ctx context.Context, key, version string, limit, offset int, siteNames map[uint]string) ([]api.SoftwareHolder, int64, error) {
	return c.ComputersIn(ctx, key, version, store.Scope{}, limit, offset, siteNames)
}

// ComputersIn is Computers limited to the computers of scope sc.
func (c *Catalog) ComputersIn(ctx context.Context, key, version string, sc store.Scope, limit, offset int, siteNames map[uint]string) ([]api.SoftwareHolder, int64, error) {
	t, err := c.find(ctx, key, sc)
	if err != nil {
		return nil, 0, err
	}
	if limit < 1 || limit > maxHolders {
		limit = maxHolders
	}
	rows, total, err := c.store.SoftwareHoldersIn(ctx, t.nameIDs, version, sc, limit, max(offset, 0))
	if err != nil {
		return nil, 0, err
	}
	out := make([]api.SoftwareHolder, len(rows))
	for i, r := range rows {
		h := api.SoftwareHolder{ComputerID: r.ComputerID, ComputerName: r.ComputerName, SiteID: r.SiteID,
			Name: r.Name, Version: r.Version, Publisher: r.Publisher}
		if r.SiteID != nil {
			h.SiteName = siteNames[*r.SiteID]
		}
		if !r.LastInventory.IsZero() {
			at := r.LastInventory
			h.LastInventory = &at
		}
		out[i] = h
	}
	return out, total, nil
}

// ErrNoTitle is returned for a title the catalog does not hold.
var ErrNoTitle = fmt.Errorf("software title: %w", store.ErrNotFound)

func (c *Catalog) find(ctx context.Context, key string, sc store.Scope) (*title, error) {
	all, err := c.titlesIn(ctx, sc)
	if err != nil {
		return nil, err
	}
	key = strings.TrimSpace(key)
	for i := range all {
		if all[i].Key == key || strings.EqualFold(all[i].Title, key) {
			return &all[i], nil
		}
	}
	return nil, fmt.Errorf("%q: %w", key, ErrNoTitle)
}

// titlesIn groups the names of scope sc (the fleet's, cached, when sc is
// not limited) into titles with the current rules.
func (c *Catalog) titlesIn(ctx context.Context, sc store.Scope) ([]title, error) {
	var stats []store.NameStat
	var err error
	if sc.Limited() {
		stats, err = c.store.SoftwareNameStatsIn(ctx, sc)
	} else {
		stats, err = c.nameStats(ctx)
	}
	if err != nil {
		return nil, err
	}
	rules, err := c.store.SoftwareRules(ctx)
	if err != nil {
		return nil, err
	}
	dict := compileRules(rules, c.log)
	byKey := map[string]*title{}
	for _, s := range stats {
		name, category := dict.apply(s.Name)
		k := TitleKey(name)
		t := byKey[k]
		if t == nil {
			t = &title{SoftwareTitle: api.SoftwareTitle{Key: k, Title: name}}
			byKey[k] = t
		}
		if t.Category == "" {
			t.Category = category
		}
		t.Names = append(t.Names, s.Name)
		t.nameIDs = append(t.nameIDs, s.NameID)
		t.Computers += s.Computers
		t.Installs += s.Installs
		if s.Publisher > t.Publisher {
			t.Publisher = s.Publisher
		}
		if !s.FirstSeen.IsZero() && (t.FirstSeen == nil || s.FirstSeen.Before(*t.FirstSeen)) {
			at := s.FirstSeen
			t.FirstSeen = &at
		}
		if !s.LastSeen.IsZero() && (t.LastSeen == nil || s.LastSeen.After(*t.LastSeen)) {
			at := s.LastSeen
			t.LastSeen = &at
		}
	}
	out := make([]title, 0, len(byKey))
	for _, t := range byKey {
		slices.Sort(t.Names)
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b title) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)), strings.Compare(a.Key, b.Key))
	})
	return out, nil
}

// nameStats returns the per-name counts, read at most once per
// CatalogCacheTTL.
// When the last read was slow (slowStatsRead), expired counts are served
// while one background read replaces them.
func (c *Catalog) nameStats(ctx context.Context) ([]store.NameStat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stats != nil && time.Since(c.statsAt) < c.cfg.CatalogCacheTTL {
		return c.stats, nil
	}
	if c.stats != nil && c.statsTook >= slowStatsRead {
		if !c.refreshing {
			c.refreshing = true
			go c.refreshStats(c.statsGen)
		}
		return c.stats, nil
	}
	return c.readStats(ctx)
}

// readStats reads the per-name counts into the cache; c.mu is held.
func (c *Catalog) readStats(ctx context.Context) ([]store.NameStat, error) {
	t0 := time.Now()
	stats, err := c.store.SoftwareNameStats(ctx)
	if err != nil {
		return nil, err
	}
	if stats == nil {
		stats = []store.NameStat{}
	}
	c.stats, c.statsAt, c.statsTook = stats, time.Now(), time.Since(t0)
	return stats, nil
}

// refreshStats re-reads the per-name counts without holding c.mu, so that
// pages go on with the previous ones meanwhile. A read that an Invalidate
// overtook (gen) is dropped.
func (c *Catalog) refreshStats(gen int) {
	ctx, cancel := context.WithTimeout(context.Background(), statsReadTimeout)
	defer cancel()
	t0 := time.Now()
	stats, err := c.store.SoftwareNameStats(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	switch {
	case err != nil:
		c.log.Warn("catalog counts", "err", err)
	case gen == c.statsGen:
		if stats == nil {
			stats = []store.NameStat{}
		}
		c.stats, c.statsAt, c.statsTook = stats, time.Now(), time.Since(t0)
		c.log.Info("catalog counts re-read in the background", "names", len(stats), "took", c.statsTook.Round(time.Millisecond))
	}
}

// Invalidate drops the cached counts, so that the next call reads them
// again (tests; an admin who wants fresh numbers).
func (c *Catalog) Invalidate() {
	c.mu.Lock()
	c.stats = nil
	c.statsGen++
	c.mu.Unlock()
}

// TitleKey is the Key of a title: a number derived from its lower-case
// text, stable across restarts and replicas.
func TitleKey(title string) string {
	return strconv.FormatInt(store.SoftwareNameID(strings.ToLower(title)), 10)
}
