package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
)

// This file holds the roles part of the users page: the built-in and
// custom roles with their permissions, and the forms that create, change
// and delete custom roles (admin only, like the users).

func (u *UI) registerRoles(g *echo.Group) {
	g.POST("/roles", u.handleCreateRole)
	g.POST("/roles/:id", u.handleUpdateRole)
	g.POST("/roles/:id/delete", u.handleDeleteRole)
}

// permInfo is a permission with what it allows.
type permInfo struct{ Name, Text string }

// roleRow is a role as the users page shows it.
type roleRow struct {
	ID          uint
	Name        string
	Description string
	BuiltIn     bool
	// Perms holds the role's permissions, Users how many users hold it.
	Perms map[string]bool
	Users int
}

// roleForm is what the new-role form sent, and its errors.
type roleForm struct {
	Name, Description string
	Perms             map[string]bool
	Errors            map[string]string
	// EditID is the custom role whose row shows Errors.
	EditID uint
}

// permissionList is every permission with its text, in display order.
func permissionList() []permInfo {
	out := make([]permInfo, len(auth.AllPermissions))
	for i, p := range auth.AllPermissions {
		out[i] = permInfo{Name: p, Text: auth.PermissionText[p]}
	}
	return out
}

// roleRows lists the built-in roles, then the custom ones by name, with
// the number of users holding each.
func (u *UI) roleRows(c echo.Context, users []store.UIUser) ([]roleRow, error) {
	ctx := c.Request().Context()
	held := map[string]int{}
	for _, usr := range users {
		held[usr.Role]++
	}
	set := func(perms []string) map[string]bool {
		m := map[string]bool{}
		for _, p := range perms {
			m[p] = true
		}
		return m
	}
	var out []roleRow
	for _, name := range []string{store.RoleAdmin, store.RoleReadonly} {
		perms, err := u.deps.Auth.Roles().Permissions(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, roleRow{Name: name, BuiltIn: true, Perms: set(perms), Users: held[name]})
	}
	custom, err := u.deps.Store.ListRoles(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range custom {
		perms, _ := auth.ParsePermissions(r.Permissions)
		out = append(out, roleRow{ID: r.ID, Name: r.Name, Description: r.Description, Perms: set(perms), Users: held[r.Name]})
	}
	return out, nil
}

// readRoleForm reads the permissions ticked in a role form and its
// description; errs gets what is wrong.
func readRoleForm(c echo.Context, errs map[string]string) (perms string, f roleForm) {
	f = roleForm{Name: strings.TrimSpace(c.FormValue("name")), Description: strings.TrimSpace(c.FormValue("description")), Perms: map[string]bool{}, Errors: errs}
	form, err := c.FormParams()
	if err != nil {
		errs["perms"] = "The form could not be read."
		return "", f
	}
	for _, p := range form["perm"] {
		f.Perms[p] = true
	}
	list, err := auth.ParsePermissions(strings.Join(form["perm"], " "))
	switch {
	case err != nil:
		errs["perms"] = "Unknown permission: tick only those listed."
	case len(list) == 0:
		errs["perms"] = "Tick at least one permission."
	}
	if len(f.Description) > 200 {
		errs["description"] = "Use at most 200 characters."
	}
	return strings.Join(list, " "), f
}

// rerenderUsers shows the users page again with a role form's errors.
func (u *UI) rerenderUsers(c echo.Context, f roleForm) error {
	v, err := u.usersView(c)
	if err != nil {
		return err
	}
	v.RoleForm = f
	return u.render(c, http.StatusBadRequest, "users", "Users", "users", v)
}

func (u *UI) handleCreateRole(c echo.Context) error {
	errs := map[string]string{}
	perms, f := readRoleForm(c, errs)
	switch {
	case !store.ValidRoleName(f.Name):
		errs["name"] = "Use 1 to 63 lower-case letters, digits or . _ -, starting with a letter or digit."
	case f.Name == store.RoleAdmin || f.Name == store.RoleReadonly:
		errs["name"] = "This name belongs to a built-in role."
	}
	if len(errs) > 0 {
		return u.rerenderUsers(c, f)
	}
	r := &store.Role{Name: f.Name, Permissions: perms, Description: f.Description}
	err := u.deps.Store.CreateRole(c.Request().Context(), r)
	if errors.Is(err, store.ErrConflict) {
		errs["name"] = "A role with this name exists."
		return u.rerenderUsers(c, f)
	}
	if err != nil {
		return err
	}
	u.audit(c, "role.create", r.Name, "permissions="+perms)
	return seeOther(c, uiPrefix+"/users?done=role-saved#roles")
}

func (u *UI) handleUpdateRole(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name, err := u.customRoleName(c, id)
	if err != nil {
		return err
	}
	errs := map[string]string{}
	perms, f := readRoleForm(c, errs)
	f.EditID = id
	if len(errs) > 0 {
		return u.rerenderUsers(c, f)
	}
	if err := u.deps.Store.UpdateRole(ctx, id, perms, f.Description); err != nil {
		return err
	}
	u.audit(c, "role.update", name, "permissions="+perms)
	return seeOther(c, uiPrefix+"/users?done=role-saved#roles")
}

// customRoleName returns the name of the custom role with id.
func (u *UI) customRoleName(c echo.Context, id uint) (string, error) {
	rs, err := u.deps.Store.ListRoles(c.Request().Context())
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.ID == id {
			return r.Name, nil
		}
	}
	return "", fmt.Errorf("role %d: %w", id, store.ErrNotFound)
}

func (u *UI) handleDeleteRole(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	name, err := u.deps.Store.DeleteRole(c.Request().Context(), id)
	if errors.Is(err, store.ErrConflict) {
		return &userError{msg: "Users or API tokens still hold this role: give them another role first.", err: err}
	}
	if err != nil {
		return err
	}
	u.audit(c, "role.delete", name, "")
	return seeOther(c, uiPrefix+"/users?done=role-deleted#roles")
}
