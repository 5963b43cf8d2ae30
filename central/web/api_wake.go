package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/central/wake"
	"github.com/shoal-project/shoal/proto/api"
)

// wakeRoutes are the Wake-on-LAN routes.
func (s *Server) wakeRoutes() []route {
	return []route{
		{Method: "POST", Path: "/computers/:id/wake", Handler: s.wakeComputer, Summary: "Wake a computer: a relay or an awake Shoal agent of its site sends the Wake-on-LAN magic packet to its MAC", Tag: "computers", Resp: api.Wake{}, Status: 202},
		{Method: "GET", Path: "/computers/:id/wakes", Handler: s.computerWakes, Summary: "A computer's wake requests of the last 30 days, newest first, with woken / not woken", Tag: "computers", Resp: api.List[api.Wake]{}, Status: 200},
	}
}

func toAPIWake(w wake.Status) api.Wake {
	return api.Wake{ID: w.ID, ComputerID: w.ComputerID, MAC: w.MAC, Reason: w.Reason, RequestedBy: w.RequestedBy,
		RequestedAt: w.RequestedAt, SentAt: w.SentAt, SentBy: w.SentBy, WokenAt: w.WokenAt, State: w.State}
}

func (s *Server) wakeComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	ws, err := s.deps.Wake.Request(c.Request().Context(), s.actor(c), []uint{id}, store.WakeManual)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toAPIWake(ws[0]))
}

func (s *Server) computerWakes(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.inScope(c, id); err != nil {
		return err
	}
	ws, err := s.deps.Wake.Requests(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := api.List[api.Wake]{Items: make([]api.Wake, 0, len(ws)), Total: int64(len(ws)), Limit: len(ws)}
	for _, w := range ws {
		out.Items = append(out.Items, toAPIWake(w))
	}
	return c.JSON(http.StatusOK, out)
}
