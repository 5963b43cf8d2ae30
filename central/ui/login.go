package ui

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/internal/ratelimit"
)

// Login guarding. Every login attempt first passes u.logins: a limit per
// client address (any user), a limit per client address and user name, and
// a per-user back-off shared by every client that is not known good for
// that user. A known-good client is a browser that logged in as that user
// before: it holds knownCookie, the user name and an expiry signed with an
// HMAC key derived from central's signing key, set at each successful
// login. So an attacker guessing from one address is refused after a few
// guesses without locking the user out; guessing from many addresses sets
// off the back-off, which a fresh browser then also meets, but the user's
// own browser with the right password still gets in.
const (
	knownCookie = "__Host-shoal_known"
	// knownTTL is how long a browser stays known good after a login.
	knownTTL = 90 * 24 * time.Hour
	// authAuditPerMinute bounds the audit rows of failed logins and
	// per-client lock-outs; the rows past it are counted in the next one.
	authAuditPerMinute = 30
	// Audit actions of the login guard.
	actionLoginFailed = "ui.login.failed"
	actionLockout     = "ui.login.lockout"
)

// knownKey derives the HMAC key of knownCookie from central's signing key
// seed, so that cookies survive a restart and no other message can be
// confused with one.
func knownKey(seed []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, seed, nil, "shoal ui known-client cookie v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive cookie key: %w", err)
	}
	return k, nil
}

// knownValue is the signed value of knownCookie for user until exp.
func (u *UI) knownValue(user string, exp time.Time) string {
	msg := base64.RawURLEncoding.EncodeToString([]byte(ratelimit.UserKey(user))) + "." + strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, u.knownKey)
	m.Write([]byte(msg))
	return msg + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// knownGood reports whether the request carries a valid knownCookie for
// user.
func (u *UI) knownGood(c echo.Context, user string, now time.Time) bool {
	ck, err := c.Cookie(knownCookie)
	if err != nil {
		return false
	}
	parts := strings.Split(ck.Value, ".")
	if len(parts) != 3 {
		return false
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() > sec {
		return false
	}
	return hmac.Equal([]byte(ck.Value), []byte(u.knownValue(user, time.Unix(sec, 0))))
}

// setKnown marks the browser known good for user.
func (u *UI) setKnown(c echo.Context, user string, now time.Time) {
	setCookie(c, knownCookie, u.knownValue(user, now.Add(knownTTL)), int(knownTTL/time.Second))
}

// clientIP is the client's address: the TCP peer, or the address a trusted
// proxy forwarded when the echo instance has an IPExtractor (central's web
// server sets one from http.trusted_proxies). Without an extractor,
// forwarding headers are ignored: they would let a client pick its own
// rate-limit bucket.
func clientIP(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// auditLogin records a failed login or a lock-out. Rows are bounded: the
// start of a per-user back-off is always recorded (one row per lock-out),
// failed logins and per-client lock-outs share authAuditPerMinute.
func (u *UI) auditLogin(c echo.Context, action, user, detail string, always bool, now time.Time) {
	if !always {
		var ok bool
		if detail, ok = u.authAudit.Annotate(now, detail, "failed logins or lock-outs"); !ok {
			return
		}
	}
	u.deps.Ops.Record(c.Request().Context(), audit.Actor{Name: "anonymous", Remote: clientIP(c), Via: "web ui"}, action, user, detail)
}
