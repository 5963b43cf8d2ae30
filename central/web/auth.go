package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
)

// Roles of API callers.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "readonly"
)

// tokenPrefix marks Shoal API tokens so that leaked ones are easy to find.
const tokenPrefix = "shoal_"

type principalKey struct{}

// principal is the authenticated caller of an API request.
type principal struct {
	Name string
	Role string
}

// NewToken returns a fresh random API token and the hash central stores.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken is how tokens are stored: SHA-256, hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authenticate accepts a Bearer API token, or the admin credential with HTTP
// Basic (so the admin can mint the first token). Read-only callers may only
// use safe methods.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.principalOf(c)
		if err != nil {
			return err
		}
		if p.Role != RoleAdmin {
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
			default:
				return errForbidden
			}
		}
		c.Set("principal", p)
		return next(c)
	}
}

func (s *Server) principalOf(c echo.Context) (*principal, error) {
	h := c.Request().Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		t, err := s.deps.Store.TokenByHash(c.Request().Context(), HashToken(tok))
		if err != nil || t.Revoked || (t.ExpiresAt != nil && time.Now().After(*t.ExpiresAt)) {
			return nil, errUnauthorized
		}
		_ = s.deps.Store.TouchToken(c.Request().Context(), t.ID, time.Now())
		return &principal{Name: "token:" + t.Name, Role: t.Role}, nil
	case strings.HasPrefix(h, "Basic "):
		user, pass, ok := c.Request().BasicAuth()
		if !ok || !s.deps.Admin.Check(user, pass) {
			return nil, errUnauthorized
		}
		return &principal{Name: user, Role: RoleAdmin}, nil
	}
	return nil, errUnauthorized
}

type tokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn string `json:"expires_in"` // Go duration, e.g. "720h"; empty = no expiry
}

type tokenResponse struct {
	ID        uint       `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Token     string     `json:"token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	Revoked   bool       `json:"revoked"`
}

func (s *Server) createToken(c echo.Context) error {
	var req tokenRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fmt.Errorf("name is required: %w", errBadRequest)
	}
	if req.Role == "" {
		req.Role = RoleAdmin
	}
	if req.Role != RoleAdmin && req.Role != RoleReadOnly {
		return fmt.Errorf("role must be %q or %q: %w", RoleAdmin, RoleReadOnly, errBadRequest)
	}
	tok, hash, err := NewToken()
	if err != nil {
		return err
	}
	t := &store.APIToken{Name: req.Name, Hash: hash, Role: req.Role}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return fmt.Errorf("expires_in must be a positive duration like 720h: %w", errBadRequest)
		}
		at := time.Now().Add(d)
		t.ExpiresAt = &at
	}
	if err := s.deps.Store.CreateToken(c.Request().Context(), t); err != nil {
		return err
	}
	s.audit(c, "token.create", t.Name)
	return c.JSON(http.StatusCreated, tokenResponse{ID: t.ID, Name: t.Name, Role: t.Role, Token: tok, ExpiresAt: t.ExpiresAt})
}

func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.deps.Store.ListTokens(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]tokenResponse, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenResponse{ID: t.ID, Name: t.Name, Role: t.Role, ExpiresAt: t.ExpiresAt, LastUsed: t.LastUsed, Revoked: t.Revoked})
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Store.RevokeToken(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "token.revoke", fmt.Sprint(id))
	return c.NoContent(http.StatusNoContent)
}

// audit logs an admin action with its author.
func (s *Server) audit(c echo.Context, action, target string) {
	who := "unknown"
	if p, ok := c.Get("principal").(*principal); ok {
		who = p.Name
	}
	s.log.Info("audit", "action", action, "target", target, "by", who, "remote", c.RealIP())
}
