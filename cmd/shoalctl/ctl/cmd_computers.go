package ctl

import (
	"context"
	"flag"
	"fmt"

	"github.com/shoal-project/shoal/proto/api"
)

func runComputers(ctx context.Context, c *cli, args []string) error {
	set := c.flags("computers")
	filter := addFilterFlags(set)
	limit := set.Int("limit", 50, "page size, 1..1000")
	offset := set.Int("offset", 0, "computers to skip")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	if err := filter.resolveSite(ctx, c); err != nil {
		return err
	}
	if _, err := filter.filter(); err != nil {
		return err
	}
	q := filter.values()
	for k, v := range page(*limit, *offset) {
		q[k] = v
	}
	var l api.List[api.Computer]
	return c.show(ctx, "/computers", q, &l, func() error {
		t := c.table("ID", "NAME", "OS", "+OS VERSION", "+ARCH", "IP", "+MAC", "+SERIAL", "SITE", "+SOURCE", "+LAST INVENTORY", "LAST CONTACT")
		for _, m := range l.Items {
			t.row(m.ID, m.Name, m.OSName, m.OSVersion, m.Arch, m.IPAddr, m.MAC, m.Serial, m.SiteName, m.Source, when(m.LastInventory), when(m.LastContact))
		}
		if err := t.flush(); err != nil {
			return err
		}
		return c.more(len(l.Items), l.Offset, l.Total)
	})
}

func runComputerShow(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("computers show"), args, "computer")
	if err != nil {
		return err
	}
	var d api.ComputerDetail
	return c.show(ctx, fmt.Sprintf("/computers/%d", id), nil, &d, func() error { return c.printComputer(&d) })
}

func runComputerTag(ctx context.Context, c *cli, args []string) error {
	rest, err := c.parse(c.flags("computers tag"), args, 2, 2)
	if err != nil {
		return err
	}
	id, err := idArg(rest[0], "computer")
	if err != nil {
		return err
	}
	var out api.TagRequest
	if err := c.call(ctx, "PUT", fmt.Sprintf("/computers/%d/tag", id), nil, api.TagRequest{Tag: rest[1]}, &out); err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Computer %d: TAG %q; an OCS agent adopts it at its next inventory.\n", id, out.Tag)
	return nil
}

// printComputer prints a computer's summary and its deployments.
func (c *cli) printComputer(d *api.ComputerDetail) error {
	t := newTable(c.io.Stdout)
	for _, kv := range [][2]any{
		{"ID", d.ID}, {"Name", d.Name}, {"Device ID", d.DeviceID}, {"OS", d.OSName + " " + d.OSVersion},
		{"IP", d.IPAddr}, {"Site", d.SiteName}, {"CPUs", fmt.Sprintf("%d x %s", d.ProcessorCount, d.ProcessorType)},
		{"Memory", fmt.Sprintf("%d MB", d.MemoryMB)}, {"Software", plural(len(d.Softwares), "package")},
		{"TAG", d.AccountInfo["TAG"]}, {"Last inventory", when(d.LastInventory)}, {"Last contact", when(d.LastContact)},
	} {
		t.row(fmt.Sprint(kv[0])+":", kv[1])
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.io.Stdout, "\nDeployments:")
	dt := c.table("ID", "PACKAGE", "STATE", "RESULT", "LAST CHANGE")
	for _, x := range d.Deployments {
		dt.row(x.ID, x.PackageID+" "+x.PackageName, x.State, x.ResultCode, when(&x.UpdatedAt))
	}
	return dt.flush()
}

func runSitesList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("sites list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.Site]
	return c.show(ctx, "/sites", nil, &l, func() error {
		t := c.table("ID", "NAME", "CIDRS", "FRAGMENT LOCATION", "+TIME ZONE", "+WINDOW", "COMPUTERS")
		for _, s := range l.Items {
			t.row(s.ID, s.Name, (*stringList)(&s.CIDRs).String(), s.FragmentLocation, s.TimeZone, s.Window, s.Computers)
		}
		return t.flush()
	})
}

// siteFlags are the options of sites create and sites update.
type siteFlags struct {
	name, description, location, timeZone, ocsTimings, window *string
	cidrs                                                     stringList
}

// addSiteFlags returns the flags of the site command cmd.
func addSiteFlags(c *cli, cmd string) (*siteFlags, *flag.FlagSet) {
	set := c.flags(cmd)
	f := &siteFlags{
		name:        set.String("name", "", "site name"),
		description: set.String("description", "", "description"),
		location:    set.String("fragment-location", "", "where the site's OCS agents fetch fragments, host[:port]/path"),
		timeZone:    set.String("time-zone", "", "IANA time zone of the site, such as Europe/Paris"),
		ocsTimings:  set.String("ocs-timings", "", "OCS download latencies: short, default, or auto (short when a relay serves the site)"),
		window:      set.String("window", "", `deployment window in the site's time zone, such as "mon-fri 22:00-06:00"; always: no window`),
	}
	set.Var(&f.cidrs, "cidr", "CIDR range (repeat or comma-separate)")
	return f, set
}

// printSite reports that a site was created or updated, as verb says.
func (c *cli) printSite(s *api.Site, verb string) error {
	moved := ""
	if s.ComputersMoved != nil && *s.ComputersMoved > 0 {
		moved = fmt.Sprintf(" (%d computers moved to it)", *s.ComputersMoved)
		if *s.ComputersMoved == 1 {
			moved = " (1 computer moved to it)"
		}
	}
	return c.report(s, "%s site %d %s: %s%s\n", verb, s.ID, s.Name, (*stringList)(&s.CIDRs).String(), moved)
}

func runSitesCreate(ctx context.Context, c *cli, args []string) error {
	f, set := addSiteFlags(c, "sites create")
	pos, err := c.parse(set, args, 0, 1)
	if err != nil {
		return err
	}
	req := api.SiteRequest{Name: *f.name, Description: *f.description, CIDRs: f.cidrs, FragmentLocation: *f.location, TimeZone: *f.timeZone,
		OCSTimings: ocsTimingsValue(*f.ocsTimings), Window: windowValue(*f.window)}
	if len(pos) == 1 {
		req.Name = pos[0]
	}
	if req.Name == "" {
		return &usageError{msg: "a site needs a name"}
	}
	var s api.Site
	if err := c.call(ctx, "POST", "/sites", nil, req, &s); err != nil {
		return err
	}
	return c.printSite(&s, "Created")
}

func runSitesUpdate(ctx context.Context, c *cli, args []string) error {
	f, set := addSiteFlags(c, "sites update")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := c.siteRef(ctx, pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var cur api.Site
	if err := cl.Do(ctx, "GET", fmt.Sprintf("/sites/%d", id), nil, nil, &cur); err != nil {
		return err
	}
	req := api.SiteRequest{Name: cur.Name, Description: cur.Description, CIDRs: cur.CIDRs, FragmentLocation: cur.FragmentLocation, TimeZone: cur.TimeZone,
		OCSTimings: cur.OCSTimings, Window: cur.Window}
	if *f.window != "" {
		req.Window = windowValue(*f.window)
	}
	if *f.ocsTimings != "" {
		req.OCSTimings = ocsTimingsValue(*f.ocsTimings)
	}
	if *f.timeZone != "" {
		req.TimeZone = *f.timeZone
	}
	if *f.name != "" {
		req.Name = *f.name
	}
	if *f.description != "" {
		req.Description = *f.description
	}
	if *f.location != "" {
		req.FragmentLocation = *f.location
	}
	if len(f.cidrs) > 0 {
		req.CIDRs = f.cidrs
	}
	var s api.Site
	if err := cl.Do(ctx, "PUT", fmt.Sprintf("/sites/%d", id), nil, req, &s); err != nil {
		return err
	}
	return c.printSite(&s, "Updated")
}

// ocsTimingsValue turns the -ocs-timings flag into the API's ocs_timings:
// auto is "" (central decides); other values go as written, and central
// refuses the unknown ones.
func ocsTimingsValue(v string) string {
	if v == "auto" {
		return ""
	}
	return v
}

// windowValue turns a --window flag into the API's window: always is ""
// (installs at any time).
func windowValue(v string) string {
	if v == "always" {
		return ""
	}
	return v
}

func runSitesDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("sites delete"), args, 1, 1)
	if err != nil {
		return err
	}
	id, err := c.siteRef(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/sites/%d", id), map[string]uint{"site_id": id}, "Deleted site %d.\n", id)
}
