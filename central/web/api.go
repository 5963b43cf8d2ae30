package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// pageParams are the query parameters of every list.
func pageParams() []param {
	return []param{
		{Name: "limit", Desc: "page size, 1..1000 (default 50)", Int: true},
		{Name: "offset", Desc: "items to skip", Int: true},
	}
}

func computerParams() []param {
	desc := map[string]string{
		api.QueryName: "part of the name, any case", api.QueryOS: "part of the OS name, any case",
		api.QuerySoftware: "part of an installed software's name", api.QuerySoftwareVersion: "that software's version, version-aware: 24.00 (equal, so 24.0 matches too) or a comparison such as < 24.00, >= 8.6, != 1.2",
		api.QueryNoSoftware: "part of the name of a software the computers must not have",
		api.QueryIP:         "an address or a CIDR prefix", api.QueryTag: "the OCS TAG", api.QuerySite: "site id",
		api.QueryContactSince:  "last contact at or after: RFC 3339, a date, or a duration before now such as 24h",
		api.QueryContactBefore: "last contact before: RFC 3339, a date, or a duration before now",
	}
	var out []param
	for _, n := range api.ComputerFilterParams() {
		out = append(out, param{Name: n, Desc: desc[n]})
	}
	out = append(out, param{Name: api.QuerySavedSearch, Desc: "a saved search (id or name) whose criteria apply; parameters given beside it win"})
	return append(out, pageParams()...)
}

func deploymentParams() []param {
	return []param{
		{Name: "state", Desc: "one deployment state"},
		{Name: "site", Desc: "site id of the computers, or 'none'"},
	}
}

// apiRoutes is the REST API. openapi is the handler of the OpenAPI
// document, which is built from this very table.
func (s *Server) apiRoutes(openapi echo.HandlerFunc) []route {
	with := slices.Concat[[]param]
	return []route{
		{Method: "GET", Path: "/server", Handler: s.serverInfo, Summary: "Central's identity, default locations and the caller", Tag: "server", Resp: api.ServerInfo{}, Status: 200},
		{Method: "GET", Path: "/stats", Handler: s.stats, Summary: "Row counts and download counters", Tag: "server", Resp: api.Stats{}, Status: 200},
		{Method: "GET", Path: "/dashboard", Handler: s.dashboard, Summary: "Counts, active deployments and recent failures", Tag: "server", Resp: api.Dashboard{}, Status: 200},
		{Method: "GET", Path: "/openapi.json", Handler: openapi, Summary: "This document", Tag: "server", Resp: map[string]any{}, Status: 200},

		{Method: "POST", Path: "/tokens", Handler: s.createToken, Summary: "Mint an API token (the secret is shown once)", Tag: "tokens", Body: api.TokenRequest{}, Resp: api.Token{}, Status: 201},
		{Method: "GET", Path: "/tokens", Handler: s.listTokens, Summary: "List API tokens", Tag: "tokens", Resp: api.List[api.Token]{}, Status: 200},
		{Method: "DELETE", Path: "/tokens/:id", Handler: s.revokeToken, Summary: "Revoke a token", Tag: "tokens", Status: 204},
		{Method: "GET", Path: "/audit", Handler: s.listAudit, Summary: "The audit log, newest first", Tag: "audit",
			Query: with([]param{{Name: "actor"}, {Name: "action", Desc: "an action, or a prefix ending in a dot (package.)"}, {Name: "target"},
				{Name: "since", Desc: "RFC 3339, a date or a duration before now"}, {Name: "before"}}, pageParams()),
			Resp: api.List[api.AuditEvent]{}, Status: 200},

		{Method: "GET", Path: "/computers", Handler: s.listComputers, Summary: "Search computers", Tag: "computers", Query: computerParams(), Resp: api.List[api.Computer]{}, Status: 200},
		{Method: "GET", Path: "/computers/:id", Handler: s.getComputer, Summary: "A computer's inventory and deployment history", Tag: "computers", Resp: api.ComputerDetail{}, Status: 200},
		{Method: "PUT", Path: "/computers/:id/tag", Handler: s.putComputerTag, Summary: "Set the OCS TAG; an OCS agent adopts it at its next inventory (ACCOUNT_UPDATE)", Tag: "computers", Body: api.TagRequest{}, Resp: api.TagRequest{}, Status: 200},
		{Method: "GET", Path: "/computers/merges", Handler: s.listMerges, Summary: "Duplicate merges, newest first (automatic and manual)", Tag: "computers", Query: pageParams(), Resp: api.List[api.ComputerMerge]{}, Status: 200},
		{Method: "POST", Path: "/computers/merges/:id/split", Handler: s.splitMerge, Summary: "Split a merge: the merged computer exists again and is never merged with the other again", Tag: "computers", Resp: api.Computer{}, Status: 201},
		{Method: "POST", Path: "/computers/:id/merge", Handler: s.mergeComputer, Summary: "Merge another computer into this one (its deployments move here; it is deleted)", Tag: "computers", Body: api.MergeRequest{}, Resp: api.ComputerMerge{}, Status: 200},
		{Method: "GET", Path: "/settings/stale-purge", Handler: s.getStalePurge, Summary: "Automatic purge of computers not seen for N days (0: off)", Tag: "settings", Resp: api.StalePurge{}, Status: 200},
		{Method: "PUT", Path: "/settings/stale-purge", Handler: s.putStalePurge, Summary: "Set the automatic purge of stale computers (days, 0: off)", Tag: "settings", Body: api.StalePurge{}, Resp: api.StalePurge{}, Status: 200},
		{Method: "DELETE", Path: "/computers/:id", Handler: s.deleteComputer, Summary: "Delete a computer and its deployments", Tag: "computers", Status: 204},

		{Method: "GET", Path: "/packages", Handler: s.listPackages, Summary: "List packages, newest first", Tag: "packages", Query: pageParams(), Resp: api.List[api.Package]{}, Status: 200},
		{Method: "POST", Path: "/packages", Handler: s.createPackage, Summary: "Create a package from an upload (streamed to disk)", Tag: "packages", Form: true, Resp: api.Package{}, Status: 201},
		{Method: "GET", Path: "/packages/:id", Handler: s.getPackage, Summary: "A package with fragments, digests, signature status and counters", Tag: "packages", Resp: api.PackageDetail{}, Status: 200},
		{Method: "DELETE", Path: "/packages/:id", Handler: s.deletePackage, Summary: "Delete a package, its files and deployments", Tag: "packages", Status: 204},
		{Method: "GET", Path: "/packages/:id/manifest", Handler: s.getManifest, Summary: "The signed manifest as agents get it", Tag: "packages", Resp: proto.SignedManifest{}, Status: 200},
		{Method: "POST", Path: "/packages/:id/activate", Handler: s.activatePackage, Summary: "Check availability and activate", Tag: "packages", Body: api.ActivateRequest{}, Resp: api.ActivateResult{}, Status: 200},
		{Method: "POST", Path: "/packages/:id/deactivate", Handler: s.deactivatePackage, Summary: "Stop advertising a package", Tag: "packages", Status: 204},
		{Method: "POST", Path: "/packages/:id/affect", Handler: s.affectPackage, Summary: "Assign to computers by id or search (dry_run counts)", Tag: "packages", Body: api.AffectRequest{}, Resp: api.AffectResult{}, Status: 200},
		{Method: "GET", Path: "/packages/:id/deployments", Handler: s.listPackageDeployments, Summary: "A package's per-computer deployment rows", Tag: "deployments", Query: with(deploymentParams(), pageParams()), Resp: api.List[api.Deployment]{}, Status: 200},
		{Method: "GET", Path: "/packages/:id/deployment-counts", Handler: s.packageCounts, Summary: "Deployments per state", Tag: "deployments", Query: deploymentParams()[1:], Resp: api.DeploymentCounts{}, Status: 200},
		{Method: "GET", Path: "/packages/:id/completion", Handler: s.packageCompletion, Summary: "Finished deployments over time", Tag: "deployments",
			Query: []param{{Name: "points", Desc: "number of points, 2..500 (default 50)", Int: true}}, Resp: api.CompletionSeries{}, Status: 200},
		{Method: "GET", Path: "/packages/:id/bytes-by-site", Handler: s.packageBytes, Summary: "Bytes by source per site", Tag: "deployments", Resp: api.List[api.SiteBytes]{}, Status: 200},
		{Method: "POST", Path: "/packages/:id/redeploy", Handler: s.bulkRedeploy, Summary: "Deploy again the selected deployments", Tag: "deployments", Body: api.BulkRequest{}, Resp: api.BulkResult{}, Status: 200},
		{Method: "POST", Path: "/packages/:id/cancel", Handler: s.bulkCancel, Summary: "Cancel the selected unfinished deployments", Tag: "deployments", Body: api.BulkRequest{}, Resp: api.BulkResult{}, Status: 200},

		{Method: "GET", Path: "/deployments", Handler: s.listDeployments, Summary: "Deployments of every package", Tag: "deployments",
			Query: with([]param{{Name: "package", Desc: "package id"}, {Name: "computer", Desc: "computer id"}, {Name: "order", Desc: "'recent' for last change first"}}, deploymentParams(), pageParams()),
			Resp:  api.List[api.Deployment]{}, Status: 200},
		{Method: "GET", Path: "/result-codes", Handler: s.resultCodes, Summary: "Every OCS and Shoal result code with what it means and what to do", Tag: "deployments", Resp: api.List[api.ResultCode]{}, Status: 200},
		{Method: "GET", Path: "/deployments/:id", Handler: s.getDeployment, Summary: "A deployment and its events", Tag: "deployments", Resp: api.DeploymentDetail{}, Status: 200},
		{Method: "POST", Path: "/deployments/:id/redeploy", Handler: s.redeploy, Summary: "Deploy again, even if installed", Tag: "deployments", Resp: api.DeploymentDetail{}, Status: 200},
		{Method: "POST", Path: "/deployments/:id/cancel", Handler: s.cancel, Summary: "Cancel an unfinished deployment", Tag: "deployments", Resp: api.DeploymentDetail{}, Status: 200},

		{Method: "GET", Path: "/sites", Handler: s.listSites, Summary: "List sites", Tag: "sites", Resp: api.List[api.Site]{}, Status: 200},
		{Method: "POST", Path: "/sites", Handler: s.createSite, Summary: "Create a site", Tag: "sites", Body: api.SiteRequest{}, Resp: api.Site{}, Status: 201},
		{Method: "POST", Path: "/sites/import", Handler: s.importSites, Summary: "Create or update many sites from CSV (name, CIDRs, time zone)", Tag: "sites", Body: api.SiteImportRequest{}, Resp: api.SiteImportResult{}, Status: 200},
		{Method: "GET", Path: "/sites/:id", Handler: s.getSite, Summary: "A site", Tag: "sites", Resp: api.Site{}, Status: 200},
		{Method: "PUT", Path: "/sites/:id", Handler: s.updateSite, Summary: "Replace a site", Tag: "sites", Body: api.SiteRequest{}, Resp: api.Site{}, Status: 200},
		{Method: "DELETE", Path: "/sites/:id", Handler: s.deleteSite, Summary: "Delete a site (its computers keep no site)", Tag: "sites", Status: 204},

		{Method: "GET", Path: "/relays", Handler: s.listRelays, Summary: "Relays with their health and per-package counters", Tag: "relays", Resp: api.List[api.Relay]{}, Status: 200},
		{Method: "DELETE", Path: "/relays/:id", Handler: s.deleteRelay, Summary: "Remove a relay (its secret and peer record stop working)", Tag: "relays", Status: 204},
		{Method: "POST", Path: "/packages/:id/purge", Handler: s.purgePackage, Summary: "Drop a package from every relay's cache", Tag: "relays", Resp: api.PurgeResult{}, Status: 200},

		{Method: "GET", Path: "/settings", Handler: s.getSettings, Summary: "Agent timings sent in PROLOG answers", Tag: "settings", Resp: api.Settings{}, Status: 200},
		{Method: "PUT", Path: "/settings", Handler: s.putSettings, Summary: "Replace the agent timings (kept across restarts)", Tag: "settings", Body: api.Settings{}, Resp: api.Settings{}, Status: 200},
	}
}

// tokenList is the answer of GET /agents/enrollment-tokens.
type tokenList struct {
	Items []auth.TokenInfo `json:"items"`
}

// agentAdminRoutes describe, for the OpenAPI document only, the admin
// routes that central/agentapi registers itself (RegisterAdmin).
var agentAdminRoutes = []route{
	{Method: "POST", Path: "/agents/enrollment-tokens", Summary: "Create an agent or relay enrollment token; the answer carries the token and its enroll_command, and for an agent token the msiexec_command of the Windows MSI (shown once)",
		Tag: "agents", Body: auth.TokenRequest{}, Resp: auth.TokenInfo{}, Status: 201},
	{Method: "GET", Path: "/agents/enrollment-tokens", Summary: "Enrollment tokens (without the tokens themselves)", Tag: "agents", Resp: tokenList{}, Status: 200},
	{Method: "DELETE", Path: "/agents/enrollment-tokens/:id", Summary: "Revoke an enrollment token", Tag: "agents", Status: 204},
	{Method: "POST", Path: "/agents/:computer/revoke", Summary: "Revoke a Shoal agent's computer (its secret and peer record stop working)", Tag: "agents", Status: 204},
	{Method: "POST", Path: "/agents/:computer/unrevoke", Summary: "Lift a computer's revocation", Tag: "agents", Status: 204},
}

func (s *Server) routeAPI(e *echo.Echo) {
	var doc []byte
	openapi := func(c echo.Context) error {
		if doc == nil {
			return fmt.Errorf("openapi document is not built")
		}
		return c.JSONBlob(http.StatusOK, doc)
	}
	routes := append(s.apiRoutes(openapi), s.searchRoutes()...)
	if s.deps.Groups != nil {
		routes = append(routes, s.groupRoutes()...)
	}
	if s.deps.Catalog != nil {
		routes = append(routes, s.softwareRoutes()...)
	}
	routes = append(routes, s.userRoutes()...)
	if s.deps.Wake != nil {
		routes = append(routes, s.wakeRoutes()...)
	}
	g := e.Group(api.BasePath, s.authenticate)
	for _, r := range routes {
		g.Add(r.Method, r.Path, r.Handler)
	}
	if s.deps.Agents != nil {
		// Enrollment tokens and agent revocation, under the admin API,
		// audited like the rest.
		s.deps.Agents.RegisterAdmin(g, s.auditChanges)
	}
	documented := routes
	if s.deps.Agents != nil {
		documented = append(slices.Clone(routes), agentAdminRoutes...)
	}
	var err error
	if doc, err = openAPIDocument(documented); err != nil {
		s.log.Error("build openapi document", "err", err)
	}
}

// badRequestError marks an error as the client's fault while keeping its
// message free of the sentinel's text.
type badRequestError struct{ err error }

func (e badRequestError) Error() string   { return e.err.Error() }
func (e badRequestError) Unwrap() []error { return []error{e.err, errBadRequest} }

func badRequest(err error) error { return badRequestError{err} }

func (s *Server) bindJSON(c echo.Context, v any) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if ct != "application/json" {
		return fmt.Errorf("send a JSON body with Content-Type: application/json: %w", errBadRequest)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxAPIBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("JSON body: %w", errTooLarge)
		}
		return badRequest(fmt.Errorf("invalid JSON body: %w", err))
	}
	return nil
}

func uintParam(c echo.Context, name string) (uint, error) {
	v, err := strconv.ParseUint(c.Param(name), 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q: %w", name, c.Param(name), errBadRequest)
	}
	return uint(v), nil
}

func pkgParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !packageIDRE.MatchString(id) {
		return "", fmt.Errorf("package id must be digits, got %q: %w", id, errBadRequest)
	}
	return id, nil
}

func pagination(c echo.Context) (limit, offset int, err error) {
	limit, offset = 50, 0
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, fmt.Errorf("limit must be 1..1000: %w", errBadRequest)
		}
	}
	if v := c.QueryParam("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset must be 0 or more: %w", errBadRequest)
		}
	}
	return limit, offset, nil
}

// siteNames loads the names of all sites.
func (s *Server) siteNames(c echo.Context) (siteNames, error) {
	sites, err := s.deps.Store.ListSites(c.Request().Context())
	if err != nil {
		return nil, err
	}
	out := make(siteNames, len(sites))
	for _, st := range sites {
		out[st.ID] = st.Name
	}
	return out, nil
}

// computerQuery converts an API filter into the store's.
func computerQuery(f api.ComputerFilter) store.ComputerFilter {
	q := store.ComputerFilter{
		Name: f.Name, OS: f.OS, Software: f.Software, SoftwareVersion: f.SoftwareVersion, NoSoftware: f.NoSoftware,
		IP: f.IP, Tag: f.Tag, SiteID: f.SiteID,
	}
	if f.ContactSince != nil {
		q.ContactSince = *f.ContactSince
	}
	if f.ContactBefore != nil {
		q.ContactBefore = *f.ContactBefore
	}
	return q
}

func (s *Server) listComputers(c echo.Context) error {
	params, err := s.searchQuery(c.Request().Context(), s.searchOwner(c), c.QueryParams())
	if err != nil {
		return err
	}
	f, err := api.ParseComputerFilter(params, time.Now())
	if err != nil {
		return badRequest(err)
	}
	q := computerQuery(f)
	q.Scope = scopeOf(c)
	if q.Limit, q.Offset, err = pagination(c); err != nil {
		return err
	}
	items, total, err := s.deps.Store.SearchComputers(c.Request().Context(), q)
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Computer]{Items: toAPIComputers(items, names), Total: total, Limit: q.Limit, Offset: q.Offset})
}

// maxHistory bounds the deployment history in a computer's detail.
const maxHistory = 1000

func (s *Server) getComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := s.deps.Store.ComputerDetail(ctx, id)
	if err != nil {
		return err
	}
	deps, _, err := s.deps.Store.DeploymentRows(ctx, store.DeploymentRowFilter{ComputerID: id, Limit: maxHistory})
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	out := toAPIComputerDetail(d, deps, names)
	if out.WinProdKey != "" && !principalOfCtx(c).Can(auth.PermComputersSecrets) {
		out.WinProdKey, out.WinProdKeyMasked = auth.MaskProductKey(out.WinProdKey), true
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) putComputerTag(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	var req api.TagRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	req.Tag = strings.TrimSpace(req.Tag)
	// A user scoped by TAGs may only give its own TAGs: another would
	// hand the computer to someone else's scope.
	if sc := scopeOf(c); len(sc.Tags) > 0 && !slices.Contains(sc.Tags, req.Tag) {
		return fmt.Errorf("TAG %q: you may set only %s: %w", req.Tag, strings.Join(sc.Tags, ", "), errOutOfScope)
	}
	if err := s.deps.Ops.SetComputerTag(c.Request().Context(), s.actor(c), id, req.Tag); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, req)
}

func (s *Server) deleteComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	ctx := c.Request().Context()
	comp, err := s.deps.Store.Computer(ctx, id)
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteComputer(ctx, id); err != nil {
		return err
	}
	s.audit(c, "computer.delete", fmt.Sprint(id), comp.Name)
	return c.NoContent(http.StatusNoContent)
}
