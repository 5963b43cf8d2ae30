package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/proto/api"
)

// This file serves the software catalog pages: the titles with the
// dictionary rules, a title with its versions, sites and computers, and
// their CSV exports.

func (u *UI) registerSoftware(g *echo.Group) {
	if u.deps.Catalog == nil {
		return
	}
	g.GET("/software", u.handleSoftware)
	g.GET("/software.csv", u.handleSoftwareCSV)
	g.POST("/software/rules", u.handleSaveRule)
	g.POST("/software/rules/:id", u.handleSaveRule)
	g.POST("/software/rules/:id/delete", u.handleDeleteRule)
	g.GET("/software/:key", u.handleSoftwareTitle)
	g.GET("/software/:key/computers.csv", u.handleSoftwareComputersCSV)
}

// ruleForm is the new-rule form and its error.
type ruleForm struct {
	Pattern, Title, Category, Position string
	Error                              string
}

// softwareView is the data of the catalog page.
type softwareView struct {
	Q, Category string
	Categories  []string
	Titles      []api.SoftwareTitle
	Rules       []api.SoftwareRule
	Form        ruleForm
	CSV         string
}

func (u *UI) softwareView(c echo.Context, f ruleForm) (*softwareView, error) {
	ctx := c.Request().Context()
	v := &softwareView{Q: strings.TrimSpace(c.QueryParam("q")), Category: strings.TrimSpace(c.QueryParam("category")), Form: f}
	var err error
	if v.Titles, err = u.deps.Catalog.Titles(ctx, inventory.TitleFilter{Text: v.Q, Category: v.Category, Scope: scopeOf(c)}); err != nil {
		return nil, err
	}
	if v.Rules, err = u.deps.Catalog.Rules(ctx); err != nil {
		return nil, err
	}
	if v.Categories, err = u.deps.Catalog.Categories(ctx); err != nil {
		return nil, err
	}
	q := url.Values{}
	if v.Q != "" {
		q.Set("q", v.Q)
	}
	if v.Category != "" {
		q.Set("category", v.Category)
	}
	v.CSV = uiPrefix + "/software.csv"
	if len(q) > 0 {
		v.CSV += "?" + q.Encode()
	}
	return v, nil
}

func (u *UI) handleSoftware(c echo.Context) error {
	v, err := u.softwareView(c, ruleForm{})
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "software", "Software", "software", v)
}

func (u *UI) handleSoftwareCSV(c echo.Context) error {
	titles, err := u.deps.Catalog.Titles(c.Request().Context(), inventory.TitleFilter{Text: c.QueryParam("q"), Category: c.QueryParam("category"), Scope: scopeOf(c)})
	if err != nil {
		return err
	}
	csvHeaders(c, "software.csv")
	return api.WriteTitlesCSV(c.Response(), titles)
}

func csvHeaders(c echo.Context, name string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
}

func (u *UI) handleSaveRule(c echo.Context) error {
	var id uint
	if c.Param("id") != "" {
		var err error
		if id, err = idParam(c, "id"); err != nil {
			return err
		}
	}
	get := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	f := ruleForm{Pattern: get("pattern"), Title: get("title"), Category: get("category"), Position: get("position")}
	pos := 0
	var err error
	if f.Position != "" {
		if pos, err = strconv.Atoi(f.Position); err != nil {
			err = fmt.Errorf("position %q is not a number", f.Position)
		}
	}
	if err == nil {
		_, err = u.deps.Catalog.SaveRule(c.Request().Context(), u.actor(c), id,
			api.SoftwareRuleRequest{Pattern: f.Pattern, Title: f.Title, Category: f.Category, Position: pos})
		if err == nil {
			return seeOther(c, uiPrefix+"/software#rules")
		}
		if f.Error = userMessage(err); f.Error == "" {
			return err
		}
	} else {
		f.Error = err.Error()
	}
	v, err := u.softwareView(c, f)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusBadRequest, "software", "Software", "software", v)
}

func (u *UI) handleDeleteRule(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := u.deps.Catalog.DeleteRule(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/software#rules")
}

// titleView is the data of a title's page.
type titleView struct {
	T        *api.SoftwareTitleDetail
	Version  string
	Holders  []api.SoftwareHolder
	Pager    pager
	CSV      string
	BasePath string
}

func (u *UI) siteNameMap(ctx context.Context) (map[uint]string, error) {
	sites, err := u.deps.Store.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[uint]string, len(sites))
	for _, s := range sites {
		out[s.ID] = s.Name
	}
	return out, nil
}

func (u *UI) handleSoftwareTitle(c echo.Context) error {
	ctx := c.Request().Context()
	offset, err := offsetParam(c)
	if err != nil {
		return err
	}
	names, err := u.siteNameMap(ctx)
	if err != nil {
		return err
	}
	key := titleKey(c)
	d, err := u.deps.Catalog.TitleIn(ctx, key, scopeOf(c), names)
	if err != nil {
		return err
	}
	v := titleView{T: d, Version: c.QueryParam("version"), BasePath: uiPrefix + "/software/" + url.PathEscape(d.Key)}
	var total int64
	if v.Holders, total, err = u.deps.Catalog.ComputersIn(ctx, d.Key, v.Version, scopeOf(c), pageSize, offset, names); err != nil {
		return err
	}
	v.Pager = newPager(v.BasePath, c.QueryParams(), total, offset, pageSize)
	v.CSV = v.BasePath + "/computers.csv"
	if v.Version != "" {
		v.CSV += "?version=" + url.QueryEscape(v.Version)
	}
	return u.render(c, http.StatusOK, "software_title", d.Title, "software", v)
}

func (u *UI) handleSoftwareComputersCSV(c echo.Context) error {
	ctx := c.Request().Context()
	names, err := u.siteNameMap(ctx)
	if err != nil {
		return err
	}
	holders, _, err := u.deps.Catalog.ComputersIn(ctx, titleKey(c), c.QueryParam("version"), scopeOf(c), 0, 0, names)
	if err != nil {
		return err
	}
	csvHeaders(c, "software-computers.csv")
	return api.WriteHoldersCSV(c.Response(), holders)
}

// maxHistoryShown bounds the change history on a computer's page.
const maxHistoryShown = 500

func titleKey(c echo.Context) string {
	k := c.Param("key")
	if u, err := url.PathUnescape(k); err == nil {
		return u
	}
	return k
}

// changeKind is the text of a history entry's kind.
func changeKind(kind string) string {
	switch kind {
	case "software.installed":
		return "installed"
	case "software.removed":
		return "removed"
	case "software.upgraded":
		return "upgraded"
	case "software.downgraded":
		return "downgraded"
	case "network":
		return "address"
	}
	return kind
}
