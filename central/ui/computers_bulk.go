package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/auth"
	"github.com/shoal-project/shoal/central/store"
)

// This file holds what the computers list does beyond searching: saved
// searches, the CSV export of a search, and bulk actions on the computers
// ticked in the list (affect a package, set the TAG, delete, add to a
// static group). Bulk actions are POSTs with the session's CSRF token,
// like every UI form; each action needs its own permission (bulkPerms),
// and a scoped user acts only on computers of its scope.

// maxBulk bounds the computers of one bulk action: ten pages.
const maxBulk = 10 * pageSize

func (u *UI) registerComputerBulk(g *echo.Group) {
	g.GET("/computers.csv", u.handleComputersCSV)
	g.POST("/computers/bulk", u.handleComputersBulk)
	g.POST("/searches", u.handleSaveSearch)
	g.POST("/searches/:id/delete", u.handleDeleteSearch)
}

// bulkView is what the computers page needs for its saved searches and
// bulk actions.
type bulkView struct {
	// Query is the current search as a query string, for the export link
	// and for returning to the list after an action.
	Query    template.URL
	Searches []savedSearchLink
	Packages []store.Package
	Groups   []store.GroupSummary
	// Owner is the session's user, who may delete its own searches.
	Owner string
	// CanGroup offers adding the ticked computers to a static group
	// (fleet.write, unscoped users only).
	CanGroup bool
}

// savedSearchLink is a saved search as the computers page lists it.
type savedSearchLink struct {
	store.SavedSearch
	// Query is its criteria as a query string of the computers page.
	Query template.URL
}

// searchQueryOf turns a computer filter form into the query string of the
// computers page.
func searchQueryOf(f computerFilterForm) url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"name": f.Name, "os": f.OS, "software": f.Software, "software_version": f.SoftwareVersion,
		"no_software": f.NoSoftware, "ip": f.IP, "site": f.Site, "tag": f.Tag} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

func (u *UI) bulkView(ctx context.Context, c echo.Context, f computerFilterForm) (bulkView, error) {
	v := bulkView{Query: template.URL(searchQueryOf(f).Encode()), Owner: u.actor(c).Name}
	searches, err := u.deps.Store.SavedSearches(ctx, v.Owner)
	if err != nil {
		return v, err
	}
	for _, s := range searches {
		v.Searches = append(v.Searches, savedSearchLink{SavedSearch: s, Query: template.URL(s.Filter)})
	}
	if can(c, auth.PermDeploy) {
		if v.Packages, err = u.activePackages(ctx); err != nil {
			return v, err
		}
	}
	if v.CanGroup = can(c, auth.PermFleetWrite) && !scopeOf(c).Limited(); !v.CanGroup {
		return v, nil
	}
	all, err := u.deps.Groups.Groups(ctx)
	if err != nil {
		return v, err
	}
	for _, g := range all {
		if !g.Dynamic() {
			v.Groups = append(v.Groups, g)
		}
	}
	return v, nil
}

// handleComputersCSV exports every computer of the page's search as CSV.
func (u *UI) handleComputersCSV(c echo.Context) error {
	form := readComputerFilter(c.QueryParam)
	f, ok := form.filter()
	if !ok {
		return &userError{msg: "Fix the search before exporting it.", err: store.ErrInvalid}
	}
	f.Scope = scopeOf(c)
	return u.deps.Ops.ExportComputers(c.Request().Context(), f, func() io.Writer {
		h := c.Response().Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="computers.csv"`)
		c.Response().WriteHeader(http.StatusOK)
		return c.Response()
	})
}

// bulkIDs reads the ticked computers of a bulk form.
func bulkIDs(c echo.Context) ([]uint, error) {
	form, err := c.FormParams()
	if err != nil {
		return nil, &userError{msg: "The form could not be read.", err: store.ErrInvalid}
	}
	var ids []uint
	for _, s := range form["computer"] {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n == 0 {
			return nil, &userError{msg: fmt.Sprintf("%q is not a computer id.", s), err: store.ErrInvalid}
		}
		ids = append(ids, uint(n))
	}
	switch {
	case len(ids) == 0:
		return nil, &userError{msg: "Tick at least one computer in the list first.", err: store.ErrInvalid}
	case len(ids) > maxBulk:
		return nil, &userError{msg: fmt.Sprintf("At most %d computers at once.", maxBulk), err: store.ErrInvalid}
	}
	return ids, nil
}

// bulkPerms is the permission each bulk action needs. Adding computers to
// a group changes the group for the whole fleet: a scoped user may not.
var bulkPerms = map[string]string{
	"affect": auth.PermDeploy,
	"tag":    auth.PermComputersWrite,
	"delete": auth.PermComputersWrite,
	"group":  auth.PermFleetWrite,
}

// bulkAllowed refuses a bulk action the user's role lacks, a group change
// by a scoped user, and, for a scoped user, any ticked computer outside
// its scope (nothing is done then).
func (u *UI) bulkAllowed(c echo.Context, action string, ids []uint) error {
	perm, ok := bulkPerms[action]
	if !ok {
		return nil // the handler explains the known actions
	}
	if !can(c, perm) {
		return fmt.Errorf("bulk %s: permission %s: %w", action, perm, errNoPermission)
	}
	sc := scopeOf(c)
	if !sc.Limited() {
		return nil
	}
	if action == "group" {
		return errOutOfScope
	}
	found, err := u.deps.Store.FindComputerIDs(c.Request().Context(), store.ComputerFilter{IDs: ids, Scope: sc}, len(ids))
	if err != nil {
		return err
	}
	if len(found) != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
		return errOutOfScope
	}
	return nil
}

// handleComputersBulk applies the chosen action to the ticked computers
// and returns to the list (or, after an affectation, to the package's
// status).
func (u *UI) handleComputersBulk(c echo.Context) error {
	ids, err := bulkIDs(c)
	if err != nil {
		return err
	}
	if err := u.bulkAllowed(c, c.FormValue("action"), ids); err != nil {
		return err
	}
	ctx, who := c.Request().Context(), u.actor(c)
	back := func(done string) error {
		q, _ := url.ParseQuery(c.FormValue("return"))
		q.Set("done", done)
		return seeOther(c, uiPrefix+"/computers?"+q.Encode())
	}
	switch c.FormValue("action") {
	case "affect":
		pkg := c.FormValue("package")
		if pkg == "" || len(pkg) > 19 || strings.Trim(pkg, "0123456789") != "" {
			return &userError{msg: "Choose an active package to affect.", err: store.ErrInvalid}
		}
		if _, err := u.deps.Ops.AffectPackage(ctx, who, pkg, ids, false); err != nil {
			return err
		}
		return seeOther(c, uiPrefix+"/packages/"+pkg+"/status?done=affected")
	case "tag":
		if err := tagInScope(c, c.FormValue("tag")); err != nil {
			return err
		}
		for _, id := range ids {
			if err := u.deps.Ops.SetComputerTag(ctx, who, id, c.FormValue("tag")); err != nil {
				return err
			}
		}
		return back("bulk-tag")
	case "delete":
		if _, err := u.deps.Ops.DeleteComputers(ctx, who, ids); err != nil {
			return err
		}
		return back("bulk-deleted")
	case "group":
		gid, err := strconv.ParseUint(c.FormValue("group"), 10, 32)
		if err != nil || gid == 0 {
			return &userError{msg: "Choose a static group.", err: store.ErrInvalid}
		}
		if err := u.deps.Groups.AddMembers(ctx, who, uint(gid), ids, false); err != nil {
			if msg := userMessage(err); msg != "" {
				return &userError{msg: msg, err: err}
			}
			return err
		}
		return seeOther(c, fmt.Sprintf("%s/groups/%d", uiPrefix, gid))
	}
	return &userError{msg: "Choose an action: affect a package, set the TAG, delete, or add to a group.", err: store.ErrInvalid}
}

// handleSaveSearch saves the search of the computers page under a name.
func (u *UI) handleSaveSearch(c echo.Context) error {
	// The form carries the page's search, its name field as s_name.
	name := strings.TrimSpace(c.FormValue("search_name"))
	form := readComputerFilter(func(k string) string {
		if k == "name" {
			k = "s_name"
		}
		return c.FormValue(k)
	})
	if _, ok := form.filter(); !ok || form.Empty() {
		return &userError{msg: "Search for something before saving the search.", err: store.ErrInvalid}
	}
	if name == "" || len(name) > 100 || strings.Trim(name, "0123456789") == "" {
		return &userError{msg: "Give the search a name of 1 to 100 characters, not only digits.", err: store.ErrInvalid}
	}
	q := searchQueryOf(form)
	ss := &store.SavedSearch{Name: name, Owner: u.actor(c).Name, Shared: c.FormValue("shared") != "", Filter: q.Encode()}
	if err := u.deps.Store.SaveSearch(c.Request().Context(), ss); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &userError{msg: fmt.Sprintf("A saved search named %q exists; choose another name.", name), err: err}
		}
		return err
	}
	u.audit(c, "search.create", strconv.FormatUint(uint64(ss.ID), 10), ss.Name+" "+ss.Filter)
	q.Set("done", "search-saved")
	return seeOther(c, uiPrefix+"/computers?"+q.Encode())
}

// handleDeleteSearch deletes one of the user's saved searches.
func (u *UI) handleDeleteSearch(c echo.Context) error {
	owner := u.actor(c).Name
	ss, err := u.deps.Store.SavedSearch(c.Request().Context(), owner, c.Param("id"))
	if err != nil {
		return err
	}
	if ss.Owner != owner {
		return &userError{msg: "Only " + ss.Owner + " may delete this saved search.", err: errForbidden}
	}
	if err := u.deps.Store.DeleteSavedSearch(c.Request().Context(), ss.ID); err != nil {
		return err
	}
	u.audit(c, "search.delete", strconv.FormatUint(uint64(ss.ID), 10), ss.Name)
	return seeOther(c, uiPrefix+"/computers?done=search-deleted")
}
