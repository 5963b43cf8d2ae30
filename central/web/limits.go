package web

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/internal/connlimit"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// uploadRoutes are the package upload routes (method and route path): the
// only bodies allowed past MaxAPIBodyBytes, up to the packages' own limit.
var uploadRoutes = map[string]bool{
	http.MethodPost + " " + api.BasePath + "/packages": true,
	http.MethodPost + " /ui/packages":                  true,
}

// limitBody gives every request body the limit of its route, after routing
// and before any handler or authentication reads it. A declared
// Content-Length over the limit is refused at once with 413, before a byte
// is read (or, for an upload, streamed to disk); a body without one is cut
// off at the limit and its reader fails with *http.MaxBytesError (413).
// Upload routes also take an upload slot.
//
// The agent API (under proto.AgentAPIPath) and the OCS endpoint
// (central/ocsapi) bound their own routes, each with its own limit, so they
// are left alone here.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route := c.Path()
		if strings.HasPrefix(route, proto.AgentAPIPath+"/") || route == "/ocsinventory" || route == "/ocsinventory/*" {
			return next(c)
		}
		limit, what := s.cfg.MaxAPIBodyBytes, "http.max_api_body_bytes"
		upload := uploadRoutes[req.Method+" "+route]
		switch {
		case upload && s.deps.Packages != nil:
			if err := s.deps.Packages.CheckUploadLength(req.ContentLength); err != nil {
				return err
			}
			limit = s.deps.Packages.MaxUploadBody()
		}
		if req.ContentLength > limit {
			return fmt.Errorf("body of %d bytes, at most %d on this route (%s): %w", req.ContentLength, limit, what, errTooLarge)
		}
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		}
		if upload {
			// An upload may take longer than read_timeout; it gets
			// transfer_timeout for its body.
			_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(s.cfg.TransferTimeout))
			release, err := s.uploadGate.Enter(req.Context())
			if err != nil {
				return err
			}
			defer release()
		}
		return next(c)
	}
}

// transferDeadline gives a package file download transfer_timeout to be
// written instead of write_timeout (a large OCS fragment to a slow branch).
func (s *Server) transferDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(s.cfg.TransferTimeout))
		return next(c)
	}
}

// NewHTTPServer returns an http.Server for h with the edge's timeouts.
func (s *Server) NewHTTPServer(h http.Handler, errLog *log.Logger) *http.Server {
	return &http.Server{Handler: h, ErrorLog: errLog, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout: s.cfg.ReadTimeout, WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout}
}

// LimitListener caps the connections of ln per client address and in
// total (max_conns_per_client, max_conns); trusted proxies count only
// towards the total.
func (s *Server) LimitListener(ln net.Listener) *connlimit.Listener {
	var proxies []netip.Prefix
	for _, p := range s.cfg.TrustedProxies {
		if pf, err := netip.ParsePrefix(p); err == nil {
			proxies = append(proxies, pf.Masked())
		}
	}
	return connlimit.New(ln, s.cfg.MaxConnsPerClient, s.cfg.MaxConns, func(a netip.Addr) bool {
		for _, p := range proxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	})
}
