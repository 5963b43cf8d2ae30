package ui

import (
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestEveryUIRouteHasARule checks that every UI route is listed in
// uiRules: the default (fleet.read to read, admin to change, closed to
// scoped users) is safe, but a new page should be placed on purpose.
func TestEveryUIRouteHasARule(t *testing.T) {
	e := newEnv(t, Config{})
	ec := echo.New()
	e.ui.Register(ec)
	n := 0
	for _, r := range ec.Routes() {
		if r.Path != uiPrefix && !strings.HasPrefix(r.Path, uiPrefix+"/") || r.Path == uiPrefix+"/*" || r.Method == echo.RouteNotFound {
			continue
		}
		n++
		if _, ok := uiRules[r.Method+" "+r.Path]; !ok {
			t.Errorf("UI route %s %s has no rule in uiRules (central/ui/perms.go): give it a permission and say whether scoped users may open it", r.Method, r.Path)
		}
	}
	if n < 50 {
		t.Fatalf("only %d UI routes registered; the test does not see them", n)
	}
}
