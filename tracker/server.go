package tracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/trackerclient"
	"github.com/shoal-project/shoal/proto"
)

// Sentinel errors. The HTTP edge (writeError) maps them to statuses and
// the client (internal/trackerclient) maps the statuses back; they are the
// client's sentinels, so that errors.Is matches on both sides.
var (
	// ErrUnauthorized: missing or malformed credentials, a peer record
	// that does not verify or has expired, a bad identity signature or a
	// request time too far off (401).
	ErrUnauthorized = trackerclient.ErrUnauthorized
	// ErrRevoked: central revoked the caller (403).
	ErrRevoked = trackerclient.ErrRevoked
	// ErrNoSite: the caller's record names no site, so it has no swarm (403).
	ErrNoSite = trackerclient.ErrNoSite
	// ErrUnknownPeer: the caller has no live entry (it never announced, its
	// entry expired or the tracker restarted). Announce, then retry (410).
	ErrUnknownPeer = trackerclient.ErrUnknownPeer
	// ErrReplay: an announce older than the caller's last one (409).
	ErrReplay = trackerclient.ErrReplay
	// ErrBadRequest: an invalid request (400).
	ErrBadRequest = trackerclient.ErrBadRequest
	// ErrFull: the tracker holds MaxEntries entries (503).
	ErrFull = trackerclient.ErrFull
)

// Limits of announced values.
const (
	maxPackageID = 128
	maxAddrs     = 16
	maxAddrLen   = 256
)

// Server is the tracker.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ver     Verifier
	state   *state
	metrics *metrics.Tracker
}

// New checks cfg and v and returns a tracker. It starts nothing; Run
// sweeps expired state and Handler serves requests.
func New(cfg Config, logger *slog.Logger, v Verifier) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tracker config: %w", err)
	}
	if len(v.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("tracker: peer record key has %d bytes, want %d", len(v.Key), ed25519.PublicKeySize)
	}
	cfg = cfg.withDefaults()
	st := newState(cfg, v.Revoked)
	return &Server{cfg: cfg, log: logger.With("component", "tracker"), ver: v, state: st, metrics: metrics.NewTracker(st.siteStats)}, nil
}

// Run drops expired entries and leases every SweepInterval until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if n := s.state.sweep(now); n > 0 {
				s.log.Debug("expired entries", "count", n)
			}
		}
	}
}

// Stats counts the live state (entries not yet swept included).
func (s *Server) Stats() Stats { return s.state.stats() }

// Handler serves the tracker API at relative paths (/announce, /lookup,
// /lease); mount it under proto.TrackerPathPrefix with http.StripPrefix.
// Signatures cover the path as the client sent it (the request URI), so the
// prefix is part of what is signed.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /announce", s.metrics.Instrument("announce", s.serveAnnounce))
	mux.HandleFunc("GET /lookup", s.metrics.Instrument("lookup", s.serveLookup))
	mux.HandleFunc("POST /lease", s.metrics.Instrument("lease", s.serveLease))
	mux.HandleFunc("POST /leave", s.metrics.Instrument("leave", s.serveLeave))
	return mux
}

// authenticate reads the body (bounded) and verifies the caller.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (caller, []byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return caller{}, nil, fmt.Errorf("read body: %w", err)
	}
	c, err := s.ver.authenticate(r.Header.Get("Authorization"), r.Method, requestURI(r), body, time.Now(), s.cfg.MaxSkew)
	return c, body, err
}

// requestURI is the path and query exactly as the client sent them.
func requestURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		return u.RequestURI()
	}
	return r.URL.RequestURI()
}

func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	c, body, err := s.authenticate(w, r)
	var members []proto.TrackerMember
	if err == nil {
		var a proto.TrackerAnnounce
		if err = decodeStrict(body, &a); err == nil {
			if err = s.validAnnounce(&a); err == nil && a.Kind == proto.HolderRelay && !c.Relay {
				// Only a record central signed with the relay role (an
				// enrolled relay) may take the site's WAN ownership; a
				// "relay:" device ID alone proves nothing.
				err = fmt.Errorf("announce: kind relay needs a relay's peer record: %w", ErrBadRequest)
			}
			if err == nil {
				members, err = s.state.announce(c, a, time.Now())
			}
		}
	}
	if err != nil {
		s.writeError(w, r, c, err)
		return
	}
	s.log.Debug("announce", "peer", c.PeerID, "site", c.Site)
	writeJSON(w, proto.TrackerAnnounceResponse{Interval: int(s.cfg.AnnounceInterval / time.Second), TTL: int(s.cfg.TTL / time.Second), Members: members})
}

func (s *Server) serveLookup(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.authenticate(w, r)
	var out proto.TrackerLookup
	if err == nil {
		pkg := r.URL.Query().Get("package")
		if err = validPackageID(pkg); err == nil {
			out, err = s.state.lookup(c, pkg, time.Now())
		}
	}
	if err != nil {
		s.writeError(w, r, c, err)
		return
	}
	writeJSONCompressed(w, r, out)
}

func (s *Server) serveLease(w http.ResponseWriter, r *http.Request) {
	c, body, err := s.authenticate(w, r)
	var out proto.TrackerLeaseResponse
	var req proto.TrackerLeaseRequest
	var dropped []string
	if err == nil {
		if err = decodeStrict(body, &req); err == nil {
			if err = s.validLease(req); err == nil {
				out, dropped, err = s.state.lease(c, req, time.Now())
			}
		}
	}
	for _, id := range dropped {
		s.log.Info("peer dropped: its site's members report it gone from the LAN", "peer", id, "site", c.Site, "last_reporter", c.PeerID)
	}
	if err != nil {
		s.writeError(w, r, c, err)
		return
	}
	if len(out.Granted) > 0 {
		s.log.Debug("lease", "peer", c.PeerID, "site", c.Site, "package", req.PackageID, "fragments", out.Granted)
	}
	writeJSON(w, out)
}

func (s *Server) serveLeave(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.authenticate(w, r)
	if err == nil {
		err = s.state.leave(c)
	}
	if err != nil {
		s.writeError(w, r, c, err)
		return
	}
	s.log.Debug("leave", "peer", c.PeerID, "site", c.Site)
	writeJSON(w, struct{}{})
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w: %w", ErrBadRequest, err)
	}
	return nil
}

// maxExclude bounds TrackerLeaseRequest.Exclude.
const maxExclude = 256

func validPackageID(id string) error {
	if id == "" || len(id) > maxPackageID || strings.ContainsAny(id, "/\\\x00") {
		return fmt.Errorf("package ID %q: %w", id, ErrBadRequest)
	}
	return nil
}

func (s *Server) validAnnounce(a *proto.TrackerAnnounce) error {
	switch a.Kind {
	case "", proto.HolderPeer:
		if a.RelayURL != "" {
			return fmt.Errorf("announce: relay_url without kind relay: %w", ErrBadRequest)
		}
	case proto.HolderRelay:
		if u, err := url.Parse(a.RelayURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(a.RelayURL) > maxAddrLen {
			return fmt.Errorf("announce: relay_url %q: want an http(s) URL: %w", a.RelayURL, ErrBadRequest)
		}
	default:
		return fmt.Errorf("announce: kind %q: %w", a.Kind, ErrBadRequest)
	}
	if len(a.Addrs) > maxAddrs {
		return fmt.Errorf("announce: %d addrs, at most %d: %w", len(a.Addrs), maxAddrs, ErrBadRequest)
	}
	for _, ad := range a.Addrs {
		if _, err := multiaddr.NewMultiaddr(ad); err != nil || len(ad) > maxAddrLen {
			return fmt.Errorf("announce: addr %q is not a multiaddr: %w", ad, ErrBadRequest)
		}
	}
	if a.GossipAddr != "" {
		if _, _, err := net.SplitHostPort(a.GossipAddr); err != nil || len(a.GossipAddr) > maxAddrLen {
			return fmt.Errorf("announce: gossip_addr %q: %w", a.GossipAddr, ErrBadRequest)
		}
	}
	if len(a.Packages) > s.cfg.MaxPackages {
		return fmt.Errorf("announce: %d packages, at most %d: %w", len(a.Packages), s.cfg.MaxPackages, ErrBadRequest)
	}
	seen := make(map[string]bool, len(a.Packages))
	for _, p := range a.Packages {
		if err := validPackageID(p.PackageID); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
		if seen[p.PackageID] {
			return fmt.Errorf("announce: package %s twice: %w", p.PackageID, ErrBadRequest)
		}
		seen[p.PackageID] = true
		if p.Total < 1 || p.Total > s.cfg.MaxFragments || len(p.Have) != (p.Total+7)/8 {
			return fmt.Errorf("announce: package %s: total %d with a %d-byte bitfield: %w", p.PackageID, p.Total, len(p.Have), ErrBadRequest)
		}
	}
	return nil
}

func (s *Server) validLease(req proto.TrackerLeaseRequest) error {
	if err := validPackageID(req.PackageID); err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	if req.Total < 1 || req.Total > s.cfg.MaxFragments || len(req.Want) > req.Total {
		return fmt.Errorf("lease: total %d with %d wanted: %w", req.Total, len(req.Want), ErrBadRequest)
	}
	if len(req.Exclude) > maxExclude || len(req.Gone) > maxExclude {
		return fmt.Errorf("lease: %d excluded and %d gone peers, at most %d each: %w", len(req.Exclude), len(req.Gone), maxExclude, ErrBadRequest)
	}
	for _, i := range req.Want {
		if i < 0 || i >= req.Total {
			return fmt.Errorf("lease: fragment %d outside 0..%d: %w", i, req.Total-1, ErrBadRequest)
		}
	}
	return nil
}

// statusOf maps an error to its HTTP status: the only place that does.
func statusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrNoSite):
		return http.StatusForbidden
	case errors.Is(err, ErrUnknownPeer):
		return http.StatusGone
	case errors.Is(err, ErrReplay):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrFull):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, c caller, err error) {
	code := statusOf(err)
	lvl := slog.LevelDebug
	if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
		lvl = slog.LevelInfo
	}
	s.log.Log(r.Context(), lvl, "tracker request refused", "path", r.URL.Path, "peer", c.PeerID, "status", code, "remote", r.RemoteAddr, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// gzipMin is the smallest answer worth compressing.
const gzipMin = 1 << 10

// writeJSONCompressed is writeJSON, gzip-compressed when the client
// accepts it and the answer is large (lookups, sent every few seconds by
// every downloading agent over the branch uplink; Go clients ask for gzip
// and decompress transparently).
func writeJSONCompressed(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil || len(b) < gzipMin || !acceptsGzip(r) {
		writeJSON(w, v)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
