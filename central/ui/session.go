package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/ratelimit"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure, Path=/
// and no Domain.
const (
	sessionCookie = "__Host-shoal_session"
	loginCookie   = "__Host-shoal_login"
	csrfField     = "_csrf"
	csrfHeader    = "X-CSRF-Token"
	// touchEvery bounds how often a session's last activity is written.
	touchEvery = time.Minute
	// maxFormBytes bounds url-encoded form bodies.
	maxFormBytes = 1 << 20
)

// sessionOf returns the session of an authenticated request, or nil.
func sessionOf(c echo.Context) *store.UISession {
	s, _ := c.Get("ui.session").(*store.UISession)
	return s
}

// randomToken returns 32 random bytes, base64url encoded.
func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
}

// authenticate loads the session of a /ui request. Without a valid session
// pages redirect to the login form and everything else gets 401. Requests
// that change something must come from an admin and carry the session's
// CSRF token.
func (u *UI) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := u.session(c)
		if err != nil {
			return err
		}
		if sess == nil {
			r := c.Request()
			if r.Method == http.MethodGet && !wantsJSON(c) {
				return c.Redirect(http.StatusSeeOther, loginPath+"?next="+url.QueryEscape(r.URL.RequestURI()))
			}
			return errUnauthorized
		}
		c.Set("ui.session", sess)
		p, err := u.deps.Auth.Roles().User(c.Request().Context(), sess.UserName, sess.Role)
		if err != nil {
			return err
		}
		c.Set("ui.principal", p)
		if err := authorizeUI(p, c.Request().Method, c.Path()); err != nil {
			return err
		}
		if safeMethod(c.Request().Method) {
			return next(c)
		}
		if err := u.checkCSRF(c, sess.CSRF); err != nil {
			return err
		}
		return next(c)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF verifies the token of a state-changing request: the
// X-CSRF-Token header, or the _csrf field of a url-encoded form body (not
// the query string). A multipart upload without the header is checked by
// its handler, which must find the _csrf part before the file (see
// readUpload).
func (u *UI) checkCSRF(c echo.Context, want string) error {
	r := c.Request()
	if h := r.Header.Get(csrfHeader); h != "" {
		if !equalTokens(h, want) {
			return errCSRF
		}
		c.Set("ui.csrf_ok", true)
		return nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		if c.Path() != uploadPath {
			return errCSRF
		}
		return nil
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
	if !equalTokens(formCSRF(r), want) {
		return errCSRF
	}
	c.Set("ui.csrf_ok", true)
	return nil
}

// formCSRF is the _csrf field of the request body, never of the query
// string: a token in a URL leaks through logs, history and Referer, and a
// link could carry one.
func formCSRF(r *http.Request) string {
	return r.PostFormValue(csrfField)
}

// session returns the valid session named by the request's cookie, or nil.
func (u *UI) session(c echo.Context) (*store.UISession, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	sess, err := u.deps.Store.UISessionByHash(ctx, hashToken(ck.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := u.now()
	// A session of the built-in administrator opened before its password
	// was last set (SHOAL_ADMIN_PASSWORD at a restart) is over.
	stale := sess.UserName == u.deps.Admin.User && sess.CreatedAt.Before(u.deps.Admin.Changed)
	if stale || now.After(sess.ExpiresAt) || now.Sub(sess.LastSeen) > u.cfg.SessionIdle {
		if err := u.deps.Store.DeleteUISession(ctx, sess.Hash); err != nil {
			u.log.Warn("delete expired session", "err", err)
		}
		return nil, nil
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := u.deps.Store.TouchUISession(ctx, sess.ID, now); err != nil {
			u.log.Warn("touch session", "err", err)
		}
	}
	return sess, nil
}

// loginView is the data of the login page.
type loginView struct {
	Next   string
	User   string
	Errors map[string]string
	CSRF   string
}

// safeNext keeps a post-login redirect inside the UI.
func safeNext(next string) string {
	if strings.HasPrefix(next, homePath) && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") &&
		!strings.ContainsAny(next, "\r\n") {
		return next
	}
	return homePath
}

func (u *UI) handleLoginForm(c echo.Context) error {
	if s, err := u.session(c); err == nil && s != nil {
		return seeOther(c, homePath)
	}
	return u.renderLogin(c, http.StatusOK, loginView{Next: safeNext(c.QueryParam("next"))})
}

// renderLogin renders the login form with a fresh login CSRF cookie.
func (u *UI) renderLogin(c echo.Context, code int, v loginView) error {
	tok, err := randomToken()
	if err != nil {
		return err
	}
	setCookie(c, loginCookie, tok, 3600)
	v.CSRF = tok
	return u.render(c, code, "login", "Log in", "", v)
}

func (u *UI) handleLogin(c echo.Context) error {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
	ck, err := c.Cookie(loginCookie)
	if err != nil || !equalTokens(formCSRF(r), ck.Value) {
		return errCSRF
	}
	user := strings.TrimSpace(c.FormValue("user"))
	pass := c.FormValue("password")
	v := loginView{Next: safeNext(c.FormValue("next")), User: user, Errors: map[string]string{}}
	if user == "" {
		v.Errors["user"] = "Enter your user name."
	}
	if pass == "" {
		v.Errors["password"] = "Enter your password."
	}
	if len(v.Errors) > 0 {
		return u.renderLogin(c, http.StatusBadRequest, v)
	}
	now := u.now()
	ip := clientIP(c)
	switch d := u.logins.Check(ip, user, u.knownGood(c, user, now), now); d.Verdict {
	case ratelimit.ClientLimited:
		u.log.Warn("login rate limited", "user", user, "remote", ip)
		if d.First {
			u.auditLogin(c, actionLockout, user, "too many attempts from this address", false, now)
		}
		v.Errors["password"] = "Too many login attempts. Wait a minute and try again."
		return u.renderLogin(c, http.StatusTooManyRequests, v)
	case ratelimit.UserBackoff:
		u.log.Warn("login held back: too many attempts for this user", "user", user, "remote", ip)
		if d.First {
			u.auditLogin(c, actionLockout, user, "too many attempts for this user from unknown browsers; "+
				"only browsers that logged in as this user before may try now", true, now)
		}
		v.Errors["password"] = "Too many login attempts for this user. Wait a few minutes, " +
			"or log in from a browser you used before."
		return u.renderLogin(c, http.StatusTooManyRequests, v)
	}
	id, err := u.checkPassword(c, user, pass)
	role, userID := id.Role, id.UserID
	if err != nil {
		u.log.Info("login failed", "user", user, "remote", ip, "err", err)
		u.auditLogin(c, actionLoginFailed, user, "wrong user name or password: "+err.Error(), false, now)
		v.Errors["password"] = "Wrong user name or password."
		return u.renderLogin(c, http.StatusUnauthorized, v)
	}
	if _, err := u.deps.Store.PruneUISessions(r.Context(), now, now.Add(-u.cfg.SessionIdle)); err != nil {
		u.log.Warn("prune sessions", "err", err)
	}
	tok, err := randomToken()
	if err != nil {
		return err
	}
	csrf, err := randomToken()
	if err != nil {
		return err
	}
	sess := &store.UISession{Hash: hashToken(tok), UserName: user, Role: role, CSRF: csrf, Remote: ip,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(u.cfg.SessionTTL)}
	if err := u.deps.Store.CreateUISession(r.Context(), sess); err != nil {
		return err
	}
	if userID != 0 {
		if err := u.deps.Store.TouchUIUserLogin(r.Context(), userID, now); err != nil {
			u.log.Warn("record login", "err", err)
		}
	}
	setCookie(c, sessionCookie, tok, int(u.cfg.SessionTTL/time.Second))
	setCookie(c, loginCookie, "", -1)
	u.setKnown(c, user, now)
	c.Set("ui.session", sess)
	u.audit(c, "ui.login", user, "role "+role)
	return seeOther(c, v.Next)
}

// checkPassword checks user and pass: the built-in administrator against
// u.deps.Admin (which a restart may set anew), every other user through
// u.deps.Auth (local users, then LDAP).
func (u *UI) checkPassword(c echo.Context, user, pass string) (auth.Identity, error) {
	if user == pki.AdminUser {
		if !u.deps.Admin.Check(user, pass) {
			return auth.Identity{}, fmt.Errorf("wrong password of the built-in administrator: %w", auth.ErrBadCredentials)
		}
		return auth.Identity{Name: user, Role: store.RoleAdmin, Source: store.UserSourceLocal}, nil
	}
	return u.deps.Auth.Check(c.Request().Context(), user, pass)
}

func (u *UI) handleLogout(c echo.Context) error {
	sess, err := u.session(c)
	if err != nil {
		return err
	}
	if sess != nil {
		r := c.Request()
		r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
		if !equalTokens(formCSRF(r), sess.CSRF) && !equalTokens(r.Header.Get(csrfHeader), sess.CSRF) {
			return errCSRF
		}
		if err := u.deps.Store.DeleteUISession(r.Context(), sess.Hash); err != nil {
			return err
		}
		c.Set("ui.session", sess)
		u.audit(c, "ui.logout", sess.UserName, "")
	}
	setCookie(c, sessionCookie, "", -1)
	return seeOther(c, loginPath)
}
