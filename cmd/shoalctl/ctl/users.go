package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the user and role commands: local users with their role
// and scope (sites, TAGs), and custom roles made of permissions.

// EnvUserPassword is where 'user create' and 'user update' read a new
// user's password when neither --password-file nor --password-stdin is
// given.
const EnvUserPassword = "SHOAL_USER_PASSWORD"

// findUser resolves a user given by ID or name (any case).
func (c *cli) findUser(ctx context.Context, ref string) (*api.User, error) {
	var l api.List[api.User]
	if err := c.call(ctx, "GET", "/users", nil, nil, &l); err != nil {
		return nil, err
	}
	ref = strings.TrimSpace(ref)
	id, _ := strconv.ParseUint(ref, 10, 32)
	var names []string
	for i, u := range l.Items {
		if (id > 0 && u.ID == uint(id)) || strings.EqualFold(u.Name, ref) {
			return &l.Items[i], nil
		}
		names = append(names, u.Name)
	}
	if len(names) == 0 {
		return nil, &usageError{msg: fmt.Sprintf("no user is named %q (there are no users yet besides the built-in admin)", ref)}
	}
	return nil, &usageError{msg: fmt.Sprintf("no user is named %q; users: %s", ref, strings.Join(names, ", "))}
}

// findRole resolves a role given by ID or name.
func (c *cli) findRole(ctx context.Context, ref string) (*api.Role, error) {
	var l api.List[api.Role]
	if err := c.call(ctx, "GET", "/roles", nil, nil, &l); err != nil {
		return nil, err
	}
	ref = strings.TrimSpace(ref)
	id, _ := strconv.ParseUint(ref, 10, 32)
	var names []string
	for i, r := range l.Items {
		if (id > 0 && r.ID == uint(id)) || r.Name == ref {
			return &l.Items[i], nil
		}
		names = append(names, r.Name)
	}
	return nil, &usageError{msg: fmt.Sprintf("no role is named %q; roles: %s", ref, strings.Join(names, ", "))}
}

func scopeText(sites, tags []string) string {
	if len(sites) == 0 && len(tags) == 0 {
		return "whole fleet"
	}
	var parts []string
	if len(sites) > 0 {
		parts = append(parts, "sites "+strings.Join(sites, ","))
	}
	if len(tags) > 0 {
		parts = append(parts, "TAGs "+strings.Join(tags, ","))
	}
	return strings.Join(parts, " ")
}

func runUserList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("user list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.User]
	return c.show(ctx, "/users", nil, &l, func() error {
		t := c.table("ID", "NAME", "ROLE", "SCOPE", "SOURCE", "+LAST LOGIN")
		for _, u := range l.Items {
			t.row(u.ID, u.Name, u.Role, scopeText(u.Sites, u.Tags), u.Source, when(u.LastLogin))
		}
		return t.flush()
	})
}

func runUserGet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("user get"), args, 1, 1)
	if err != nil {
		return err
	}
	u, err := c.findUser(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(u)
	}
	fmt.Fprintf(c.io.Stdout, "User %d %s (%s): role %s, %s, last login %s\n", u.ID, u.Name, u.Source, u.Role, scopeText(u.Sites, u.Tags), when(u.LastLogin))
	return nil
}

// userFlags are the options of user create and update.
type userFlags struct {
	role         *string
	sites, tags  stringList
	wholeFleet   *bool
	passwordFile *string
	stdin        *bool
}

func addUserFlags(set *flag.FlagSet, update bool) *userFlags {
	f := &userFlags{}
	f.role = set.String("role", "", "admin, readonly or a custom role (see 'shoalctl role list')")
	set.Var(&f.sites, "site", "limit the user to the computers of this site (repeatable or comma-separated)")
	set.Var(&f.tags, "tag", "…or with this OCS TAG (repeatable or comma-separated)")
	if update {
		f.wholeFleet = set.Bool("whole-fleet", false, "remove the user's sites and TAGs")
	}
	f.passwordFile = set.String("password-file", "", "read the new password from the first line of this file")
	f.stdin = set.Bool("password-stdin", false, "read the new password from standard input")
	return f
}

// newPassword reads the password of user create or update: --password-file,
// --password-stdin, or SHOAL_USER_PASSWORD; "" when none is given.
func (c *cli) newPassword(f *userFlags) (string, error) {
	var line string
	switch {
	case *f.passwordFile != "":
		fh, err := os.Open(*f.passwordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		defer fh.Close()
		b, err := io.ReadAll(io.LimitReader(fh, 4096))
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ = strings.Cut(string(b), "\n")
	case *f.stdin:
		b, err := io.ReadAll(io.LimitReader(c.io.Stdin, 4096))
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		line, _, _ = strings.Cut(string(b), "\n")
	default:
		line = c.io.Getenv(EnvUserPassword)
	}
	return strings.TrimRight(line, "\r"), nil
}

func runUserCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("user create")
	f := addUserFlags(set, false)
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	if *f.role == "" {
		return &usageError{msg: "give the user a --role (admin, readonly or a custom role)"}
	}
	pass, err := c.newPassword(f)
	if err != nil {
		return err
	}
	if pass == "" {
		return &usageError{msg: "give the new user's password with --password-file, --password-stdin or " + EnvUserPassword}
	}
	var u api.User
	req := api.UserRequest{Name: pos[0], Password: pass, Role: *f.role, Sites: f.sites, Tags: f.tags}
	if err := c.call(ctx, "POST", "/users", nil, req, &u); err != nil {
		return err
	}
	return c.report(u, "Created user %d %s: role %s, %s.\n", u.ID, u.Name, u.Role, scopeText(u.Sites, u.Tags))
}

func runUserUpdate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("user update")
	f := addUserFlags(set, true)
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	if *f.wholeFleet && (len(f.sites) > 0 || len(f.tags) > 0) {
		return &usageError{msg: "--whole-fleet removes the scope; do not give --site or --tag with it"}
	}
	cur, err := c.findUser(ctx, pos[0])
	if err != nil {
		return err
	}
	pass, err := c.newPassword(f)
	if err != nil {
		return err
	}
	// PUT replaces role and scope: what is not given keeps its value.
	req := api.UserRequest{Password: pass, Role: cur.Role, Sites: cur.Sites, Tags: cur.Tags}
	if *f.role != "" {
		req.Role = *f.role
	}
	set.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "site":
			req.Sites = f.sites
		case "tag":
			req.Tags = f.tags
		}
	})
	if *f.wholeFleet {
		req.Sites, req.Tags = nil, nil
	}
	var u api.User
	if err := c.call(ctx, "PUT", fmt.Sprintf("/users/%d", cur.ID), nil, req, &u); err != nil {
		return err
	}
	return c.report(u, "Updated user %d %s: role %s, %s.\n", cur.ID, cur.Name, req.Role, scopeText(req.Sites, req.Tags))
}

func runUserDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("user delete"), args, 1, 1)
	if err != nil {
		return err
	}
	u, err := c.findUser(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/users/%d", u.ID), map[string]string{"deleted": u.Name}, "Deleted user %s; its sessions and API tokens stop working.\n", u.Name)
}

func runRoleList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("role list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.Role]
	return c.show(ctx, "/roles", nil, &l, func() error {
		t := c.table("ID", "NAME", "PERMISSIONS", "+BUILT IN", "+DESCRIPTION")
		for _, r := range l.Items {
			id := "-"
			if !r.BuiltIn {
				id = strconv.FormatUint(uint64(r.ID), 10)
			}
			t.row(id, r.Name, strings.Join(r.Permissions, ","), yesNo(r.BuiltIn), r.Description)
		}
		return t.flush()
	})
}

func runRoleGet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("role get"), args, 1, 1)
	if err != nil {
		return err
	}
	r, err := c.findRole(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(r)
	}
	kind := "custom role " + strconv.FormatUint(uint64(r.ID), 10)
	if r.BuiltIn {
		kind = "built-in role"
	}
	fmt.Fprintf(c.io.Stdout, "Role %s (%s): %s\n", r.Name, kind, strings.Join(r.Permissions, ", "))
	if r.Description != "" {
		fmt.Fprintln(c.io.Stdout, r.Description)
	}
	return nil
}

func runRoleCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("role create")
	var perms stringList
	set.Var(&perms, "permission", "a permission the role grants (repeatable or comma-separated)")
	desc := set.String("description", "", "what the role is for")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	if len(perms) == 0 {
		return &usageError{msg: "give at least one --permission: computers.read, computers.write, computers.secrets, deploy, packages.read, packages.write, fleet.read, fleet.write, admin"}
	}
	var r api.Role
	if err := c.call(ctx, "POST", "/roles", nil, api.RoleRequest{Name: pos[0], Permissions: perms, Description: *desc}, &r); err != nil {
		return err
	}
	return c.report(r, "Created role %d %s: %s.\n", r.ID, r.Name, strings.Join(r.Permissions, ", "))
}

func runRoleUpdate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("role update")
	var perms, add, remove stringList
	set.Var(&perms, "permission", "the role's permissions, replacing them all (repeatable or comma-separated)")
	set.Var(&add, "add", "a permission to add")
	set.Var(&remove, "remove", "a permission to remove")
	desc := set.String("description", "", "what the role is for")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	cur, err := c.findRole(ctx, pos[0])
	if err != nil {
		return err
	}
	if cur.BuiltIn {
		return errors.New("the built-in roles admin and readonly cannot be changed; create a custom role")
	}
	req := api.RoleRequest{Name: cur.Name, Permissions: cur.Permissions, Description: cur.Description}
	if len(perms) > 0 {
		req.Permissions = perms
	}
	for _, p := range add {
		if !slices.Contains(req.Permissions, p) {
			req.Permissions = append(req.Permissions, p)
		}
	}
	var kept []string
	for _, p := range req.Permissions {
		if !slices.Contains(remove, p) {
			kept = append(kept, p)
		}
	}
	req.Permissions = kept
	set.Visit(func(fl *flag.Flag) {
		if fl.Name == "description" {
			req.Description = *desc
		}
	})
	var r api.Role
	if err := c.call(ctx, "PUT", fmt.Sprintf("/roles/%d", cur.ID), nil, req, &r); err != nil {
		return err
	}
	return c.report(r, "Updated role %s: %s.\n", cur.Name, strings.Join(req.Permissions, ", "))
}

func runRoleDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("role delete"), args, 1, 1)
	if err != nil {
		return err
	}
	r, err := c.findRole(ctx, pos[0])
	if err != nil {
		return err
	}
	if r.BuiltIn {
		return errors.New("the built-in roles admin and readonly cannot be deleted")
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/roles/%d", r.ID), map[string]string{"deleted": r.Name}, "Deleted role %s.\n", r.Name)
}
