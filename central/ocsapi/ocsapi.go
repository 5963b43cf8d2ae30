// Package ocsapi is central's OCS edge: the anonymous OCS Inventory NG
// communication endpoint (POST /ocsinventory) that OCS, FusionInventory and
// GLPI agents speak, on both listeners (plain HTTP, as the protocol
// requires, and HTTPS).
//
// It reads and bounds agent requests (body, inflated XML, nesting,
// elements, rows per section, requests decoded at once), refuses requests
// that name a computer with a Shoal agent identity, and calls the deploy
// and inventory services. It imports no other edge: central mounts it on
// the echo instances the web edge builds (see web.Deps.OCS). Its errors are
// answered as plain text, with the statuses of central/httperr.
package ocsapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/httperr"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Config holds the limits of the OCS endpoint. Its keys sit in the http:
// section of central's configuration, next to web.Config's.
type Config struct {
	// MaxOCSBodyBytes bounds a compressed agent request body.
	MaxOCSBodyBytes int64 `yaml:"max_ocs_body_bytes"`
	// MaxOCSXMLBytes bounds the decompressed XML of an agent request.
	MaxOCSXMLBytes int64 `yaml:"max_ocs_xml_bytes"`
	// MaxOCSSoftwares bounds the SOFTWARES rows of one OCS inventory
	// (default 20000); MaxOCSRows bounds every other repeated section
	// (CPUS, MEMORIES, STORAGES, DRIVES, NETWORKS, CONTROLLERS,
	// ACCOUNTINFO, DOWNLOAD/HISTORY; default 2000). An inventory above
	// either is refused with 413 and nothing is stored.
	MaxOCSSoftwares int `yaml:"max_ocs_softwares"`
	MaxOCSRows      int `yaml:"max_ocs_rows"`
	// AcceptAnyUserAgent disables the agent User-Agent check.
	AcceptAnyUserAgent bool `yaml:"accept_any_user_agent"`
	// MaxOCSDepth bounds element nesting in an agent request (default 16).
	MaxOCSDepth int `yaml:"max_ocs_depth"`
	// MaxOCSElements bounds the elements of an agent request (default
	// 200,000: about 15,000 software entries).
	MaxOCSElements int `yaml:"max_ocs_elements"`
	// OCSConcurrency bounds the agent requests processed at once (default
	// 4 × GOMAXPROCS); the others wait up to BusyWait, then get 503 with
	// Retry-After. Of these, GOMAXPROCS inflate and
	// parse at a time; the others read their body or wait with their
	// parsed inventory for the store's writer, where the more wait, the
	// more a group commit holds (4 × GOMAXPROCS instead of 2 × took a
	// tenth off a first inventory's time: docs/BENCHMARKS.md). Peak
	// memory of the OCS endpoint is about OCSConcurrency × MaxOCSXMLBytes
	// + GOMAXPROCS × (MaxOCSBodyBytes + 2 × MaxOCSXMLBytes).
	OCSConcurrency int `yaml:"ocs_concurrency"`
	// BusyWait is how long a request waits for a free OCS slot (default
	// 2s). Central sets it from http.busy_wait, shared with the uploads.
	BusyWait time.Duration `yaml:"-"`
}

// WithDefaults returns c with every unset limit at its default.
func (c Config) WithDefaults() Config {
	if c.MaxOCSBodyBytes == 0 {
		c.MaxOCSBodyBytes = 16 << 20
	}
	if c.MaxOCSXMLBytes == 0 {
		c.MaxOCSXMLBytes = 32 << 20
	}
	if c.MaxOCSSoftwares == 0 {
		c.MaxOCSSoftwares = 20000
	}
	if c.MaxOCSRows == 0 {
		c.MaxOCSRows = 2000
	}
	if c.MaxOCSDepth == 0 {
		c.MaxOCSDepth = ocs.DefaultMaxDepth
	}
	if c.MaxOCSElements == 0 {
		c.MaxOCSElements = ocs.DefaultMaxElements
	}
	if c.OCSConcurrency == 0 {
		c.OCSConcurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if c.BusyWait == 0 {
		c.BusyWait = 2 * time.Second
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.MaxOCSBodyBytes < 0 || c.MaxOCSXMLBytes < 0 || c.MaxOCSSoftwares < 0 || c.MaxOCSRows < 0 ||
		c.MaxOCSElements < 0 || c.OCSConcurrency < 0 || c.BusyWait < 0 {
		return fmt.Errorf("web: limits must not be negative")
	}
	if err := (ocs.Limits{MaxDepth: c.MaxOCSDepth, MaxElements: c.MaxOCSElements}).Validate(); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if c.OCSConcurrency > 1024 || c.BusyWait > time.Minute {
		return fmt.Errorf("web: ocs_concurrency wants at most 1024, busy_wait at most 1m")
	}
	return nil
}

// Deps are the services the OCS edge calls.
type Deps struct {
	Store     *store.Store
	Inventory *inventory.Service
	Deploy    *deploy.Service
	// Metrics counts requests by kind and status and times inventory
	// ingest; nil counts nothing.
	Metrics *metrics.Central
}

// Server serves the OCS endpoint.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// gate bounds the OCS requests processed at once.
	gate *gate.Gate
	// parsing bounds the requests inflated and parsed at once to the
	// cores, so that the store's single writer, through which every
	// inventory then passes, is not starved: with every admitted request
	// parsing on 2 cores, the writer got half a core and first inventories
	// queued behind it. One less than the cores was tried and, once the
	// writer's own work had shrunk, cost first inventories from 8 agents a
	// tenth more CPU (smaller groups) and 4 % of their rate
	// (docs/BENCHMARKS.md). A token in the channel is a request parsing.
	parsing chan struct{}
}

// New returns a Server.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	return &Server{cfg: cfg, deps: deps, log: logger.With("component", "web"),
		gate:    gate.New("ocs", cfg.OCSConcurrency, cfg.BusyWait),
		parsing: make(chan struct{}, runtime.GOMAXPROCS(0))}, nil
}

// Register adds the OCS routes to e (each listener's echo instance).
func (s *Server) Register(e *echo.Echo) {
	e.POST("/ocsinventory", s.handleOCS, s.observe, s.answerErrors, s.limitBody)
	e.POST("/ocsinventory/*", s.handleOCS, s.observe, s.answerErrors, s.limitBody)
}

// kindKey is where handleOCS notes the request's QUERY for observe.
const kindKey = "shoal.ocs_kind"

// ocsKinds are the QUERY values counted by name; others count as "other",
// requests refused before their QUERY was read as "unknown".
var ocsKinds = map[string]bool{"prolog": true, "inventory": true, "download": true, "notify": true}

// observe counts each answered request by kind and status, with its
// duration (Deps.Metrics).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		kind, _ := c.Get(kindKey).(string)
		if kind == "" {
			kind = "unknown"
		}
		code := c.Response().Status
		if err != nil && !c.Response().Committed {
			code = httperr.Status(err)
		}
		s.deps.Metrics.OCSRequest(kind, code, time.Since(start))
		return err
	}
}

// The edge's own sentinels.
var (
	errBadRequest = errkind.New(errkind.Invalid, "bad request")
	errTooLarge   = errkind.New(errkind.TooLarge, "request body too large")
)

// limitBody bounds the request body at http.max_ocs_body_bytes before the
// handler reads it: a declared Content-Length over the limit is refused at
// once with 413, before a byte is read; a body without one is cut off at
// the limit and its reader fails with *http.MaxBytesError (413). The web
// edge's body limit leaves these routes alone.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		limit := s.cfg.MaxOCSBodyBytes
		if req.ContentLength > limit {
			return fmt.Errorf("body of %d bytes, at most %d on this route (%s): %w", req.ContentLength, limit, "http.max_ocs_body_bytes", errTooLarge)
		}
		if req.Body != nil && req.Body != http.NoBody {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		}
		return next(c)
	}
}

// answerErrors answers the errors of the OCS routes in plain text, with the
// status of central/httperr and, on 503 (the OCS gate is full), a
// Retry-After of the gate's wait. An internal error is logged and answered
// without its detail.
func (s *Server) answerErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		code := httperr.Status(err)
		msg := err.Error()
		var he *echo.HTTPError
		if errors.As(err, &he) {
			msg = fmt.Sprint(he.Message)
		}
		if code >= 500 && code != http.StatusServiceUnavailable {
			s.log.Error("internal error", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
			msg = "internal error; see the central log"
		}
		if code == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", strconv.Itoa(s.gate.RetryAfter()))
		}
		return c.String(code, msg+"\n")
	}
}
