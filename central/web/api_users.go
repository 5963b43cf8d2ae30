package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// minUserPassword is the shortest password a user may get (as in the UI).
const minUserPassword = 12

// userRoutes are the routes of users and roles (delegation). All need the
// admin permission and refuse scoped callers (perms.go).
func (s *Server) userRoutes() []route {
	return []route{
		{Method: "GET", Path: "/users", Handler: s.listUsers, Summary: "Users with their role and scope (sites, TAGs)", Tag: "users", Resp: api.List[api.User]{}, Status: 200},
		{Method: "POST", Path: "/users", Handler: s.createUser, Summary: "Create a local user with a role and a scope", Tag: "users", Body: api.UserRequest{}, Resp: api.User{}, Status: 201},
		{Method: "PUT", Path: "/users/:id", Handler: s.updateUser, Summary: "Replace a user's role and scope (and password when given); its sessions end", Tag: "users", Body: api.UserRequest{}, Resp: api.User{}, Status: 200},
		{Method: "DELETE", Path: "/users/:id", Handler: s.deleteUser, Summary: "Delete a user; its sessions and API tokens stop working", Tag: "users", Status: 204},
		{Method: "GET", Path: "/roles", Handler: s.listRoles, Summary: "Roles: built-in and custom, with their permissions", Tag: "users", Resp: api.List[api.Role]{}, Status: 200},
		{Method: "POST", Path: "/roles", Handler: s.createRole, Summary: "Create a custom role from permissions", Tag: "users", Body: api.RoleRequest{}, Resp: api.Role{}, Status: 201},
		{Method: "PUT", Path: "/roles/:id", Handler: s.updateRole, Summary: "Replace a custom role's permissions", Tag: "users", Body: api.RoleRequest{}, Resp: api.Role{}, Status: 200},
		{Method: "DELETE", Path: "/roles/:id", Handler: s.deleteRole, Summary: "Delete a custom role no user or token holds", Tag: "users", Status: 204},
	}
}

func (s *Server) toAPIUser(u *store.UIUser, names siteNames) api.User {
	out := api.User{ID: u.ID, Name: u.Name, Role: u.Role, Tags: store.SplitTags(u.ScopeTags), Source: u.Source, LastLogin: utcPtr(u.LastLogin)}
	for _, id := range store.SplitIDs(u.ScopeSites) {
		out.Sites = append(out.Sites, names[id])
	}
	return out
}

func (s *Server) listUsers(c echo.Context) error {
	us, err := s.deps.Store.ListUIUsers(c.Request().Context())
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	out := api.List[api.User]{Total: int64(len(us)), Limit: len(us)}
	for i := range us {
		out.Items = append(out.Items, s.toAPIUser(&us[i], names))
	}
	return c.JSON(http.StatusOK, out)
}

// checkUserRequest validates a user's role and scope.
func (s *Server) checkUserRequest(c echo.Context, req api.UserRequest) (store.Scope, error) {
	ctx := c.Request().Context()
	if err := s.deps.Auth.Roles().Check(ctx, req.Role); err != nil {
		return store.Scope{}, badRequest(err)
	}
	sc, err := s.deps.Auth.Roles().ResolveScope(ctx, req.Sites, req.Tags)
	if err != nil {
		return sc, badRequest(err)
	}
	if req.Password != "" && len(req.Password) < minUserPassword {
		return sc, fmt.Errorf("password: use at least %d characters: %w", minUserPassword, errBadRequest)
	}
	return sc, nil
}

func (s *Server) createUser(c echo.Context) error {
	var req api.UserRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if !store.ValidUIUserName(req.Name) || strings.EqualFold(req.Name, pki.AdminUser) {
		return fmt.Errorf("name must be 1 to 64 letters, digits or ._@- and not %q: %w", pki.AdminUser, errBadRequest)
	}
	if req.Password == "" {
		return fmt.Errorf("password is required: %w", errBadRequest)
	}
	sc, err := s.checkUserRequest(c, req)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	u := &store.UIUser{Name: req.Name, Role: req.Role, PasswordHash: string(hash), Source: store.UserSourceLocal,
		ScopeSites: store.JoinIDs(sc.SiteIDs), ScopeTags: strings.Join(sc.Tags, ",")}
	if err := s.deps.Store.CreateUIUser(c.Request().Context(), u); err != nil {
		return err
	}
	s.audit(c, "user.create", u.Name, userDetail(req))
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.toAPIUser(u, names))
}

func userDetail(req api.UserRequest) string {
	return fmt.Sprintf("role=%s sites=%s tags=%s", req.Role, strings.Join(req.Sites, ","), strings.Join(req.Tags, ","))
}

func (s *Server) updateUser(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req api.UserRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	old, err := s.deps.Store.UIUser(ctx, id)
	if err != nil {
		return err
	}
	if err := auth.CheckEditable(old); err != nil {
		return err
	}
	sc, err := s.checkUserRequest(c, req)
	if err != nil {
		return err
	}
	hash := ""
	if req.Password != "" {
		b, err := bcrypt.GenerateFromPassword([]byte(req.Password), bcrypt.DefaultCost)
		if err != nil {
			return fmt.Errorf("hash password: %w", err)
		}
		hash = string(b)
	}
	if err := s.deps.Store.UpdateUIUser(ctx, id, req.Role, hash); err != nil {
		return err
	}
	if err := s.deps.Store.SetUIUserScope(ctx, id, sc.SiteIDs, sc.Tags); err != nil {
		return err
	}
	u, err := s.deps.Store.UIUser(ctx, id)
	if err != nil {
		return err
	}
	s.audit(c, "user.update", u.Name, userDetail(req))
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toAPIUser(u, names))
}

func (s *Server) deleteUser(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	name, err := s.deps.Store.DeleteUIUser(c.Request().Context(), id)
	if err != nil {
		return err
	}
	s.audit(c, "user.delete", name, "")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listRoles(c echo.Context) error {
	ctx := c.Request().Context()
	out := api.List[api.Role]{}
	for _, name := range []string{store.RoleAdmin, store.RoleReadonly} {
		perms, err := s.deps.Auth.Roles().Permissions(ctx, name)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, api.Role{Name: name, Permissions: perms, BuiltIn: true})
	}
	rs, err := s.deps.Store.ListRoles(ctx)
	if err != nil {
		return err
	}
	for _, r := range rs {
		perms, _ := auth.ParsePermissions(r.Permissions)
		out.Items = append(out.Items, api.Role{ID: r.ID, Name: r.Name, Permissions: perms, Description: r.Description})
	}
	out.Total, out.Limit = int64(len(out.Items)), len(out.Items)
	return c.JSON(http.StatusOK, out)
}

func rolePerms(req api.RoleRequest) (string, error) {
	perms, err := auth.ParsePermissions(strings.Join(req.Permissions, " "))
	if err != nil {
		return "", badRequest(err)
	}
	return strings.Join(perms, " "), nil
}

func (s *Server) createRole(c echo.Context) error {
	var req api.RoleRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	perms, err := rolePerms(req)
	if err != nil {
		return err
	}
	if !store.ValidRoleName(req.Name) || req.Name == store.RoleAdmin || req.Name == store.RoleReadonly {
		return fmt.Errorf("name must be 1 to 63 of a-z 0-9 ._- and not admin or readonly: %w", errBadRequest)
	}
	r := &store.Role{Name: req.Name, Permissions: perms, Description: req.Description}
	if err := s.deps.Store.CreateRole(c.Request().Context(), r); err != nil {
		return err
	}
	s.audit(c, "role.create", r.Name, "permissions="+perms)
	return c.JSON(http.StatusCreated, api.Role{ID: r.ID, Name: r.Name, Permissions: strings.Fields(perms), Description: r.Description})
}

func (s *Server) updateRole(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req api.RoleRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	perms, err := rolePerms(req)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.deps.Store.UpdateRole(ctx, id, perms, req.Description); err != nil {
		return err
	}
	var r *store.Role
	rs, err := s.deps.Store.ListRoles(ctx)
	if err != nil {
		return err
	}
	for i := range rs {
		if rs[i].ID == id {
			r = &rs[i]
		}
	}
	if r == nil {
		return fmt.Errorf("role %d: %w", id, store.ErrNotFound)
	}
	s.audit(c, "role.update", r.Name, "permissions="+perms)
	return c.JSON(http.StatusOK, api.Role{ID: r.ID, Name: r.Name, Permissions: strings.Fields(perms), Description: r.Description})
}

func (s *Server) deleteRole(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	name, err := s.deps.Store.DeleteRole(c.Request().Context(), id)
	if errors.Is(err, store.ErrConflict) {
		return err
	}
	if err != nil {
		return err
	}
	s.audit(c, "role.delete", name, "")
	return c.NoContent(http.StatusNoContent)
}
