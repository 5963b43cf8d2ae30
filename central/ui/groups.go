package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto/api"
)

// groupForm is the new-group form: a search makes a dynamic group, else
// the computer IDs a static one.
type groupForm struct {
	Name, Description, Window          string
	PrologFreq, OCSTimings             string
	Cycle, Frag, Period                string
	SName, OS, Software, IP, Tag, Site string
	// Saved is a saved search (ID) whose criteria the group copies; the
	// fields filled in beside it win.
	Saved     string
	Computers string
	Error     string
}

func (f groupForm) search() url.Values {
	v := url.Values{}
	for k, x := range map[string]string{api.QueryName: f.SName, api.QueryOS: f.OS, api.QuerySoftware: f.Software,
		api.QueryIP: f.IP, api.QueryTag: f.Tag, api.QuerySite: f.Site} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// assignForm assigns a package to a group or a site.
type assignForm struct {
	Error string
}

// groupsView is the data of the groups page.
type groupsView struct {
	Groups      []store.GroupSummary
	Assignments []groups.AssignmentStatus
	Packages    []store.Package
	Sites       []store.Site
	// Searches are the saved searches the user may use: theirs and the
	// shared ones.
	Searches    []store.SavedSearch
	Form        groupForm
	AssignError string
}

// groupView is the data of a group's page.
type groupView struct {
	G        *groups.GroupDetail
	Search   string
	Members  []store.Computer
	More     int
	Packages []store.Package
	Error    string
}

// userMessage returns the text of a service error an admin can act on,
// or "" for an internal one.
func userMessage(err error) string {
	if errors.Is(err, errkind.Invalid) || errors.Is(err, errkind.Conflict) || errors.Is(err, errkind.NotFound) {
		msg := err.Error()
		for _, suffix := range []string{": " + groups.ErrInvalid.Error(), ": " + groups.ErrInUse.Error(), ": " + store.ErrConflict.Error(), ": " + store.ErrNotFound.Error()} {
			msg = strings.TrimSuffix(msg, suffix)
		}
		return msg
	}
	return ""
}

func (u *UI) activePackages(ctx context.Context) ([]store.Package, error) {
	all, _, err := u.deps.Store.ListPackages(ctx, 1000, 0)
	if err != nil {
		return nil, err
	}
	var out []store.Package
	for _, p := range all {
		if p.Active {
			out = append(out, p)
		}
	}
	return out, nil
}

func (u *UI) groupsView(ctx context.Context, c echo.Context, f groupForm) (*groupsView, error) {
	gs, err := u.deps.Groups.Groups(ctx)
	if err != nil {
		return nil, err
	}
	as, err := u.deps.Groups.Assignments(ctx, store.AssignmentFilter{})
	if err != nil {
		return nil, err
	}
	pkgs, err := u.activePackages(ctx)
	if err != nil {
		return nil, err
	}
	sites, err := u.deps.Store.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	searches, err := u.deps.Store.SavedSearches(ctx, u.actor(c).Name)
	if err != nil {
		return nil, err
	}
	return &groupsView{Groups: gs, Assignments: as, Packages: pkgs, Sites: sites, Searches: searches, Form: f}, nil
}

func (u *UI) handleGroups(c echo.Context) error {
	v, err := u.groupsView(c.Request().Context(), c, groupForm{})
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "groups", "Groups", "groups", v)
}

// parseIDs reads computer IDs separated by commas, spaces or lines.
func parseIDs(s string) ([]uint, error) {
	var out []uint
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a computer id", f)
		}
		out = append(out, uint(n))
	}
	return out, nil
}

func (u *UI) handleCreateGroup(c echo.Context) error {
	get := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := groupForm{Name: get("name"), Description: get("description"), Window: get("window"), PrologFreq: get("prolog_freq_hours"), OCSTimings: get("ocs_timings"), SName: get("s_name"), OS: get("os"), Software: get("software"),
		IP: get("ip"), Tag: get("tag"), Site: get("site"), Computers: get("computers"), Saved: get("saved_search"),
		Cycle: get("cycle_latency"), Frag: get("frag_latency"), Period: get("period_latency")}
	ids, err := parseIDs(f.Computers)
	var in groups.GroupInput
	if err == nil {
		in, err = f.timings()
	}
	var filter url.Values
	if err == nil {
		filter, err = u.groupFilter(c, f)
	}
	if err == nil {
		var g *store.Group
		in.Name, in.Description, in.Filter, in.Members = f.Name, f.Description, filter, ids
		g, err = u.deps.Groups.CreateGroup(c.Request().Context(), u.actor(c), in)
		if err == nil {
			return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, g.ID))
		}
		if f.Error = userMessage(err); f.Error == "" {
			return err
		}
	} else {
		f.Error = err.Error()
	}
	v, err := u.groupsView(c.Request().Context(), c, f)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusBadRequest, "groups", "Groups", "groups", v)
}

// groupFilter returns the search of a new dynamic group: the criteria of
// the saved search the form picked (the group keeps its own copy, which
// later edits of the saved search leave alone), overridden by the fields
// filled in beside it.
func (u *UI) groupFilter(c echo.Context, f groupForm) (url.Values, error) {
	own := f.search()
	if f.Saved == "" {
		return own, nil
	}
	ss, err := u.deps.Store.SavedSearch(c.Request().Context(), u.actor(c).Name, f.Saved)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("saved search %s: no such search among yours and the shared ones: %w", f.Saved, groups.ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	out, err := url.ParseQuery(ss.Filter)
	if err != nil {
		return nil, fmt.Errorf("saved search %q: %w", ss.Name, groups.ErrInvalid)
	}
	for k := range own {
		out.Set(k, own.Get(k))
	}
	return out, nil
}

// timings reads the form's window, OCS timings and latencies.
func (f groupForm) timings() (groups.GroupInput, error) {
	in := groups.GroupInput{Window: f.Window, OCSTimings: f.OCSTimings}
	for _, x := range []struct {
		v, what string
		dst     *int
	}{{f.PrologFreq, "PROLOG frequency", &in.PrologFreqHours}, {f.Cycle, "cycle latency", &in.CycleLatency},
		{f.Frag, "fragment latency", &in.FragLatency}, {f.Period, "period latency", &in.PeriodLatency}} {
		if x.v == "" {
			continue
		}
		n, err := strconv.Atoi(x.v)
		if err != nil || n < 0 {
			return in, fmt.Errorf("%s %q is not a positive whole number: %w", x.what, x.v, groups.ErrInvalid)
		}
		*x.dst = n
	}
	return in, nil
}

// handleGroupTimings changes an existing group's window, OCS timings and
// download latencies, keeping its name, search and members.
func (u *UI) handleGroupTimings(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := u.deps.Groups.Group(ctx, id)
	if err != nil {
		return err
	}
	get := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := groupForm{Window: get("window"), PrologFreq: get("prolog_freq_hours"), OCSTimings: get("ocs_timings"),
		Cycle: get("cycle_latency"), Frag: get("frag_latency"), Period: get("period_latency")}
	in, err := f.timings()
	if err == nil {
		g := d.Group
		in.Name, in.Description = g.Name, g.Description
		if q, perr := url.ParseQuery(g.Filter); perr == nil && len(q) > 0 {
			in.Filter = q
		}
		if _, err = u.deps.Groups.UpdateGroup(ctx, u.actor(c), id, in); err == nil {
			return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, id))
		}
	}
	msg := userMessage(err)
	if msg == "" {
		return err
	}
	return u.groupPage(c, id, http.StatusBadRequest, msg)
}

func (u *UI) groupPage(c echo.Context, id uint, code int, msg string) error {
	ctx := c.Request().Context()
	d, err := u.deps.Groups.Group(ctx, id)
	if err != nil {
		return err
	}
	v := groupView{G: d, Error: msg}
	if d.Group.Dynamic() {
		v.Search = strings.ReplaceAll(d.Group.Filter, "&", " ")
		if uq, err := url.QueryUnescape(v.Search); err == nil {
			v.Search = uq
		}
	}
	show := d.Members
	if len(show) > 200 {
		v.More, show = len(show)-200, show[:200]
	}
	if len(show) > 0 {
		v.Members, _, err = u.deps.Store.SearchComputers(ctx, store.ComputerFilter{IDs: show, Limit: 1000})
		if err != nil {
			return err
		}
	}
	if v.Packages, err = u.activePackages(ctx); err != nil {
		return err
	}
	return u.render(c, code, "group", d.Group.Name, "groups", v)
}

func (u *UI) handleGroup(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	return u.groupPage(c, id, http.StatusOK, "")
}

// handleGroupMembers adds (or, with remove=1, removes) computers of a
// static group.
func (u *UI) handleGroupMembers(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ids, err := parseIDs(c.FormValue("computers"))
	if err == nil {
		err = u.deps.Groups.AddMembers(c.Request().Context(), u.actor(c), id, ids, c.FormValue("remove") == "1")
	}
	if err != nil {
		msg := userMessage(err)
		if msg == "" && !strings.Contains(err.Error(), "computer id") {
			return err
		}
		if msg == "" {
			msg = err.Error()
		}
		return u.groupPage(c, id, http.StatusBadRequest, msg)
	}
	return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, id))
}

func (u *UI) handleDeleteGroup(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Groups.DeleteGroup(c.Request().Context(), u.actor(c), id); err != nil {
		if msg := userMessage(err); msg != "" {
			return u.groupPage(c, id, http.StatusConflict, msg)
		}
		return err
	}
	return seeOther(c, uiPrefix+"/groups")
}

// handleAssign assigns a package to the group of the form (group_id), to
// a site (site_id, baseline) or to a copy of a saved search's criteria
// (saved_search).
func (u *UI) handleAssign(c echo.Context) error {
	in := groups.AssignInput{PackageID: c.FormValue("package"), After: c.FormValue("after"), Baseline: c.FormValue("baseline") == "1",
		Reboot: c.FormValue("reboot") == "1"}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"stage", &in.Stage}, {"stage_percent", &in.StagePercent}, {"max_failure_percent", &in.MaxFailurePercent}} {
		v := strings.TrimSpace(c.FormValue(f.name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // refused by Assign with a clear message
		}
		*f.dst = n
	}
	var groupID uint
	if s := c.FormValue("group_id"); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return &userError{msg: "Choose a group.", err: errPageNotFound}
		}
		groupID = uint(n)
		in.GroupID = &groupID
	}
	if s := c.FormValue("site_id"); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return &userError{msg: "Choose a site.", err: errPageNotFound}
		}
		sid := uint(n)
		in.SiteID = &sid
	}
	var err error
	if ref := strings.TrimSpace(c.FormValue("saved_search")); ref != "" {
		in.Search, err = u.groupFilter(c, groupForm{Saved: ref})
	}
	if err == nil {
		_, err = u.deps.Groups.Assign(c.Request().Context(), u.actor(c), in)
	}
	if err == nil {
		if groupID != 0 {
			return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, groupID))
		}
		return seeOther(c, uiPrefix+"/groups")
	}
	msg := userMessage(err)
	if msg == "" {
		return err
	}
	if groupID != 0 {
		return u.groupPage(c, groupID, http.StatusBadRequest, msg)
	}
	v, verr := u.groupsView(c.Request().Context(), c, groupForm{})
	if verr != nil {
		return verr
	}
	v.AssignError = msg
	return u.render(c, http.StatusBadRequest, "groups", "Groups", "groups", v)
}

func (u *UI) handleUnassign(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	a, err := u.deps.Groups.Assignment(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if err := u.deps.Groups.Unassign(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	if a.Assignment.GroupID != nil {
		return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, *a.Assignment.GroupID))
	}
	return seeOther(c, uiPrefix+"/groups")
}

func (u *UI) handleResume(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	a, err := u.deps.Groups.Resume(c.Request().Context(), u.actor(c), id)
	if err != nil {
		return err
	}
	if a.Assignment.GroupID != nil {
		return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, *a.Assignment.GroupID))
	}
	return seeOther(c, uiPrefix+"/groups")
}
