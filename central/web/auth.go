package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/internal/ratelimit"
	"github.com/shoal-project/shoal/proto/api"
)

// Roles of API callers.
const (
	RoleAdmin    = api.RoleAdmin
	RoleReadOnly = api.RoleReadOnly
)

// tokenPrefix marks Shoal API tokens so that leaked ones are easy to find.
const tokenPrefix = auth.APITokenPrefix

// HashToken is how tokens are stored: SHA-256, hex.
func HashToken(token string) string { return auth.HashSecret(token) }

// authenticate accepts a Bearer API token, or a user's password with HTTP
// Basic (so that shoalctl login can mint a token for any user), and then
// checks the route's permission and scope (perms.go).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.principalOf(c)
		if err != nil {
			return err
		}
		if err := authorize(p, c.Request().Method, c.Path()); err != nil {
			return err
		}
		c.Set("principal", p)
		return next(c)
	}
}

func (s *Server) principalOf(c echo.Context) (*auth.Principal, error) {
	h := c.Request().Header.Get("Authorization")
	ctx := c.Request().Context()
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		t, err := s.deps.Store.TokenByHash(ctx, HashToken(tok))
		if err != nil || t.Revoked || (t.ExpiresAt != nil && time.Now().After(*t.ExpiresAt)) {
			return nil, errUnauthorized
		}
		p, err := s.deps.Auth.Roles().Token(ctx, t)
		if errors.Is(err, auth.ErrUnknownUser) {
			return nil, errUnauthorized
		}
		if err != nil {
			return nil, err
		}
		_ = s.deps.Store.TouchToken(ctx, t.ID, time.Now())
		return p, nil
	case strings.HasPrefix(h, "Basic "):
		return s.basicPrincipal(c)
	}
	return nil, errUnauthorized
}

// basicPrincipal checks a user's password given with HTTP Basic. Each
// attempt costs a bcrypt check or a directory bind, so it first passes
// basicGuard, like the UI's login: per client address (c.RealIP honours
// trusted_proxies), per address and user, and per user for addresses that
// never authenticated as that user.
func (s *Server) basicPrincipal(c echo.Context) (*auth.Principal, error) {
	user, pass, ok := c.Request().BasicAuth()
	if !ok {
		return nil, errUnauthorized
	}
	now, ip := s.now(), c.RealIP()
	knownKey := ratelimit.UserKey(user) + "\x00" + ip
	switch d := s.basicGuard.Check(ip, user, s.basicKnown.Has(knownKey, now), now); d.Verdict {
	case ratelimit.ClientLimited:
		if d.First {
			s.auditAuth(c, "api.login.lockout", user, "too many password attempts from this address", false, now)
		}
		return nil, errRateLimited
	case ratelimit.UserBackoff:
		if d.First {
			s.auditAuth(c, "api.login.lockout", user, "too many password attempts for this user from unknown addresses; "+
				"only addresses that authenticated as this user before may try now", true, now)
		}
		return nil, errUserBackoff
	}
	ctx := c.Request().Context()
	id, err := s.deps.Auth.Check(ctx, user, pass)
	if err != nil {
		s.auditAuth(c, "api.login.failed", user, "wrong user name or password (HTTP Basic): "+err.Error(), false, now)
		return nil, errUnauthorized
	}
	s.basicKnown.Add(knownKey, now)
	p, err := s.deps.Auth.Roles().User(ctx, id.Name, id.Role)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// auditAuth records a failed password check or a lock-out, by "anonymous".
// Rows are bounded: the start of a per-user back-off is always recorded
// (one row per lock-out); failures and per-client lock-outs share
// authAudit, and a row says how many were left out before it.
func (s *Server) auditAuth(c echo.Context, action, user, detail string, always bool, now time.Time) {
	if !always {
		var ok bool
		if detail, ok = s.authAudit.Annotate(now, detail, "failures or lock-outs"); !ok {
			return
		}
	}
	s.deps.Ops.Record(c.Request().Context(), audit.Actor{Name: "anonymous", Remote: c.RealIP()}, action, user, detail)
}

func (s *Server) createToken(c echo.Context) error {
	p := principalOfCtx(c)
	// Minting needs a password (HTTP Basic) or an admin token: a token
	// cannot breed tokens that outlive its revocation.
	if _, _, basic := c.Request().BasicAuth(); !basic && !p.Can(auth.PermAdmin) {
		if p.Role == RoleReadOnly {
			return errForbidden
		}
		return fmt.Errorf("mint a token with your password (shoalctl login): %w", errNoPermission)
	}
	var req api.TokenRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = p.Role
	}
	ctx := c.Request().Context()
	perms, err := s.deps.Auth.Roles().Permissions(ctx, req.Role)
	if err != nil {
		return badRequest(err)
	}
	// A caller mints tokens for itself: never with a permission it lacks,
	// and a token of a user acts for that user (its scope, its current
	// role), so deleting the user ends its tokens.
	if !auth.Covers(p.Perms, p.Scope, perms, p.Scope) {
		return fmt.Errorf("role %s has permissions that %s lacks: %w", req.Role, p.Name, errNoPermission)
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return fmt.Errorf("expires_in must be a positive duration like 720h: %w", errBadRequest)
		}
		ttl = d
	}
	tok, t, err := s.deps.Ops.CreateAPIToken(ctx, s.actor(c), req.Name, req.Role, s.tokenOwner(c), ttl)
	if err != nil {
		return err
	}
	out := toAPIToken(t)
	out.Token = tok
	return c.JSON(http.StatusCreated, out)
}

// tokenOwner is the user a token minted by the request's caller acts
// for: the user who logged in with HTTP Basic, the owner of the token
// used, or none for the built-in administrator and its tokens.
func (s *Server) tokenOwner(c echo.Context) string {
	if user, _, ok := c.Request().BasicAuth(); ok {
		if user == pki.AdminUser {
			return ""
		}
		return user
	}
	h := c.Request().Header.Get("Authorization")
	if t, err := s.deps.Store.TokenByHash(c.Request().Context(), HashToken(strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")))); err == nil {
		return t.Owner
	}
	return ""
}

func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.deps.Store.ListTokens(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Token]{Items: convertAll(ts, toAPIToken), Total: int64(len(ts)), Limit: len(ts)})
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Ops.RevokeAPIToken(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// auditChanges audits every successful change made through routes that
// another package handles (the agent API's admin routes): the action is
// named after the route, the target is its last parameter.
func (s *Server) auditChanges(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		m := c.Request().Method
		if err != nil || m == http.MethodGet || m == http.MethodHead || c.Response().Status >= 300 {
			return err
		}
		target := ""
		if vals := c.ParamValues(); len(vals) > 0 {
			target = vals[len(vals)-1]
		}
		// The handler may name its target and detail (what an
		// enrollment token may enroll).
		if v, ok := c.Get(audit.TargetKey).(string); ok {
			target = v
		}
		detail, _ := c.Get(audit.DetailKey).(string)
		s.audit(c, auditActionOf(m, strings.TrimPrefix(c.Path(), api.BasePath)), target, detail)
		return nil
	}
}

// auditActionOf names a change by its route's static segments and what it
// does: "POST /agents/enrollment-tokens" is "agents.enrollment-tokens.create",
// "DELETE /agents/enrollment-tokens/:id" is
// "agents.enrollment-tokens.delete", and an action on an item, "POST
// /agents/:computer/revoke", is "agents.revoke".
func auditActionOf(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var parts []string
	for _, p := range segs {
		if p != "" && !strings.HasPrefix(p, ":") {
			parts = append(parts, p)
		}
	}
	n := len(segs)
	switch {
	case method == http.MethodPost && n > 1 && strings.HasPrefix(segs[n-2], ":"):
		// An action on an item, named by its last segment.
	case method == http.MethodPost:
		parts = append(parts, "create")
	case method == http.MethodDelete:
		parts = append(parts, "delete")
	default:
		parts = append(parts, strings.ToLower(method))
	}
	return strings.Join(parts, ".")
}

// audit records an admin action with its author in the audit log (and the
// process log). The action has already happened, so a failed write is
// logged, not returned; it is written even if the client went away.
// actor is who makes the request's change.
func (s *Server) actor(c echo.Context) audit.Actor {
	who := "unknown"
	if p := principalOfCtx(c); p != nil {
		who = p.Name
	}
	return audit.Actor{Name: who, Remote: c.RealIP()}
}

func (s *Server) audit(c echo.Context, action, target, detail string) {
	s.deps.Ops.Record(c.Request().Context(), s.actor(c), action, target, detail)
}
