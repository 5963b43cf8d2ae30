package ui

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/proto/api"
)

// dashboardView is the data of the dashboard.
type dashboardView struct {
	Counts   *store.UICounts
	Active   []packageProgress
	Failures []failureGroup
	// FailuresScanned is how many recent failures Failures groups, and
	// FailuresMore whether there are older ones.
	FailuresScanned int
	FailuresMore    bool
}

// recentFailures bounds the failed rows the dashboard groups.
const recentFailures = 500

// packageProgress is one package's deployments with its completion.
type packageProgress struct {
	store.UIPackageStates
	Total, Done int64
	Percent     int64
}

func progressOf(p store.UIPackageStates) packageProgress {
	total, done := sumCounts(p.Counts), finishedCount(p.Counts)
	return packageProgress{UIPackageStates: p, Total: total, Done: done, Percent: pct(done, total)}
}

func (u *UI) handleDashboard(c echo.Context) error {
	// The dashboard counts the whole fleet: a user limited to some sites
	// or TAGs starts at its computers.
	if p := principalOf(c); p.Scoped() || !p.Can(auth.PermFleetRead) {
		return seeOther(c, uiPrefix+"/computers")
	}
	ctx := c.Request().Context()
	counts, err := u.deps.Store.UIDashboardCounts(ctx, u.now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	pkgs, err := u.deps.Store.UIUnfinishedPackages(ctx)
	if err != nil {
		return err
	}
	fails, total, err := u.deps.Store.DeploymentRows(ctx, store.DeploymentRowFilter{State: store.StateError, Recent: true, Limit: recentFailures})
	if err != nil {
		return err
	}
	groups := groupFailures(fails)
	if len(groups) > 10 {
		groups = groups[:10]
	}
	v := dashboardView{Counts: counts, Failures: groups, FailuresScanned: len(fails), FailuresMore: total > int64(len(fails))}
	for _, p := range pkgs {
		v.Active = append(v.Active, progressOf(p))
	}
	return u.render(c, http.StatusOK, "dashboard", "Dashboard", "dashboard", v)
}

// computerFilterForm is the search form of the computers list and of the
// affect form.
type computerFilterForm struct {
	Name, OS, Software, SoftwareVersion, NoSoftware, IP, Site, Tag string
	Errors                                                         map[string]string
}

func readComputerFilter(get func(string) string) computerFilterForm {
	return computerFilterForm{
		Name: strings.TrimSpace(get("name")), OS: strings.TrimSpace(get("os")),
		Software: strings.TrimSpace(get("software")), SoftwareVersion: strings.TrimSpace(get("software_version")),
		NoSoftware: strings.TrimSpace(get("no_software")), IP: strings.TrimSpace(get("ip")),
		Site: strings.TrimSpace(get("site")), Tag: strings.TrimSpace(get("tag")),
		Errors: map[string]string{},
	}
}

// Empty reports whether no criterion is set.
func (f computerFilterForm) Empty() bool {
	return f.Name == "" && f.OS == "" && f.Software == "" && f.SoftwareVersion == "" && f.NoSoftware == "" &&
		f.IP == "" && f.Site == "" && f.Tag == ""
}

// filter validates the form, filling Errors, and returns the store filter.
func (f *computerFilterForm) filter() (store.ComputerFilter, bool) {
	sf := store.ComputerFilter{Name: f.Name, OS: f.OS, Software: f.Software, SoftwareVersion: f.SoftwareVersion,
		NoSoftware: f.NoSoftware, IP: f.IP, Tag: f.Tag}
	if f.SoftwareVersion != "" {
		if _, _, err := store.ParseVersionFilter(f.SoftwareVersion); err != nil || f.Software == "" {
			f.Errors["software_version"] = "Enter a software name and a version such as 24.00 or < 24.00."
		}
	}
	if f.IP != "" {
		var err error
		if strings.Contains(f.IP, "/") {
			_, err = netip.ParsePrefix(f.IP)
		} else {
			_, err = netip.ParseAddr(f.IP)
		}
		if err != nil {
			f.Errors["ip"] = "Enter an address such as 10.1.2.3 or a subnet such as 10.1.0.0/16."
		}
	}
	if f.Site != "" {
		id, none, err := siteSelection(f.Site)
		if err != nil || none {
			f.Errors["site"] = "Choose a site from the list."
		}
		sf.SiteID = id
	}
	return sf, len(f.Errors) == 0
}

// computersView is the data of the computers list.
type computersView struct {
	Filter    computerFilterForm
	Sites     []store.Site
	SiteNames map[uint]string
	Items     []store.Computer
	Tags      map[uint]string
	Pager     pager
	// Bulk holds the saved searches and what the bulk actions offer.
	Bulk bulkView
}

func (u *UI) siteNames(c echo.Context) ([]store.Site, map[uint]string, error) {
	sites, err := u.deps.Store.ListSites(c.Request().Context())
	if err != nil {
		return nil, nil, err
	}
	names := make(map[uint]string, len(sites))
	for _, s := range sites {
		names[s.ID] = s.Name
	}
	return sites, names, nil
}

func (u *UI) handleComputers(c echo.Context) error {
	ctx := c.Request().Context()
	v := computersView{Filter: readComputerFilter(c.QueryParam)}
	var err error
	if v.Sites, v.SiteNames, err = u.siteNames(c); err != nil {
		return err
	}
	offset, err := offsetParam(c)
	if err != nil {
		return err
	}
	f, ok := v.Filter.filter()
	f.Scope = scopeOf(c)
	code := http.StatusOK
	if ok {
		f.Limit, f.Offset = pageSize, offset
		items, total, err := u.deps.Store.SearchComputers(ctx, f)
		if err != nil {
			return err
		}
		ids := make([]uint, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		if v.Tags, err = u.deps.Store.UIComputerTags(ctx, ids); err != nil {
			return err
		}
		v.Items = items
		v.Pager = newPager(uiPrefix+"/computers", c.QueryParams(), total, offset, pageSize)
	} else {
		code = http.StatusBadRequest
	}
	if v.Bulk, err = u.bulkView(ctx, c, v.Filter); err != nil {
		return err
	}
	return u.render(c, code, "computers", "Computers", "computers", v)
}

// computerView is the data of a computer's page.
type computerView struct {
	C           *store.ComputerDetail
	SiteName    string
	Tag         string
	Deployments []store.DeploymentRow
	// Groups are the computer's groups.
	Groups []store.Group
	// History is the computer's change history, newest first (nil
	// without a catalog).
	History []api.HistoryEntry
	// CanWake shows the Wake action; Wakes are the recent requests.
	CanWake bool
	Wakes   []wake.Status
	// KeyMasked says C.WinProdKey was masked: the user lacks
	// computers.secrets.
	KeyMasked bool
}

func (u *UI) handleComputer(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.inScope(c, id); err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := u.deps.Store.ComputerDetail(ctx, id)
	if err != nil {
		return err
	}
	rows, _, err := u.deps.Store.DeploymentRows(ctx, store.DeploymentRowFilter{ComputerID: id, Recent: true, Limit: 1000})
	if err != nil {
		return err
	}
	v := computerView{C: d, Deployments: rows}
	if d.WinProdKey != "" && !principalOf(c).Can(auth.PermComputersSecrets) {
		d.WinProdKey, v.KeyMasked = auth.MaskProductKey(d.WinProdKey), true
	}
	for _, a := range d.AccountInfo {
		if a.KeyName == store.AccountTag {
			v.Tag = a.KeyValue
		}
	}
	if d.SiteID != nil {
		if s, err := u.deps.Store.Site(ctx, *d.SiteID); err == nil {
			v.SiteName = s.Name
		}
	}
	if u.deps.Groups != nil {
		if v.Groups, err = u.deps.Groups.GroupsOfComputer(ctx, id); err != nil {
			return err
		}
	}
	if u.deps.Catalog != nil {
		names, err := u.siteNameMap(ctx)
		if err != nil {
			return err
		}
		if v.History, err = u.deps.Catalog.History(ctx, id, maxHistoryShown, names); err != nil {
			return err
		}
	}
	if u.deps.Wake != nil {
		v.CanWake = true
		if v.Wakes, err = u.deps.Wake.Requests(ctx, id); err != nil {
			return err
		}
		if len(v.Wakes) > 5 {
			v.Wakes = v.Wakes[:5]
		}
	}
	return u.render(c, http.StatusOK, "computer", d.Name, "computers", v)
}

// handleComputerWake asks a relay or an awake Shoal agent of the
// computer's site to send it the Wake-on-LAN magic packet.
func (u *UI) handleComputerWake(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if u.deps.Wake == nil {
		return echo.ErrNotFound
	}
	if err := u.inScope(c, id); err != nil {
		return err
	}
	if _, err := u.deps.Wake.Request(c.Request().Context(), u.actor(c), []uint{id}, store.WakeManual); err != nil {
		return err
	}
	return seeOther(c, fmt.Sprintf("%s/computers/%d?done=wake", uiPrefix, id))
}

// handleComputerTag sets a computer's TAG from the computer page's form.
func (u *UI) handleComputerTag(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.inScope(c, id); err != nil {
		return err
	}
	if err := tagInScope(c, c.FormValue("tag")); err != nil {
		return err
	}
	if err := u.deps.Ops.SetComputerTag(c.Request().Context(), u.actor(c), id, c.FormValue("tag")); err != nil {
		return err
	}
	return seeOther(c, fmt.Sprintf("%s/computers/%d?done=tag", uiPrefix, id))
}
