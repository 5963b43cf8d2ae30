package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// This file holds saved searches (private or shared inventory searches)
// and the CSV export of any computer search.

func (s *Server) searchRoutes() []route {
	return []route{
		{Method: "GET", Path: "/computers/export", Handler: s.exportComputers, Summary: "Every computer a search selects, as CSV (api.ComputerCSVHeader columns)", Tag: "computers",
			Query: computerParams()[:len(api.ComputerFilterParams())+1],
			CSV:   true, Status: 200},
		{Method: "GET", Path: "/searches", Handler: s.listSearches, Summary: "The saved searches the caller may use: its own and the shared ones", Tag: "searches", Resp: api.List[api.SavedSearch]{}, Status: 200},
		{Method: "POST", Path: "/searches", Handler: s.createSearch, Summary: "Save an inventory search, private or shared", Tag: "searches", Body: api.SavedSearchRequest{}, Resp: api.SavedSearch{}, Status: 201},
		{Method: "GET", Path: "/searches/:id", Handler: s.getSearch, Summary: "A saved search, by id or name", Tag: "searches", Resp: api.SavedSearch{}, Status: 200},
		{Method: "PUT", Path: "/searches/:id", Handler: s.updateSearch, Summary: "Replace a saved search (its owner only)", Tag: "searches", Body: api.SavedSearchRequest{}, Resp: api.SavedSearch{}, Status: 200},
		{Method: "DELETE", Path: "/searches/:id", Handler: s.deleteSearch, Summary: "Delete a saved search (its owner only)", Tag: "searches", Status: 204},
	}
}

// Saved searches are private to the actor that saved them: a UI user, or
// token:NAME for an API token.
func (s *Server) searchOwner(c echo.Context) string { return s.actor(c).Name }

func toAPISearch(ss *store.SavedSearch) api.SavedSearch {
	m := searchMap(ss.Filter)
	if m == nil {
		m = map[string]string{}
	}
	return api.SavedSearch{ID: ss.ID, Name: ss.Name, Description: ss.Description, Owner: ss.Owner, Shared: ss.Shared,
		Search: m, CreatedAt: ss.CreatedAt, UpdatedAt: ss.UpdatedAt}
}

func (s *Server) listSearches(c echo.Context) error {
	list, err := s.deps.Store.SavedSearches(c.Request().Context(), s.searchOwner(c))
	if err != nil {
		return err
	}
	out := make([]api.SavedSearch, len(list))
	for i := range list {
		out[i] = toAPISearch(&list[i])
	}
	return c.JSON(http.StatusOK, api.List[api.SavedSearch]{Items: out, Total: int64(len(out)), Limit: len(out)})
}

func (s *Server) getSearch(c echo.Context) error {
	ss, err := s.deps.Store.SavedSearch(c.Request().Context(), s.searchOwner(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPISearch(ss))
}

// checkSearch validates a saved search's request: a name, and criteria
// that GET /computers accepts.
func checkSearch(req *api.SavedSearchRequest) (url.Values, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return nil, fmt.Errorf("a saved search needs a name of 1 to 100 characters: %w", errBadRequest)
	}
	if strings.Trim(req.Name, "0123456789") == "" {
		return nil, fmt.Errorf("a saved search's name cannot be all digits (it would read as an id): %w", errBadRequest)
	}
	v := searchValues(req.Search)
	if len(v) == 0 {
		return nil, fmt.Errorf("a saved search needs criteria (search: name, os, software, …): %w", errBadRequest)
	}
	for k := range v {
		if !slices.Contains(api.ComputerFilterParams(), k) {
			return nil, fmt.Errorf("search: unknown criterion %q (known: %s): %w", k, strings.Join(api.ComputerFilterParams(), ", "), errBadRequest)
		}
	}
	if _, err := api.ParseComputerFilter(v, time.Now()); err != nil {
		return nil, badRequest(err)
	}
	return v, nil
}

func (s *Server) createSearch(c echo.Context) error {
	var req api.SavedSearchRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	v, err := checkSearch(&req)
	if err != nil {
		return err
	}
	ss := &store.SavedSearch{Name: req.Name, Description: req.Description, Owner: s.searchOwner(c), Shared: req.Shared, Filter: v.Encode()}
	if err := s.saveSearch(c, ss); err != nil {
		return err
	}
	s.audit(c, "search.create", strconv.FormatUint(uint64(ss.ID), 10), ss.Name+" "+ss.Filter)
	return c.JSON(http.StatusCreated, toAPISearch(ss))
}

// saveSearch stores ss; a name in use is a conflict that says so, without
// the database's text.
func (s *Server) saveSearch(c echo.Context, ss *store.SavedSearch) error {
	err := s.deps.Store.SaveSearch(c.Request().Context(), ss)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("a saved search named %q exists: %w", ss.Name, store.ErrConflict)
	}
	return err
}

// ownSearch returns the saved search of the request's :id when the caller
// owns it: a shared search is changed only by its owner.
func (s *Server) ownSearch(c echo.Context) (*store.SavedSearch, error) {
	owner := s.searchOwner(c)
	ss, err := s.deps.Store.SavedSearch(c.Request().Context(), owner, c.Param("id"))
	if err != nil {
		return nil, err
	}
	if ss.Owner != owner {
		return nil, fmt.Errorf("saved search %q belongs to %s: %w", ss.Name, ss.Owner, errForbidden)
	}
	return ss, nil
}

func (s *Server) updateSearch(c echo.Context) error {
	ss, err := s.ownSearch(c)
	if err != nil {
		return err
	}
	var req api.SavedSearchRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	v, err := checkSearch(&req)
	if err != nil {
		return err
	}
	ss.Name, ss.Description, ss.Shared, ss.Filter = req.Name, req.Description, req.Shared, v.Encode()
	if err := s.saveSearch(c, ss); err != nil {
		return err
	}
	s.audit(c, "search.update", strconv.FormatUint(uint64(ss.ID), 10), ss.Name+" "+ss.Filter)
	return c.JSON(http.StatusOK, toAPISearch(ss))
}

func (s *Server) deleteSearch(c echo.Context) error {
	ss, err := s.ownSearch(c)
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteSavedSearch(c.Request().Context(), ss.ID); err != nil {
		return err
	}
	s.audit(c, "search.delete", strconv.FormatUint(uint64(ss.ID), 10), ss.Name)
	return c.NoContent(http.StatusNoContent)
}

// searchQuery returns the computer search of a request's query: the
// criteria of the saved search it names (saved_search), overridden by the
// parameters given beside it.
func (s *Server) searchQuery(ctx context.Context, owner string, q url.Values) (url.Values, error) {
	ref := strings.TrimSpace(q.Get(api.QuerySavedSearch))
	if ref == "" {
		return q, nil
	}
	ss, err := s.deps.Store.SavedSearch(ctx, owner, ref)
	if err != nil {
		return nil, err
	}
	out := searchValues(searchMap(ss.Filter))
	if out == nil {
		out = url.Values{}
	}
	for k, v := range q {
		if k != api.QuerySavedSearch && len(v) > 0 && v[0] != "" {
			out[k] = v
		}
	}
	return out, nil
}

// expandSavedSearch replaces a saved_search key of a group's search by
// that saved search's criteria (those given beside it win): the group
// keeps its own copy, which later edits of the saved search leave alone.
func (s *Server) expandSavedSearch(c echo.Context, search map[string]string) error {
	if search[api.QuerySavedSearch] == "" {
		delete(search, api.QuerySavedSearch)
		return nil
	}
	q, err := s.searchQuery(c.Request().Context(), s.searchOwner(c), searchValues(search))
	if err != nil {
		return err
	}
	delete(search, api.QuerySavedSearch)
	for k := range q {
		search[k] = q.Get(k)
	}
	return nil
}

// exportComputers streams every computer of a search as CSV.
func (s *Server) exportComputers(c echo.Context) error {
	ctx := c.Request().Context()
	params, err := s.searchQuery(ctx, s.searchOwner(c), c.QueryParams())
	if err != nil {
		return err
	}
	f, err := api.ParseComputerFilter(params, time.Now())
	if err != nil {
		return badRequest(err)
	}
	q := computerQuery(f)
	q.Scope = scopeOf(c)
	return s.deps.Ops.ExportComputers(ctx, q, func() io.Writer {
		h := c.Response().Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="computers.csv"`)
		c.Response().WriteHeader(http.StatusOK)
		return c.Response()
	})
}
