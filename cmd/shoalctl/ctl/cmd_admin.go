package ctl

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the commands around the API itself: version, API
// tokens, agent settings and the audit log.

// versionInfo is what shoalctl version prints with -o json.
type versionInfo struct {
	Client          string `json:"client"`
	Go              string `json:"go"`
	Server          string `json:"server,omitempty"`
	ProtocolVersion int    `json:"protocol_version,omitempty"`
	ServerError     string `json:"server_error,omitempty"`
}

func runVersion(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("version"), args, 0, 0); err != nil {
		return err
	}
	v := versionInfo{Client: c.io.Version, Go: runtime.Version()}
	if v.Client == "" {
		v.Client = "dev"
	}
	// Central's side only when a login or --server/--token says where.
	if cfg, err := c.connection(); err == nil && cfg.Server != "" && cfg.Token != "" {
		var info api.ServerInfo
		if err := c.call(ctx, "GET", "/server", nil, nil, &info); err != nil {
			v.ServerError = err.Error()
		} else {
			v.Server, v.ProtocolVersion = cfg.Server, info.ProtocolVersion
		}
	}
	if c.json() {
		return c.printJSON(v)
	}
	fmt.Fprintf(c.io.Stdout, "shoalctl %s (%s, %s/%s)\n", v.Client, v.Go, runtime.GOOS, runtime.GOARCH)
	switch {
	case v.Server != "":
		fmt.Fprintf(c.io.Stdout, "central %s: protocol version %d\n", v.Server, v.ProtocolVersion)
	case v.ServerError != "":
		fmt.Fprintf(c.io.Stdout, "central: %s\n", v.ServerError)
	}
	return nil
}

func runTokenList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("token list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.Token]
	return c.show(ctx, "/tokens", nil, &l, func() error {
		t := c.table("ID", "NAME", "ROLE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
		for _, k := range l.Items {
			t.row(k.ID, k.Name, k.Role, when(k.CreatedAt), when(k.ExpiresAt), when(k.LastUsed), yesNo(k.Revoked))
		}
		return t.flush()
	})
}

func runTokenCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("token create")
	role := set.String("role", api.RoleAdmin, "admin or readonly")
	expires := set.String("expires-in", "", "lifetime such as 720h (default: no expiry)")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	var tok api.Token
	if err := c.call(ctx, "POST", "/tokens", nil, api.TokenRequest{Name: pos[0], Role: *role, ExpiresIn: *expires}, &tok); err != nil {
		return err
	}
	return c.report(tok, "Token %d %s (%s), shown only once:\n  %s\n", tok.ID, tok.Name, tok.Role, tok.Token)
}

func runTokenDelete(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("token delete"), args, "token")
	if err != nil {
		return err
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/tokens/%d", id), map[string]uint{"revoked": id}, "Revoked token %d.\n", id)
}

func runSettingsGet(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("settings get"), args, 0, 0); err != nil {
		return err
	}
	var s api.Settings
	return c.show(ctx, "/settings", nil, &s, func() error { return c.printSettings(&s) })
}

// settingFields lists each setting's key, as settings set takes it, with
// a pointer into s.
func settingFields(s *api.Settings) []struct {
	key string
	p   any
} {
	type f = struct {
		key string
		p   any
	}
	return []f{
		{"prolog_freq_hours", &s.PrologFreqHours}, {"inventory_frequency_days", &s.InventoryFrequencyDays},
		{"inventory_on_startup", &s.InventoryOnStartup}, {"download.disabled", &s.Download.Disabled},
		{"download.cycle_latency", &s.Download.CycleLatency}, {"download.frag_latency", &s.Download.FragLatency},
		{"download.period_latency", &s.Download.PeriodLatency}, {"download.period_length", &s.Download.PeriodLength},
		{"download.timeout_days", &s.Download.TimeoutDays}, {"download.execution_timeout_mins", &s.Download.ExecutionTimeoutMins},
	}
}

func (c *cli) printSettings(s *api.Settings) error {
	t := c.table("SETTING", "VALUE")
	for _, f := range settingFields(s) {
		switch p := f.p.(type) {
		case *int:
			t.row(f.key, *p)
		case *bool:
			t.row(f.key, *p)
		}
	}
	return t.flush()
}

func runSettingsSet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("settings set"), args, 1, -1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	var s api.Settings
	if err := cl.Do(ctx, "GET", "/settings", nil, nil, &s); err != nil {
		return err
	}
	fields := settingFields(&s)
	for _, kv := range pos {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return &usageError{msg: fmt.Sprintf("%q is not KEY=VALUE", kv)}
		}
		found := false
		for _, f := range fields {
			if f.key != strings.TrimSpace(key) {
				continue
			}
			found = true
			switch p := f.p.(type) {
			case *int:
				n, err := strconv.Atoi(strings.TrimSpace(val))
				if err != nil {
					return &usageError{msg: fmt.Sprintf("%s takes a whole number, not %q", key, val)}
				}
				*p = n
			case *bool:
				b, err := strconv.ParseBool(strings.TrimSpace(val))
				if err != nil {
					return &usageError{msg: fmt.Sprintf("%s takes true or false, not %q", key, val)}
				}
				*p = b
			}
		}
		if !found {
			keys := make([]string, len(fields))
			for i, f := range fields {
				keys[i] = f.key
			}
			return &usageError{msg: fmt.Sprintf("no setting %q; settings: %s", key, strings.Join(keys, ", "))}
		}
	}
	if err := cl.Do(ctx, "PUT", "/settings", nil, s, &s); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(s)
	}
	return c.printSettings(&s)
}

func runAuditList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("audit list")
	q := url.Values{}
	flags := map[string]*string{
		"actor":  set.String("actor", "", "only this actor (a user, token:NAME or anonymous)"),
		"action": set.String("action", "", "an action, or a prefix ending in a dot such as package."),
		"target": set.String("target", "", "only this target (a package, computer or site ID, a user name…)"),
		"since":  set.String("since", "", "at or after: RFC 3339, a date or a duration before now such as 24h"),
		"before": set.String("before", "", "before: RFC 3339, a date or a duration before now"),
	}
	limit := set.Int("limit", 50, "rows, 1..1000")
	offset := set.Int("offset", 0, "rows to skip")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	for k, p := range flags {
		if *p != "" {
			q.Set(k, *p)
		}
	}
	for k, v := range page(*limit, *offset) {
		q[k] = v
	}
	var l api.List[api.AuditEvent]
	return c.show(ctx, "/audit", q, &l, func() error {
		t := c.table("TIME", "ACTOR", "ACTION", "TARGET", "DETAIL", "+REMOTE")
		for _, e := range l.Items {
			t.row(when(&e.At), e.Actor, e.Action, e.Target, e.Detail, e.Remote)
		}
		if err := t.flush(); err != nil {
			return err
		}
		return c.more(len(l.Items), l.Offset, l.Total)
	})
}
