package ctl

import (
	"context"
	"fmt"
	"strconv"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the relay commands: list relays with their health and
// counters, mint the token that enrolls one, remove one, and purge a
// package from every relay.

// relayToken is central's answer to a relay token's creation (the agent
// API's TokenInfo; only what shoalctl prints).
type relayToken struct {
	ID            uint   `json:"id"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Site          string `json:"site"`
	RelayName     string `json:"relay_name"`
	Token         string `json:"token"`
	MaxUses       int    `json:"max_uses"`
	CAFingerprint string `json:"ca_fingerprint_sha256"`
	EnrollCommand string `json:"enroll_command"`
}

func runRelaysToken(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("relays token")
	site := fs.String("site", "", "site the relay serves (required)")
	name := fs.String("name", "", "the relay's name, as given to shoal-relay enroll -name (required)")
	expires := fs.String("expires", "24h", "validity of the token, a duration like 24h")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *site == "" || *name == "" {
		return &usageError{msg: "a relay token needs --site and --name"}
	}
	req := map[string]any{"name": "relay " + *name, "kind": "relay", "site": *site, "relay_name": *name, "expires_in": *expires}
	var tok relayToken
	if err := c.call(ctx, "POST", "/agents/enrollment-tokens", nil, req, &tok); err != nil {
		return err
	}
	return c.report(tok, "Relay token for relay %s of site %s (single use, shown only once):\n  %s\nOn the relay, run:\n  %s\n",
		tok.RelayName, tok.Site, tok.Token, tok.EnrollCommand)
}

func runRelaysList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("relay list")
	watch, interval := addWatch(set)
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	return c.repeat(ctx, *watch, *interval, func() error {
		var l api.List[api.Relay]
		return c.show(ctx, "/relays", nil, &l, func() error { return c.printRelays(l.Items) })
	})
}

// printRelays prints relays as a table.
func (c *cli) printRelays(relays []api.Relay) error {
	t := c.table("ID", "NAME", "SITE", "URL", "ONLINE", "LAST SEEN", "DISK", "UPSTREAM", "SERVED", "HIT RATIO", "+VERSION")
	for _, r := range relays {
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
	id, err := c.parseID(c.flags("relays delete"), args, "relay")
	if err != nil {
		return err
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/relays/%d", id), map[string]uint{"relay_id": id}, "Removed relay %d.\n", id)
}

func runPackagePurge(ctx context.Context, c *cli, args []string) error {
	id, err := c.parsePackage(c.flags("package purge"), args)
	if err != nil {
		return err
	}
	var res api.PurgeResult
	if err := c.call(ctx, "POST", "/packages/"+id+"/purge", nil, nil, &res); err != nil {
		return err
	}
	return c.report(res, "Package %s will be dropped by %s at the next poll.\n", id, plural(res.Relays, "relay"))
}
