package agentapi

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// fragIndex maps a package's Shoal fragments to the OCS files on disk.
type fragIndex struct {
	pkg      string
	modTime  time.Time
	byCID    map[string]proto.Fragment
	ocsFrags []proto.Fragment
}

// fragIndexes caches one fragIndex per package, rebuilt when the manifest
// file changes.
type fragIndexes struct {
	mu sync.Mutex // guards m
	m  map[string]*fragIndex
}

func (x *fragIndexes) get(a *API, pkg string) (*fragIndex, error) {
	mpath := filepath.Join(a.builder.Path(pkg), packages.ManifestFile)
	st, err := os.Stat(mpath)
	if err != nil {
		x.mu.Lock()
		delete(x.m, pkg)
		x.mu.Unlock()
		if isNotExist(err) {
			return nil, fmt.Errorf("package %s: %w", pkg, store.ErrNotFound)
		}
		return nil, fmt.Errorf("package %s: %w", pkg, err)
	}
	x.mu.Lock()
	idx, ok := x.m[pkg]
	x.mu.Unlock()
	if ok && idx.modTime.Equal(st.ModTime()) {
		return idx, nil
	}
	m, err := a.deploy.Manifest(pkg)
	if err != nil {
		if errors.Is(err, packages.ErrInvalidID) || isNotExist(err) {
			return nil, fmt.Errorf("package %s: %w", pkg, store.ErrNotFound)
		}
		return nil, fmt.Errorf("package %s: %w", pkg, err)
	}
	idx = &fragIndex{pkg: pkg, modTime: st.ModTime(), byCID: make(map[string]proto.Fragment, len(m.Fragments)), ocsFrags: m.OCSFragments}
	for _, f := range m.Fragments {
		idx.byCID[f.CID] = f
	}
	x.mu.Lock()
	x.m[pkg] = idx
	x.mu.Unlock()
	return idx, nil
}

// publicFragment is the anonymous fragment route: it serves only published
// packages (active, or being checked for activation), since package IDs are
// guessable timestamps; an inactive package answers 404 like a missing one.
// Enrolled agents fetch through the authenticated route, relays prefetch
// only the active packages central lists.
func (a *API) publicFragment(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	if ok, err := a.deploy.Published(c.Request().Context(), id); err != nil {
		return fmt.Errorf("fragment of %s: %w", id, err)
	} else if !ok {
		return fmt.Errorf("package %s is not active: %w", id, store.ErrNotFound)
	}
	return a.fragment(c)
}

// copyRange writes size bytes starting at off of the package to w, reading
// the OCS fragment files in dir that cover them.
func (x *fragIndex) copyRange(w io.Writer, dir string, off, size int64, buf []byte) (int64, error) {
	k := sort.Search(len(x.ocsFrags), func(i int) bool { return x.ocsFrags[i].Offset+x.ocsFrags[i].Size > off })
	var done int64
	for ; size > 0 && k < len(x.ocsFrags); k++ {
		of := x.ocsFrags[k]
		rel := off - of.Offset
		n := min(size, of.Size-rel)
		f, err := os.Open(filepath.Join(dir, packages.FragmentFile(x.pkg, k+1)))
		if err != nil {
			return done, fmt.Errorf("open OCS fragment %d: %w", k+1, err)
		}
		m, err := io.CopyBuffer(w, io.NewSectionReader(f, rel, n), buf)
		f.Close()
		done += m
		if err != nil {
			return done, fmt.Errorf("copy OCS fragment %d: %w", k+1, err)
		}
		if m != n {
			return done, fmt.Errorf("OCS fragment %d is short: %w", k+1, io.ErrUnexpectedEOF)
		}
		off += n
		size -= n
	}
	if size > 0 {
		return done, fmt.Errorf("range beyond the OCS fragments: %w", io.ErrUnexpectedEOF)
	}
	return done, nil
}

// counters count the fragments central served to agents, per package.
type counters struct {
	mu sync.Mutex // guards m (not the counters inside)
	m  map[string]*pkgCounter
}

type pkgCounter struct {
	bytes, requests, fragments atomic.Int64
}

func newCounters() *counters { return &counters{m: map[string]*pkgCounter{}} }

func (c *counters) get(pkg string) *pkgCounter {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.m[pkg]
	if !ok {
		pc = &pkgCounter{}
		c.m[pkg] = pc
	}
	return pc
}

// FragmentStats is what central served of one package to Shoal agents.
type FragmentStats struct {
	// Bytes counts body bytes written, complete fragments or not.
	Bytes int64 `json:"bytes"`
	// Requests counts fragment requests.
	Requests int64 `json:"requests"`
	// Fragments counts fragments served in full.
	Fragments int64 `json:"fragments"`
}

// FragmentStats returns the counters of every package served so far.
func (a *API) FragmentStats() map[string]FragmentStats {
	a.counters.mu.Lock()
	defer a.counters.mu.Unlock()
	out := make(map[string]FragmentStats, len(a.counters.m))
	for id, pc := range a.counters.m {
		out[id] = FragmentStats{Bytes: pc.bytes.Load(), Requests: pc.requests.Load(), Fragments: pc.fragments.Load()}
	}
	return out
}

func (a *API) fragmentStats(c echo.Context) error {
	return c.JSON(http.StatusOK, a.FragmentStats())
}
