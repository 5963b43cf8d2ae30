package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// rowFilter reads the state, site, package, computer and order parameters
// and the page.
func rowFilter(c echo.Context) (store.DeploymentRowFilter, error) {
	f := store.DeploymentRowFilter{State: strings.TrimSpace(c.QueryParam("state")), PackageID: c.QueryParam("package")}
	if f.State != "" && !validState(f.State) {
		return f, fmt.Errorf("state must be one of %s: %w", strings.Join(api.States(), ", "), errBadRequest)
	}
	if f.PackageID != "" && !packageIDRE.MatchString(f.PackageID) {
		return f, fmt.Errorf("package must be a package id: %w", errBadRequest)
	}
	if err := siteParam(c, &f); err != nil {
		return f, err
	}
	if v := c.QueryParam("computer"); v != "" {
		id, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return f, fmt.Errorf("computer must be a computer id: %w", errBadRequest)
		}
		f.ComputerID = uint(id)
	}
	switch c.QueryParam("order") {
	case "", "id":
	case "recent":
		f.Recent = true
	default:
		return f, fmt.Errorf("order must be id or recent: %w", errBadRequest)
	}
	var err error
	f.Limit, f.Offset, err = pagination(c)
	return f, err
}

func siteParam(c echo.Context, f *store.DeploymentRowFilter) error {
	switch v := strings.TrimSpace(c.QueryParam("site")); v {
	case "":
	case "none":
		f.NoSite = true
	default:
		id, err := strconv.ParseUint(v, 10, 32)
		if err != nil || id == 0 {
			return fmt.Errorf("site must be a site id or 'none': %w", errBadRequest)
		}
		sid := uint(id)
		f.SiteID = &sid
	}
	return nil
}

func validState(s string) bool {
	for _, st := range api.States() {
		if s == st {
			return true
		}
	}
	return false
}

func (s *Server) deploymentList(c echo.Context, f store.DeploymentRowFilter) error {
	rows, total, err := s.deps.Store.DeploymentRows(c.Request().Context(), f)
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Deployment]{Items: toAPIDeployments(rows, names), Total: total, Limit: f.Limit, Offset: f.Offset})
}

func (s *Server) listDeployments(c echo.Context) error {
	f, err := rowFilter(c)
	if err != nil {
		return err
	}
	if scopeOf(c).Limited() {
		if f.ComputerID == 0 {
			return fmt.Errorf("your account is limited to some sites or TAGs: list the deployments of one computer (computer=ID): %w", errOutOfScope)
		}
		if err := s.inScope(c, f.ComputerID); err != nil {
			return err
		}
	}
	return s.deploymentList(c, f)
}

// packageOf reads the package ID parameter and checks that it exists.
func (s *Server) packageOf(c echo.Context) (*store.Package, error) {
	id, err := pkgParam(c)
	if err != nil {
		return nil, err
	}
	return s.deps.Store.Package(c.Request().Context(), id)
}

func (s *Server) listPackageDeployments(c echo.Context) error {
	p, err := s.packageOf(c)
	if err != nil {
		return err
	}
	f, err := rowFilter(c)
	if err != nil {
		return err
	}
	f.PackageID = p.ID
	return s.deploymentList(c, f)
}

func (s *Server) packageCounts(c echo.Context) error {
	p, err := s.packageOf(c)
	if err != nil {
		return err
	}
	f := store.DeploymentRowFilter{PackageID: p.ID}
	if err := siteParam(c, &f); err != nil {
		return err
	}
	counts, err := s.deps.Store.DeploymentRowCounts(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := api.DeploymentCounts{PackageID: p.ID, Counts: counts}
	for state, n := range counts {
		out.Total += n
		if api.Final(state) {
			out.Finished += n
		}
	}
	return c.JSON(http.StatusOK, out)
}

// Bounds of a completion series.
const (
	defaultPoints = 50
	maxPoints     = 500
)

func (s *Server) packageCompletion(c echo.Context) error {
	p, err := s.packageOf(c)
	if err != nil {
		return err
	}
	points := defaultPoints
	if v := c.QueryParam("points"); v != "" {
		if points, err = strconv.Atoi(v); err != nil || points < 2 || points > maxPoints {
			return fmt.Errorf("points must be 2..%d: %w", maxPoints, errBadRequest)
		}
	}
	ctx := c.Request().Context()
	done, err := s.deps.Store.Completions(ctx, p.ID)
	if err != nil {
		return err
	}
	counts, err := s.deps.Store.DeploymentCounts(ctx, p.ID)
	if err != nil {
		return err
	}
	out := api.CompletionSeries{PackageID: p.ID, Points: completionPoints(done, points)}
	for _, n := range counts {
		out.Total += n
	}
	return c.JSON(http.StatusOK, out)
}

// completionPoints samples the cumulative finished counts at n evenly
// spaced times from the first completion to the last (one point when they
// all finished at once).
func completionPoints(done []store.Completion, n int) []api.CompletionPoint {
	out := []api.CompletionPoint{}
	if len(done) == 0 {
		return out
	}
	first, last := done[0].FinishedAt.UTC(), done[len(done)-1].FinishedAt.UTC()
	if !last.After(first) {
		n = 1
	}
	var p api.CompletionPoint
	next := 0
	for i := range n {
		at := last
		if i < n-1 {
			at = first.Add(time.Duration(int64(last.Sub(first)) * int64(i) / int64(n-1)))
		}
		for next < len(done) && !done[next].FinishedAt.After(at) {
			switch done[next].State {
			case store.StateSuccess:
				p.Success++
			case store.StateError:
				p.Error++
			case store.StateCancelled:
				p.Cancelled++
			}
			next++
		}
		p.At = at
		out = append(out, p)
	}
	return out
}

func (s *Server) packageBytes(c echo.Context) error {
	p, err := s.packageOf(c)
	if err != nil {
		return err
	}
	rows, err := s.deps.Store.BytesBySite(c.Request().Context(), p.ID)
	if err != nil {
		return err
	}
	items := make([]api.SiteBytes, len(rows))
	for i, r := range rows {
		name := r.SiteName
		if r.SiteID == nil {
			name = "(no site)"
		}
		items[i] = api.SiteBytes{SiteID: r.SiteID, SiteName: name, Deployments: r.Deployments,
			BytesPeer: r.BytesPeer, BytesRelay: r.BytesRelay, BytesCentral: r.BytesCentral}
	}
	return c.JSON(http.StatusOK, api.List[api.SiteBytes]{Items: items, Total: int64(len(items)), Limit: len(items)})
}

func (s *Server) deploymentDetail(c echo.Context, id uint) error {
	ctx := c.Request().Context()
	rows, _, err := s.deps.Store.DeploymentRows(ctx, store.DeploymentRowFilter{IDs: []uint{id}, Limit: 1})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("deployment %d: %w", id, store.ErrNotFound)
	}
	ev, err := s.deps.Store.DeploymentEvents(ctx, id)
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.DeploymentDetail{Deployment: toAPIDeployment(&rows[0], names), Events: convertAll(ev, toAPIEvent)})
}

// deploymentInScope refuses a deployment of a computer the caller may
// not see.
func (s *Server) deploymentInScope(c echo.Context, id uint) error {
	if !scopeOf(c).Limited() {
		return nil
	}
	rows, _, err := s.deps.Store.DeploymentRows(c.Request().Context(), store.DeploymentRowFilter{IDs: []uint{id}, Limit: 1})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("deployment %d: %w", id, errOutOfScope)
	}
	return s.inScope(c, rows[0].ComputerID)
}

func (s *Server) getDeployment(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deploymentInScope(c, id); err != nil {
		return err
	}
	return s.deploymentDetail(c, id)
}

func (s *Server) redeploy(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deploymentInScope(c, id); err != nil {
		return err
	}
	if err := s.deps.Deploy.Redeploy(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deployment.redeploy", fmt.Sprint(id), "")
	return s.deploymentDetail(c, id)
}

func (s *Server) cancel(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deploymentInScope(c, id); err != nil {
		return err
	}
	if err := s.deps.Deploy.Cancel(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deployment.cancel", fmt.Sprint(id), "")
	return s.deploymentDetail(c, id)
}

// maxBulk bounds the deployments one bulk action changes.
const maxBulk = 1000

// bulkTargets returns the deployments of package p that req selects.
func (s *Server) bulkTargets(c echo.Context) (string, []store.DeploymentRow, error) {
	p, err := s.packageOf(c)
	if err != nil {
		return "", nil, err
	}
	var req api.BulkRequest
	if err := s.bindJSON(c, &req); err != nil {
		return "", nil, err
	}
	if len(req.DeploymentIDs) == 0 && req.State == "" {
		return "", nil, fmt.Errorf("give deployment_ids or a state: %w", errBadRequest)
	}
	if req.State != "" && !validState(req.State) {
		return "", nil, fmt.Errorf("state must be one of %s: %w", strings.Join(api.States(), ", "), errBadRequest)
	}
	if len(req.DeploymentIDs) > maxBulk {
		return "", nil, fmt.Errorf("at most %d deployments at once: %w", maxBulk, errBadRequest)
	}
	rows, total, err := s.deps.Store.DeploymentRows(c.Request().Context(), store.DeploymentRowFilter{
		PackageID: p.ID, State: req.State, IDs: req.DeploymentIDs, Limit: maxBulk})
	if err != nil {
		return "", nil, err
	}
	if total > maxBulk {
		return "", nil, fmt.Errorf("%d deployments selected, at most %d at once: %w", total, maxBulk, errBadRequest)
	}
	if len(req.DeploymentIDs) > 0 && len(rows) != len(req.DeploymentIDs) {
		return "", nil, fmt.Errorf("some deployment_ids are not deployments of package %s in the given state: %w", p.ID, store.ErrNotFound)
	}
	return p.ID, rows, nil
}

func (s *Server) bulkRedeploy(c echo.Context) error {
	id, rows, err := s.bulkTargets(c)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := s.deps.Deploy.Redeploy(c.Request().Context(), r.ID); err != nil {
			return err
		}
	}
	s.audit(c, "package.redeploy", id, fmt.Sprintf("%d deployments", len(rows)))
	return c.JSON(http.StatusOK, api.BulkResult{Changed: len(rows)})
}

func (s *Server) bulkCancel(c echo.Context) error {
	id, rows, err := s.bulkTargets(c)
	if err != nil {
		return err
	}
	changed := 0
	for _, r := range rows {
		if r.Finished() {
			continue
		}
		if err := s.deps.Deploy.Cancel(c.Request().Context(), r.ID); err != nil {
			return err
		}
		changed++
	}
	s.audit(c, "package.cancel", id, fmt.Sprintf("%d deployments", changed))
	return c.JSON(http.StatusOK, api.BulkResult{Changed: changed})
}

func (s *Server) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.deps.Store.Overview(ctx)
	if err != nil {
		return err
	}
	fails, _, err := s.deps.Store.DeploymentRows(ctx, store.DeploymentRowFilter{State: store.StateError, Recent: true, Limit: 500})
	if err != nil {
		return err
	}
	groups := []api.FailureGroup{}
	at := map[[2]string]int{}
	for _, f := range fails {
		k := [2]string{f.PackageID, f.ResultCode}
		if i, ok := at[k]; ok {
			groups[i].Computers++
			continue
		}
		at[k] = len(groups)
		groups = append(groups, api.FailureGroup{PackageID: f.PackageID, PackageName: f.PackageName, ResultCode: f.ResultCode,
			ResultHelp: api.CodeHelp(f.ResultCode), Computers: 1, Last: utcPtr(f.FinishedAt)})
	}
	if len(fails) > 10 {
		fails = fails[:10]
	}
	uc, err := s.deps.Store.UIDashboardCounts(ctx, time.Now())
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	out := api.Dashboard{
		Computers: o.Computers, Sites: o.Sites, Packages: o.Packages, ActivePackages: o.ActivePackages,
		DeploymentCounts: o.DeploymentCounts, Active: []api.PackageProgress{}, RecentFailures: toAPIDeployments(fails, names),
		ComputersInProgress: uc.ComputersInProgress, FailureGroups: groups,
	}
	for _, pc := range o.Active {
		pp := api.PackageProgress{PackageID: pc.PackageID, PackageName: pc.PackageName, Counts: pc.Counts}
		for state, n := range pc.Counts {
			pp.Total += n
			if api.Final(state) {
				pp.Finished += n
			}
		}
		out.Active = append(out.Active, pp)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) resultCodes(c echo.Context) error {
	codes := api.ResultCodes()
	items := make([]api.ResultCode, len(codes))
	for i, code := range codes {
		items[i] = api.ResultCode{Code: code, Help: api.CodeHelp(code)}
	}
	return c.JSON(http.StatusOK, api.List[api.ResultCode]{Items: items, Total: int64(len(items)), Limit: len(items)})
}
