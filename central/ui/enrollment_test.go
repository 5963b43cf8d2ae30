package ui

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
)

// TestEnrollmentTokenForm: an admin mints an agent enrollment token on the
// Enrollment page; it is shown once with the Linux enroll command and the
// Windows msiexec line (SERVER, CA_FINGERPRINT and TOKEN), audited, and
// needs the CSRF token. Bad input is refused and creates nothing; revoking
// is audited. itest TestWindowsMSIUnderWine runs the printed line.
func TestEnrollmentTokenForm(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	wantBody(t, "empty page", b.get(uiPrefix+"/enrollment"), `action="/ui/enrollment"`, "No agent enrollment token yet")

	tests := []struct {
		name string
		form url.Values
	}{
		{"no-name", url.Values{"name": {" "}, "max_uses": {""}, "expires_hours": {"24"}}},
		{"bad-uses", url.Values{"name": {"desktops"}, "max_uses": {"-1"}, "expires_hours": {"24"}}},
		{"bad-expiry", url.Values{"name": {"desktops"}, "max_uses": {""}, "expires_hours": {"0"}}},
		{"huge-expiry", url.Values{"name": {"desktops"}, "max_uses": {""}, "expires_hours": {"99999999999999999999"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, b.post(uiPrefix+"/enrollment", tt.form, true), http.StatusBadRequest)
		})
	}
	form := url.Values{"name": {"branch desktops"}, "max_uses": {"10"}, "expires_hours": {"48"}}
	wantCode(t, "without csrf", b.post(uiPrefix+"/enrollment", form, false), http.StatusForbidden)
	if toks, err := e.store.ListEnrollmentTokens(t.Context()); err != nil || len(toks) != 0 {
		t.Fatalf("tokens after refusals: %+v, %v", toks, err)
	}

	r := b.post(uiPrefix+"/enrollment", form, true)
	wantCode(t, "create", r, http.StatusCreated)
	fp := e.ui.deps.PKI.CAFingerprint()
	line := regexp.MustCompile(`<pre class="cmd" id="msiexec-command">([^<]*)</pre>`).FindStringSubmatch(r.body)
	if line == nil || !regexp.MustCompile(`^msiexec /i shoal-agent-amd64\.msi /qn SERVER=https://&lt;central&gt;:&lt;https-port&gt; CA_FINGERPRINT=`+fp+` TOKEN=shoalenroll_[A-Za-z0-9_-]+$`).MatchString(line[1]) {
		t.Fatalf("msiexec line %q", line)
	}
	wantBody(t, "created token", r, "shoal-agent enroll -server https://&lt;central&gt;:&lt;https-port&gt; -token shoalenroll_", "-ca-fingerprint "+fp)
	toks, err := e.store.ListEnrollmentTokens(t.Context())
	if err != nil || len(toks) != 1 || toks[0].KindOrAgent() != store.TokenKindAgent || toks[0].MaxUses != 10 || toks[0].ExpiresAt == nil {
		t.Fatalf("tokens %+v, %v", toks, err)
	}
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "agents.enrollment-tokens.create"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "admin" || !strings.Contains(evs[0].Detail, "kind=agent") {
		t.Errorf("audit %+v, %v", evs, err)
	}
	page := b.get(uiPrefix + "/enrollment")
	if strings.Contains(page.body, "shoalenroll_") {
		t.Error("the page shows the token again")
	}
	wantBody(t, "listed", page, "branch desktops", "0 of 10", "usable")

	wantCode(t, "revoke without csrf", b.post(uiPrefix+"/enrollment/1/revoke", nil, false), http.StatusForbidden)
	wantCode(t, "revoke", b.post(uiPrefix+"/enrollment/1/revoke", nil, true), http.StatusSeeOther)
	wantCode(t, "revoke unknown", b.post(uiPrefix+"/enrollment/99/revoke", nil, true), http.StatusNotFound)
	wantBody(t, "revoked", b.get(uiPrefix+"/enrollment"), "revoked")
	if evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "agents.enrollment-tokens.revoke"}); err != nil || len(evs) != 1 {
		t.Errorf("revoke audit %+v, %v", evs, err)
	}
}
