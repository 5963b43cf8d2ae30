package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// counters are the relay's totals since start; each is atomic.
type counters struct {
	hits          atomic.Int64 // requests answered from the cache
	misses        atomic.Int64 // upstream fetches started
	upstreamBytes atomic.Int64 // bytes read from upstream
	servedBytes   atomic.Int64 // body bytes sent to clients
	corrupt       atomic.Int64 // upstream answers rejected by verification
}

// Stats is a snapshot of the relay's counters.
type Stats struct {
	Hits          int64
	Misses        int64
	UpstreamBytes int64
	ServedBytes   int64
	Corrupt       int64
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() Stats {
	return Stats{Hits: r.stats.hits.Load(), Misses: r.stats.misses.Load(), UpstreamBytes: r.stats.upstreamBytes.Load(),
		ServedBytes: r.stats.servedBytes.Load(), Corrupt: r.stats.corrupt.Load()}
}

var fragRE = regexp.MustCompile(`^([0-9]{1,19})-([0-9]{1,9})$`)

// Handler returns the relay's HTTP handler: the OCS download tree, /metrics
// and /healthz.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /download/{id}/{file}", r.handle(r.serveDownload))
	mux.HandleFunc("GET /metrics", r.serveMetrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
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
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrUpstream):
			code = http.StatusBadGateway
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
	switch {
	case file == "info":
		b, err := r.info(ctx, id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/xml")
		r.serveContent(w, req, bytes.NewReader(b), time.Time{})
		return nil
	case file == "manifest.json":
		if _, err := r.manifest(ctx, id); err != nil {
			return err
		}
		return r.serveFile(w, req, r.manifestPath(id), "application/json")
	}
	m := fragRE.FindStringSubmatch(file)
	if m == nil || m[1] != id {
		return fmt.Errorf("file %q: %w", file, ErrNotFound)
	}
	n, _ := strconv.Atoi(m[2])
	f, hit, err := r.fragment(ctx, id, n)
	if err != nil {
		return err
	}
	if hit {
		r.stats.hits.Add(1)
	}
	fh, err := r.store.Open(f.CID)
	if err != nil {
		return fmt.Errorf("serve fragment %s: %w", f.CID, err)
	}
	defer fh.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	r.serveContent(w, req, fh, time.Time{})
	return nil
}

func (r *Relay) serveContent(w http.ResponseWriter, req *http.Request, content io.ReadSeeker, mod time.Time) {
	cw := &countingWriter{ResponseWriter: w}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(cw, req, "", mod, content)
	r.stats.servedBytes.Add(cw.n)
}

// countingWriter counts body bytes and keeps the sendfile path.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(src)
		w.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	w.n += n
	return n, err
}

func (r *Relay) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	s := r.Stats()
	var b strings.Builder
	for _, m := range []struct {
		name, help string
		v          int64
	}{
		{"shoal_relay_hits_total", "Requests answered from the cache.", s.Hits},
		{"shoal_relay_misses_total", "Upstream fetches started.", s.Misses},
		{"shoal_relay_upstream_bytes_total", "Bytes read from upstream.", s.UpstreamBytes},
		{"shoal_relay_served_bytes_total", "Body bytes sent to clients.", s.ServedBytes},
		{"shoal_relay_corrupt_total", "Upstream answers rejected by verification.", s.Corrupt},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", m.name, m.help, m.name, m.name, m.v)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	io.WriteString(w, b.String())
}
