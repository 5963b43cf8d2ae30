package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/proto/api"
)

// This file serves the software catalog, its dictionary rules and the
// computers' change history.

func (s *Server) softwareRoutes() []route {
	format := param{Name: api.QueryFormat, Desc: "csv for a CSV file instead of JSON"}
	return []route{
		{Method: "GET", Path: "/software", Handler: s.listSoftware, Summary: "The software catalog: titles with publisher, computers, installs, first and last seen", Tag: "software",
			Query: []param{{Name: api.QuerySoftwareText, Desc: "part of a title or of one of its names, any case"}, {Name: api.QuerySoftwareCategory, Desc: "a category of the dictionary"}, format},
			Resp:  api.List[api.SoftwareTitle]{}, Status: 200},
		{Method: "GET", Path: "/software/rules", Handler: s.listSoftwareRules, Summary: "The dictionary rules that merge names into titles and give categories, in the order they apply", Tag: "software", Resp: api.List[api.SoftwareRule]{}, Status: 200},
		{Method: "POST", Path: "/software/rules", Handler: s.createSoftwareRule, Summary: "Add a dictionary rule (pattern: a case-insensitive regular expression on the software name)", Tag: "software", Body: api.SoftwareRuleRequest{}, Resp: api.SoftwareRule{}, Status: 201},
		{Method: "PUT", Path: "/software/rules/:id", Handler: s.updateSoftwareRule, Summary: "Replace a dictionary rule", Tag: "software", Body: api.SoftwareRuleRequest{}, Resp: api.SoftwareRule{}, Status: 200},
		{Method: "DELETE", Path: "/software/rules/:id", Handler: s.deleteSoftwareRule, Summary: "Delete a dictionary rule", Tag: "software", Status: 204},
		{Method: "GET", Path: "/software/:key", Handler: s.getSoftware, Summary: "A title (by key or title) with its computers per version (newest first) and per site", Tag: "software", Resp: api.SoftwareTitleDetail{}, Status: 200},
		{Method: "GET", Path: "/software/:key/computers", Handler: s.softwareComputers, Summary: "The computers that have a title, by name", Tag: "software",
			Query: slices.Concat(pageParams(), []param{{Name: "version", Desc: "only this version"}, format}), Resp: api.List[api.SoftwareHolder]{}, Status: 200},
		{Method: "GET", Path: "/computers/:id/history", Handler: s.computerHistory, Summary: "A computer's change history, newest first: software installed, removed, upgraded; hardware, OS, address and site changes", Tag: "computers",
			Query: []param{{Name: "limit", Desc: "entries, 1..10000 (default 1000)", Int: true}}, Resp: api.List[api.HistoryEntry]{}, Status: 200},
	}
}

// wantCSV reports whether the request asks for CSV (format=csv); any
// other format than csv or json is a bad request.
func wantCSV(c echo.Context) (bool, error) {
	switch f := c.QueryParam(api.QueryFormat); f {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	default:
		return false, fmt.Errorf("format must be json or csv, got %q: %w", f, errBadRequest)
	}
}

func csvAnswer(c echo.Context, filename string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", filename))
	c.Response().WriteHeader(http.StatusOK)
}

func (s *Server) listSoftware(c echo.Context) error {
	asCSV, err := wantCSV(c)
	if err != nil {
		return err
	}
	items, err := s.deps.Catalog.Titles(c.Request().Context(), inventory.TitleFilter{
		Text: c.QueryParam(api.QuerySoftwareText), Category: c.QueryParam(api.QuerySoftwareCategory), Scope: scopeOf(c)})
	if err != nil {
		return err
	}
	if asCSV {
		csvAnswer(c, "software.csv")
		return api.WriteTitlesCSV(c.Response(), items)
	}
	return c.JSON(http.StatusOK, api.List[api.SoftwareTitle]{Items: items, Total: int64(len(items)), Limit: len(items)})
}

// keyParam is the :key of a software route, a title's key or its title
// (escaped in the path).
func keyParam(c echo.Context) string {
	k := c.Param("key")
	if u, err := url.PathUnescape(k); err == nil {
		return u
	}
	return k
}

func (s *Server) getSoftware(c echo.Context) error {
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	d, err := s.deps.Catalog.TitleIn(c.Request().Context(), keyParam(c), scopeOf(c), names)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) softwareComputers(c echo.Context) error {
	asCSV, err := wantCSV(c)
	if err != nil {
		return err
	}
	limit, offset, err := pagination(c)
	if err != nil {
		return err
	}
	if asCSV {
		limit, offset = 0, 0 // all of them
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	items, total, err := s.deps.Catalog.ComputersIn(c.Request().Context(), keyParam(c), c.QueryParam("version"), scopeOf(c), limit, offset, names)
	if err != nil {
		return err
	}
	if asCSV {
		csvAnswer(c, "software-computers.csv")
		return api.WriteHoldersCSV(c.Response(), items)
	}
	return c.JSON(http.StatusOK, api.List[api.SoftwareHolder]{Items: items, Total: total, Limit: limit, Offset: offset})
}

func (s *Server) listSoftwareRules(c echo.Context) error {
	items, err := s.deps.Catalog.Rules(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.SoftwareRule]{Items: items, Total: int64(len(items)), Limit: len(items)})
}

func (s *Server) createSoftwareRule(c echo.Context) error {
	var req api.SoftwareRuleRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Catalog.SaveRule(c.Request().Context(), s.actor(c), 0, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, r)
}

func (s *Server) updateSoftwareRule(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req api.SoftwareRuleRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	r, err := s.deps.Catalog.SaveRule(c.Request().Context(), s.actor(c), id, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

func (s *Server) deleteSoftwareRule(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Catalog.DeleteRule(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// defaultHistory is the history a computer's answer holds unless asked.
const defaultHistory = 1000

func (s *Server) computerHistory(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	limit := defaultHistory
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 10000 {
			return fmt.Errorf("limit must be 1..10000: %w", errBadRequest)
		}
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	items, err := s.deps.Catalog.History(c.Request().Context(), id, limit, names)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.HistoryEntry]{Items: items, Total: int64(len(items)), Limit: limit})
}
