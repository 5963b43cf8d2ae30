package ctl

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// groupPath is the API path of a group given by name or ID.
func groupPath(ref string) string { return "/groups/" + url.PathEscape(strings.TrimSpace(ref)) }

// searchMap returns the search flags that are set, a site name resolved
// to its ID.
func (c *cli) searchMap(ctx context.Context, f filterFlags) (map[string]string, error) {
	if err := f.resolveSite(ctx, c); err != nil {
		return nil, err
	}
	if _, err := f.filter(); err != nil {
		return nil, err
	}
	v := f.values()
	if len(v) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for k := range v {
		out[k] = v.Get(k)
	}
	return out, nil
}

func searchText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func runGroupsList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("groups list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.Group]
	return c.show(ctx, "/groups", nil, &l, func() error {
		t := c.table("ID", "NAME", "KIND", "MEMBERS", "SEARCH")
		for _, g := range l.Items {
			kind := "static"
			if g.Dynamic {
				kind = "dynamic"
			}
			t.row(g.ID, g.Name, kind, g.Members, searchText(g.Search))
		}
		return t.flush()
	})
}

func runGroupsCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("groups create")
	var ids uintList
	set.Var(&ids, "computer", "member computer id of a static group (repeat or comma-separate)")
	desc := set.String("description", "", "description")
	window := set.String("window", "", `deployment window of the group's assignments, such as "sat,sun 00:00-24:00"`)
	freq := set.Int("prolog-freq", 0, "PROLOG_FREQ hours of the group's OCS agents (0: the agent settings')")
	timings := set.String("ocs-timings", "", "OCS download latencies of the group's agents: short, default, or auto (the site's)")
	cycle := set.Int("cycle-latency", 0, "OCS CYCLE_LATENCY seconds of the group's agents (0: not set)")
	frag := set.Int("frag-latency", 0, "OCS FRAG_LATENCY seconds (0: not set)")
	period := set.Int("period-latency", 0, "OCS PERIOD_LATENCY seconds (0: not set)")
	filter := addFilterFlags(set)
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	search, err := c.searchMap(ctx, filter)
	if err != nil {
		return err
	}
	req := api.GroupRequest{Name: pos[0], Description: *desc, Search: search, Members: ids, Window: windowValue(*window),
		PrologFreqHours: *freq, OCSTimings: ocsTimingsValue(*timings), CycleLatency: *cycle, FragLatency: *frag, PeriodLatency: *period}
	var g api.Group
	if err := c.call(ctx, "POST", "/groups", nil, req, &g); err != nil {
		return err
	}
	kind := "static"
	if g.Dynamic {
		kind = "dynamic (" + searchText(g.Search) + ")"
	}
	return c.report(g, "Created group %d %s, %s: %s.\n", g.ID, g.Name, kind, plural(int(g.Members), "member"))
}

func runGroupsShow(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("groups show"), args, 1, 1)
	if err != nil {
		return err
	}
	var g api.Group
	return c.show(ctx, groupPath(pos[0]), nil, &g, func() error {
		kind := "static"
		if g.Dynamic {
			kind = "dynamic: " + searchText(g.Search)
		}
		fmt.Fprintf(c.io.Stdout, "Group %d %s (%s), %s\n", g.ID, g.Name, kind, plural(int(g.Members), "member"))
		if g.Window != "" {
			fmt.Fprintf(c.io.Stdout, "Window: %s\n", g.Window)
		}
		if len(g.MemberIDs) > 0 {
			ids := make([]string, len(g.MemberIDs))
			for i, id := range g.MemberIDs {
				ids[i] = fmt.Sprint(id)
			}
			fmt.Fprintf(c.io.Stdout, "Computers: %s\n", strings.Join(ids, ", "))
		}
		if len(g.Assignments) == 0 {
			return nil
		}
		fmt.Fprintln(c.io.Stdout)
		return c.assignmentTable(g.Assignments)
	})
}

func (c *cli) assignmentTable(as []api.Assignment) error {
	t := c.table("ID", "PACKAGE", "TARGET", "AFTER", "MEMBERS", "DONE", "PENDING", "FAILED", "HELD", "ROLLOUT")
	var paused []string
	for _, a := range as {
		target := a.Target + " " + a.TargetName
		if a.Baseline {
			target += " (baseline)"
		}
		rollout := ""
		switch {
		case a.Stage > 0:
			rollout = fmt.Sprintf("%d/site", a.Stage)
		case a.StagePercent > 0:
			rollout = fmt.Sprintf("%d%%/site", a.StagePercent)
		}
		if a.Paused {
			rollout += " PAUSED"
			paused = append(paused, fmt.Sprintf("Assignment %d paused: %s (shoalctl resume %d)", a.ID, a.PausedReason, a.ID))
		}
		t.row(a.ID, a.PackageID, target, a.After, a.Members, a.Done, a.Pending, a.Failed, a.Held, rollout)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, p := range paused {
		fmt.Fprintln(c.io.Stdout, p)
	}
	return nil
}

func runGroupsMembers(remove bool) func(ctx context.Context, c *cli, args []string) error {
	return func(ctx context.Context, c *cli, args []string) error {
		name := "groups add"
		if remove {
			name = "groups remove"
		}
		set := c.flags(name)
		var ids uintList
		set.Var(&ids, "computer", "computer id (repeat or comma-separate)")
		pos, err := c.parse(set, args, 1, 1)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return &usageError{msg: "name computers with --computer"}
		}
		path := groupPath(pos[0]) + "/members"
		if remove {
			path += "/remove"
		}
		var g api.Group
		if err := c.call(ctx, "POST", path, nil, api.GroupMembersRequest{ComputerIDs: ids}, &g); err != nil {
			return err
		}
		return c.report(g, "Group %s now has %s.\n", g.Name, plural(int(g.Members), "member"))
	}
}

func runGroupsDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("groups delete"), args, 1, 1)
	if err != nil {
		return err
	}
	if err := c.call(ctx, "DELETE", groupPath(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	return c.report(map[string]string{"deleted": pos[0]}, "Deleted group %s.\n", pos[0])
}

func runAssign(ctx context.Context, c *cli, args []string) error {
	set := c.flags("assign")
	group := set.String("group", "", "target group, name or id")
	after := set.String("after", "", "hold each computer's deployment until this package succeeded on it")
	baseline := set.Bool("baseline", false, "with --site alone: only computers that join the site from now on")
	stage := set.Int("stage", 0, "staged rollout: computers per site and wave")
	stagePct := set.Int("stage-percent", 0, "staged rollout: percent of each site's computers per wave")
	maxFail := set.Int("max-failures", 0, "staged rollout: percent of finished deployments that may fail before it pauses")
	reboot := set.Bool("reboot", false, "OCS agents reboot after a successful install (POSTCMD=REBOOT, Windows agents)")
	filter := addFilterFlags(set)
	id, err := c.parsePackage(set, args)
	if err != nil {
		return err
	}
	req := api.AssignmentRequest{PackageID: id, After: *after, Baseline: *baseline, Stage: *stage, StagePercent: *stagePct, MaxFailurePercent: *maxFail, Reboot: *reboot}
	if *group != "" {
		var g api.Group
		if err := c.call(ctx, "GET", groupPath(*group), nil, nil, &g); err != nil {
			return err
		}
		req.GroupID = &g.ID
	}
	if req.Search, err = c.searchMap(ctx, filter); err != nil {
		return err
	}
	if sid, ok := req.Search[api.QuerySite]; ok && len(req.Search) == 1 {
		// --site alone targets the site itself (its computers now and later).
		n, err := idArg(sid, "site")
		if err != nil {
			return err
		}
		req.SiteID, req.Search = &n, nil
	}
	if req.GroupID == nil && req.SiteID == nil && req.Search == nil {
		return &usageError{msg: "name a target: --group, --site, or search flags (--name, --os, --software, …) for a saved search"}
	}
	var a api.Assignment
	if err := c.call(ctx, "POST", "/assignments", nil, req, &a); err != nil {
		return err
	}
	return c.report(a, "Assignment %d: package %s on %s %s: %s, %d pending, %d held, %d skipped.\n",
		a.ID, a.PackageID, a.Target, a.TargetName, plural(int(a.Members), "member"), a.Pending, a.Held, a.Skipped)
}

func runAssignments(ctx context.Context, c *cli, args []string) error {
	set := c.flags("assignment list")
	pkg := set.String("package", "", "only this package's assignments")
	watch, interval := addWatch(set)
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if *pkg != "" {
		q.Set("package", *pkg)
	}
	return c.repeat(ctx, *watch, *interval, func() error {
		var l api.List[api.Assignment]
		return c.show(ctx, "/assignments", q, &l, func() error { return c.assignmentTable(l.Items) })
	})
}

func runUnassign(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("unassign"), args, "assignment")
	if err != nil {
		return err
	}
	if err := c.call(ctx, "DELETE", fmt.Sprintf("/assignments/%d", id), nil, nil, nil); err != nil {
		return err
	}
	return c.report(map[string]uint{"deleted": id}, "Removed assignment %d: installs stay, pending deployments are cancelled.\n", id)
}

func runResume(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("resume"), args, "assignment")
	if err != nil {
		return err
	}
	var a api.Assignment
	if err := c.call(ctx, "POST", fmt.Sprintf("/assignments/%d/resume", id), nil, nil, &a); err != nil {
		return err
	}
	return c.report(a, "Resumed assignment %d of package %s: %d done, %d pending, %d failed, %d held.\n", a.ID, a.PackageID, a.Done, a.Pending, a.Failed, a.Held)
}

// runGroupsWindow sets or clears (always) the deployment window of a
// group's assignments, keeping its name, search and members.
func runGroupsWindow(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("groups window"), args, 2, 2)
	if err != nil {
		return err
	}
	var g api.Group
	if err := c.call(ctx, "GET", groupPath(pos[0]), nil, nil, &g); err != nil {
		return err
	}
	req := api.GroupRequest{Name: g.Name, Description: g.Description, Search: g.Search, Window: windowValue(pos[1]),
		PrologFreqHours: g.PrologFreqHours, OCSTimings: g.OCSTimings, CycleLatency: g.CycleLatency, FragLatency: g.FragLatency, PeriodLatency: g.PeriodLatency}
	if err := c.call(ctx, "PUT", fmt.Sprintf("/groups/%d", g.ID), nil, req, &g); err != nil {
		return err
	}
	w := g.Window
	if w == "" {
		w = "always (the members' site windows)"
	}
	return c.report(g, "Group %d %s installs: %s.\n", g.ID, g.Name, w)
}
