package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

func toAPIMerge(m *store.ComputerMerge) api.ComputerMerge {
	return api.ComputerMerge{
		ID: m.ID, At: m.At, TargetID: m.TargetID, TargetDeviceID: m.TargetDeviceID, MergedID: m.MergedID,
		MergedDeviceID: m.MergedDeviceID, MergedName: m.MergedName, MergedSerial: m.MergedSerial, MergedMAC: m.MergedMAC,
		Reason: m.Reason, Actor: m.Actor, SplitAt: m.SplitAt, SplitID: m.SplitID,
	}
}

func (s *Server) listMerges(c echo.Context) error {
	limit, offset, err := pagination(c)
	if err != nil {
		return err
	}
	ms, total, err := s.deps.Store.Merges(c.Request().Context(), limit, offset)
	if err != nil {
		return err
	}
	items := make([]api.ComputerMerge, 0, len(ms))
	for i := range ms {
		items = append(items, toAPIMerge(&ms[i]))
	}
	return c.JSON(http.StatusOK, api.List[api.ComputerMerge]{Items: items, Total: total, Limit: limit, Offset: offset})
}

func (s *Server) mergeComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req api.MergeRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if req.From == 0 {
		return fmt.Errorf("from must name the computer to merge: %w", errBadRequest)
	}
	m, err := s.deps.Ops.MergeComputers(c.Request().Context(), s.actor(c), id, req.From)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIMerge(m))
}

func (s *Server) splitMerge(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	comp, err := s.deps.Ops.SplitMerge(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	names, err := s.siteNames(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAPIComputer(comp, names))
}

func (s *Server) getStalePurge(c echo.Context) error {
	p, err := s.deps.Ops.StalePurge(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.StalePurge{Days: p.Days})
}

func (s *Server) putStalePurge(c echo.Context) error {
	var req api.StalePurge
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Ops.SaveStalePurge(c.Request().Context(), s.actor(c), inventory.StalePurge{Days: req.Days}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, req)
}
