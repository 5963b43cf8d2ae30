package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/shoal-project/shoal/proto/api"
)

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	return append(b, '\n'), nil
}

func idArg(s, what string) (uint, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, &usageError{msg: fmt.Sprintf("%s id must be a positive integer, not %q", what, s)}
	}
	return uint(n), nil
}

func runComputers(ctx context.Context, c *cli, args []string) error {
	set := c.flags("computers")
	filter := addFilterFlags(set)
	limit := set.Int("limit", 50, "page size, 1..1000")
	offset := set.Int("offset", 0, "computers to skip")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	if _, err := filter.filter(); err != nil {
		return err
	}
	q := filter.values()
	for k, v := range page(*limit, *offset) {
		q[k] = v
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var l api.List[api.Computer]
	if err := cl.Do(ctx, "GET", "/computers", q, nil, &l); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(l)
	}
	t := newTable(c.io.Stdout, "ID", "NAME", "OS", "IP", "SITE", "LAST CONTACT")
	for _, m := range l.Items {
		t.row(m.ID, m.Name, m.OSName, m.IPAddr, m.SiteName, when(m.LastContact))
	}
	if err := t.flush(); err != nil {
		return err
	}
	return c.more(len(l.Items), l.Offset, l.Total)
}

func runComputerShow(ctx context.Context, c *cli, args []string) error {
	set := c.flags("computers show")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := idArg(pos[0], "computer")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var d api.ComputerDetail
	if err := cl.Do(ctx, "GET", fmt.Sprintf("/computers/%d", id), nil, nil, &d); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(d)
	}
	t := newTable(c.io.Stdout)
	for _, kv := range [][2]any{
		{"ID", d.ID}, {"Name", d.Name}, {"Device ID", d.DeviceID}, {"OS", d.OSName + " " + d.OSVersion},
		{"IP", d.IPAddr}, {"Site", d.SiteName}, {"CPUs", fmt.Sprintf("%d x %s", d.ProcessorCount, d.ProcessorType)},
		{"Memory", fmt.Sprintf("%d MB", d.MemoryMB)}, {"Software", fmt.Sprintf("%d packages", len(d.Softwares))},
		{"TAG", d.AccountInfo["TAG"]}, {"Last inventory", when(d.LastInventory)}, {"Last contact", when(d.LastContact)},
	} {
		t.row(fmt.Sprint(kv[0])+":", kv[1])
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.io.Stdout, "\nDeployments:")
	dt := newTable(c.io.Stdout, "ID", "PACKAGE", "STATE", "RESULT", "LAST CHANGE")
	for _, x := range d.Deployments {
		dt.row(x.ID, x.PackageID+" "+x.PackageName, x.State, x.ResultCode, when(&x.UpdatedAt))
	}
	return dt.flush()
}

func runSitesList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("sites list")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var l api.List[api.Site]
	if err := cl.Do(ctx, "GET", "/sites", nil, nil, &l); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(l)
	}
	t := newTable(c.io.Stdout, "ID", "NAME", "CIDRS", "FRAGMENT LOCATION", "COMPUTERS")
	for _, s := range l.Items {
		t.row(s.ID, s.Name, (*stringList)(&s.CIDRs).String(), s.FragmentLocation, s.Computers)
	}
	return t.flush()
}

type siteFlags struct {
	name, description, location *string
	cidrs                       stringList
}

func addSiteFlags(c *cli, cmd string) (*siteFlags, func(args []string, minPos, maxPos int) ([]string, error)) {
	set := c.flags(cmd)
	f := &siteFlags{
		name:        set.String("name", "", "site name"),
		description: set.String("description", "", "description"),
		location:    set.String("fragment-location", "", "where the site's OCS agents fetch fragments, host[:port]/path"),
	}
	set.Var(&f.cidrs, "cidr", "CIDR range (repeat or comma-separate)")
	return f, func(args []string, minPos, maxPos int) ([]string, error) { return c.parse(set, args, minPos, maxPos) }
}

func (c *cli) printSite(s *api.Site, verb string) error {
	if c.json() {
		return c.printJSON(s)
	}
	_, err := fmt.Fprintf(c.io.Stdout, "%s site %d %s: %s\n", verb, s.ID, s.Name, (*stringList)(&s.CIDRs).String())
	return err
}

func runSitesCreate(ctx context.Context, c *cli, args []string) error {
	f, parse := addSiteFlags(c, "sites create")
	pos, err := parse(args, 0, 1)
	if err != nil {
		return err
	}
	req := api.SiteRequest{Name: *f.name, Description: *f.description, CIDRs: f.cidrs, FragmentLocation: *f.location}
	if len(pos) == 1 {
		req.Name = pos[0]
	}
	if req.Name == "" {
		return &usageError{msg: "a site needs a name"}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var s api.Site
	if err := cl.Do(ctx, "POST", "/sites", nil, req, &s); err != nil {
		return err
	}
	return c.printSite(&s, "Created")
}

func runSitesUpdate(ctx context.Context, c *cli, args []string) error {
	f, parse := addSiteFlags(c, "sites update")
	pos, err := parse(args, 1, 1)
	if err != nil {
		return err
	}
	id, err := idArg(pos[0], "site")
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
	req := api.SiteRequest{Name: cur.Name, Description: cur.Description, CIDRs: cur.CIDRs, FragmentLocation: cur.FragmentLocation}
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

func runSitesDelete(ctx context.Context, c *cli, args []string) error {
	set := c.flags("sites delete")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := idArg(pos[0], "site")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Do(ctx, "DELETE", fmt.Sprintf("/sites/%d", id), nil, nil, nil); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(map[string]uint{"site_id": id})
	}
	_, err = fmt.Fprintf(c.io.Stdout, "Deleted site %d.\n", id)
	return err
}
