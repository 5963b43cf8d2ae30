package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
)

// uiRule is what a UI route asks of its user: a permission (empty: any
// logged-in user) and whether a user limited to some sites or TAGs may
// open it at all (those routes check the computers they show or change).
type uiRule struct {
	perm   string
	scoped bool
}

// uiRules maps "METHOD path" (echo's route) to its rule. A route not
// listed needs fleet.read to read and admin to change, and is closed to
// scoped users (TestEveryUIRouteHasARule fails until it is listed).
var uiRules = map[string]uiRule{
	"GET /ui":                           {"", true},
	"GET /ui/":                          {"", true},
	"GET /ui/computers":                 {auth.PermComputersRead, true},
	"GET /ui/computers/:id":             {auth.PermComputersRead, true},
	"POST /ui/computers/:id/tag":        {auth.PermComputersWrite, true},
	"GET /ui/packages":                  {auth.PermPackagesRead, true},
	"GET /ui/packages/:id":              {auth.PermPackagesRead, true},
	"GET /ui/packages/:id/affect":       {auth.PermDeploy, true},
	"POST /ui/packages/:id/affect":      {auth.PermDeploy, true},
	"POST /ui/deployments/:id/redeploy": {auth.PermDeploy, true},
	"POST /ui/deployments/:id/cancel":   {auth.PermDeploy, true},
	"GET /ui/packages/new":              {auth.PermPackagesWrite, false},
	"POST /ui/packages":                 {auth.PermPackagesWrite, false},
	"POST /ui/packages/:id/activate":    {auth.PermPackagesWrite, false},
	"POST /ui/packages/:id/deactivate":  {auth.PermPackagesWrite, false},
	"POST /ui/packages/:id/delete":      {auth.PermPackagesWrite, false},
	"POST /ui/sites":                    {auth.PermFleetWrite, false},
	"POST /ui/sites/import":             {auth.PermFleetWrite, false},
	"POST /ui/sites/:id":                {auth.PermFleetWrite, false},
	"POST /ui/sites/:id/delete":         {auth.PermFleetWrite, false},
	"POST /ui/groups":                   {auth.PermFleetWrite, false},
	"POST /ui/groups/:id/members":       {auth.PermFleetWrite, false},
	"POST /ui/groups/:id/delete":        {auth.PermFleetWrite, false},
	"POST /ui/assignments":              {auth.PermFleetWrite, false},
	"POST /ui/assignments/:id/delete":   {auth.PermFleetWrite, false},
	"POST /ui/assignments/:id/resume":   {auth.PermFleetWrite, false},
	"POST /ui/settings":                 {auth.PermFleetWrite, false},
	"POST /ui/groups/:id/timings":       {auth.PermFleetWrite, false},

	// The CSV export, the saved searches and the catalog are filtered by
	// the user's scope; a bulk action checks each action's permission
	// and every ticked computer (bulkAllowed).
	"GET /ui/computers.csv":               {auth.PermComputersRead, true},
	"POST /ui/computers/bulk":             {"", true},
	"POST /ui/computers/:id/wake":         {auth.PermDeploy, true},
	"POST /ui/searches":                   {auth.PermComputersRead, true},
	"POST /ui/searches/:id/delete":        {auth.PermComputersRead, true},
	"GET /ui/software":                    {auth.PermComputersRead, true},
	"GET /ui/software.csv":                {auth.PermComputersRead, true},
	"GET /ui/software/:key":               {auth.PermComputersRead, true},
	"GET /ui/software/:key/computers.csv": {auth.PermComputersRead, true},
	"POST /ui/software/rules":             {auth.PermFleetWrite, false},
	"POST /ui/software/rules/:id":         {auth.PermFleetWrite, false},
	"POST /ui/software/rules/:id/delete":  {auth.PermFleetWrite, false},
	// Duplicates join computers of any branch; the purge deletes them
	// fleet-wide.
	"GET /ui/duplicates":        {auth.PermComputersRead, false},
	"POST /ui/duplicates/merge": {auth.PermComputersWrite, false},
	"POST /ui/duplicates/purge": {auth.PermComputersWrite, false},
	"POST /ui/merges/:id/split": {auth.PermComputersWrite, false},

	// Fleet-wide pages: fleet.read, unscoped users only.
	"GET /ui/audit":                    {auth.PermFleetRead, false},
	"GET /ui/enrollment":               {auth.PermFleetRead, false},
	"GET /ui/groups":                   {auth.PermFleetRead, false},
	"GET /ui/groups/:id":               {auth.PermFleetRead, false},
	"GET /ui/packages/:id/status":      {auth.PermFleetRead, false},
	"GET /ui/packages/:id/status.json": {auth.PermFleetRead, false},
	"GET /ui/relays":                   {auth.PermFleetRead, false},
	"GET /ui/settings":                 {auth.PermFleetRead, false},
	"GET /ui/sites":                    {auth.PermFleetRead, false},
	"GET /ui/sites/:id":                {auth.PermFleetRead, false},
	"GET /ui/tokens":                   {auth.PermFleetRead, false},
	"GET /ui/users":                    {auth.PermFleetRead, false},
	// Relays and their caches are fleet-wide (fleet.write, as in the
	// API); credentials and accounts are admin's.
	"POST /ui/relays/:id/delete":     {auth.PermFleetWrite, false},
	"POST /ui/packages/:id/purge":    {auth.PermFleetWrite, false},
	"POST /ui/relays/token":          {auth.PermAdmin, false},
	"POST /ui/enrollment":            {auth.PermAdmin, false},
	"POST /ui/enrollment/:id/revoke": {auth.PermAdmin, false},
	"POST /ui/tokens":                {auth.PermAdmin, false},
	"POST /ui/tokens/:id/revoke":     {auth.PermAdmin, false},
	"POST /ui/users":                 {auth.PermAdmin, false},
	"POST /ui/users/:id":             {auth.PermAdmin, false},
	"POST /ui/users/:id/delete":      {auth.PermAdmin, false},
	"POST /ui/roles":                 {auth.PermAdmin, false},
	"POST /ui/roles/:id":             {auth.PermAdmin, false},
	"POST /ui/roles/:id/delete":      {auth.PermAdmin, false},
}

// errOutOfScope refuses a scoped user a computer outside its sites and
// TAGs, or a fleet-wide page.
var errOutOfScope = errkind.New(errkind.Forbidden, "outside your scope: your account is limited to some sites or TAGs")

// errNoPermission refuses a user whose role lacks the page's permission.
var errNoPermission = errkind.New(errkind.Forbidden, "your role does not allow this")

func uiRuleOf(method, path string) uiRule {
	if r, ok := uiRules[method+" "+path]; ok {
		return r
	}
	if safeMethod(method) {
		return uiRule{perm: auth.PermFleetRead}
	}
	return uiRule{perm: auth.PermAdmin}
}

// authorizeUI checks p against the rule of the route being served.
func authorizeUI(p *auth.Principal, method, path string) error {
	r := uiRuleOf(method, path)
	if r.perm != "" && !p.Can(r.perm) {
		if p.Role == store.RoleReadonly {
			return errForbidden
		}
		return fmt.Errorf("permission %s: %w", r.perm, errNoPermission)
	}
	if p.Scoped() && !r.scoped {
		return errOutOfScope
	}
	return nil
}

// principalOf is the logged-in user of the request with its permissions
// and scope.
func principalOf(c echo.Context) *auth.Principal {
	p, _ := c.Get("ui.principal").(*auth.Principal)
	return p
}

// scopeOf is the scope of the request's user.
func scopeOf(c echo.Context) store.Scope {
	if p := principalOf(c); p != nil {
		return p.Scope
	}
	return store.Scope{}
}

// inScope refuses a computer the user may not see.
func (u *UI) inScope(c echo.Context, id uint) error {
	sc := scopeOf(c)
	if !sc.Limited() {
		return nil
	}
	ok, err := u.deps.Store.ComputerInScope(c.Request().Context(), id, sc)
	if err != nil {
		return err
	}
	if !ok {
		return errOutOfScope
	}
	return nil
}

// tagInScope refuses a TAG a user scoped by TAGs may not give.
func tagInScope(c echo.Context, tag string) error {
	if sc := scopeOf(c); len(sc.Tags) > 0 && !slices.Contains(sc.Tags, strings.TrimSpace(tag)) {
		return errOutOfScope
	}
	return nil
}

// can reports whether the request's user holds perm (for templates).
func can(c echo.Context, perm string) bool { return principalOf(c).Can(perm) }
