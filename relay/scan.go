package relay

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/proto"
)

// verifyCache runs once at start: it loads every cached manifest that
// still verifies (removing the others with their info file), hashes every
// cached Shoal fragment they list (fragstore.Check deletes a file that does
// not match, so a file damaged while the relay was down is fetched again
// rather than served), and removes fragment files no manifest lists. It
// returns the number of good and removed fragments.
func (r *Relay) verifyCache(ctx context.Context) (good, bad int, err error) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.DataDir, "manifests"))
	if err != nil {
		return 0, 0, fmt.Errorf("verify cache: %w", err)
	}
	listed := map[string]bool{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !proto.IsPackageID(id) {
			continue
		}
		b, err := os.ReadFile(r.manifestPath(id))
		if err != nil {
			return good, bad, fmt.Errorf("verify cache: %w", err)
		}
		m, err := proto.VerifyManifest(b, r.pub, id)
		os.Remove(r.infoPath(id)) // Left by a relay before protocol version 2.
		if err != nil {
			// Signed before an upgrade (central re-signs at start) or
			// damaged: the upstream's copy keeps the fragments in use.
			r.log.Warn("cached manifest does not verify; fetching it again", "package", id, "err", err)
			if m, err = r.manifest(ctx, id); err != nil {
				r.log.Warn("cached manifest does not verify; removed", "package", id, "err", err)
				os.Remove(r.manifestPath(id))
				continue
			}
		}
		r.mu.Lock()
		if _, ok := r.manifests[id]; !ok {
			r.manifests[id] = m
		}
		r.mu.Unlock()
		for _, f := range m.Fragments {
			if err := ctx.Err(); err != nil {
				return good, bad, err
			}
			listed[f.CID] = true
			if r.has(f.CID) {
				good++
				continue
			}
			st, err := os.Stat(r.fragmentFile(f.CID))
			if err != nil {
				continue
			}
			ok, err := r.store.Check(f.CID, f.Size)
			if err != nil {
				return good, bad, fmt.Errorf("verify cache: %w", err)
			}
			if ok {
				good++
				r.addHave(f.CID, f.Size, false)
				r.mu.Lock()
				r.lastUse[f.CID] = st.ModTime()
				r.mu.Unlock()
				continue
			}
			bad++
			r.mu.Lock()
			r.used -= st.Size()
			r.mu.Unlock()
			r.log.Warn("cached fragment damaged; removed", "package", id, "fragment", f.CID)
		}
	}
	return good, bad, r.removeOrphans(listed)
}

// removeOrphans deletes fragment files that no cached manifest lists and
// that were not verified in this process (they can never be served).
func (r *Relay) removeOrphans(listed map[string]bool) error {
	err := filepath.WalkDir(r.store.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "b") || strings.Contains(d.Name(), ".") {
			return err
		}
		cid := d.Name()
		if listed[cid] || r.has(cid) || r.inManifest(cid) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if err := r.store.Remove(cid); err != nil {
			return err
		}
		r.mu.Lock()
		r.used -= info.Size()
		r.mu.Unlock()
		r.log.Info("orphan fragment removed", "fragment", cid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove orphan fragments: %w", err)
	}
	return nil
}

func (r *Relay) fragmentFile(cid string) string {
	return filepath.Join(r.store.Dir(), cid[len(cid)-2:], cid)
}

// inManifest reports whether a manifest in memory lists cid (a fetch for
// it may be under way).
func (r *Relay) inManifest(cid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.manifests {
		for _, f := range m.Fragments {
			if f.CID == cid {
				return true
			}
		}
	}
	return false
}
