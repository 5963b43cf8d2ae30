package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/httperr"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/internal/metrics"
	"github.com/shoal-project/shoal/internal/ratelimit"
	"github.com/shoal-project/shoal/proto"
)

// Config tunes the agent API.
type Config struct {
	// MaxWait bounds a jobs long-poll (default 60s).
	MaxWait time.Duration `yaml:"max_wait"`
	// PollInterval is how often a held jobs request re-reads the database
	// while change notifications do not arrive (default 500ms); while they
	// do, it re-reads on each and every 5s.
	PollInterval time.Duration `yaml:"poll_interval"`
	// PeerRecordTTL is the lifetime of a signed peer record (default 24h).
	PeerRecordTTL time.Duration `yaml:"peer_record_ttl"`
	// MaxBodyBytes bounds an inventory body (default 32 MiB, room for the
	// 100,000 software rows one inventory may carry).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// GossipKeyRotation is how long a site's gossip key stays current
	// before it is replaced (default 24h); revocations replace it at once.
	GossipKeyRotation time.Duration `yaml:"gossip_key_rotation"`
	// GossipKeyOverlap is the rotation window (default 10m or twice
	// max_wait, at least twice max_wait, so that every agent has had a job
	// list within it): a new
	// key is handed out one window before members send with it, and the
	// old one is still accepted for two windows after the rotation.
	GossipKeyOverlap time.Duration `yaml:"gossip_key_overlap"`
	// MaxEnrollBodyBytes bounds an agent enrollment, which carries an
	// inventory (default 4 MiB; a desktop with 765 packages sends 213 KB).
	MaxEnrollBodyBytes int64 `yaml:"max_enroll_body_bytes"`
	// MaxRelayEnrollBodyBytes bounds a relay enrollment (default 64 KiB).
	MaxRelayEnrollBodyBytes int64 `yaml:"max_relay_enroll_body_bytes"`
	// MaxSmallBodyBytes bounds every other body: progress, results, peer
	// record renewals, relay reports (default 64 KiB).
	MaxSmallBodyBytes int64 `yaml:"max_small_body_bytes"`
	// IngestConcurrency bounds the enrollments and inventories decoded at
	// once (default 2 × GOMAXPROCS); the others wait up to BusyWait, then
	// get 503 with Retry-After.
	IngestConcurrency int `yaml:"ingest_concurrency"`
	// BusyWait is how long a request waits for a free ingest slot
	// (default 2s).
	BusyWait time.Duration `yaml:"busy_wait"`
}

func (c Config) withDefaults() Config {
	if c.MaxWait == 0 {
		c.MaxWait = time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.PeerRecordTTL == 0 {
		c.PeerRecordTTL = 24 * time.Hour
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.GossipKeyOverlap == 0 {
		c.GossipKeyOverlap = max(10*time.Minute, 2*c.MaxWait)
	}
	if c.GossipKeyRotation == 0 {
		c.GossipKeyRotation = max(24*time.Hour, 4*c.GossipKeyOverlap)
	}
	if c.MaxEnrollBodyBytes == 0 {
		c.MaxEnrollBodyBytes = min(4<<20, c.MaxBodyBytes)
	}
	if c.MaxRelayEnrollBodyBytes == 0 {
		c.MaxRelayEnrollBodyBytes = 64 << 10
	}
	if c.MaxSmallBodyBytes == 0 {
		c.MaxSmallBodyBytes = 64 << 10
	}
	if c.IngestConcurrency == 0 {
		c.IngestConcurrency = 2 * runtime.GOMAXPROCS(0)
	}
	if c.BusyWait == 0 {
		c.BusyWait = 2 * time.Second
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxWait < time.Second || c.MaxWait > 10*time.Minute:
		return fmt.Errorf("agentapi: max_wait %s: want 1s..10m", c.MaxWait)
	case c.PollInterval < 10*time.Millisecond || c.PollInterval > c.MaxWait:
		return fmt.Errorf("agentapi: poll_interval %s: want 10ms..max_wait", c.PollInterval)
	case c.PeerRecordTTL < time.Minute:
		return fmt.Errorf("agentapi: peer_record_ttl %s: want at least 1m", c.PeerRecordTTL)
	case c.MaxBodyBytes < 1<<20:
		return fmt.Errorf("agentapi: max_body_bytes %d: want at least 1 MiB", c.MaxBodyBytes)
	case c.GossipKeyOverlap < 2*c.MaxWait:
		return fmt.Errorf("agentapi: gossip_key_overlap %s: want at least twice max_wait (%s)", c.GossipKeyOverlap, 2*c.MaxWait)
	case c.GossipKeyRotation < 4*c.GossipKeyOverlap:
		return fmt.Errorf("agentapi: gossip_key_rotation %s: want at least 4 times gossip_key_overlap (%s)", c.GossipKeyRotation, 4*c.GossipKeyOverlap)
	case c.MaxEnrollBodyBytes < 64<<10 || c.MaxEnrollBodyBytes > c.MaxBodyBytes:
		return fmt.Errorf("agentapi: max_enroll_body_bytes %d: want 64 KiB..max_body_bytes", c.MaxEnrollBodyBytes)
	case c.MaxRelayEnrollBodyBytes < 4<<10 || c.MaxRelayEnrollBodyBytes > 16<<20:
		return fmt.Errorf("agentapi: max_relay_enroll_body_bytes %d: want 4 KiB..16 MiB", c.MaxRelayEnrollBodyBytes)
	case c.MaxSmallBodyBytes < 4<<10 || c.MaxSmallBodyBytes > 16<<20:
		return fmt.Errorf("agentapi: max_small_body_bytes %d: want 4 KiB..16 MiB", c.MaxSmallBodyBytes)
	case c.IngestConcurrency < 1 || c.IngestConcurrency > 1024:
		return fmt.Errorf("agentapi: ingest_concurrency %d: want 1..1024", c.IngestConcurrency)
	case c.BusyWait < 0 || c.BusyWait > time.Minute:
		return fmt.Errorf("agentapi: busy_wait %s: want 0..1m", c.BusyWait)
	}
	return nil
}

// Sentinel errors the handlers return; mapErrors turns them into statuses
// (httperr.Status, by their kind).
var (
	errUnauthorized = errkind.New(errkind.Unauthenticated, "unknown agent: send 'Authorization: Bearer <agent secret>' (enroll first)")
	errRevoked      = errkind.New(errkind.Forbidden, "this computer is revoked")
	errBadRequest   = errkind.New(errkind.Invalid, "bad request")
	errFinished     = errkind.New(errkind.Conflict, "deployment is already finished")
)

// API serves the agent API.
type API struct {
	cfg      Config
	store    *store.Store
	deploy   *deploy.Service
	builder  *packages.Builder
	pki      *pki.PKI
	log      *slog.Logger
	now      func() time.Time
	counters *counters
	// refusals bounds the audit events of refused enrollments per token
	// (a holder of a real token must not fill the audit log).
	refusals *ratelimit.Keyed
	index    *fragIndexes
	revCache revocationCache // the signed list of revokedPeers
	// ingest bounds the enrollments and inventories decoded at once.
	ingest *gate.Gate
	// trackerURL and upstreamURL (strings) are set once by central
	// before it serves; see SetTrackerURL, SetUpstreamURL and
	// SetServerURL.
	trackerURL, upstreamURL, serverURL atomic.Value
	// metrics is set once by central before it serves (SetMetrics).
	metrics *metrics.Central
	// waker is set once by central before it serves (SetWaker); nil:
	// held jobs requests poll.
	waker waker
	// route is set once by central before it serves (SetTrackerRoute).
	route       func(siteID uint) string
	revocations revocations
	// wake hands out Wake-on-LAN orders; set once by central before it
	// serves (SetWake), nil: none.
	wake wakeOrders
	// draining is closed by Drain.
	draining  chan struct{}
	drainOnce sync.Once
}

// New returns the agent API. An invalid cfg is replaced by the defaults
// with a logged error; call cfg.Validate first to refuse it instead.
func New(cfg Config, st *store.Store, dep *deploy.Service, b *packages.Builder, pk *pki.PKI, logger *slog.Logger) *API {
	log := logger.With("component", "agentapi")
	if err := cfg.Validate(); err != nil {
		log.Error("invalid agent API config, using defaults", "err", err)
		cfg = Config{}
	}
	cfg = cfg.withDefaults()
	return &API{cfg: cfg, store: st, deploy: dep, builder: b, pki: pk, log: log, now: time.Now,
		counters: newCounters(), index: &fragIndexes{m: map[string]*fragIndex{}}, refusals: ratelimit.New(refusalAuditsPerMinute),
		ingest: gate.New("agent ingest", cfg.IngestConcurrency, cfg.BusyWait), draining: make(chan struct{})}
}

// Register adds the agent routes to g, which central mounts at
// proto.AgentAPIPath on its HTTPS listener.
func (a *API) Register(g *echo.Group) {
	g.Use(a.mapErrors)
	g.GET("/info", a.info)
	g.POST("/enroll", a.enroll, a.enrollGate(a.cfg.MaxEnrollBodyBytes))
	auth := g.Group("", a.authenticate)
	small := a.limitBody(a.cfg.MaxSmallBodyBytes)
	auth.GET("/jobs", a.jobs)
	auth.GET("/packages/:id/manifest", a.manifest)
	auth.GET("/fragments/:id/:cid", a.fragment)
	auth.POST("/deployments/:id/progress", a.progress, small)
	auth.POST("/deployments/:id/result", a.result, small)
	auth.POST("/inventory", a.inventory, a.limitBody(a.cfg.MaxBodyBytes), a.ingestSlot)
	auth.POST("/peer-record", a.peerRecord, small)
	a.registerRelays(g)
}

// RegisterAdmin adds the admin routes to g, which central mounts under its
// authenticated /api/v1 group; m run around them (central audits the
// changes they make).
func (a *API) RegisterAdmin(g *echo.Group, m ...echo.MiddlewareFunc) {
	ag := g.Group("/agents", append(m, a.mapErrors)...)
	ag.POST("/enrollment-tokens", a.createToken)
	ag.GET("/enrollment-tokens", a.listTokens)
	ag.DELETE("/enrollment-tokens/:id", a.revokeToken)
	ag.GET("", a.listAgents)
	ag.GET("/fragment-stats", a.fragmentStats)
	ag.POST("/:computer/revoke", a.revokeComputer(true))
	ag.POST("/:computer/unrevoke", a.revokeComputer(false))
}

// statusOf maps an error to its HTTP status.
func statusOf(err error) int { return httperr.Status(err) }

// mapErrors turns handler errors into *echo.HTTPError, so that whatever
// error handler the echo instance has writes the right status.
func (a *API) mapErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil {
			return nil
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return err
		}
		code := statusOf(err)
		msg := err.Error()
		if code == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", strconv.Itoa(a.ingest.RetryAfter()))
		}
		if code >= 500 && code != http.StatusServiceUnavailable {
			a.log.Error("agent API error", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
			msg = "internal error; see the central log"
		}
		return echo.NewHTTPError(code, msg).SetInternal(err)
	}
}

// agentKey is where authenticate stores the caller.
const agentKey = "shoal.agent"

// caller is an authenticated agent.
type caller struct {
	identity *store.AgentIdentity
	computer *store.Computer
}

func hashSecret(s string) string { return auth.HashSecret(s) }

// authenticate accepts a known agent secret of a computer that is not
// revoked.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(secret, proto.AgentSecretPrefix) {
			return errUnauthorized
		}
		id, comp, err := a.store.AgentBySecretHash(c.Request().Context(), hashSecret(strings.TrimSpace(secret)))
		if errors.Is(err, store.ErrNotFound) {
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		if comp.Revoked {
			return errRevoked
		}
		c.Set(agentKey, &caller{identity: id, computer: comp})
		return next(c)
	}
}

func callerOf(c echo.Context) *caller {
	cl, _ := c.Get(agentKey).(*caller)
	return cl
}

// bindJSON decodes a bounded JSON body into v, refusing unknown fields.
func (a *API) bindJSON(c echo.Context, v any) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if ct != "application/json" {
		return fmt.Errorf("send a JSON body with Content-Type: application/json: %w", errBadRequest)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, a.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("JSON body: %w", err)
		}
		return fmt.Errorf("invalid JSON body: %w: %w", errBadRequest, err)
	}
	return nil
}

func pkgParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !proto.IsPackageID(id) {
		return "", fmt.Errorf("package id must be digits, got %q: %w", id, errBadRequest)
	}
	return id, nil
}

func (a *API) info(c echo.Context) error {
	return c.JSON(http.StatusOK, proto.AgentInfo{ProtocolVersion: proto.ProtocolVersion, ManifestKeyID: proto.KeyID(a.pki.SigningPublicKey())})
}

// manifest serves a package's signed manifest exactly as built; the agent
// verifies it with the key it pinned.
func (a *API) manifest(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	if err := a.ensure(c, id); err != nil {
		return err
	}
	b, err := a.builder.ManifestBytes(id)
	if err != nil {
		if errors.Is(err, packages.ErrInvalidID) || isNotExist(err) {
			return fmt.Errorf("package %s has no manifest: %w", id, store.ErrNotFound)
		}
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/json", b)
}

// ensure pulls package id from another replica when this one lacks it
// (packages.Builder.Ensure: verified before it is served). A request from
// another replica (packages.PullHeader) never pulls in turn.
func (a *API) ensure(c echo.Context, id string) error {
	if c.Request().Header.Get(packages.PullHeader) != "" {
		return nil
	}
	if err := a.builder.Ensure(c.Request().Context(), id); err != nil && !errors.Is(err, packages.ErrNotFound) {
		return fmt.Errorf("package %s: %w", id, err)
	}
	return nil
}

// copyBufs holds the buffers fragments are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// fragment serves one Shoal fragment by CID, read from the OCS fragment
// files that hold its byte range.
func (a *API) fragment(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	cidStr := c.Param("cid")
	if _, err := proto.ParseCID(cidStr); err != nil {
		return fmt.Errorf("fragment %q: %w: %w", cidStr, errBadRequest, err)
	}
	if err := a.ensure(c, id); err != nil {
		return err
	}
	idx, err := a.index.get(a, id)
	if err != nil {
		return err
	}
	fr, ok := idx.byCID[cidStr]
	if !ok {
		return fmt.Errorf("package %s has no fragment %s: %w", id, cidStr, store.ErrNotFound)
	}
	pc := a.counters.get(id)
	pc.requests.Add(1)
	w := c.Response()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+cidStr+`"`)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Header().Set("Accept-Ranges", "bytes")
	// A relay or WAN owner fetching the last fragments of a package splits
	// them into byte ranges over its idle streams; it verifies the whole
	// fragment's CID, so a range is served like the whole.
	off, size, status := int64(0), fr.Size, http.StatusOK
	if rs := c.Request().Header.Get("Range"); rs != "" {
		start, end, ok := parseRange(rs, fr.Size)
		switch {
		case !ok:
			// Not one satisfiable byte range: the whole fragment (RFC 9110
			// allows ignoring a Range it does not support).
		case start >= fr.Size || end < start:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", fr.Size))
			return c.NoContent(http.StatusRequestedRangeNotSatisfiable)
		default:
			off, size, status = start, end-start+1, http.StatusPartialContent
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, fr.Size))
		}
	}
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.WriteHeader(status)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	n, err := idx.copyRange(w, a.builder.Path(id), fr.Offset+off, size, *bp)
	pc.bytes.Add(n)
	if err != nil {
		// Headers are out: the agent sees a short body and retries.
		a.log.Warn("serve fragment", "package", id, "fragment", fr.Index, "sent", n, "err", err)
		return nil
	}
	if status == http.StatusOK {
		pc.fragments.Add(1)
	}
	return nil
}

// parseRange parses a Range header of one byte range ("bytes=a-b",
// "bytes=a-", "bytes=-n") of a body of size bytes into the first and last
// byte offsets, the last clamped to the body. ok is false for anything
// else (several ranges, another unit, bad syntax); a range starting at or
// after size comes back as is for the caller to answer 416.
func parseRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if first == "" { // Suffix: the last n bytes.
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	end = size - 1
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return 0, 0, false
		}
		end = min(end, size-1)
	}
	return start, end, true
}
