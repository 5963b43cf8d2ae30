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
	// CatalogCacheTTL is how long the catalog's fleet index, which reads
	// every software row, is reused (default 30s), unless an inventory
	// changed some computer's software since and ten read durations have
	// passed (store.SoftwareGeneration). When reading it took a
	// second or more (a large fleet), an expired index is served while one
	// background read replaces it, and such reads are spaced by ten times
	// their duration.
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

	mu       sync.Mutex // owns index, indexAt, indexGen, indexSoft, indexTook, refreshing and titles
	index    *fleetIndex
	indexAt  time.Time
	indexGen int
	// indexSoft is the store's software generation the index was read
	// at: an inventory that changed software since makes it stale.
	indexSoft int64
	// indexTook is how long the last read of index took; refreshing is
	// set while a background re-read runs (see fleet).
	indexTook  time.Duration
	refreshing bool
	// titles is the fleet-wide title list of one index under one set of
	// rules.
	titles *titleCache
}

// titleCache is the titles of index ix under rules, counted over the
// whole fleet (nil where a group has no computer left).
type titleCache struct {
	ix     *fleetIndex
	rules  []store.SoftwareRule
	groups []group
	titles []*title
}

// slowStatsRead is how long a read of the fleet index must have taken for
// an expired index to be served while one background read replaces it (a
// fleet of millions of software rows: seconds to tens of seconds), instead
// of making the page wait. Faster reads stay synchronous, so a small
// fleet's counts are never older than CatalogCacheTTL.
var slowStatsRead = time.Second

// slowReadSpacing spaces the background reads of a slow fleet index: the
// next one starts no sooner than this many times the last one's duration
// after it ended, so that browsing the catalog of a large fleet costs at
// most about a tenth of a core in re-reads (10 million software rows: one
// read of seconds every minute or two).
const slowReadSpacing = 10

// statsReadTimeout bounds a background read of the fleet index.
const statsReadTimeout = 10 * time.Minute

// NewCatalog returns a Catalog.
func NewCatalog(cfg Config, st *store.Store, logger *slog.Logger) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Catalog{cfg: cfg.withDefaults(), store: st, audit: audit.New(st, logger), log: logger.With("component", "catalog")}, nil
}

// Run reads the catalog's fleet index once, so that the first catalog
// page need not wait for it (seconds at millions of software rows), then
// prunes the change history every hour until ctx ends.
func (c *Catalog) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.index == nil {
		if _, err := c.readIndex(ctx); err != nil && ctx.Err() == nil {
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
// of them has (a scoped user's catalog: counted from the same fleet index
// as everyone's, over the computers in scope now).
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
// of them has is not found. Versions and sites come from the fleet index;
// a computer that has two of the title's names counts once.
func (c *Catalog) TitleIn(ctx context.Context, key string, sc store.Scope, siteNames map[uint]string) (*api.SoftwareTitleDetail, error) {
	f, err := c.find(ctx, key, sc)
	if err != nil {
		return nil, err
	}
	return f.ix.detail(f.g, f.t, f.v, siteNames), nil
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
	f, err := c.find(ctx, key, sc)
	if err != nil {
		return nil, 0, err
	}
	if limit < 1 || limit > maxHolders {
		limit = maxHolders
	}
	rows, total, err := c.store.SoftwareHoldersIn(ctx, f.t.nameIDs, version, sc, limit, max(offset, 0))
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

// found is a title found for one reader: its group, its counts in the
// reader's view v of index ix.
type found struct {
	ix *fleetIndex
	g  *group
	t  *title
	v  view
}

func (c *Catalog) find(ctx context.Context, key string, sc store.Scope) (*found, error) {
	tc, err := c.cachedTitles(ctx)
	if err != nil {
		return nil, err
	}
	key = strings.TrimSpace(key)
	for i := range tc.groups {
		g := &tc.groups[i]
		if g.key != key && !strings.EqualFold(g.title, key) {
			continue
		}
		f := &found{ix: tc.ix, g: g, t: tc.titles[i], v: tc.ix.all}
		if sc.Limited() {
			if f.v, err = tc.ix.scopeView(ctx, c.store, sc); err != nil {
				return nil, err
			}
			f.t = tc.ix.title(g, f.v, false, newMarks(len(tc.ix.comps)))
		}
		if f.t == nil {
			break
		}
		return f, nil
	}
	return nil, fmt.Errorf("%q: %w", key, ErrNoTitle)
}

// titlesIn counts the titles in scope sc (the fleet's, cached, when sc is
// not limited), by title; titles none of sc's computers has are left out.
func (c *Catalog) titlesIn(ctx context.Context, sc store.Scope) ([]title, error) {
	tc, err := c.cachedTitles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]title, 0, len(tc.titles))
	if !sc.Limited() {
		for _, t := range tc.titles {
			if t != nil {
				out = append(out, *t)
			}
		}
		return out, nil
	}
	v, err := tc.ix.scopeView(ctx, c.store, sc)
	if err != nil {
		return nil, err
	}
	m := newMarks(len(tc.ix.comps))
	for i := range tc.groups {
		if t := tc.ix.title(&tc.groups[i], v, false, m); t != nil {
			out = append(out, *t)
		}
	}
	return out, nil
}

// cachedTitles returns the fleet index's titles under the current rules,
// counted over the whole fleet: computed again only when the index or the
// rules changed.
func (c *Catalog) cachedTitles(ctx context.Context) (*titleCache, error) {
	ix, err := c.fleet(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := c.store.SoftwareRules(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	tc := c.titles
	c.mu.Unlock()
	if tc != nil && tc.ix == ix && slices.EqualFunc(tc.rules, rules, sameRule) {
		return tc, nil
	}
	tc = &titleCache{ix: ix, rules: rules, groups: ix.groups(compileRules(rules, c.log))}
	tc.titles = make([]*title, len(tc.groups))
	m := newMarks(len(ix.comps))
	for i := range tc.groups {
		tc.titles[i] = ix.title(&tc.groups[i], ix.all, true, m)
	}
	c.mu.Lock()
	c.titles = tc
	c.mu.Unlock()
	return tc, nil
}

func sameRule(a, b store.SoftwareRule) bool {
	return a.ID == b.ID && a.Pattern == b.Pattern && a.Title == b.Title && a.Category == b.Category &&
		a.Position == b.Position && a.UpdatedAt.Equal(b.UpdatedAt)
}

// fleet returns the fleet index, read at most once per CatalogCacheTTL.
// When the last read was slow (slowStatsRead), an expired index is served
// while one background read replaces it, started no sooner than
// slowReadSpacing times that read's duration after it.
func (c *Catalog) fleet(ctx context.Context) (*fleetIndex, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// An inventory that changed software since the index was read makes
	// it stale too, but a re-read for that waits slowReadSpacing times the
	// last read's duration (a small fleet's next page shows a new
	// inventory at once; a large one's reads stay spaced).
	changed := c.index != nil && c.store.SoftwareGeneration() != c.indexSoft && time.Since(c.indexAt) >= slowReadSpacing*c.indexTook
	if c.index != nil && time.Since(c.indexAt) < c.cfg.CatalogCacheTTL && !changed {
		return c.index, nil
	}
	if c.index != nil && c.indexTook >= slowStatsRead {
		if !c.refreshing && time.Since(c.indexAt) >= slowReadSpacing*c.indexTook {
			c.refreshing = true
			go c.refreshIndex(c.indexGen)
		}
		return c.index, nil
	}
	return c.readIndex(ctx)
}

// readIndex reads the fleet index into the cache; c.mu is held.
func (c *Catalog) readIndex(ctx context.Context) (*fleetIndex, error) {
	t0, soft := time.Now(), c.store.SoftwareGeneration()
	ix, err := readIndex(ctx, c.store)
	if err != nil {
		return nil, fmt.Errorf("catalog index: %w", err)
	}
	c.index, c.indexAt, c.indexTook, c.indexSoft = ix, time.Now(), time.Since(t0), soft
	return ix, nil
}

// refreshIndex re-reads the fleet index without holding c.mu, so that
// pages go on with the previous one meanwhile. A read that an Invalidate
// overtook (gen) is dropped.
func (c *Catalog) refreshIndex(gen int) {
	ctx, cancel := context.WithTimeout(context.Background(), statsReadTimeout)
	defer cancel()
	t0, soft := time.Now(), c.store.SoftwareGeneration()
	ix, err := readIndex(ctx, c.store)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	switch {
	case err != nil:
		c.log.Warn("catalog counts", "err", err)
	case gen == c.indexGen:
		c.index, c.indexAt, c.indexTook, c.indexSoft = ix, time.Now(), time.Since(t0), soft
		c.log.Info("catalog index re-read in the background", "names", len(ix.names), "computers", len(ix.comps),
			"took", c.indexTook.Round(time.Millisecond))
	}
}

// Invalidate drops the fleet index, so that the next call reads it again
// (tests; an admin who wants fresh numbers).
func (c *Catalog) Invalidate() {
	c.mu.Lock()
	c.index, c.titles = nil, nil
	c.indexGen++
	c.mu.Unlock()
}

// TitleKey is the Key of a title: a number derived from its lower-case
// text, stable across restarts and replicas.
func TitleKey(title string) string {
	return strconv.FormatInt(store.SoftwareNameID(strings.ToLower(title)), 10)
}
