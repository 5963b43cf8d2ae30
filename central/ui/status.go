package ui

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
)

// statusView is the data of a package's deployment status page.
type statusView struct {
	P          *store.Package
	State      string
	Site       string
	Sites      []store.Site
	Counts     map[string]int64
	Progress   packageProgress
	Rows       []store.DeploymentRow
	Pager      pager
	Completion template.HTML
	Bytes      template.HTML
	PollURL    string
	Back       string
	Updated    string
	// Admin is copied here for the row fragment, which is rendered
	// without the page's view.
	Admin bool
	CSRF  string
	// OCSExpected is how long a Unix OCS agent's download worker needs
	// for this package with the timings its site gets (deploy.OCSExpected
	// of deploy.Service.SiteDownload; the agent settings' timings when no
	// site is chosen), written for people; empty when downloads are off.
	OCSExpected string
	// OCSExpectedShort, when no site is chosen, is the same for the sites
	// that get the short latencies (served by a relay); empty when none
	// can.
	OCSExpectedShort string
}

func (u *UI) statusView(c echo.Context) (*statusView, error) {
	id, err := packageParam(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	p, err := u.deps.Store.Package(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &statusView{P: p, State: strings.TrimSpace(c.QueryParam("state")), Site: strings.TrimSpace(c.QueryParam("site"))}
	if v.State != "" && !validState(v.State) {
		return nil, badInput("Unknown state %q.", v.State)
	}
	f := store.DeploymentRowFilter{PackageID: id, State: v.State, ByComputer: true}
	if f.SiteID, f.NoSite, err = siteSelection(v.Site); err != nil {
		return nil, err
	}
	offset, err := offsetParam(c)
	if err != nil {
		return nil, err
	}
	f.Limit, f.Offset = pageSize, offset
	if v.Sites, err = u.deps.Store.ListSites(ctx); err != nil {
		return nil, err
	}
	u.ocsExpected(ctx, v, f.SiteID)
	if v.Counts, err = u.deps.Store.DeploymentRowCounts(ctx, f); err != nil {
		return nil, err
	}
	v.Progress = progressOf(store.UIPackageStates{PackageID: id, PackageName: p.Name, Active: p.Active, Counts: v.Counts})
	var total int64
	if v.Rows, total, err = u.deps.Store.DeploymentRows(ctx, f); err != nil {
		return nil, err
	}
	path := uiPrefix + "/packages/" + id + "/status"
	q := c.QueryParams()
	v.Pager = newPager(path, q, total, offset, pageSize)
	keep := url.Values{}
	for _, k := range []string{"state", "site", "offset"} {
		if val := q.Get(k); val != "" {
			keep.Set(k, val)
		}
	}
	v.PollURL = path + ".json"
	v.Back = path
	if len(keep) > 0 {
		v.PollURL += "?" + keep.Encode()
		v.Back += "?" + keep.Encode()
	}
	finishes, err := u.deps.Store.Completions(ctx, id)
	if err != nil {
		return nil, err
	}
	start, err := u.deps.Store.FirstDeploymentAt(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := u.deps.Store.DeploymentCounts(ctx, id)
	if err != nil {
		return nil, err
	}
	now := u.now()
	v.Completion = completionChart(finishes, start, now, sumCounts(all))
	bySite, err := u.deps.Store.BytesBySite(ctx, id)
	if err != nil {
		return nil, err
	}
	v.Bytes = bytesChart(bySite)
	v.Updated = timestamp(now)
	if s := sessionOf(c); s != nil {
		v.Admin, v.CSRF = s.Role == store.RoleAdmin, s.CSRF
	}
	return v, nil
}

func (u *UI) handleStatus(c echo.Context) error {
	v, err := u.statusView(c)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "status", "Status of "+v.P.Name, "packages", v)
}

// statusJSON is the live-refresh answer: HTML fragments rendered by the
// same templates as the page.
type statusJSON struct {
	Counts  template.HTML `json:"counts"`
	Rows    template.HTML `json:"rows"`
	Pager   template.HTML `json:"pager"`
	Charts  template.HTML `json:"charts"`
	Updated string        `json:"updated"`
	// Done is true when every deployment is finished; the page then
	// polls less often.
	Done bool `json:"done"`
}

func (u *UI) handleStatusJSON(c echo.Context) error {
	v, err := u.statusView(c)
	if err != nil {
		return err
	}
	var out statusJSON
	for _, f := range []struct {
		name string
		dst  *template.HTML
	}{{"status_counts", &out.Counts}, {"status_rows", &out.Rows}, {"status_pager", &out.Pager}, {"status_charts", &out.Charts}} {
		if *f.dst, err = u.fragment("status", f.name, v); err != nil {
			return err
		}
	}
	out.Updated = v.Updated
	out.Done = v.Progress.Total > 0 && v.Progress.Done == v.Progress.Total
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

func (u *UI) deploymentAction(c echo.Context, action string, do func(id uint) error, done string) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	d, err := u.deps.Store.Deployment(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := u.inScope(c, d.ComputerID); err != nil {
		return err
	}
	if err := do(id); err != nil {
		return err
	}
	u.audit(c, action, d.PackageID, "deployment "+c.Param("id"))
	back := c.FormValue("back")
	if !strings.HasPrefix(back, uiPrefix+"/packages/"+d.PackageID+"/status") {
		back = uiPrefix + "/packages/" + d.PackageID + "/status"
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	return seeOther(c, safeNext(back)+sep+"done="+done)
}

func (u *UI) handleRedeploy(c echo.Context) error {
	return u.deploymentAction(c, "deployment.redeploy", func(id uint) error {
		return u.deps.Deploy.Redeploy(c.Request().Context(), id)
	}, "redeploy")
}

func (u *UI) handleCancel(c echo.Context) error {
	return u.deploymentAction(c, "deployment.cancel", func(id uint) error {
		return u.deps.Deploy.Cancel(c.Request().Context(), id)
	}, "cancelled")
}

// humanDuration writes d as "about 25 min", "about 2 h 5 min" or "about
// 40 s".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("about %d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("about %d min", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("about %d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// ocsExpected fills v's OCSExpected and OCSExpectedShort (v.Sites listed).
func (u *UI) ocsExpected(ctx context.Context, v *statusView, siteID *uint) {
	cfg := u.deps.Deploy.Config()
	d := cfg.Download
	if siteID != nil {
		for i := range v.Sites {
			if v.Sites[i].ID == *siteID {
				d = u.deps.Deploy.SiteDownload(ctx, &v.Sites[i])
			}
		}
	}
	if e := deploy.OCSExpected(d, v.P.Priority, v.P.OCSFragments); e > 0 {
		v.OCSExpected = humanDuration(e)
	}
	if v.Site != "" || v.OCSExpected == "" {
		return
	}
	short := cfg.RelaySiteTimings == deploy.TimingsShort
	for _, s := range v.Sites {
		short = short || s.OCSTimings == deploy.TimingsShort
	}
	if e := deploy.OCSExpected(d.Short(), v.P.Priority, v.P.OCSFragments); short && e > 0 && humanDuration(e) != v.OCSExpected {
		v.OCSExpectedShort = humanDuration(e)
	}
}
