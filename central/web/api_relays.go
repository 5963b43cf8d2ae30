package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/proto/api"
)

// This file serves the relay routes of the REST API: the relays with their
// health and counters, removing one, and purging a package from all.

func (s *Server) listRelays(c echo.Context) error {
	items, err := s.deps.Ops.Relays(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Relay]{Items: items, Total: int64(len(items)), Limit: len(items)})
}

func (s *Server) deleteRelay(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Ops.DeleteRelay(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) purgePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	res, err := s.deps.Ops.PurgePackage(c.Request().Context(), s.actor(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.PurgeResult{PackageID: id, Relays: res.Relays, Kept: res.Kept})
}
