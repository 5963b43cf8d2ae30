package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/shoal-project/shoal/internal/skew"
	"github.com/shoal-project/shoal/proto"
)

var fragRE = regexp.MustCompile(`^([0-9]{1,19})-([0-9]{1,9})$`)

// Handler returns the relay's HTTP handler: the OCS download tree (info,
// OCS fragments, signed manifest), Shoal fragments by CID, /metrics and
// /healthz. GET patterns also answer HEAD.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /download/{id}/{file}", r.handle(r.serveDownload))
	mux.HandleFunc("GET "+proto.FragmentPathPrefix+"{pkg}/{cid}", r.handle(r.serveFragment))
	mux.Handle("GET /metrics", r.metricsHandler())
	mux.HandleFunc("GET /healthz", r.serveHealth)
	return mux
}

// handle maps the errors of h to status codes: this is the only place that
// decides them.
func (r *Relay) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		err := h(w, req)
		if err == nil {
			r.log.Debug("request", "path", req.URL.Path, "dur", time.Since(start))
			return
		}
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, ErrQuota):
			code = http.StatusInsufficientStorage
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrUpstream):
			code = http.StatusBadGateway
		case errors.Is(err, context.Canceled):
			return // The client went away.
		}
		r.log.Warn("request failed", "path", req.URL.Path, "status", code, "err", err)
		http.Error(w, http.StatusText(code), code)
	}
}

func (r *Relay) serveDownload(w http.ResponseWriter, req *http.Request) error {
	id, file := req.PathValue("id"), req.PathValue("file")
	if !proto.IsPackageID(id) {
		return fmt.Errorf("package %q: %w", id, ErrNotFound)
	}
	ctx := req.Context()
	switch file {
	case "info":
		b, err := r.info(ctx, id)
		if err != nil {
			return err
		}
		r.stats.hit(id)
		w.Header().Set("Content-Type", "application/xml")
		r.serveContent(w, req, id, bytes.NewReader(b))
		return nil
	case "manifest.json":
		if _, err := r.manifest(ctx, id); err != nil {
			return err
		}
		f, err := os.Open(r.manifestPath(id))
		if err != nil {
			return fmt.Errorf("serve manifest %s: %w", id, err)
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/json")
		r.serveContent(w, req, id, f)
		return nil
	}
	m := fragRE.FindStringSubmatch(file)
	if m == nil || m[1] != id {
		return fmt.Errorf("file %q: %w", file, ErrNotFound)
	}
	n, _ := strconv.Atoi(m[2])
	return r.serveOCS(w, req, id, n)
}

// serveOCS serves the OCS fragment <id>-<n>: the byte range of the package
// it stands for, read out of the verified Shoal fragments covering it.
// Missing ones are fetched first (in parallel, ahead of the stream); the
// first is verified before any header is sent, so an upstream failure is a
// clean 502. A later failure cuts the connection: no unverified byte is
// ever sent.
func (r *Relay) serveOCS(w http.ResponseWriter, req *http.Request, id string, n int) error {
	ctx := req.Context()
	m, err := r.manifest(ctx, id)
	if err != nil {
		return err
	}
	of, ok := m.OCSFragment(n)
	if !ok {
		return fmt.Errorf("package %s has no fragment %d: %w", id, n, ErrNotFound)
	}
	cover := covering(m.Fragments, of.Offset, of.Size)
	cids := make([]string, len(cover))
	for i, f := range cover {
		cids[i] = f.CID
	}
	defer r.pin(cids)()
	hit, missing := true, int64(0)
	for _, f := range cover {
		if !r.has(f.CID) {
			// A file of an earlier process counts once it hashes right.
			if ok, _ := r.store.Check(f.CID, f.Size); ok {
				r.addHave(f.CID, f.Size, false)
			} else {
				hit, missing = false, missing+f.Size
			}
		}
	}
	if err := r.canHold(missing); err != nil {
		return err
	}
	if len(cover) > 1 && !hit {
		// Fetch ahead; the stream below waits for each fragment in turn.
		go r.fetchAll(r.life, id, cover[1:])
	}
	if _, err := r.ensure(ctx, id, cover[0]); err != nil {
		return err
	}
	if hit {
		r.stats.hit(id)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if req.Header.Get("Range") != "" {
		lr := &lazyReader{r: r, ctx: ctx, pkg: id, frags: cover}
		r.serveContent(w, req, id, io.NewSectionReader(lr, of.Offset, of.Size))
		return nil
	}
	cw := r.lanWriter(ctx, w)
	defer func() { r.stats.served(id, cw.n) }()
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.FormatInt(of.Size, 10))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return nil
	}
	start, end := of.Offset, of.Offset+of.Size
	for _, f := range cover {
		if err := r.copyFragment(ctx, cw, id, f, max(start, f.Offset)-f.Offset, min(end, f.Offset+f.Size)-max(start, f.Offset)); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("OCS fragment cut short", "package", id, "n", n, "fragment", f.CID, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
	}
	return nil
}

// copyFragment writes n bytes of fragment f from off, after it is verified
// on disk.
func (r *Relay) copyFragment(ctx context.Context, w io.Writer, pkg string, f proto.Fragment, off, n int64) error {
	if _, err := r.ensure(ctx, pkg, f); err != nil {
		return err
	}
	fh, err := r.store.Open(f.CID)
	if err != nil {
		return err
	}
	defer fh.Close()
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err = io.CopyN(w, fh, n)
	return err
}

// fetchAll makes sure every fragment of frags is on disk, as many at a
// time as the fetch semaphore allows (it bounds the whole relay and grows
// from Parallel to MaxParallel with the goodput). It returns the first
// error.
func (r *Relay) fetchAll(ctx context.Context, pkg string, frags []proto.Fragment) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.MaxParallel)
	for _, f := range frags {
		if ctx.Err() != nil {
			break
		}
		if r.has(f.CID) {
			continue
		}
		g.Go(func() error {
			_, err := r.ensure(ctx, pkg, f)
			return err
		})
	}
	return g.Wait()
}

// lazyReader reads the package file out of the Shoal fragments frags,
// making sure each is verified on disk before reading from it.
type lazyReader struct {
	r     *Relay
	ctx   context.Context
	pkg   string
	frags []proto.Fragment
}

func (l *lazyReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		var f *proto.Fragment
		for i := range l.frags {
			if fr := &l.frags[i]; fr.Offset <= off && off < fr.Offset+fr.Size {
				f = fr
				break
			}
		}
		if f == nil {
			return n, io.EOF
		}
		if _, err := l.r.ensure(l.ctx, l.pkg, *f); err != nil {
			return n, err
		}
		fh, err := l.r.store.Open(f.CID)
		if err != nil {
			return n, err
		}
		chunk := p[:min(int64(len(p)), f.Offset+f.Size-off)]
		m, err := fh.ReadAt(chunk, off-f.Offset)
		fh.Close()
		n, off, p = n+m, off+int64(m), p[m:]
		if err != nil && !(errors.Is(err, io.EOF) && m == len(chunk)) {
			return n, err
		}
	}
	return n, nil
}

// serveFragment serves a Shoal fragment by CID to Shoal agents and child
// relays; the CID must be in the package's verified manifest.
func (r *Relay) serveFragment(w http.ResponseWriter, req *http.Request) error {
	id, cid := req.PathValue("pkg"), req.PathValue("cid")
	if !proto.IsPackageID(id) {
		return fmt.Errorf("package %q: %w", id, ErrNotFound)
	}
	ctx := req.Context()
	m, err := r.manifest(ctx, id)
	if err != nil {
		return err
	}
	var frag *proto.Fragment
	for i := range m.Fragments {
		if m.Fragments[i].CID == cid {
			frag = &m.Fragments[i]
			break
		}
	}
	if frag == nil {
		return fmt.Errorf("fragment %q is not in package %s: %w", cid, id, ErrNotFound)
	}
	defer r.pin([]string{cid})()
	fetched, err := r.ensure(ctx, id, *frag)
	if err != nil {
		return err
	}
	if !fetched {
		r.stats.hit(id)
	}
	fh, err := r.store.Open(cid)
	if err != nil {
		return fmt.Errorf("serve fragment %s: %w", cid, err)
	}
	defer fh.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	r.serveContent(w, req, id, fh)
	return nil
}

func (r *Relay) serveContent(w http.ResponseWriter, req *http.Request, pkg string, content io.ReadSeeker) {
	cw := r.lanWriter(req.Context(), w)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(cw, req, "", time.Time{}, content)
	r.stats.served(pkg, cw.n)
}

// Health is the body of GET /healthz.
type Health struct {
	Status          string `json:"status"`
	Enrolled        bool   `json:"enrolled"`
	CacheChecked    bool   `json:"cache_checked"`
	CacheBytes      int64  `json:"cache_bytes"`
	QuotaBytes      int64  `json:"quota_bytes"`
	LastReportError string `json:"last_report_error,omitempty"`
	// P2PAddrs are the libp2p addresses Shoal agents are told (empty:
	// libp2p off); LastTrackerError the last failed tracker announce.
	P2PAddrs         []string `json:"p2p_addrs,omitempty"`
	LastTrackerError string   `json:"last_tracker_error,omitempty"`
	// ClockOffsetSeconds is central's clock minus the relay's, measured
	// from central's answers (absent before the first); ClockWarning is
	// set when it is larger than skew.WarnOffset.
	ClockOffsetSeconds *int64 `json:"clock_offset_seconds,omitempty"`
	ClockWarning       string `json:"clock_warning,omitempty"`
}

func (r *Relay) serveHealth(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	h := Health{Status: "ok", Enrolled: r.enr != nil, CacheChecked: r.checked, CacheBytes: r.used,
		QuotaBytes: int64(r.cfg.Cache.QuotaBytes), LastReportError: r.reportErr, LastTrackerError: r.trackerErr}
	r.mu.Unlock()
	h.P2PAddrs = r.p2pAddrs()
	if cs := r.clock.Status(); cs.Measured {
		off := int64(cs.Offset.Round(time.Second) / time.Second)
		h.ClockOffsetSeconds = &off
		if cs.Large() {
			h.ClockWarning = fmt.Sprintf("clock is %s off central's (limit %s); fix the time source", cs.Offset.Round(time.Second), skew.WarnOffset)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(h)
}

// lanWriter wraps w to count body bytes and, with lan.rate_mbit, to
// share the LAN cap.
func (r *Relay) lanWriter(ctx context.Context, w http.ResponseWriter) *countingWriter {
	return &countingWriter{ResponseWriter: w, ctx: ctx, lim: r.lan}
}

// countingWriter counts body bytes and keeps the sendfile path when no
// LAN cap is set; with one, every write waits for its tokens.
type countingWriter struct {
	http.ResponseWriter
	ctx context.Context
	lim *rate.Limiter // nil: uncapped
	n   int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.lim == nil {
		n, err := w.ResponseWriter.Write(p)
		w.n += int64(n)
		return n, err
	}
	done := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), lanBurst)]
		if err := w.lim.WaitN(w.ctx, len(chunk)); err != nil {
			return done, fmt.Errorf("lan limiter: %w", err)
		}
		n, err := w.ResponseWriter.Write(chunk)
		w.n += int64(n)
		done += n
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

func (w *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && w.lim == nil {
		n, err := rf.ReadFrom(src)
		w.n += n
		return n, err
	}
	// Through Write, which counts (and waits for the LAN cap).
	return io.Copy(struct{ io.Writer }{w}, src)
}
