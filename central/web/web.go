// Package web is central's HTTP edge, built on echo: the package download
// tree (/download/<ID>/…), the CA certificate (/cacert.pem) and the JSON
// REST API under /api/v1. It builds the echo instances of both listeners
// and mounts the other edges on them through small interfaces (Deps.OCS,
// Deps.UI, Deps.Agents) that central fills.
//
// Handlers return errors; one HTTPErrorHandler maps them, by their kind
// (central/httperr, shared with the other edges), to status codes and JSON
// bodies a person can read. Nothing below the edges knows about HTTP status
// codes. The audited admin operations are central/admin's; the handlers
// here only read requests and present results.
package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/httperr"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/internal/ratelimit"
	"github.com/shoal-project/shoal/proto"
)

// Config holds the limits of the HTTP edge.
type Config struct {
	// UploadConcurrency bounds the package uploads streamed at once
	// (default 4).
	UploadConcurrency int `yaml:"upload_concurrency"`
	// BusyWait is how long a request waits for a free OCS or upload slot
	// (default 2s); central passes it on to the OCS edge.
	BusyWait time.Duration `yaml:"busy_wait"`
	// MaxAPIBodyBytes bounds every other request body: REST API JSON, UI
	// forms (default 1 MiB). Package uploads are bounded by
	// packages.max_upload_bytes instead.
	MaxAPIBodyBytes int64 `yaml:"max_api_body_bytes"`
	// ReadHeaderTimeout bounds reading a request's headers (default 15s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included (default
	// 2m): a client trickling a body is cut off when it passes. Upload
	// routes get TransferTimeout instead.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing an answer, counted from the end of the
	// request headers (default 30m, longer than any jobs long-poll).
	// Package downloads (/download/) get TransferTimeout instead.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection idle that long (default
	// 2m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// TransferTimeout bounds one package upload or one package file
	// download (default 2h).
	TransferTimeout time.Duration `yaml:"transfer_timeout"`
	// MaxConnsPerClient caps the open connections of one client address on
	// each listener (default 64); trusted proxies are exempt. A connection
	// over the cap is closed at once.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// MaxConns caps the open connections of each listener (default 4096).
	MaxConns int `yaml:"max_conns"`
	// TrustedProxies lists the address ranges (CIDR) of reverse proxies
	// whose X-Forwarded-For header names the client. Empty: the client is
	// the connection's peer, and forwarding headers are ignored, so that no
	// client can pick its site or dodge the password rate limits.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

func (c Config) withDefaults() Config {
	if c.MaxAPIBodyBytes == 0 {
		c.MaxAPIBodyBytes = 1 << 20
	}
	if c.UploadConcurrency == 0 {
		c.UploadConcurrency = 4
	}
	if c.BusyWait == 0 {
		c.BusyWait = 2 * time.Second
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 15 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 2 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Minute
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.TransferTimeout == 0 {
		c.TransferTimeout = max(2*time.Hour, c.ReadTimeout, c.WriteTimeout)
	}
	if c.MaxConnsPerClient == 0 {
		c.MaxConnsPerClient = 64
	}
	if c.MaxConns == 0 {
		c.MaxConns = 4096
	}
	return c
}

// WithDefaults returns c with every unset limit at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MaxAPIBodyBytes < 0 || c.UploadConcurrency < 0 || c.BusyWait < 0 {
		return fmt.Errorf("web: limits must not be negative")
	}
	if c.UploadConcurrency > 1024 || c.BusyWait > time.Minute {
		return fmt.Errorf("web: upload_concurrency wants at most 1024, busy_wait at most 1m")
	}
	d := c.withDefaults()
	switch {
	case d.ReadHeaderTimeout < 0 || d.ReadTimeout < 0 || d.WriteTimeout < 0 || d.IdleTimeout < 0 || d.TransferTimeout < 0 ||
		d.MaxConnsPerClient < 0 || d.MaxConns < 0:
		return fmt.Errorf("web: timeouts and connection caps must not be negative")
	case d.ReadHeaderTimeout > d.ReadTimeout:
		return fmt.Errorf("web: read_header_timeout %s over read_timeout %s", d.ReadHeaderTimeout, d.ReadTimeout)
	case d.TransferTimeout < d.ReadTimeout || d.TransferTimeout < d.WriteTimeout:
		return fmt.Errorf("web: transfer_timeout %s: want at least read_timeout and write_timeout", d.TransferTimeout)
	case d.MaxConnsPerClient > d.MaxConns:
		return fmt.Errorf("web: max_conns_per_client %d over max_conns %d", d.MaxConnsPerClient, d.MaxConns)
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil {
			return fmt.Errorf("web: trusted_proxies %q: %w", p, err)
		}
	}
	return nil
}

// ipExtractor returns how the client address is read (see TrustedProxies).
func (c Config) ipExtractor() echo.IPExtractor {
	if len(c.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range c.TrustedProxies {
		_, n, _ := net.ParseCIDR(p)
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Deps are the services the edge calls.
type Deps struct {
	Store    *store.Store
	Deploy   *deploy.Service
	Packages *packages.Builder
	PKI      *pki.PKI
	Admin    *pki.Admin
	// Ops carries out the audited admin operations.
	Ops *admin.Service
	// Auth checks passwords (built-in admin, users, LDAP) and resolves
	// roles and scopes; nil builds one without LDAP.
	Auth *auth.Authenticator
	// Groups keeps groups and assignments (desired state); nil leaves
	// their routes out.
	Groups *groups.Service
	// Catalog is the software catalog and the computers' change history;
	// nil leaves their routes out.
	Catalog *inventory.Catalog
	// Wake keeps Wake-on-LAN requests; nil leaves their routes out.
	Wake *wake.Service
	// OCS is the OCS agent endpoint (central/ocsapi), mounted on both
	// listeners when set; it bounds its own request bodies.
	OCS interface{ Register(*echo.Echo) }
	// UI is the admin web UI, mounted on the HTTPS listener when set.
	UI interface{ Register(*echo.Echo) }
	// Agents is the Shoal agent API, mounted at proto.AgentAPIPath on the
	// HTTPS listener (agents authenticate with their own secret), with its
	// admin routes under the authenticated /api/v1.
	Agents interface {
		Register(*echo.Group)
		RegisterAdmin(*echo.Group, ...echo.MiddlewareFunc)
		// RegisterPublic adds unauthenticated routes to both listeners.
		RegisterPublic(*echo.Echo)
	}
	// Metrics serves Prometheus metrics at /metrics on the HTTPS listener,
	// behind API authentication, when set.
	Metrics http.Handler
	// Ready runs the readiness checks of /readyz (see ReadyFunc); nil
	// answers ready while the store answers a ping.
	Ready ReadyFunc
}

// Server builds the echo instances for the plain-HTTP and HTTPS listeners.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	counters *Counters
	// basicGuard bounds HTTP Basic attempts per client address, per client
	// address and user, and per user for addresses not in basicKnown (the
	// user and address pairs that authenticated before); authAudit bounds
	// the audit rows of failures. See auth.go.
	basicGuard *ratelimit.Logins
	basicKnown *ratelimit.Known
	authAudit  *ratelimit.Sampler
	// now is the clock of the rate limit (tests fix it).
	now func() time.Time
	// uploadGate bounds the uploads processed at once.
	uploadGate *gate.Gate
}

// New returns a Server.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Auth == nil && deps.Store != nil {
		a, err := auth.NewAuthenticator(auth.Config{}, deps.Store, deps.Admin, logger)
		if err != nil {
			return nil, err
		}
		deps.Auth = a
	}
	return &Server{cfg: cfg, deps: deps, log: logger.With("component", "web"), counters: NewCounters(),
		basicGuard: ratelimit.NewLogins(basicLogins), basicKnown: ratelimit.NewKnown(basicKnownTTL),
		authAudit: ratelimit.NewSampler(authAuditPerMinute), now: time.Now,
		uploadGate: gate.New("upload", cfg.UploadConcurrency, cfg.BusyWait)}, nil
}

// Counters returns the download counters.
func (s *Server) Counters() *Counters { return s.counters }

// HTTPHandler serves the plain-HTTP listener: OCS agent traffic (Deps.OCS), fragments
// and the CA certificate. The API is never offered without TLS.
func (s *Server) HTTPHandler() http.Handler {
	e := s.newEcho()
	s.routeAgents(e)
	return e
}

// HTTPSHandler serves the TLS listener: everything on HTTP plus the API.
func (s *Server) HTTPSHandler() http.Handler {
	e := s.newEcho()
	s.routeAgents(e)
	s.routeAPI(e)
	s.routeMetrics(e)
	if s.deps.Agents != nil {
		s.deps.Agents.Register(e.Group(proto.AgentAPIPath))
	}
	if s.deps.UI != nil {
		s.deps.UI.Register(e)
	}
	e.Pre(hsts)
	return e
}

// hstsValue tells browsers to reach central over HTTPS only, for a year. No
// includeSubDomains: central's name may share a domain with plain services.
const hstsValue = "max-age=31536000"

// hsts sets Strict-Transport-Security on every answer of the TLS listener
// (never on the plain listener, which OCS agents need as it is).
// It runs before routing, so errors and unknown paths carry it too.
func hsts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Strict-Transport-Security", hstsValue)
		return next(c)
	}
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = s.cfg.ipExtractor()
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic in handler", "path", c.Path(), "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(s.accessLog)
	e.Use(s.limitBody)
	return e
}

func (s *Server) routeAgents(e *echo.Echo) {
	if s.deps.OCS != nil {
		s.deps.OCS.Register(e)
	}
	e.GET("/download/:id/:file", s.handleDownload, s.transferDeadline)
	e.HEAD("/download/:id/:file", s.handleDownload)
	e.GET("/cacert.pem", s.handleCACert)
	e.GET("/healthz", s.handleHealth)
	e.GET("/readyz", s.handleReady)
	if s.deps.Agents != nil {
		s.deps.Agents.RegisterPublic(e)
	}
}

func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		lvl := slog.LevelDebug
		if c.Response().Status >= 500 {
			lvl = slog.LevelWarn
		}
		s.log.Log(c.Request().Context(), lvl, "request", "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", c.Response().Status, "bytes", c.Response().Size, "dur", time.Since(start), "remote", c.RealIP())
		return nil
	}
}

func (s *Server) handleCACert(c echo.Context) error {
	c.Response().Header().Set("Content-Disposition", `attachment; filename="cacert.pem"`)
	return c.Blob(http.StatusOK, "application/x-pem-file", s.deps.PKI.CAPEM)
}

// handleHealth is the liveness check: the process serves HTTP. It checks
// nothing else, so that a database outage makes replicas not ready
// (/readyz), never restarted.
func (s *Server) handleHealth(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// apiError is the JSON body of every API error.
type apiError struct {
	Error  string   `json:"error"`
	Detail []string `json:"detail,omitempty"`
}

// errUnauthorized and errForbidden are the edge's own sentinels.
var (
	errUnauthorized = errkind.New(errkind.Unauthenticated, "authentication required: send 'Authorization: Bearer <token>'")
	errForbidden    = errkind.New(errkind.Forbidden, "this token is read-only")
	errNoPermission = errkind.New(errkind.Forbidden, "permission denied")
	errBadRequest   = errkind.New(errkind.Invalid, "bad request")
	errTooLarge     = errkind.New(errkind.TooLarge, "request body too large")
	errRateLimited  = errkind.New(errkind.RateLimited, "too many password attempts from this address; wait a minute or use an API token")
	errUserBackoff  = errkind.New(errkind.RateLimited, "too many password attempts for this user from unknown addresses; wait a few minutes, "+
		"use an address you authenticated from before, or use an API token")
)

// basicLogins bounds HTTP Basic attempts a minute: 30 from one client
// address, 10 for one user from one address (that client is refused, the
// user is not locked out), and a per-user back-off of 20 (burst 100) shared
// by the addresses the user never authenticated from.
var basicLogins = ratelimit.LoginConfig{PerClient: 30, PerClientUser: 10, PerUser: 20, PerUserBurst: 100}

const (
	// basicKnownTTL is how long an address stays known good for a user
	// after it authenticated with the password.
	basicKnownTTL = 90 * 24 * time.Hour
	// authAuditPerMinute bounds the audit rows of failed Basic attempts
	// and per-client lock-outs; the rows past it are counted in the next.
	authAuditPerMinute = 30
)

// statusOf maps an error to an HTTP status.
func statusOf(err error) int { return httperr.Status(err) }

func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := statusOf(err)
	msg := err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg = fmt.Sprint(he.Message)
	}
	if code >= 500 && code != http.StatusServiceUnavailable {
		s.log.Error("internal error", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		msg = "internal error; see the central log"
	}
	if code == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
	}
	if code == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", strconv.Itoa(s.uploadGate.RetryAfter()))
	}
	if isOCS(c) || c.Request().Method == http.MethodHead {
		_ = c.String(code, msg+"\n")
		return
	}
	_ = c.JSON(code, apiError{Error: msg})
}

// isOCS tells the OCS endpoint's paths, answered in plain text (the OCS
// edge answers its handlers' errors itself; routing errors come here).
func isOCS(c echo.Context) bool {
	p := c.Request().URL.Path
	return len(p) >= len("/ocsinventory") && p[:len("/ocsinventory")] == "/ocsinventory"
}
