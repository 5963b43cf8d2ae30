package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/internal/upstream"
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
	// ErrQuota reports a full cache that no eviction can free (every
	// fragment belongs to an active package or is being served).
	ErrQuota = errors.New("relay: cache quota full")
)

// errStopped reports a fetch asked for after Run returned.
var errStopped = errors.New("relay: stopped")

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

// cachedManifest returns the verified manifest of id if it is in memory.
func (r *Relay) cachedManifest(id string) (*proto.Manifest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.manifests[id]
	return m, ok
}

// manifest returns the verified manifest of package id: from memory, from
// disk (verified again), or fetched once from upstream.
func (r *Relay) manifest(ctx context.Context, id string) (*proto.Manifest, error) {
	if m, ok := r.cachedManifest(id); ok {
		return m, nil
	}
	v, err, _ := r.flight.Do("manifest/"+id, func() (any, error) {
		if b, err := os.ReadFile(r.manifestPath(id)); err == nil {
			if m, err := proto.VerifyManifest(b, r.pub, id); err == nil {
				return m, nil
			}
			r.log.Warn("cached manifest does not verify; fetching again", "package", id)
		}
		resp, cancel, err := r.get(r.life, r.cfg.ManifestUpstream, proto.ManifestPath(id))
		if err != nil {
			return nil, err
		}
		defer cancel()
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, proto.MaxManifestBytes+1))
		if err != nil {
			return nil, fmt.Errorf("fetch manifest %s: %w: %w", id, ErrUpstream, err)
		}
		r.stats.upstream(id, int64(len(b)))
		m, err := proto.VerifyManifest(b, r.pub, id)
		if err != nil {
			r.stats.corruptEvent(id)
			r.recordError("upstream manifest rejected, package "+id, err)
			return nil, fmt.Errorf("fetch manifest %s: %w: %w", id, ErrCorrupt, err)
		}
		if err := statefile.WriteBytes(r.manifestPath(id), b, 0o600); err != nil {
			return nil, fmt.Errorf("store manifest %s: %w", id, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	m := v.(*proto.Manifest)
	r.mu.Lock()
	r.manifests[id] = m
	r.mu.Unlock()
	return m, nil
}

// has reports whether a verified copy of cid is on disk, and marks it used.
func (r *Relay) has(cid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.have[cid]
	return ok
}

func (r *Relay) touch(cid string) {
	r.mu.Lock()
	if _, ok := r.have[cid]; ok {
		r.lastUse[cid] = time.Now()
	}
	r.mu.Unlock()
}

// ensure makes sure the Shoal fragment f of package pkg is verified on
// disk: at once when it is, else after one upstream fetch that concurrent
// callers share (single-flight by CID). fetched reports whether this call
// needed the upstream.
func (r *Relay) ensure(ctx context.Context, pkg string, f proto.Fragment) (fetched bool, err error) {
	return r.ensureWith(ctx, pkg, f, func(fctx context.Context) error { return r.fetch(fctx, pkg, f) })
}

// ensureWith is ensure with the fetch the flight runs when it starts one.
func (r *Relay) ensureWith(ctx context.Context, pkg string, f proto.Fragment, fetch func(context.Context) error) (fetched bool, err error) {
	if r.has(f.CID) {
		r.touch(f.CID)
		return false, nil
	}
	// A file left by an earlier process is trusted once it hashes right.
	if ok, err := r.store.Check(f.CID, f.Size); err != nil {
		return false, fmt.Errorf("check fragment %s: %w", f.CID, err)
	} else if ok {
		r.addHave(f.CID, f.Size, false)
		return false, nil
	}
	// The fetch outlives a caller that gives up (the next one finds it),
	// not the relay: it runs under the relay's lifetime.
	fctx := r.life
	ch := r.flight.DoChan("fragment/"+f.CID, func() (any, error) {
		r.flightsMu.Lock()
		if r.stopped {
			r.flightsMu.Unlock()
			return nil, errStopped
		}
		r.flights.Add(1)
		r.flightsMu.Unlock()
		defer r.flights.Done()
		return nil, fetch(fctx)
	})
	select {
	case res := <-ch:
		return true, res.Err
	case <-ctx.Done():
		return true, fmt.Errorf("fetch fragment %s: %w", f.CID, ctx.Err())
	}
}

// fetch streams one Shoal fragment from upstream into the store through
// the WAN limiter, verifying it against f.CID. A full disk (ENOSPC) evicts
// and retries once.
func (r *Relay) fetch(ctx context.Context, pkg string, f proto.Fragment) error {
	if r.has(f.CID) { // Stored by a flight that ended between has and Do.
		return nil
	}
	if n := r.spareSlots(f); n > 0 {
		err := r.fetchExact(ctx, pkg, f, n)
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.log.Warn("fragment fetch in ranges failed; fetching it whole", "package", pkg, "fragment", f.CID, "err", err)
	}
	if err := r.fetches.Acquire(ctx); err != nil {
		return err
	}
	defer r.fetches.Release()
	if err := r.reserve(f.Size); err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	defer r.unreserve(f.Size)
	defer r.lendLater() // The slot, once free, may help the last fragments.
	err := r.fetchOnce(ctx, pkg, f, true)
	if errors.Is(err, errSplitFailed) {
		// A range failed or the assembled fragment did not verify: once
		// more in one piece.
		err = r.fetchOnce(ctx, pkg, f, false)
	}
	if errors.Is(err, syscall.ENOSPC) {
		r.recordError("disk full, evicting", err)
		if ferr := r.freeBytes(f.Size); ferr != nil {
			return fmt.Errorf("fetch fragment %s: %w", f.CID, errors.Join(err, ferr))
		}
		err = r.fetchOnce(ctx, pkg, f, false)
	}
	return err
}

// errSplitFailed reports a fetch split into ranges that failed or did not
// verify; the fragment is then fetched whole.
var errSplitFailed = errors.New("relay: fetch in ranges failed")

// fetchOnce fetches f once; with splittable, idle streams may take ranges
// of it (see endgame.go).
func (r *Relay) fetchOnce(ctx context.Context, pkg string, f proto.Fragment, splittable bool) error {
	r.stats.miss(pkg)
	resp, cancel, err := r.get(ctx, r.cfg.Upstream, proto.FragmentPath(pkg, f.CID))
	if err != nil {
		r.recordError("fetch fragment "+f.CID, err)
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	w, err := r.store.Create(f.CID, f.Size)
	if err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	var split bool
	if splittable && !r.endgame.noRanges.Load() {
		r.lendLater() // Slots idle already (fewer fragments than streams).
		split, err = r.fetchSplit(ctx, pkg, f, resp.Body, w)
	} else {
		var got int64
		got, err = io.Copy(w, io.LimitReader(r.wan.reader(ctx, &goodputReader{r: resp.Body, s: r.fetches}), f.Size+1))
		r.stats.upstream(pkg, got)
	}
	if err != nil && split && !errors.Is(err, syscall.ENOSPC) && ctx.Err() == nil {
		w.Abort()
		r.log.Warn("fragment fetch in ranges failed; fetching it whole", "package", pkg, "fragment", f.CID, "err", err)
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, errSplitFailed, err)
	}
	if err != nil {
		w.Abort()
		switch {
		case errors.Is(err, fragstore.ErrSize):
			r.corruptEvent(pkg, f, err)
			return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrCorrupt, err)
		case errors.Is(err, syscall.ENOSPC):
			return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
		}
		r.recordError("fetch fragment "+f.CID, err)
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrUpstream, err)
	}
	if err := w.Verify(); err != nil {
		r.corruptEvent(pkg, f, err)
		if split {
			return fmt.Errorf("fetch fragment %s: %w: %w: %w", f.CID, errSplitFailed, ErrCorrupt, err)
		}
		return fmt.Errorf("fetch fragment %s: %w: %w", f.CID, ErrCorrupt, err)
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("fetch fragment %s: %w", f.CID, err)
	}
	r.addHave(f.CID, f.Size, true)
	r.log.Debug("fragment cached", "package", pkg, "fragment", f.CID, "bytes", f.Size)
	return nil
}

func (r *Relay) corruptEvent(pkg string, f proto.Fragment, err error) {
	r.stats.corruptEvent(pkg)
	r.log.Error("upstream fragment rejected, not cached", "package", pkg, "fragment", f.CID, "err", err)
	r.recordError("upstream fragment rejected, package "+pkg, err)
}

// info returns the package's OCS info file, built from its verified
// manifest: the relay never serves an info file it fetched, so no field an
// OCS agent acts on (ACT, COMMAND, PATH, NAME, DIGEST, FRAGS, PRI, PROTO,
// NOTIFY_*) can be rewritten between central and the relay.
func (r *Relay) info(ctx context.Context, id string) ([]byte, error) {
	m, err := r.manifest(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := ocs.InfoFromManifest(m).Marshal()
	if err != nil {
		return nil, fmt.Errorf("build info %s: %w", id, err)
	}
	return b, nil
}

// covering returns the fragments of frags (in order, covering the file)
// that overlap [off, off+size).
func covering(frags []proto.Fragment, off, size int64) []proto.Fragment {
	var out []proto.Fragment
	end := off + size
	for _, f := range frags {
		if f.Offset < end && f.Offset+f.Size > off {
			out = append(out, f)
		}
	}
	return out
}

// goodputReader counts the bytes of an upstream body for the stream
// controller.
type goodputReader struct {
	r io.Reader
	s *upstream.Streams
}

func (g *goodputReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.s.Add(int64(n))
	return n, err
}
