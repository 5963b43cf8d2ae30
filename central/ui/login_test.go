package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
)

// auditCount counts the audit rows of action.
func auditCount(t *testing.T, e *env, action string) int64 {
	t.Helper()
	_, n, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: action, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sessionCount counts the UI sessions.
func sessionCount(t *testing.T, e *env) int64 {
	t.Helper()
	rows, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rows["ui_sessions"]
}

// TestGuessingFromOneAddressDoesNotLockOutTheAdmin: an attacker guessing
// the admin password from one address is refused after a few guesses; the
// admin, from another address and a browser that never logged in, gets in.
func TestGuessingFromOneAddressDoesNotLockOutTheAdmin(t *testing.T) {
	e := newEnv(t, Config{})
	e.setClock(time.Now()) // frozen: no token comes back during the test
	attacker := e.browser()
	attacker.from = "203.0.113.66"
	var codes []int
	for range 20 {
		codes = append(codes, attacker.tryLogin("admin", "guess").code)
	}
	limit := e.ui.cfg.LoginPerUserPerMinute
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= limit {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Fatalf("guess %d: status %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	if n := sessionCount(t, e); n != 0 {
		t.Fatalf("%d sessions after the attack, want 0", n)
	}
	if n := auditCount(t, e, actionLoginFailed); n != int64(limit) {
		t.Errorf("%d failed logins audited, want %d", n, limit)
	}
	if n := auditCount(t, e, actionLockout); n != 1 {
		t.Errorf("%d lock-outs audited, want 1 (one per lock-out)", n)
	}
	events, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: actionLockout})
	if err != nil || len(events) != 1 || events[0].Remote != "203.0.113.66" || events[0].Target != "admin" {
		t.Errorf("lock-out audit rows %+v (err %v), want one for admin from 203.0.113.66", events, err)
	}

	admin := e.browser()
	admin.from = "198.51.100.10"
	admin.login("admin", adminPassword)
	wantCode(t, "admin's page", admin.get(homePath), http.StatusOK)
}

// TestBackoffAcrossAddresses: guesses from many addresses set off the
// per-user back-off, which then refuses even the right password from a
// browser that never logged in, lets the admin's own browser in, and lets
// the whole botnet through only at the back-off's rate.
func TestBackoffAcrossAddresses(t *testing.T) {
	// A small back-off: each guess at the admin costs a bcrypt check, slow
	// under the race detector.
	e := newEnv(t, Config{LoginPerUserPerMinute: 3, LoginBackoffPerMinute: 4, LoginBackoffBurst: 10})
	start := time.Now()
	e.setClock(start)
	cfg := e.ui.cfg

	own := e.browser() // the admin's browser: logged in before
	own.from = "192.0.2.10"
	own.login("admin", adminPassword)
	r := own.post(uiPrefix+"/users", url.Values{"name": {"viewer"}, "role": {"readonly"},
		"password": {"viewer-password-1"}, "confirm": {"viewer-password-1"}}, true)
	wantCode(t, "create read-only user", r, http.StatusSeeOther)
	wantCode(t, "logout", own.post(logoutPath, nil, true), http.StatusSeeOther)

	addr := 0
	guess := func(pass string) int {
		addr++
		b := e.browser()
		b.from = fmt.Sprintf("10.%d.%d.%d", addr>>16&255, addr>>8&255, addr&255)
		return b.tryLogin("admin", pass).code
	}
	// The back-off's burst is spent by guesses from as many addresses,
	// one guess each; the admin's first login above spent one too (the
	// browser was not known good yet).
	allowed := 0
	for guess("guess") == http.StatusUnauthorized {
		allowed++
		if allowed > cfg.LoginBackoffBurst {
			break
		}
	}
	if allowed != cfg.LoginBackoffBurst-1 {
		t.Fatalf("held back after %d guesses from distinct addresses, want %d", allowed, cfg.LoginBackoffBurst-1)
	}
	tests := []struct {
		name     string
		browser  func() *browser
		pass     string
		wantCode int
	}{
		{"fresh-browser-right-password", func() *browser { b := e.browser(); b.from = "10.200.0.1"; return b }, adminPassword, http.StatusTooManyRequests},
		{"fresh-browser-wrong-password", func() *browser { b := e.browser(); b.from = "10.200.0.2"; return b }, "guess", http.StatusTooManyRequests},
		{"forged-known-cookie", func() *browser {
			b := e.browser()
			b.from = "10.200.0.3"
			u, _ := url.Parse(e.srv.URL)
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: knownCookie, Value: e.ui.knownValue("admin", start.Add(time.Hour)) + "x"}})
			return b
		}, adminPassword, http.StatusTooManyRequests},
		{"known-good-for-another-user", func() *browser {
			b := e.browser()
			b.from = "10.200.0.4"
			b.login("viewer", "viewer-password-1")
			wantCode(t, "viewer logout", b.post(logoutPath, nil, true), http.StatusSeeOther)
			return b
		}, adminPassword, http.StatusTooManyRequests},
		{"admins-own-browser-new-address", func() *browser { own.from = "192.0.2.99"; return own }, adminPassword, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.browser().tryLogin("admin", tt.pass)
			wantCode(t, "login", r, tt.wantCode)
			if tt.wantCode == http.StatusTooManyRequests {
				wantBody(t, "login", r, "log in from a browser you used before")
			}
		})
	}
	if n := auditCount(t, e, actionLockout); n != 1 {
		t.Errorf("%d lock-outs audited, want 1 (one per lock-out)", n)
	}
	if n := auditCount(t, e, actionLoginFailed); n > authAuditPerMinute {
		t.Errorf("%d failed logins audited in a minute, bound %d", n, authAuditPerMinute)
	}

	// A minute later the botnet gets the back-off's rate, not more.
	e.setClock(start.Add(time.Minute))
	allowed = 0
	for guess("guess") == http.StatusUnauthorized {
		allowed++
		if allowed > cfg.LoginBackoffPerMinute {
			break
		}
	}
	if allowed != cfg.LoginBackoffPerMinute {
		t.Errorf("%d guesses from distinct addresses in the next minute, want %d", allowed, cfg.LoginBackoffPerMinute)
	}
	if n := auditCount(t, e, actionLockout); n != 1 {
		t.Errorf("%d lock-outs audited, want 1: the attack kept the back-off on, one lock-out", n)
	}
	t.Logf("per-user back-off: %d guesses at once, then %d a minute from any number of addresses",
		cfg.LoginBackoffBurst, cfg.LoginBackoffPerMinute)
}

// TestCSRFTokenInQueryRefused sends the right CSRF token in the query string
// only: refused, nothing changed.
func TestCSRFTokenInQueryRefused(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	before, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	q := "?" + url.Values{csrfField: {b.csrf}}.Encode()
	site := url.Values{"name": {"hq"}, "cidrs": {"10.1.0.0/16"}}
	wantCode(t, "create site, token in the query", b.post(uiPrefix+"/sites"+q, site, false), http.StatusForbidden)
	wantCode(t, "logout, token in the query", b.post(logoutPath+q, nil, false), http.StatusForbidden)
	after, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("refused requests changed rows (-before +after):\n%s", diff)
	}
	wantCode(t, "still logged in", b.get(homePath), http.StatusOK)

	// The login form's token in the query string is refused too.
	fresh := e.browser()
	fresh.get(loginPath)
	r := fresh.post(loginPath+"?"+url.Values{csrfField: {fresh.csrf}}.Encode(),
		url.Values{"user": {"admin"}, "password": {adminPassword}}, false)
	wantCode(t, "login, token in the query", r, http.StatusForbidden)
}

// TestPasswordChangeEndsOtherSessions: a user logged in twice changes the
// password in one session; the other session is over (redirect to the
// login form, 401 for a change) and the one that made the change goes on.
// An admin changing someone's password ends all of that user's sessions.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	e := newEnv(t, Config{})
	admin := e.browser()
	admin.login("admin", adminPassword)
	r := admin.post(uiPrefix+"/users", url.Values{"name": {"alice"}, "role": {"admin"},
		"password": {"alice-password-1"}, "confirm": {"alice-password-1"}}, true)
	wantCode(t, "create alice", r, http.StatusSeeOther)
	alice, err := e.store.UIUserByName(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	userPath := fmt.Sprintf("%s/users/%d", uiPrefix, alice.ID)

	laptop, stolen := e.browser(), e.browser()
	laptop.login("alice", "alice-password-1")
	stolen.login("alice", "alice-password-1")
	r = laptop.post(userPath, url.Values{"role": {"admin"}, "password": {"alice-password-2"}, "confirm": {"alice-password-2"}}, true)
	wantCode(t, "change own password", r, http.StatusSeeOther)

	wantCode(t, "the changing session goes on", laptop.get(homePath), http.StatusOK)
	r = stolen.get(homePath)
	wantCode(t, "the other session", r, http.StatusSeeOther)
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, loginPath) {
		t.Errorf("the other session is sent to %q, want the login form", loc)
	}
	before, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r = stolen.post(uiPrefix+"/sites", url.Values{"name": {"evil"}, "cidrs": {"10.9.0.0/16"}}, true)
	wantCode(t, "a change from the other session", r, http.StatusUnauthorized)
	after, err := e.store.CountRows(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the ended session changed rows (-before +after):\n%s", diff)
	}
	wantCode(t, "old password", stolen.tryLogin("alice", "alice-password-1"), http.StatusUnauthorized)

	// The admin resets alice's password: both of her sessions end, the
	// admin's does not.
	stolen.login("alice", "alice-password-2")
	r = admin.post(userPath, url.Values{"role": {"admin"}, "password": {"alice-password-3"}, "confirm": {"alice-password-3"}}, true)
	wantCode(t, "admin resets alice's password", r, http.StatusSeeOther)
	wantCode(t, "alice's laptop", laptop.get(homePath), http.StatusSeeOther)
	wantCode(t, "alice's other browser", stolen.get(homePath), http.StatusSeeOther)
	wantCode(t, "the admin's session", admin.get(homePath), http.StatusOK)

	// A session kept through its own change takes the new role.
	laptop.login("alice", "alice-password-3")
	wantCode(t, "alice demotes herself", laptop.post(userPath, url.Values{"role": {"readonly"}}, true), http.StatusSeeOther)
	laptop.get(homePath)
	r = laptop.post(uiPrefix+"/sites", url.Values{"name": {"x"}, "cidrs": {"10.8.0.0/16"}}, true)
	wantCode(t, "a change after the demotion", r, http.StatusForbidden)
}

// TestAdminPasswordChangeEndsSessions: central restarts with a new
// SHOAL_ADMIN_PASSWORD; the built-in administrator's sessions opened with
// the old one are over, a login with the new one works.
func TestAdminPasswordChangeEndsSessions(t *testing.T) {
	e := newEnv(t, Config{})
	old := e.browser()
	old.login("admin", adminPassword)
	// What the restart does: the credential is set anew (with its change
	// time) and the UI is built on the same database.
	admin, _, err := pki.LoadAdmin(t.TempDir(), "admin-password-after-restart")
	if err != nil {
		t.Fatal(err)
	}
	e.ui.deps.Admin = admin
	wantCode(t, "session from before the change", old.get(homePath), http.StatusSeeOther)
	wantCode(t, "old password", e.browser().tryLogin("admin", adminPassword), http.StatusUnauthorized)
	fresh := e.browser()
	fresh.login("admin", "admin-password-after-restart")
	wantCode(t, "session after the change", fresh.get(homePath), http.StatusOK)
}

// TestFailedLoginAuditBounded: a flood of failed logins from many addresses
// writes at most authAuditPerMinute audit rows a minute; the next row says
// how many were left out.
func TestFailedLoginAuditBounded(t *testing.T) {
	e := newEnv(t, Config{})
	start := time.Now()
	e.setClock(start)
	const flood = 3 * authAuditPerMinute
	for i := range flood {
		b := e.browser()
		b.from = fmt.Sprintf("10.3.%d.%d", i/256, i%256)
		wantCode(t, "guess", b.tryLogin(fmt.Sprintf("user%d", i), "guess"), http.StatusUnauthorized)
	}
	if n := auditCount(t, e, actionLoginFailed); n != authAuditPerMinute {
		t.Fatalf("%d failed logins audited, want %d", n, authAuditPerMinute)
	}
	e.setClock(start.Add(time.Minute))
	b := e.browser()
	b.from = "10.4.0.1"
	wantCode(t, "guess a minute later", b.tryLogin("late", "guess"), http.StatusUnauthorized)
	events, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: actionLoginFailed, Target: "late"})
	if err != nil || len(events) != 1 {
		t.Fatalf("audit rows of the late guess: %+v (err %v), want 1", events, err)
	}
	want := fmt.Sprintf("(%d earlier failed logins or lock-outs not recorded one by one)", flood-authAuditPerMinute)
	if !strings.Contains(events[0].Detail, want) || events[0].Remote != "10.4.0.1" {
		t.Errorf("late row %+v, want detail with %q from 10.4.0.1", events[0], want)
	}
}
