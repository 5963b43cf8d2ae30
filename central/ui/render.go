package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/httperr"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// The UI's own sentinel errors.
var (
	errBadRequest   = errkind.New(errkind.Invalid, "bad request")
	errForbidden    = errkind.New(errkind.Forbidden, "read-only users cannot change anything")
	errCSRF         = errkind.New(errkind.Forbidden, "the form has expired or did not come from this site; reload the page and try again")
	errUnauthorized = errkind.New(errkind.Unauthenticated, "log in first")
	errPageNotFound = errkind.New(errkind.NotFound, "there is no such page")
	errTooMany      = errkind.New(errkind.RateLimited, "too many login attempts; wait a minute and try again")
)

// userError is an error whose message is meant for the person using the UI.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// badInput returns a 400 error with a message for the user.
func badInput(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...), err: errBadRequest}
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int { return httperr.Status(err) }

// message returns what the user is told about err.
func message(err error, code int) string {
	var he *echo.HTTPError
	var ue *userError
	switch {
	case code >= 500:
		return "Something went wrong inside central. The details are in central's log."
	case errors.As(err, &ue):
		return ue.msg
	case errors.As(err, &he):
		return fmt.Sprint(he.Message)
	case errors.Is(err, errkind.NotFound):
		return "Not found: " + strings.TrimSuffix(err.Error(), ": not found")
	}
	msg := err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg
}

// htmlErrors renders the error a handler returns (or a panic) as a page.
func (u *UI) htmlErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				u.log.Error("panic in ui handler", "path", c.Request().URL.Path, "err", fmt.Sprint(r))
				u.renderError(c, errors.New("panic: "+fmt.Sprint(r)))
				err = nil
			}
		}()
		if err := next(c); err != nil {
			u.renderError(c, err)
		}
		return nil
	}
}

func (u *UI) renderError(c echo.Context, err error) {
	if c.Response().Committed {
		u.log.Warn("error after the response started", "path", c.Request().URL.Path, "err", err)
		return
	}
	code := statusOf(err)
	if code >= 500 {
		u.log.Error("ui error", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	} else {
		u.log.Debug("ui request refused", "method", c.Request().Method, "path", c.Request().URL.Path, "status", code, "err", err)
	}
	msg := message(err, code)
	if wantsJSON(c) {
		_ = c.JSON(code, map[string]string{"error": msg})
		return
	}
	_ = u.render(c, code, "error", "Error", "", map[string]any{"Code": code, "Status": http.StatusText(code), "Message": msg})
}

func wantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get("Accept"), "application/json")
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string
	User     string
	Role     string
	CSRF     string
	Admin    bool
	Flash    string
	FlashBad bool
	Refresh  int
	D        any
	// Can holds the user's permissions (central/auth), for the
	// templates to show only the actions it may take; Scoped is set for
	// a user limited to some sites or TAGs.
	Can    map[string]bool
	Scoped bool
}

// render executes the page template name with data into the response.
func (u *UI) render(c echo.Context, code int, name, title, nav string, data any) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("render: no template %q", name)
	}
	v := view{Title: title, Nav: nav, D: data, Refresh: u.cfg.RefreshSeconds}
	if s := sessionOf(c); s != nil {
		v.User, v.Role, v.CSRF, v.Admin = s.UserName, s.Role, s.CSRF, s.Role == store.RoleAdmin
		if p := principalOf(c); p != nil {
			v.Can = map[string]bool{}
			for _, perm := range p.Perms {
				v.Can[perm] = true
			}
			v.Scoped = p.Scoped()
		}
	}
	if f, ok := flashes[c.QueryParam("done")]; ok {
		v.Flash = f + movedFlash(c.QueryParam("moved"))
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	return c.HTMLBlob(code, buf.Bytes())
}

// fragment executes one named template of page name into a string.
func (u *UI) fragment(page, name string, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := u.pages[page].ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", page, name, err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // produced by html/template
}

// flashes are the fixed messages a redirect may ask for with ?done=.
var flashes = map[string]string{
	"created":        "The package was built and signed.",
	"activated":      "The package is active.",
	"deactivated":    "The package is no longer advertised.",
	"deleted":        "Deleted.",
	"role-saved":     "The role is saved; its users have its permissions from their next click.",
	"role-deleted":   "The role is deleted.",
	"affected":       "The package was affected to the selected computers.",
	"redeploy":       "The deployment will be offered again at the computer's next contact.",
	"cancelled":      "The deployment was cancelled.",
	"saved":          "Saved.",
	"bulk-tag":       "The TAG was set on the selected computers; OCS agents adopt it at their next inventory.",
	"bulk-deleted":   "The selected computers were deleted.",
	"search-saved":   "The search was saved.",
	"search-deleted": "The saved search was deleted.",
	"tag":            "The TAG was saved. An OCS agent adopts it at its next inventory.",
	"imported":       "The sites were imported.",
	"revoked":        "The token was revoked.",
	"purged":         "Every relay drops the package from its cache at its next poll.",
	"purged-kept":    "Relays drop the package from their cache at their next poll, except relays of sites where it still has unfinished deployments: they keep it until those finish.",
}

// movedFlash says how many computers a site change moved ("" when the
// parameter is absent or not a count).
func movedFlash(v string) string {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		return ""
	case n == 1:
		return " 1 computer whose last address is in the site's ranges moved to it at once."
	}
	return fmt.Sprintf(" %d computers whose last address is in the site's ranges moved to it at once.", n)
}

// seeOther redirects after a successful POST.
func seeOther(c echo.Context, url string) error {
	return c.Redirect(http.StatusSeeOther, url)
}
