package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/groups"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// groupRoutes are the routes of groups and assignments (desired state).
func (s *Server) groupRoutes() []route {
	return []route{
		{Method: "GET", Path: "/groups", Handler: s.listGroups, Summary: "List groups with their member counts", Tag: "groups", Resp: api.List[api.Group]{}, Status: 200},
		{Method: "POST", Path: "/groups", Handler: s.createGroup, Summary: "Create a static group (members) or a dynamic one (search; saved_search in it copies a saved search's criteria)", Tag: "groups", Body: api.GroupRequest{}, Resp: api.Group{}, Status: 201},
		{Method: "GET", Path: "/groups/:id", Handler: s.getGroup, Summary: "A group (by id or name) with its members and assignments", Tag: "groups", Resp: api.Group{}, Status: 200},
		{Method: "PUT", Path: "/groups/:id", Handler: s.updateGroup, Summary: "Replace a group (every field: one left out is cleared; PATCH keeps them); its assignments follow at once", Tag: "groups", Body: api.GroupRequest{}, Resp: api.Group{}, Status: 200},
		{Method: "PATCH", Path: "/groups/:id", Handler: s.patchGroup, Summary: "Change some fields of a group (name, search, members, window, OCS timings and latencies); fields left out keep their values", Tag: "groups", Body: api.GroupPatch{}, Resp: api.Group{}, Status: 200},
		{Method: "DELETE", Path: "/groups/:id", Handler: s.deleteGroup, Summary: "Delete a group no assignment targets", Tag: "groups", Status: 204},
		{Method: "POST", Path: "/groups/:id/members", Handler: s.addGroupMembers, Summary: "Add computers to a static group", Tag: "groups", Body: api.GroupMembersRequest{}, Resp: api.Group{}, Status: 200},
		{Method: "POST", Path: "/groups/:id/members/remove", Handler: s.removeGroupMembers, Summary: "Remove computers from a static group (pending deployments of its assignments are cancelled)", Tag: "groups", Body: api.GroupMembersRequest{}, Resp: api.Group{}, Status: 200},
		{Method: "GET", Path: "/computers/:id/groups", Handler: s.computerGroups, Summary: "The groups of a computer", Tag: "groups", Resp: api.List[api.Group]{}, Status: 200},

		{Method: "GET", Path: "/assignments", Handler: s.listAssignments, Summary: "Assignments (desired state) with members, done, pending, failed", Tag: "assignments",
			Query: []param{{Name: "package", Desc: "package id"}, {Name: "group", Desc: "group id", Int: true}, {Name: "site", Desc: "site id", Int: true}},
			Resp:  api.List[api.Assignment]{}, Status: 200},
		{Method: "POST", Path: "/assignments", Handler: s.createAssignment, Summary: "Assign a package to a group, a site or a saved search, now and for computers that join later", Tag: "assignments", Body: api.AssignmentRequest{}, Resp: api.Assignment{}, Status: 201},
		{Method: "GET", Path: "/assignments/:id", Handler: s.getAssignment, Summary: "An assignment with its counts", Tag: "assignments", Resp: api.Assignment{}, Status: 200},
		{Method: "POST", Path: "/assignments/:id/resume", Handler: s.resumeAssignment, Summary: "Resume a paused staged rollout (the failures so far are accepted)", Tag: "assignments", Resp: api.Assignment{}, Status: 200},
		{Method: "DELETE", Path: "/assignments/:id", Handler: s.deleteAssignment, Summary: "Remove an assignment: installs stay, pending deployments are cancelled", Tag: "assignments", Status: 204},
	}
}

// searchValues converts an API saved search into query values.
func searchValues(m map[string]string) url.Values {
	if len(m) == 0 {
		return nil
	}
	v := url.Values{}
	for k, x := range m {
		v.Set(k, x)
	}
	return v
}

func searchMap(q string) map[string]string {
	v, err := url.ParseQuery(q)
	if err != nil || len(v) == 0 {
		return nil
	}
	out := make(map[string]string, len(v))
	for k := range v {
		out[k] = v.Get(k)
	}
	return out
}

func toAPIGroup(g store.Group, members int64) api.Group {
	return api.Group{ID: g.ID, Name: g.Name, Description: g.Description, Dynamic: g.Dynamic(), Search: searchMap(g.Filter),
		Window: g.Window, PrologFreqHours: g.PrologFreqHours, OCSTimings: g.OCSTimings, Members: members,
		CycleLatency: g.CycleLatency, FragLatency: g.FragLatency, PeriodLatency: g.PeriodLatency, EvaluatedAt: g.EvaluatedAt, CreatedAt: g.CreatedAt}
}

// toAPIAssignment converts an assignment's status.
func toAPIAssignment(a groups.AssignmentStatus) api.Assignment {
	m := a.Assignment
	return api.Assignment{ID: m.ID, PackageID: m.PackageID, Target: m.Target, GroupID: m.GroupID, SiteID: m.SiteID,
		Search: searchMap(m.Filter), TargetName: a.TargetName, After: m.AfterPackageID, Baseline: m.Baseline,
		Members: a.Members, Done: a.Done, Pending: a.Pending, Failed: a.Failed, Held: a.Held, Cancelled: a.Cancelled,
		Skipped: a.Skipped, CreatedAt: m.CreatedAt, Stage: m.StageSize, StagePercent: m.StagePercent,
		MaxFailurePercent: m.MaxFailurePercent, Paused: m.Paused, PausedReason: m.PausedReason, Reboot: m.Reboot}
}

func (s *Server) listGroups(c echo.Context) error {
	gs, err := s.deps.Groups.Groups(c.Request().Context())
	if err != nil {
		return err
	}
	out := api.List[api.Group]{Items: make([]api.Group, 0, len(gs)), Total: int64(len(gs)), Limit: len(gs)}
	for _, g := range gs {
		out.Items = append(out.Items, toAPIGroup(g.Group, g.Members))
	}
	return c.JSON(http.StatusOK, out)
}

// groupAnswer answers with a group's detail.
func (s *Server) groupAnswer(c echo.Context, status int, id uint) error {
	d, err := s.deps.Groups.Group(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := toAPIGroup(d.Group, int64(len(d.Members)))
	out.MemberIDs = d.Members
	for _, a := range d.Assignments {
		out.Assignments = append(out.Assignments, toAPIAssignment(a))
	}
	return c.JSON(status, out)
}

// groupRef resolves the :id parameter, a group id or name.
func (s *Server) groupRef(c echo.Context) (uint, error) {
	g, err := s.deps.Groups.Resolve(c.Request().Context(), c.Param("id"))
	if err != nil {
		return 0, err
	}
	return g.ID, nil
}

func groupInput(r api.GroupRequest) groups.GroupInput {
	return groups.GroupInput{Name: r.Name, Description: r.Description, Filter: searchValues(r.Search), Members: r.Members, Window: r.Window,
		PrologFreqHours: r.PrologFreqHours, OCSTimings: r.OCSTimings, CycleLatency: r.CycleLatency, FragLatency: r.FragLatency, PeriodLatency: r.PeriodLatency}
}

func (s *Server) createGroup(c echo.Context) error {
	var req api.GroupRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.expandSavedSearch(c, req.Search); err != nil {
		return err
	}
	g, err := s.deps.Groups.CreateGroup(c.Request().Context(), s.actor(c), groupInput(req))
	if err != nil {
		return err
	}
	return s.groupAnswer(c, http.StatusCreated, g.ID)
}

func (s *Server) getGroup(c echo.Context) error {
	id, err := s.groupRef(c)
	if err != nil {
		return err
	}
	return s.groupAnswer(c, http.StatusOK, id)
}

func (s *Server) updateGroup(c echo.Context) error {
	id, err := s.groupRef(c)
	if err != nil {
		return err
	}
	var req api.GroupRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.expandSavedSearch(c, req.Search); err != nil {
		return err
	}
	if _, err := s.deps.Groups.UpdateGroup(c.Request().Context(), s.actor(c), id, groupInput(req)); err != nil {
		return err
	}
	return s.groupAnswer(c, http.StatusOK, id)
}

// patchGroup applies the fields a GroupPatch sets to the group as stored.
func (s *Server) patchGroup(c echo.Context) error {
	id, err := s.groupRef(c)
	if err != nil {
		return err
	}
	var p api.GroupPatch
	if err := s.bindJSON(c, &p); err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := s.deps.Groups.Group(ctx, id)
	if err != nil {
		return err
	}
	g := d.Group
	in := groups.GroupInput{Name: g.Name, Description: g.Description, Window: g.Window, PrologFreqHours: g.PrologFreqHours,
		OCSTimings: g.OCSTimings, CycleLatency: g.CycleLatency, FragLatency: g.FragLatency, PeriodLatency: g.PeriodLatency}
	if q, err := url.ParseQuery(g.Filter); err == nil && len(q) > 0 {
		in.Filter = q
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&in.Name, p.Name)
	set(&in.Description, p.Description)
	set(&in.Window, p.Window)
	set(&in.OCSTimings, p.OCSTimings)
	setInt(&in.PrologFreqHours, p.PrologFreqHours)
	setInt(&in.CycleLatency, p.CycleLatency)
	setInt(&in.FragLatency, p.FragLatency)
	setInt(&in.PeriodLatency, p.PeriodLatency)
	if p.Search != nil {
		in.Filter = searchValues(*p.Search)
	}
	if p.Members != nil {
		in.Members = *p.Members
		if in.Members == nil {
			in.Members = []uint{}
		}
	}
	if _, err := s.deps.Groups.UpdateGroup(ctx, s.actor(c), id, in); err != nil {
		return err
	}
	return s.groupAnswer(c, http.StatusOK, id)
}

func (s *Server) deleteGroup(c echo.Context) error {
	id, err := s.groupRef(c)
	if err != nil {
		return err
	}
	if err := s.deps.Groups.DeleteGroup(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) changeGroupMembers(c echo.Context, remove bool) error {
	id, err := s.groupRef(c)
	if err != nil {
		return err
	}
	var req api.GroupMembersRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Groups.AddMembers(c.Request().Context(), s.actor(c), id, req.ComputerIDs, remove); err != nil {
		return err
	}
	return s.groupAnswer(c, http.StatusOK, id)
}

func (s *Server) addGroupMembers(c echo.Context) error    { return s.changeGroupMembers(c, false) }
func (s *Server) removeGroupMembers(c echo.Context) error { return s.changeGroupMembers(c, true) }

func (s *Server) computerGroups(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	if _, err := s.deps.Store.Computer(c.Request().Context(), id); err != nil {
		return err
	}
	gs, err := s.deps.Groups.GroupsOfComputer(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := api.List[api.Group]{Items: make([]api.Group, 0, len(gs)), Total: int64(len(gs)), Limit: len(gs)}
	for _, g := range gs {
		out.Items = append(out.Items, toAPIGroup(g, 0))
	}
	return c.JSON(http.StatusOK, out)
}

// optUint reads an optional positive integer query parameter.
func optUint(c echo.Context, name string) (*uint, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%s must be a positive integer, got %q: %w", name, v, errBadRequest)
	}
	id := uint(n)
	return &id, nil
}

func (s *Server) listAssignments(c echo.Context) error {
	f := store.AssignmentFilter{PackageID: c.QueryParam("package")}
	var err error
	if f.GroupID, err = optUint(c, "group"); err != nil {
		return err
	}
	if f.SiteID, err = optUint(c, "site"); err != nil {
		return err
	}
	as, err := s.deps.Groups.Assignments(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := api.List[api.Assignment]{Items: make([]api.Assignment, 0, len(as)), Total: int64(len(as)), Limit: len(as)}
	for _, a := range as {
		out.Items = append(out.Items, toAPIAssignment(a))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createAssignment(c echo.Context) error {
	var req api.AssignmentRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	a, err := s.deps.Groups.Assign(c.Request().Context(), s.actor(c), groups.AssignInput{PackageID: req.PackageID,
		GroupID: req.GroupID, SiteID: req.SiteID, Search: searchValues(req.Search), After: req.After, Baseline: req.Baseline,
		Stage: req.Stage, StagePercent: req.StagePercent, MaxFailurePercent: req.MaxFailurePercent, Reboot: req.Reboot})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAPIAssignment(*a))
}

func (s *Server) getAssignment(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Groups.Assignment(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIAssignment(*a))
}

func (s *Server) deleteAssignment(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Groups.Unassign(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) resumeAssignment(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.deps.Groups.Resume(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIAssignment(*a))
}
