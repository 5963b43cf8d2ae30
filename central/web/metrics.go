package web

import (
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
