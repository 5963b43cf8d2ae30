package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/proto"
)

// verifyCache hashes every cached fragment of every cached manifest once
// at start, so a file damaged while the relay was down is removed before
// an agent asks for it (fragstore.Check deletes a file that does not
// match). Manifests that no longer verify are removed with their info file.
// It returns the number of good and removed fragments.
func (r *Relay) verifyCache(ctx context.Context) (good, bad int, err error) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.DataDir, "manifests"))
	if err != nil {
		return 0, 0, fmt.Errorf("verify cache: %w", err)
	}
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
		if err != nil {
			r.log.Warn("cached manifest does not verify; removed", "package", id, "err", err)
			os.Remove(r.manifestPath(id))
			os.Remove(filepath.Join(r.cfg.DataDir, "info", id))
			continue
		}
		for _, f := range m.OCSFragments {
			if err := ctx.Err(); err != nil {
				return good, bad, err
			}
			present := true
			if _, err := os.Stat(filepath.Join(r.store.Dir(), f.CID[len(f.CID)-2:], f.CID)); err != nil {
				present = false
			}
			if !present {
				continue
			}
			ok, err := r.store.Check(f.CID, f.Size)
			if err != nil {
				return good, bad, fmt.Errorf("verify cache: %w", err)
			}
			if ok {
				good++
			} else {
				bad++
				r.log.Warn("cached fragment damaged; removed", "package", id, "fragment", f.CID)
			}
		}
	}
	return good, bad, nil
}
