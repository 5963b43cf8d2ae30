// Package ui is central's admin web UI: server-rendered html/template pages
// on echo, with every asset (CSS, a little JavaScript, icons) embedded in the
// binary. It is mounted on the HTTPS listener only.
//
// Sessions are server-side (store.UISession): the browser holds a random
// cookie (HttpOnly, Secure, SameSite=Strict, __Host- prefixed) whose SHA-256
// names the session row. Every state-changing request carries the session's
// CSRF token (a hidden "_csrf" form field or the X-CSRF-Token header) and is
// refused with 403 without it; read-only users are refused every
// state-changing request; the token is read from the form body or the
// header, never from the query string. Logins pass a guard (login.go): a
// limit per client address, a limit per address and user name, and a
// per-user back-off that browsers which logged in as that user before (a
// signed cookie) skip, so that guessing from one address never locks a user
// out. Failed logins and lock-outs are audited, boundedly. Changing a
// user's password ends that user's other sessions. There is no default
// password: the built-in administrator is pki.Admin, and further users
// (admin or read-only) live in store.UIUser.
//
// Routes: /login and /logout, the pages under /ui/, and the embedded assets
// under /static/. Handlers return errors; one middleware renders them as an
// HTML page (or JSON for the live-refresh endpoints) with a message a person
// can act on, never a stack trace.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/admin"
	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/internal/ratelimit"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config holds the UI's tunables.
type Config struct {
	// SessionTTL is the longest a login lasts (default 12h).
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SessionIdle ends a session unused for this long (default 1h).
	SessionIdle time.Duration `yaml:"session_idle"`
	// LoginPerIPPerMinute bounds login attempts from one client address,
	// whatever the user name (default 20; the burst is the same number).
	// The address honours http.trusted_proxies.
	LoginPerIPPerMinute int `yaml:"login_per_ip_per_minute"`
	// LoginPerUserPerMinute bounds login attempts for one user name from
	// one client address (default 6): that client is refused, the user is
	// not locked out.
	LoginPerUserPerMinute int `yaml:"login_per_user_per_minute"`
	// LoginBackoffPerMinute is the per-user back-off: login attempts for one
	// user name from all the browsers that never logged in as that user,
	// together (default twice LoginPerUserPerMinute, at least that). A
	// browser that logged in as the user before is not held back by it.
	LoginBackoffPerMinute int `yaml:"login_backoff_per_minute"`
	// LoginBackoffBurst is the burst of the per-user back-off (default five
	// minutes of LoginBackoffPerMinute).
	LoginBackoffBurst int `yaml:"login_backoff_burst"`
	// PasswordCost is the bcrypt cost of UI user passwords (default 10).
	PasswordCost int `yaml:"password_cost"`
	// RefreshSeconds is the live-refresh period of the status pages
	// (default 3).
	RefreshSeconds int `yaml:"refresh_seconds"`
	// AgentServerURL is central's HTTPS URL as agents reach it, shown in the
	// OCS agent command line. Empty uses the URL the browser used.
	AgentServerURL string `yaml:"agent_server_url"`
}

func (c Config) withDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = time.Hour
	}
	if c.LoginPerIPPerMinute == 0 {
		c.LoginPerIPPerMinute = 20
	}
	if c.LoginPerUserPerMinute == 0 {
		c.LoginPerUserPerMinute = 6
	}
	if c.LoginBackoffPerMinute == 0 {
		c.LoginBackoffPerMinute = 2 * c.LoginPerUserPerMinute
	}
	if c.LoginBackoffBurst == 0 {
		c.LoginBackoffBurst = 5 * c.LoginBackoffPerMinute
	}
	if c.PasswordCost == 0 {
		c.PasswordCost = bcrypt.DefaultCost
	}
	if c.RefreshSeconds == 0 {
		c.RefreshSeconds = 3
	}
	return c
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// Validate checks the configuration with its defaults applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.SessionTTL < time.Minute || c.SessionIdle < time.Minute {
		errs = append(errs, errors.New("session_ttl and session_idle must be at least 1m"))
	}
	if err := c.loginConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PasswordCost < bcrypt.MinCost || c.PasswordCost > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("password_cost must be %d..%d", bcrypt.MinCost, bcrypt.MaxCost))
	}
	if c.RefreshSeconds < 1 {
		errs = append(errs, errors.New("refresh_seconds must be at least 1"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ui config: %w", err)
	}
	return nil
}

// loginConfig is the login guard's configuration.
func (c Config) loginConfig() ratelimit.LoginConfig {
	return ratelimit.LoginConfig{PerClient: c.LoginPerIPPerMinute, PerClientUser: c.LoginPerUserPerMinute,
		PerUser: c.LoginBackoffPerMinute, PerUserBurst: c.LoginBackoffBurst}
}

// Deps are the services the UI calls.
type Deps struct {
	Store    *store.Store
	Deploy   *deploy.Service
	Packages *packages.Builder
	PKI      *pki.PKI
	Admin    *pki.Admin
	// Ops carries out the audited admin operations.
	Ops *admin.Service
	// Groups keeps groups and assignments.
	Groups *groups.Service
	// Catalog is the software catalog and the computers' change history;
	// nil leaves the software pages and the history out.
	Catalog *inventory.Catalog
	// Auth checks passwords (built-in admin, users, LDAP) and resolves
	// roles and scopes; nil builds one without LDAP.
	Auth *auth.Authenticator
	// Wake keeps Wake-on-LAN requests; nil hides the computer page's
	// Wake action.
	Wake *wake.Service
}

// UI serves the admin web UI.
type UI struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	pages  map[string]*template.Template
	assets map[string]asset
	now    func() time.Time

	// logins guards every password check (see login.go); authAudit bounds
	// the audit rows of failed logins.
	logins    *ratelimit.Logins
	authAudit *ratelimit.Sampler
	// knownKey signs the cookie of known-good browsers.
	knownKey []byte
	// dummyHash is checked when a user does not exist, so that a wrong
	// name costs as much time as a wrong password.
	dummyHash []byte
}

// asset is one embedded static file.
type asset struct {
	body    []byte
	version string // first hex digits of its SHA-256, for cache busting
}

// New parses the embedded templates and returns a UI. It starts nothing.
func New(cfg Config, deps Deps, logger *slog.Logger) (*UI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Deploy == nil || deps.Packages == nil || deps.PKI == nil || deps.Admin == nil || deps.Ops == nil {
		return nil, errors.New("ui: every dependency is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if deps.Auth == nil {
		a, err := auth.NewAuthenticator(auth.Config{}, deps.Store, deps.Admin, logger)
		if err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
		deps.Auth = a
	}
	u := &UI{cfg: cfg, deps: deps, log: logger.With("component", "ui"), now: time.Now}
	u.logins = ratelimit.NewLogins(cfg.loginConfig())
	u.authAudit = ratelimit.NewSampler(authAuditPerMinute)
	var err error
	if u.knownKey, err = knownKey(deps.PKI.SigningKey.Seed()); err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	if u.dummyHash, err = bcrypt.GenerateFromPassword([]byte("shoal-no-such-user"), cfg.PasswordCost); err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	if err := u.loadAssets(); err != nil {
		return nil, err
	}
	if err := u.parseTemplates(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *UI) loadAssets() error {
	u.assets = map[string]asset{}
	return fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return fmt.Errorf("ui: read asset %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		u.assets[path[len("static/"):]] = asset{body: b, version: hex.EncodeToString(sum[:6])}
		return nil
	})
}

// pageNames are the templates under templates/ that render whole pages.
var pageNames = []string{
	"login", "error", "dashboard", "computers", "computer", "packages", "package_new", "package",
	"affect", "status", "sites", "site", "groups", "group", "settings", "tokens", "users", "audit", "relays",
	"enrollment", "software", "software_title", "duplicates",
}

func (u *UI) parseTemplates() error {
	u.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(u.funcs()).ParseFS(templateFS,
			"templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("ui: parse template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return nil
}

// Paths of the UI.
const (
	loginPath  = "/login"
	logoutPath = "/logout"
	uiPrefix   = "/ui"
	homePath   = uiPrefix + "/"
	uploadPath = uiPrefix + "/packages"
)

// Register mounts the UI on e: "/" redirects to the dashboard, /login,
// /logout, /static/* and every page under /ui/.
func (u *UI) Register(e *echo.Echo) {
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, homePath) })
	e.GET("/static/:file", u.handleStatic, u.secure)
	e.HEAD("/static/:file", u.handleStatic, u.secure)
	e.GET(loginPath, u.handleLoginForm, u.secure, u.htmlErrors)
	e.POST(loginPath, u.handleLogin, u.secure, u.htmlErrors)
	e.POST(logoutPath, u.handleLogout, u.secure, u.htmlErrors)

	g := e.Group(uiPrefix, u.secure, u.htmlErrors, u.authenticate)
	g.GET("", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, homePath) })
	g.GET("/", u.handleDashboard)

	g.GET("/computers", u.handleComputers)
	g.GET("/computers/:id", u.handleComputer)
	g.POST("/computers/:id/tag", u.handleComputerTag)
	g.POST("/computers/:id/wake", u.handleComputerWake)

	g.GET("/packages", u.handlePackages)
	g.GET("/packages/new", u.handlePackageForm)
	g.POST("/packages", u.handleUpload)
	g.GET("/packages/:id", u.handlePackage)
	g.POST("/packages/:id/activate", u.handleActivate)
	g.POST("/packages/:id/deactivate", u.handleDeactivate)
	g.POST("/packages/:id/delete", u.handleDeletePackage)
	g.GET("/packages/:id/affect", u.handleAffectForm)
	g.POST("/packages/:id/affect", u.handleAffect)
	g.GET("/packages/:id/status", u.handleStatus)
	g.GET("/packages/:id/status.json", u.handleStatusJSON)
	g.POST("/deployments/:id/redeploy", u.handleRedeploy)
	g.POST("/deployments/:id/cancel", u.handleCancel)

	g.GET("/sites", u.handleSites)
	g.POST("/sites", u.handleCreateSite)
	g.POST("/sites/import", u.handleImportSites)
	g.GET("/sites/:id", u.handleSite)
	g.POST("/sites/:id", u.handleUpdateSite)
	g.POST("/sites/:id/delete", u.handleDeleteSite)

	g.GET("/groups", u.handleGroups)
	g.POST("/groups", u.handleCreateGroup)
	g.GET("/groups/:id", u.handleGroup)
	g.POST("/groups/:id/members", u.handleGroupMembers)
	g.POST("/groups/:id/timings", u.handleGroupTimings)
	g.POST("/groups/:id/delete", u.handleDeleteGroup)
	g.POST("/assignments", u.handleAssign)
	g.POST("/assignments/:id/delete", u.handleUnassign)
	g.POST("/assignments/:id/resume", u.handleResume)

	g.GET("/settings", u.handleSettings)
	g.POST("/settings", u.handleSaveSettings)

	g.GET("/tokens", u.handleTokens)
	g.POST("/tokens", u.handleCreateToken)
	g.POST("/tokens/:id/revoke", u.handleRevokeToken)

	g.GET("/users", u.handleUsers)
	g.POST("/users", u.handleCreateUser)
	g.POST("/users/:id", u.handleUpdateUser)
	g.POST("/users/:id/delete", u.handleDeleteUser)

	g.GET("/audit", u.handleAudit)

	u.registerRelays(g)
	u.registerEnrollment(g)
	u.registerComputerBulk(g)
	u.registerRoles(g)
	u.registerSoftware(g)
	u.registerHygiene(g)

	g.Any("/*", func(echo.Context) error { return errPageNotFound })
}

// secure sets the security headers of every UI response.
func (u *UI) secure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		return next(c)
	}
}

func (u *UI) handleStatic(c echo.Context) error {
	a, ok := u.assets[c.Param("file")]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such file")
	}
	ct := "application/octet-stream"
	switch ext(c.Param("file")) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	h := c.Response().Header()
	h.Set("ETag", `"`+a.version+`"`)
	if c.QueryParam("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if c.Request().Header.Get("If-None-Match") == `"`+a.version+`"` {
		return c.NoContent(http.StatusNotModified)
	}
	return c.Blob(http.StatusOK, ct, a.body)
}

func ext(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			return name[i:]
		}
	}
	return ""
}

// audit records an admin action in the audit log.
// actor is who makes the request's change, through the UI.
func (u *UI) actor(c echo.Context) audit.Actor {
	who := "unknown"
	if s := sessionOf(c); s != nil {
		who = s.UserName
	}
	return audit.Actor{Name: who, Remote: clientIP(c), Via: "web ui"}
}

func (u *UI) audit(c echo.Context, action, target, detail string) {
	u.deps.Ops.Record(c.Request().Context(), u.actor(c), action, target, detail)
}
