package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/store"
)

// TestRelayTokenForm: an admin mints a relay token on the Relays page; it
// is bound to the chosen site and name, shown once with its shoal-relay
// command, audited with its targets, and needs the CSRF token. A bad name
// or unknown site is refused and creates nothing.
func TestRelayTokenForm(t *testing.T) {
	e := newEnv(t, Config{})
	if err := e.store.CreateSite(t.Context(), &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("admin", adminPassword)
	wantBody(t, "relays page", b.get(uiPrefix+"/relays"), `action="/ui/relays/token"`, `<option value="branch"`)

	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"bad-name", url.Values{"site": {"branch"}, "name": {"../r1"}, "expires_hours": {"24"}}, http.StatusBadRequest},
		{"unknown-site", url.Values{"site": {"nowhere"}, "name": {"r1"}, "expires_hours": {"24"}}, http.StatusBadRequest},
		{"bad-expiry", url.Values{"site": {"branch"}, "name": {"r1"}, "expires_hours": {"0"}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, b.post(uiPrefix+"/relays/token", tt.form, true), tt.want)
		})
	}
	form := url.Values{"site": {"branch"}, "name": {"r1"}, "expires_hours": {"24"}}
	wantCode(t, "without csrf", b.post(uiPrefix+"/relays/token", form, false), http.StatusForbidden)
	if toks, err := e.store.ListEnrollmentTokens(t.Context()); err != nil || len(toks) != 0 {
		t.Fatalf("tokens after refusals: %+v, %v", toks, err)
	}

	r := b.post(uiPrefix+"/relays/token", form, true)
	wantCode(t, "create", r, http.StatusCreated)
	wantBody(t, "created token", r, "shoalenroll_", "shoal-relay enroll -server https://&lt;central&gt;:&lt;https-port&gt; -token shoalenroll_", "-site branch -name r1")
	toks, err := e.store.ListEnrollmentTokens(t.Context())
	if err != nil || len(toks) != 1 || toks[0].Kind != store.TokenKindRelay || toks[0].RelayName != "r1" || toks[0].MaxUses != 1 || toks[0].ExpiresAt == nil {
		t.Fatalf("tokens %+v, %v", toks, err)
	}
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "agents.enrollment-tokens.create"})
	if err != nil || len(evs) != 1 || evs[0].Actor != "admin" || !strings.Contains(evs[0].Detail, "kind=relay site=branch relay=r1 max_uses=1") {
		t.Errorf("audit %+v, %v", evs, err)
	}
	// Shown once: the page does not show it again.
	if body := b.get(uiPrefix + "/relays").body; strings.Contains(body, "shoalenroll_") {
		t.Error("the relays page shows the token again")
	}
}
