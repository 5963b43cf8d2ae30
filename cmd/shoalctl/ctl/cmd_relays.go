package ctl

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the relay commands: list relays with their health and
// counters, remove one, and purge a package from every relay.

func runRelaysList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("relays")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var l api.List[api.Relay]
	if err := cl.Do(ctx, "GET", "/relays", nil, nil, &l); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(l)
	}
	t := newTable(c.io.Stdout, "ID", "NAME", "SITE", "URL", "ONLINE", "LAST SEEN", "DISK", "UPSTREAM", "SERVED", "HIT RATIO", "VERSION")
	for _, r := range l.Items {
		disk := humanBytes(r.DiskUsed)
		if r.DiskQuota > 0 {
			disk += " / " + humanBytes(r.DiskQuota)
		}
		ratio := "-"
		if r.Totals.Hits+r.Totals.Misses > 0 {
			ratio = strconv.FormatFloat(100*r.Totals.HitRatio(), 'f', 0, 64) + "%"
		}
		t.row(r.ID, r.Name, r.SiteName, r.HTTPURL, yesNo(r.Online), when(r.LastSeen), disk,
			humanBytes(r.Totals.BytesUpstream), humanBytes(r.Totals.BytesServed), ratio, r.Version)
	}
	return t.flush()
}

func runRelaysDelete(ctx context.Context, c *cli, args []string) error {
	set := c.flags("relays delete")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := idArg(pos[0], "relay")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Do(ctx, "DELETE", fmt.Sprintf("/relays/%d", id), nil, nil, nil); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(map[string]uint{"relay_id": id})
	}
	_, err = fmt.Fprintf(c.io.Stdout, "Removed relay %d.\n", id)
	return err
}

func runPackagePurge(ctx context.Context, c *cli, args []string) error {
	set := c.flags("package purge")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := pkgArg(pos[0])
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var res api.PurgeResult
	if err := cl.Do(ctx, "POST", "/packages/"+id+"/purge", nil, nil, &res); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(res)
	}
	_, err = fmt.Fprintf(c.io.Stdout, "Package %s will be dropped by %d relay(s) at their next poll.\n", id, res.Relays)
	return err
}
