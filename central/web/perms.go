package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// rule is what an API route asks of its caller: a permission (empty: any
// authenticated caller) and whether a scoped caller (one limited to some
// sites or TAGs) may call it at all. Routes open to scoped callers check
// the computers they touch (inScope) or filter what they list.
type rule struct {
	perm   string
	scoped bool
}

// routeRules maps "METHOD path" (the echo route under /api/v1) to its
// rule. A route not listed needs fleet.read to read and admin to change,
// and refuses scoped callers: a new route is closed until it is listed.
var routeRules = map[string]rule{
	"GET /server":       {"", true},
	"GET /openapi.json": {"", true},
	"GET /result-codes": {"", true},
	// A token acts for the user who mints it, with at most its rights
	// (createToken checks), so shoalctl login works for every user.
	"POST /tokens": {"", true},

	"GET /computers":            {auth.PermComputersRead, true},
	"GET /computers/:id":        {auth.PermComputersRead, true},
	"GET /computers/:id/groups": {auth.PermComputersRead, true},
	"PUT /computers/:id/tag":    {auth.PermComputersWrite, true},
	"DELETE /computers/:id":     {auth.PermComputersWrite, true},
	"GET /deployments":          {auth.PermComputersRead, true},
	"GET /deployments/:id":      {auth.PermComputersRead, true},

	"GET /packages":                  {auth.PermPackagesRead, true},
	"GET /packages/:id":              {auth.PermPackagesRead, true},
	"GET /packages/:id/manifest":     {auth.PermPackagesRead, true},
	"POST /packages/:id/affect":      {auth.PermDeploy, true},
	"POST /deployments/:id/redeploy": {auth.PermDeploy, true},
	"POST /deployments/:id/cancel":   {auth.PermDeploy, true},

	"POST /packages":                {auth.PermPackagesWrite, false},
	"DELETE /packages/:id":          {auth.PermPackagesWrite, false},
	"POST /packages/:id/activate":   {auth.PermPackagesWrite, false},
	"POST /packages/:id/deactivate": {auth.PermPackagesWrite, false},
	"POST /packages/:id/redeploy":   {auth.PermDeploy, false},
	"POST /packages/:id/cancel":     {auth.PermDeploy, false},

	"POST /sites":                     {auth.PermFleetWrite, false},
	"POST /sites/import":              {auth.PermFleetWrite, false},
	"PUT /sites/:id":                  {auth.PermFleetWrite, false},
	"DELETE /sites/:id":               {auth.PermFleetWrite, false},
	"POST /groups":                    {auth.PermFleetWrite, false},
	"PUT /groups/:id":                 {auth.PermFleetWrite, false},
	"DELETE /groups/:id":              {auth.PermFleetWrite, false},
	"POST /groups/:id/members":        {auth.PermFleetWrite, false},
	"POST /groups/:id/members/remove": {auth.PermFleetWrite, false},
	"POST /assignments":               {auth.PermFleetWrite, false},
	"DELETE /assignments/:id":         {auth.PermFleetWrite, false},
	"POST /assignments/:id/resume":    {auth.PermFleetWrite, false},
	"DELETE /relays/:id":              {auth.PermFleetWrite, false},
	"POST /packages/:id/purge":        {auth.PermFleetWrite, false},
	"PUT /settings":                   {auth.PermFleetWrite, false},

	"POST /agents/:computer/revoke":   {auth.PermComputersWrite, false},
	"POST /agents/:computer/unrevoke": {auth.PermComputersWrite, false},

	"DELETE /tokens/:id": {auth.PermAdmin, false},
}

// ruleOf returns the rule of the route of c.
func ruleOf(method, path string) rule {
	if r, ok := routeRules[method+" "+path]; ok {
		return r
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return rule{perm: auth.PermFleetRead}
	}
	return rule{perm: auth.PermAdmin}
}

// errOutOfScope refuses a scoped caller a computer it may not see, or a
// fleet-wide route.
var errOutOfScope = errkind.New(errkind.Forbidden, "outside your scope")

// authorize checks p against the rule of the route being served.
func authorize(p *auth.Principal, method, path string) error {
	r := ruleOf(method, strings.TrimPrefix(path, "/api/v1"))
	if r.perm != "" && !p.Can(r.perm) {
		if p.Role == store.RoleReadonly {
			return errForbidden
		}
		return fmt.Errorf("role %s lacks permission %s: %w", p.Role, r.perm, errNoPermission)
	}
	if p.Scoped() && !r.scoped {
		return fmt.Errorf("%s %s is fleet-wide; your account is limited to some sites or TAGs: %w", method, path, errOutOfScope)
	}
	return nil
}

// principalOfCtx is the authenticated caller of the request.
func principalOfCtx(c echo.Context) *auth.Principal {
	p, _ := c.Get("principal").(*auth.Principal)
	return p
}

// scopeOf is the scope of the request's caller (the whole fleet when
// unscoped).
func scopeOf(c echo.Context) store.Scope {
	if p := principalOfCtx(c); p != nil {
		return p.Scope
	}
	return store.Scope{}
}

// inScope refuses a computer the caller may not see. A computer that does
// not exist is NotFound for an unscoped caller and out of scope for a
// scoped one, so that scoped callers learn nothing of other computers.
func (s *Server) inScope(c echo.Context, id uint) error {
	sc := scopeOf(c)
	if !sc.Limited() {
		return nil
	}
	ok, err := s.deps.Store.ComputerInScope(c.Request().Context(), id, sc)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("computer %d: %w", id, errOutOfScope)
	}
	return nil
}
