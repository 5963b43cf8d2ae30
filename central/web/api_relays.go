package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/proto/api"
)

// This file serves the relay routes of the REST API: the relays with their
// health and counters, removing one, and purging a package from all.

func (s *Server) listRelays(c echo.Context) error {
	items, err := agentapi.RelayStatuses(c.Request().Context(), s.deps.Store, time.Now())
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
	ctx := c.Request().Context()
	r, err := s.deps.Store.Relay(ctx, id)
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteRelay(ctx, id, time.Now()); err != nil {
		return err
	}
	s.audit(c, "relay.delete", r.Name, fmt.Sprintf("peer=%s url=%s", r.PeerID, r.HTTPURL))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) purgePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.deps.Store.Package(ctx, id); err != nil {
		return err
	}
	if err := s.deps.Store.RequestPurge(ctx, id, time.Now()); err != nil {
		return err
	}
	relays, err := s.deps.Store.Relays(ctx)
	if err != nil {
		return err
	}
	kept, err := s.deps.Store.RelaysKeeping(ctx, id)
	if err != nil {
		return err
	}
	s.audit(c, "package.purge", id, fmt.Sprintf("from %d relay(s), %d keep it for unfinished deployments", len(relays), kept))
	return c.JSON(http.StatusOK, api.PurgeResult{PackageID: id, Relays: len(relays), Kept: int(kept)})
}
