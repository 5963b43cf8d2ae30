package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// routeMetrics serves Deps.Metrics at GET /metrics on the TLS listener,
// behind the API's authentication: an API token (a read-only one is
// enough; give Prometheus its own) or the admin credential. The plain
// listener has no /metrics (see docs/SECURITY.md).
func (s *Server) routeMetrics(e *echo.Echo) {
	if s.deps.Metrics == nil {
		return
	}
	e.GET("/metrics", echo.WrapHandler(s.deps.Metrics), s.authenticate)
}

// ServedBytes is the body bytes of the download tree served so far, all
// packages together.
func (c *Counters) ServedBytes() int64 {
	var n int64
	for _, st := range c.All() {
		n += st.Bytes
	}
	return n
}

// ReadyFunc runs the readiness checks: each check's name and "ok" or a
// short reason (never an error's text), and whether all passed.
type ReadyFunc func(ctx context.Context) (checks map[string]string, ready bool)

// readyTimeout bounds the checks of one /readyz request.
const readyTimeout = 2 * time.Second

// Readiness is the body of /readyz.
type Readiness struct {
	Status string            `json:"status"` // "ready" or "not ready"
	Checks map[string]string `json:"checks"`
}

// handleReady is the readiness check for load balancers: 200 when every
// check passes, else 503 (Retry-After 1), on both listeners and without
// authentication; the body names the checks and never an error's detail.
func (s *Server) handleReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	ready := s.deps.Ready
	if ready == nil {
		ready = func(ctx context.Context) (map[string]string, bool) {
			if err := s.deps.Store.Ping(ctx); err != nil {
				return map[string]string{"database": "unreachable"}, false
			}
			return map[string]string{"database": "ok"}, true
		}
	}
	checks, ok := ready(ctx)
	if !ok {
		c.Response().Header().Set("Retry-After", "1")
		return c.JSON(http.StatusServiceUnavailable, Readiness{Status: "not ready", Checks: checks})
	}
	return c.JSON(http.StatusOK, Readiness{Status: "ready", Checks: checks})
}
