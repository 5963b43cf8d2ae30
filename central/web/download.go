package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
)

var (
	packageIDRE = regexp.MustCompile(`^[0-9]{1,20}$`)
	fileRE      = regexp.MustCompile(`^(info|manifest\.json|[0-9]{1,20}-[0-9]{1,9})$`)
)

// Counters count what central served from its download tree, per package.
// They prove in tests and benchmarks how many bytes crossed the WAN.
type Counters struct {
	mu   sync.Mutex // guards pkgs (the map, not the counters inside)
	pkgs map[string]*PackageCounter
}

// PackageCounter holds one package's download counters.
type PackageCounter struct {
	Bytes     atomic.Int64
	Requests  atomic.Int64
	Fragments atomic.Int64 // fragment files served in full
	Info      atomic.Int64
}

// PackageStats is a snapshot of a PackageCounter.
type PackageStats struct {
	Bytes     int64 `json:"bytes"`
	Requests  int64 `json:"requests"`
	Fragments int64 `json:"fragments"`
	Info      int64 `json:"info"`
}

// NewCounters returns empty counters.
func NewCounters() *Counters { return &Counters{pkgs: map[string]*PackageCounter{}} }

func (c *Counters) get(id string) *PackageCounter {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.pkgs[id]
	if !ok {
		pc = &PackageCounter{}
		c.pkgs[id] = pc
	}
	return pc
}

// Stats returns a snapshot for one package.
func (c *Counters) Stats(id string) PackageStats {
	pc := c.get(id)
	return PackageStats{Bytes: pc.Bytes.Load(), Requests: pc.Requests.Load(), Fragments: pc.Fragments.Load(), Info: pc.Info.Load()}
}

// All returns a snapshot of every package, sorted by ID.
func (c *Counters) All() map[string]PackageStats {
	c.mu.Lock()
	ids := make([]string, 0, len(c.pkgs))
	for id := range c.pkgs {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	sort.Strings(ids)
	out := make(map[string]PackageStats, len(ids))
	for _, id := range ids {
		out[id] = c.Stats(id)
	}
	return out
}

// countingWriter counts body bytes and keeps the sendfile path of the
// underlying writer.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		w.n += n
		return n, err
	}
	n, err := io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	w.n += n
	return n, err
}

// handleDownload serves the OCS download tree: /download/<ID>/info,
// /download/<ID>/<ID>-<n> and /download/<ID>/manifest.json. Only these names
// are served, so no request can leave the package directory, and only for
// published packages (deploy.Service.Published: active, or being checked
// for activation): the route is anonymous and package IDs are guessable
// timestamps, so an inactive package answers 404 like a missing one.
func (s *Server) handleDownload(c echo.Context) error {
	id, file := c.Param("id"), c.Param("file")
	if !packageIDRE.MatchString(id) || !fileRE.MatchString(file) ||
		(strings.Contains(file, "-") && !strings.HasPrefix(file, id+"-")) {
		return fmt.Errorf("no such package file: %w", store.ErrNotFound)
	}
	if ok, err := s.deps.Deploy.Published(c.Request().Context(), id); err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	} else if !ok {
		return fmt.Errorf("package %s is not active: %w", id, store.ErrNotFound)
	}
	// A replica without shared package storage pulls a package it lacks
	// from another replica first (verified; packages.Builder.Ensure).
	if c.Request().Header.Get(packages.PullHeader) == "" {
		if err := s.deps.Packages.Ensure(c.Request().Context(), id); err != nil && !errors.Is(err, packages.ErrNotFound) {
			return fmt.Errorf("download %s: %w", id, err)
		}
	}
	path := filepath.Join(s.deps.Packages.Path(id), file)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("package %s has no file %s: %w", id, file, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("package %s has no file %s: %w", id, file, store.ErrNotFound)
	}
	pc := s.counters.get(id)
	pc.Requests.Add(1)
	cw := &countingWriter{ResponseWriter: c.Response().Writer}
	ctype := "application/octet-stream"
	switch file {
	case "info":
		ctype = "application/xml"
	case "manifest.json":
		ctype = "application/json"
	}
	cw.Header().Set("Content-Type", ctype)
	cw.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(cw, c.Request(), "", st.ModTime(), f)
	pc.Bytes.Add(cw.n)
	switch {
	case file == "info":
		pc.Info.Add(1)
	case strings.HasPrefix(file, id+"-") && cw.n == st.Size():
		pc.Fragments.Add(1)
	}
	c.Response().Committed = true
	return nil
}
