package relay

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// initUsage sets the bytes on disk from the fragment files present at
// start; the start-up check then marks the good ones verified.
func (r *Relay) initUsage() error {
	n, err := r.store.Usage()
	if err != nil {
		return fmt.Errorf("relay cache usage: %w", err)
	}
	r.mu.Lock()
	r.used = n
	r.mu.Unlock()
	return nil
}

// addHave records a verified fragment; stored says it was just written
// (and so is not yet counted in the bytes on disk).
func (r *Relay) addHave(cid string, size int64, stored bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if stored {
		// Each fetch writes a new file, even when a concurrent Check
		// already marked it verified.
		r.used += size
	}
	if _, ok := r.have[cid]; ok {
		return
	}
	r.have[cid] = size
	r.lastUse[cid] = time.Now()
	r.kickTracker()
}

// canHold reports ErrQuota when need more bytes cannot fit under the quota
// even after evicting every evictable fragment. Callers check before they
// send anything, so a full cache is a clean 507.
func (r *Relay) canHold(need int64) error {
	q := int64(r.cfg.Cache.QuotaBytes)
	if q == 0 || need == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.activeCIDsLocked()
	free := q - r.used - r.reserved
	for cid, size := range r.have {
		if !keep[cid] && r.pinned[cid] == 0 {
			free += size
		}
	}
	if need > free {
		return fmt.Errorf("need %d bytes, at most %d can be freed under the quota of %d: %w", need, max(free, 0), q, ErrQuota)
	}
	return nil
}

// activeCIDsLocked returns the fragments of active packages. r.mu is held.
func (r *Relay) activeCIDsLocked() map[string]bool {
	keep := map[string]bool{}
	for id := range r.active {
		if m, ok := r.manifests[id]; ok {
			for _, f := range m.Fragments {
				keep[f.CID] = true
			}
		}
	}
	return keep
}

// pin keeps cids from eviction while a request serves them; the returned
// function unpins.
func (r *Relay) pin(cids []string) func() {
	r.mu.Lock()
	for _, c := range cids {
		r.pinned[c]++
	}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		for _, c := range cids {
			if r.pinned[c]--; r.pinned[c] <= 0 {
				delete(r.pinned, c)
			}
		}
		r.mu.Unlock()
	}
}

// reserve makes room for size more bytes under the quota, evicting least
// recently used fragments of inactive packages; it fails with ErrQuota
// when that cannot free enough. unreserve must follow.
func (r *Relay) reserve(size int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := int64(r.cfg.Cache.QuotaBytes)
	if q > 0 {
		if over := r.used + r.reserved + size - q; over > 0 {
			freed := r.evictLocked(over)
			if freed < over {
				return fmt.Errorf("need %d bytes, %d used of %d, nothing more evictable: %w", size, r.used, q, ErrQuota)
			}
		}
	}
	r.reserved += size
	return nil
}

func (r *Relay) unreserve(size int64) {
	r.mu.Lock()
	r.reserved -= size
	r.mu.Unlock()
}

// freeBytes evicts at least n bytes, whatever the quota (the disk is full).
func (r *Relay) freeBytes(n int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if freed := r.evictLocked(n); freed < n {
		return fmt.Errorf("disk full: freed %d of %d bytes: %w", freed, n, ErrQuota)
	}
	return nil
}

// evictLocked removes least recently used verified fragments that no
// active package needs and no request is serving, until want bytes are
// freed. It returns the bytes freed. r.mu is held.
func (r *Relay) evictLocked(want int64) int64 {
	keep := r.activeCIDsLocked()
	type cand struct {
		cid  string
		size int64
		at   time.Time
	}
	var cands []cand
	for cid, size := range r.have {
		if !keep[cid] && r.pinned[cid] == 0 {
			cands = append(cands, cand{cid, size, r.lastUse[cid]})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.at.UnixNano(), b.at.UnixNano()) })
	var freed int64
	for _, c := range cands {
		if freed >= want {
			break
		}
		if err := r.store.Remove(c.cid); err != nil {
			r.log.Warn("evict fragment", "fragment", c.cid, "err", err)
			continue
		}
		delete(r.have, c.cid)
		delete(r.lastUse, c.cid)
		r.used -= c.size
		freed += c.size
		r.stats.evictions.Add(1)
		r.log.Debug("fragment evicted", "fragment", c.cid, "bytes", c.size)
	}
	return freed
}

// purge drops a package: its manifest, its info file and the fragments
// no other cached package uses.
func (r *Relay) purge(id string) error {
	m, err := r.loadCachedManifest(id)
	if err != nil || m == nil {
		return err
	}
	r.mu.Lock()
	delete(r.manifests, id)
	delete(r.active, id)
	used := map[string]bool{}
	for _, other := range r.manifests {
		for _, f := range other.Fragments {
			used[f.CID] = true
		}
	}
	var errs []error
	removed := 0
	for _, f := range m.Fragments {
		if used[f.CID] {
			continue
		}
		size, had := r.have[f.CID]
		if !had {
			if st, err := os.Stat(filepath.Join(r.store.Dir(), f.CID[len(f.CID)-2:], f.CID)); err == nil {
				size = st.Size()
			}
		}
		if err := r.store.Remove(f.CID); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.have, f.CID)
		delete(r.lastUse, f.CID)
		r.used -= size
		removed++
	}
	r.mu.Unlock()
	for _, p := range []string{r.manifestPath(id), r.infoPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	r.log.Info("package purged", "package", id, "fragments", removed)
	r.kickTracker()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("purge %s: %w", id, err)
	}
	return nil
}

// loadCachedManifest returns the manifest of id from memory or disk, nil
// when the relay does not hold it. It never asks upstream.
func (r *Relay) loadCachedManifest(id string) (*proto.Manifest, error) {
	if m, ok := r.cachedManifest(id); ok {
		return m, nil
	}
	b, err := os.ReadFile(r.manifestPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	m, err := proto.VerifyManifest(b, r.pub, id)
	if err != nil {
		// Unusable anyway: drop the file, keep fragments to the LRU.
		os.Remove(r.manifestPath(id))
		return nil, nil
	}
	return m, nil
}

// cacheStatus returns, for a package, the bytes of its fragments held and
// whether all are held.
func (r *Relay) cacheStatus(m *proto.Manifest) (cached int64, complete bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	complete = true
	for _, f := range m.Fragments {
		if _, ok := r.have[f.CID]; ok {
			cached += f.Size
		} else {
			complete = false
		}
	}
	return cached, complete
}
