package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoal-project/shoal/agent/fragstore"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Sentinel errors, mapped to HTTP status codes in http.go.
var (
	// ErrNotFound reports a package or file that upstream does not have.
	ErrNotFound = errors.New("relay: not found")
	// ErrUpstream reports an upstream that failed or answered badly.
	ErrUpstream = errors.New("relay: upstream failed")
	// ErrCorrupt reports upstream bytes that do not match the signed
	// manifest; they were discarded.
	ErrCorrupt = errors.New("relay: upstream sent corrupt data")
)

// maxInfoBytes bounds an info file.
const maxInfoBytes = 64 << 10

// get fetches base+path with the fetch timeout and returns the response of
// a 200 answer. The caller closes the body and must call cancel.
func (r *Relay) get(ctx context.Context, base, path string) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("fetch %s: %w", path, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("fetch %s: %w: %w", path, ErrUpstream, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, cancel, nil
	case resp.StatusCode == http.StatusNotFound:
		err = ErrNotFound
	default:
		err = ErrUpstream
	}
	resp.Body.Close()
	cancel()
	return nil, nil, fmt.Errorf("fetch %s: status %d: %w", path, resp.StatusCode, err)
}

// manifest returns the verified manifest of package id: from memory, from
// disk (verified again), or fetched once from upstream.
func (r *Relay) manifest(ctx context.Context, id string) (*proto.Manifest, error) {
	r.mu.Lock()
	m, ok := r.manifests[id]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	v, err, _ := r.flight.Do("manifest/"+id, func() (any, error) {
		path := filepath.Join(r.cfg.DataDir, "manifests", id+".json")
		if b, err := os.ReadFile(path); err == nil {
			if m, err := proto.VerifyManifest(b, r.pub, id); err == nil {
				return m, nil
			}
			r.log.Warn("cached manifest does not verify; fetching again", "package", id)
		}
		resp, cancel, err := r.get(context.WithoutCancel(ctx), r.cfg.ManifestUpstream, "/download/"+id+"/manifest.json")
		if err != nil {
			return nil, err
		}
		defer cancel()
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, proto.MaxManifestBytes+1))
		if err != nil {
			return nil, fmt.Errorf("fetch manifest %s: %w: %w", id, ErrUpstream, err)
		}
		r.stats.upstreamBytes.Add(int64(len(b)))
		m, err := proto.VerifyManifest(b, r.pub, id)
		if err != nil {
			r.stats.corrupt.Add(1)
			r.log.Error("upstream manifest rejected", "package", id, "err", err)
			return nil, fmt.Errorf("fetch manifest %s: %w: %w", id, ErrCorrupt, err)
		}
		if err := writeFileAtomic(path, b); err != nil {
			return nil, fmt.Errorf("store manifest %s: %w", id, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	m = v.(*proto.Manifest)
	r.mu.Lock()
	r.manifests[id] = m
	r.mu.Unlock()
	return m, nil
}

// fragment makes sure the OCS fragment <id>-<n> is in the store and returns
// its manifest entry. hit reports whether it was there already.
func (r *Relay) fragment(ctx context.Context, id string, n int) (f proto.Fragment, hit bool, err error) {
	m, err := r.manifest(ctx, id)
	if err != nil {
		return proto.Fragment{}, false, err
	}
	f, ok := m.OCSFragment(n)
	if !ok {
		return proto.Fragment{}, false, fmt.Errorf("package %s has no fragment %d: %w", id, n, ErrNotFound)
	}
	if ok, err := r.store.Check(f.CID, f.Size); err != nil {
		return f, false, fmt.Errorf("check fragment %s: %w", f.CID, err)
	} else if ok {
		return f, true, nil
	}
	_, err, _ = r.flight.Do("fragment/"+f.CID, func() (any, error) {
		return nil, r.fetchFragment(context.WithoutCancel(ctx), id, n, f)
	})
	return f, false, err
}

// fetchFragment streams one OCS fragment from upstream into the store,
// verifying it against f.CID.
func (r *Relay) fetchFragment(ctx context.Context, id string, n int, f proto.Fragment) error {
	// A concurrent flight may have stored it between Check and Do.
	if ok, err := r.store.Check(f.CID, f.Size); err == nil && ok {
		return nil
	}
	r.stats.misses.Add(1)
	path := fmt.Sprintf("/download/%s/%s-%d", id, id, n)
	resp, cancel, err := r.get(ctx, r.cfg.Upstream, path)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	w, err := r.store.Create(f.CID, f.Size)
	if err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	got, err := io.Copy(w, io.LimitReader(resp.Body, f.Size+1))
	r.stats.upstreamBytes.Add(got)
	if err != nil {
		w.Abort()
		if errors.Is(err, fragstore.ErrSize) {
			r.corruptEvent(id, n, f, err)
			return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrCorrupt, err)
		}
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrUpstream, err)
	}
	if err := w.Verify(); err != nil {
		r.corruptEvent(id, n, f, err)
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrCorrupt, err)
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	r.log.Info("fragment cached", "package", id, "fragment", f.CID, "n", n, "bytes", f.Size)
	return nil
}

func (r *Relay) corruptEvent(id string, n int, f proto.Fragment, err error) {
	r.stats.corrupt.Add(1)
	r.log.Error("upstream fragment rejected, not cached", "package", id, "fragment", f.CID, "n", n, "err", err)
}

// info returns the package's info file, cached after it was checked
// against the verified manifest.
func (r *Relay) info(ctx context.Context, id string) ([]byte, error) {
	path := filepath.Join(r.cfg.DataDir, "info", id)
	m, err := r.manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(path); err == nil && checkInfo(b, m) == nil {
		r.stats.hits.Add(1)
		return b, nil
	}
	v, err, _ := r.flight.Do("info/"+id, func() (any, error) {
		r.stats.misses.Add(1)
		resp, cancel, err := r.get(context.WithoutCancel(ctx), r.cfg.Upstream, "/download/"+id+"/info")
		if err != nil {
			return nil, err
		}
		defer cancel()
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBytes+1))
		if err != nil {
			return nil, fmt.Errorf("fetch info %s: %w: %w", id, ErrUpstream, err)
		}
		r.stats.upstreamBytes.Add(int64(len(b)))
		if err := checkInfo(b, m); err != nil {
			r.stats.corrupt.Add(1)
			r.log.Error("upstream info file rejected", "package", id, "err", err)
			return nil, fmt.Errorf("fetch info %s: %w: %w", id, ErrCorrupt, err)
		}
		if err := writeFileAtomic(path, b); err != nil {
			return nil, fmt.Errorf("store info %s: %w", id, err)
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// checkInfo compares an info file's ID, FRAGS and DIGEST with the manifest.
func checkInfo(b []byte, m *proto.Manifest) error {
	if len(b) > maxInfoBytes {
		return fmt.Errorf("info file larger than %d bytes", maxInfoBytes)
	}
	info, err := ocs.ParseInfo(bytes.TrimSpace(b))
	if err != nil {
		return fmt.Errorf("check info: %w", err)
	}
	wantDigest := m.MD5
	if m.Size == 0 {
		wantDigest = ""
	}
	switch {
	case info.ID != m.PackageID:
		return fmt.Errorf("check info: ID %q, manifest %q", info.ID, m.PackageID)
	case info.Frags != len(m.OCSFragments):
		return fmt.Errorf("check info: FRAGS %d, manifest %d", info.Frags, len(m.OCSFragments))
	case !strings.EqualFold(info.Digest, wantDigest):
		return fmt.Errorf("check info: DIGEST %q, manifest %q", info.Digest, wantDigest)
	}
	return nil
}
