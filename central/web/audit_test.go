package web

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
)

// fakeAgents stands in for the agent API's admin routes (package
// agentapi): the audit middleware around them is what is tested here.
type fakeAgents struct{}

func (fakeAgents) Register(*echo.Group)      {}
func (fakeAgents) RegisterPublic(*echo.Echo) {}
func (fakeAgents) RegisterAdmin(g *echo.Group, m ...echo.MiddlewareFunc) {
	ag := g.Group("/agents", m...)
	ag.POST("/enrollment-tokens", func(c echo.Context) error { return c.JSON(http.StatusCreated, map[string]string{"token": "x"}) })
	ag.GET("/enrollment-tokens", func(c echo.Context) error { return c.JSON(http.StatusOK, []string{}) })
	ag.DELETE("/enrollment-tokens/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	ag.POST("/:computer/revoke", func(c echo.Context) error {
		if c.Param("computer") == "404" {
			return echo.NewHTTPError(http.StatusNotFound, "no such computer")
		}
		return c.NoContent(http.StatusNoContent)
	})
}

// TestAgentAdminAudited: changes made through the agent API's admin routes
// are in the audit log with their author; reads and failures are not.
func TestAgentAdminAudited(t *testing.T) {
	e := newEnvDeps(t, func(d *Deps) { d.Agents = fakeAgents{} })
	e.api("POST", "/api/v1/agents/enrollment-tokens", `{"name":"branch"}`, "basic", http.StatusCreated, nil)
	e.api("GET", "/api/v1/agents/enrollment-tokens", "", "basic", http.StatusOK, nil)
	e.api("DELETE", "/api/v1/agents/enrollment-tokens/7", "", "token", http.StatusNoContent, nil)
	e.api("POST", "/api/v1/agents/12/revoke", "", "basic", http.StatusNoContent, nil)
	e.api("POST", "/api/v1/agents/404/revoke", "", "basic", http.StatusNotFound, nil)

	evs, _, err := e.store.ListAudit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ action, target, actor string }
	var got []row
	for _, ev := range evs {
		if ev.Action == "token.create" {
			continue // newEnv's API token
		}
		got = append(got, row{ev.Action, ev.Target, ev.Actor})
	}
	want := map[row]bool{
		{"agents.enrollment-tokens.create", "", "admin"}:    true,
		{"agents.enrollment-tokens.delete", "7", "token:t"}: true,
		{"agents.revoke", "12", "admin"}:                    true,
	}
	if len(got) != len(want) {
		t.Fatalf("audit events %+v, want %d", got, len(want))
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected audit event %+v", r)
		}
	}
}

func TestAuditActionOf(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"POST", "/agents/enrollment-tokens", "agents.enrollment-tokens.create"},
		{"DELETE", "/agents/enrollment-tokens/:id", "agents.enrollment-tokens.delete"},
		{"POST", "/agents/:computer/revoke", "agents.revoke"},
		{"POST", "/agents/:computer/unrevoke", "agents.unrevoke"},
		{"PATCH", "/sites/:id", "sites.patch"},
	}
	for _, tt := range tests {
		if got := auditActionOf(tt.method, tt.path); got != tt.want {
			t.Errorf("auditActionOf(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}
