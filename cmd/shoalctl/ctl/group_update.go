package ctl

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// runGroupsUpdate changes the fields of a group whose flags are given
// (PATCH /groups/{id}); the others keep their values.
func runGroupsUpdate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("groups update")
	name := set.String("name", "", "new name")
	desc := set.String("description", "", "description")
	window := set.String("window", "", `deployment window of the group's assignments ("mon-fri 22:00-06:00"; always: the members' site windows)`)
	freq := set.Int("prolog-freq", 0, "PROLOG_FREQ hours of the group's OCS agents (0: the agent settings')")
	timings := set.String("ocs-timings", "", "OCS download latencies: short, default, or auto (the site's)")
	cycle := set.Int("cycle-latency", 0, "OCS CYCLE_LATENCY seconds of the group's agents (0: not set)")
	frag := set.Int("frag-latency", 0, "OCS FRAG_LATENCY seconds (0: not set)")
	period := set.Int("period-latency", 0, "OCS PERIOD_LATENCY seconds (0: not set)")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	var p api.GroupPatch
	n := 0
	set.Visit(func(f *flag.Flag) {
		n++
		switch f.Name {
		case "name":
			p.Name = name
		case "description":
			p.Description = desc
		case "window":
			w := windowValue(*window)
			p.Window = &w
		case "prolog-freq":
			p.PrologFreqHours = freq
		case "ocs-timings":
			t := ocsTimingsValue(*timings)
			p.OCSTimings = &t
		case "cycle-latency":
			p.CycleLatency = cycle
		case "frag-latency":
			p.FragLatency = frag
		case "period-latency":
			p.PeriodLatency = period
		default:
			n-- // global flags such as -o
		}
	})
	if n == 0 {
		return &usageError{msg: "give at least one field to change"}
	}
	var g api.Group
	if err := c.call(ctx, "PATCH", groupPath(pos[0]), nil, p, &g); err != nil {
		return err
	}
	return c.report(g, "Updated group %d %s: %s.\n", g.ID, g.Name, groupTimingsText(g))
}

// groupTimingsText describes a group's window and OCS agent timings.
func groupTimingsText(g api.Group) string {
	parts := []string{"window " + g.Window}
	if g.Window == "" {
		parts[0] = "window: the members' site windows"
	}
	if g.PrologFreqHours > 0 {
		parts = append(parts, fmt.Sprintf("PROLOG every %d h", g.PrologFreqHours))
	}
	if g.OCSTimings != "" {
		parts = append(parts, g.OCSTimings+" download latencies")
	}
	for _, l := range []struct {
		what string
		v    int
	}{{"cycle", g.CycleLatency}, {"fragment", g.FragLatency}, {"period", g.PeriodLatency}} {
		if l.v > 0 {
			parts = append(parts, fmt.Sprintf("%s latency %d s", l.what, l.v))
		}
	}
	return strings.Join(parts, ", ")
}
