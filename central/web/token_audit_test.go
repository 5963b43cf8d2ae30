package web

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/store"
)

// TestEnrollmentTokenCreationAudited: creating an enrollment token through
// the REST API (the real agent API handlers) is audited with its author,
// its name as target and what it may enroll: kind, site, relay name, uses
// and expiry.
func TestEnrollmentTokenCreationAudited(t *testing.T) {
	e := newEnvDeps(t, func(d *Deps) {
		d.Agents = agentapi.New(agentapi.Config{}, d.Store, d.Deploy, d.Packages, d.PKI, slog.New(slog.DiscardHandler))
	})
	if err := e.store.CreateSite(t.Context(), &store.Site{Name: "branch"}); err != nil {
		t.Fatal(err)
	}
	e.api("POST", "/api/v1/agents/enrollment-tokens", `{"name":"branch relay","kind":"relay","site":"branch","relay_name":"r1","expires_in":"24h"}`,
		"basic", http.StatusCreated, nil)
	e.api("POST", "/api/v1/agents/enrollment-tokens", `{"name":"agents","max_uses":5}`, "token", http.StatusCreated, nil)
	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{Action: "agents.enrollment-tokens.create"})
	if err != nil || len(evs) != 2 {
		t.Fatalf("audit events %+v, %v", evs, err)
	}
	tests := []struct {
		name   string
		ev     store.AuditEvent
		target string
		actor  string
		detail []string
	}{
		{"agent-token", evs[0], "agents", "token:t", []string{"kind=agent ", "max_uses=5 ", "expires=never"}},
		{"relay-token", evs[1], "branch relay", "admin", []string{"kind=relay ", "site=branch ", "relay=r1 ", "max_uses=1 ", "expires=20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ev.Target != tt.target || tt.ev.Actor != tt.actor {
				t.Errorf("event %+v, want target %q by %q", tt.ev, tt.target, tt.actor)
			}
			for _, d := range tt.detail {
				if !strings.Contains(tt.ev.Detail, d) {
					t.Errorf("detail %q lacks %q", tt.ev.Detail, d)
				}
			}
		})
	}
}
