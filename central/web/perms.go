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
// and refuses scoped callers: a new route is closed until it is listed
// (TestEveryRouteHasARule fails until it is).
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
	// The export, the history and the wakes are filtered by, or checked
	// against, the caller's scope.
	"GET /computers/export":      {auth.PermComputersRead, true},
	"GET /computers/:id/history": {auth.PermComputersRead, true},
	"GET /computers/:id/wakes":   {auth.PermComputersRead, true},
	"POST /computers/:id/wake":   {auth.PermDeploy, true},
	// Saved searches are the caller's own (shared ones are read by all);
	// a search always runs within the scope of whoever uses it. Saving
	// one is a change, which read-only callers never make.
	"GET /searches":        {auth.PermComputersRead, true},
	"GET /searches/:id":    {auth.PermComputersRead, true},
	"POST /searches":       {auth.PermComputersWrite, true},
	"PUT /searches/:id":    {auth.PermComputersWrite, true},
	"DELETE /searches/:id": {auth.PermComputersWrite, true},
	// The catalog counts only the caller's computers; the dictionary is
	// fleet-wide.
	"GET /software":                {auth.PermComputersRead, true},
	"GET /software/:key":           {auth.PermComputersRead, true},
	"GET /software/:key/computers": {auth.PermComputersRead, true},
	"GET /software/rules":          {auth.PermComputersRead, true},
	"POST /software/rules":         {auth.PermFleetWrite, false},
	"PUT /software/rules/:id":      {auth.PermFleetWrite, false},
	"DELETE /software/rules/:id":   {auth.PermFleetWrite, false},
	// Merges join two computers, possibly of different branches, and the
	// stale purge deletes computers fleet-wide: unscoped callers only.
	"GET /computers/merges":            {auth.PermComputersRead, false},
	"POST /computers/merges/:id/split": {auth.PermComputersWrite, false},
	"POST /computers/:id/merge":        {auth.PermComputersWrite, false},
	"GET /settings/stale-purge":        {auth.PermFleetRead, false},
	"PUT /settings/stale-purge":        {auth.PermComputersWrite, false},

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
	"PATCH /groups/:id":               {auth.PermFleetWrite, false},
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

	// Fleet-wide reading: fleet.read, unscoped callers only.
	"GET /stats":                           {auth.PermFleetRead, false},
	"GET /dashboard":                       {auth.PermFleetRead, false},
	"GET /tokens":                          {auth.PermFleetRead, false},
	"GET /audit":                           {auth.PermFleetRead, false},
	"GET /packages/:id/deployments":        {auth.PermFleetRead, false},
	"GET /packages/:id/deployment-counts":  {auth.PermFleetRead, false},
	"GET /packages/:id/completion":         {auth.PermFleetRead, false},
	"GET /packages/:id/bytes-by-site":      {auth.PermFleetRead, false},
	"GET /sites":                           {auth.PermFleetRead, false},
	"GET /sites/:id":                       {auth.PermFleetRead, false},
	"GET /groups":                          {auth.PermFleetRead, false},
	"GET /groups/:id":                      {auth.PermFleetRead, false},
	"GET /assignments":                     {auth.PermFleetRead, false},
	"GET /assignments/:id":                 {auth.PermFleetRead, false},
	"GET /relays":                          {auth.PermFleetRead, false},
	"GET /settings":                        {auth.PermFleetRead, false},
	"GET /agents/enrollment-tokens":        {auth.PermFleetRead, false},
	"POST /agents/enrollment-tokens":       {auth.PermAdmin, false},
	"DELETE /agents/enrollment-tokens/:id": {auth.PermAdmin, false},

	// Reading users and roles is fleet.read, as the users page is.
	"GET /users":        {auth.PermFleetRead, false},
	"POST /users":       {auth.PermAdmin, false},
	"PUT /users/:id":    {auth.PermAdmin, false},
	"DELETE /users/:id": {auth.PermAdmin, false},
	"GET /roles":        {auth.PermFleetRead, false},
	"POST /roles":       {auth.PermAdmin, false},
	"PUT /roles/:id":    {auth.PermAdmin, false},
	"DELETE /roles/:id": {auth.PermAdmin, false},
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
