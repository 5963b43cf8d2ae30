package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// duplicatesPath is the fleet hygiene page: merges and stale computers.
const duplicatesPath = uiPrefix + "/duplicates"

// defaultStaleDays is the stale list's default "not seen for" days.
const defaultStaleDays = 30

// duplicatesView is the data of the duplicates page.
type duplicatesView struct {
	Merges      []store.ComputerMerge
	MergesPager pager
	StaleDays   int
	Stale       []store.Computer
	StaleTotal  int64
	// StaleMore is set when the list is cut; StaleLink is the REST API
	// search that lists them all.
	StaleMore bool
	StaleLink string
	Purge     inventory.StalePurge
	Done      string
}

func (u *UI) registerHygiene(g *echo.Group) {
	g.GET("/duplicates", u.handleDuplicates)
	g.POST("/duplicates/merge", u.handleMerge)
	g.POST("/duplicates/purge", u.handlePurgeSetting)
	g.POST("/merges/:id/split", u.handleSplit)
}

func (u *UI) handleDuplicates(c echo.Context) error {
	ctx := c.Request().Context()
	v := duplicatesView{StaleDays: defaultStaleDays, Done: c.QueryParam("done")}
	if s := c.QueryParam("days"); s != "" {
		d, err := strconv.Atoi(s)
		if err != nil || d < 1 || d > inventory.MaxStaleDays {
			return badInput("Days must be a number from 1 to %d, not %q.", inventory.MaxStaleDays, s)
		}
		v.StaleDays = d
	}
	offset, err := offsetParam(c)
	if err != nil {
		return err
	}
	ms, total, err := u.deps.Store.Merges(ctx, pageSize, offset)
	if err != nil {
		return err
	}
	v.Merges = ms
	v.MergesPager = newPager(duplicatesPath, c.QueryParams(), total, offset, pageSize)
	before := u.now().Add(-time.Duration(v.StaleDays) * 24 * time.Hour)
	if v.Stale, err = inventory.StaleComputers(ctx, u.deps.Store, before, pageSize); err != nil {
		return err
	}
	if _, v.StaleTotal, err = u.deps.Store.SearchComputers(ctx, store.ComputerFilter{ContactBefore: before, Limit: 1}); err != nil {
		return err
	}
	v.StaleMore = v.StaleTotal > int64(len(v.Stale))
	v.StaleLink = fmt.Sprintf("%s/computers?%s=%dh", api.BasePath, api.QueryContactBefore, v.StaleDays*24)
	if v.Purge, err = u.deps.Ops.StalePurge(ctx); err != nil {
		return err
	}
	return u.render(c, 200, "duplicates", "Duplicates and stale computers", "duplicates", v)
}

func (u *UI) handleMerge(c echo.Context) error {
	ids := [2]uint{}
	for i, name := range []string{"target", "from"} {
		n, err := strconv.ParseUint(strings.TrimSpace(c.FormValue(name)), 10, 32)
		if err != nil || n == 0 {
			return badInput("The %s computer must be a computer id (the number in its page address), not %q.", name, c.FormValue(name))
		}
		ids[i] = uint(n)
	}
	if _, err := u.deps.Ops.MergeComputers(c.Request().Context(), u.actor(c), ids[0], ids[1]); err != nil {
		return err
	}
	return seeOther(c, duplicatesPath+"?done=merge")
}

func (u *UI) handleSplit(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	comp, err := u.deps.Ops.SplitMerge(c.Request().Context(), u.actor(c), id)
	if err != nil {
		return err
	}
	return seeOther(c, fmt.Sprintf("%s/computers/%d?done=split", uiPrefix, comp.ID))
}

func (u *UI) handlePurgeSetting(c echo.Context) error {
	s := strings.TrimSpace(c.FormValue("days"))
	d, err := strconv.Atoi(s)
	if err != nil {
		return badInput("Days must be a number (0 turns the purge off), not %q.", s)
	}
	if err := u.deps.Ops.SaveStalePurge(c.Request().Context(), u.actor(c), inventory.StalePurge{Days: d}); err != nil {
		return err
	}
	return seeOther(c, duplicatesPath+"?done=purge")
}
