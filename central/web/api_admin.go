package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/pki"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

func (s *Server) serverInfo(c echo.Context) error {
	def := s.deps.Deploy.Defaults()
	host, _, _ := strings.Cut(def.InfoLoc, "/")
	ocsURL := "https://" + host + "/ocsinventory"
	caFile := s.deps.PKI.Path(pki.CACertFile)
	out := api.ServerInfo{
		CAFingerprintSHA256: s.deps.PKI.CAFingerprint(),
		ManifestKeyID:       proto.KeyID(s.deps.PKI.SigningPublicKey()),
		ManifestPublicKey:   s.deps.PKI.SigningPublicKey(),
		ProtocolVersion:     proto.ProtocolVersion,
		DefaultInfoLoc:      def.InfoLoc,
		DefaultPackLoc:      def.PackLoc,
		OCSServerURL:        ocsURL,
		OCSAgentCommand:     api.OCSAgentCommand("https://"+host, caFile),
		CAFile:              caFile,
		CACertPath:          "/cacert.pem",
		Time:                time.Now().UTC(),
	}
	if p := principalOfCtx(c); p != nil {
		out.Caller = api.Principal{Name: p.Name, Role: p.Role}
	}
	return c.JSON(http.StatusOK, out)
}

// stats reports row counts and what central served from its download tree.
func (s *Server) stats(c echo.Context) error {
	rows, err := s.deps.Store.CountRows(c.Request().Context())
	if err != nil {
		return err
	}
	out := api.Stats{Rows: rows, Downloads: map[string]api.DownloadStats{}}
	for id, st := range s.counters.All() {
		out.Downloads[id] = toAPIDownloads(st)
	}
	return c.JSON(http.StatusOK, out)
}

func siteModel(r api.SiteRequest) *store.Site {
	site := &store.Site{Name: r.Name, Description: r.Description, FragmentLocation: r.FragmentLocation, TimeZone: r.TimeZone,
		OCSTimings: r.OCSTimings, Window: r.Window}
	for _, c := range r.CIDRs {
		site.CIDRs = append(site.CIDRs, store.SiteCIDR{CIDR: c})
	}
	return site
}

func (s *Server) listSites(c echo.Context) error {
	ctx := c.Request().Context()
	sites, err := s.deps.Store.ListSites(ctx)
	if err != nil {
		return err
	}
	counts, err := s.deps.Store.ComputerCountsBySite(ctx)
	if err != nil {
		return err
	}
	items := make([]api.Site, len(sites))
	for i := range sites {
		items[i] = toAPISite(&sites[i], counts[sites[i].ID])
	}
	return c.JSON(http.StatusOK, api.List[api.Site]{Items: items, Total: int64(len(items)), Limit: len(items)})
}

func (s *Server) siteAnswer(c echo.Context, status int, id uint, moved ...int) error {
	ctx := c.Request().Context()
	site, err := s.deps.Store.Site(ctx, id)
	if err != nil {
		return err
	}
	counts, err := s.deps.Store.ComputerCountsBySite(ctx)
	if err != nil {
		return err
	}
	out := toAPISite(site, counts[id])
	if len(moved) == 1 {
		out.ComputersMoved = &moved[0]
	}
	return c.JSON(status, out)
}

func (s *Server) createSite(c echo.Context) error {
	var req api.SiteRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	site := siteModel(req)
	moved, err := s.deps.Ops.CreateSite(c.Request().Context(), s.actor(c), site)
	if err != nil {
		return err
	}
	return s.siteAnswer(c, http.StatusCreated, site.ID, moved)
}

func (s *Server) getSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	return s.siteAnswer(c, http.StatusOK, id)
}

func (s *Server) updateSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req api.SiteRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	site := siteModel(req)
	site.ID = id
	moved, err := s.deps.Ops.UpdateSite(c.Request().Context(), s.actor(c), site)
	if err != nil {
		return err
	}
	return s.siteAnswer(c, http.StatusOK, id, moved)
}

func (s *Server) deleteSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Ops.DeleteSite(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) getSettings(c echo.Context) error {
	return c.JSON(http.StatusOK, toAPISettings(s.deps.Deploy.Config()))
}

func (s *Server) putSettings(c echo.Context) error {
	var req api.Settings
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.deps.Ops.SaveSettings(c.Request().Context(), s.actor(c), fromAPISettings(req)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPISettings(s.deps.Deploy.Config()))
}

func (s *Server) listAudit(c echo.Context) error {
	f := store.AuditFilter{Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), Target: c.QueryParam("target")}
	now := time.Now()
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"before", &f.Before}} {
		v, err := api.ParseTime(c.QueryParam(t.name), now)
		if err != nil {
			return badRequest(fmt.Errorf("%s: %w", t.name, err))
		}
		if v != nil {
			*t.dst = *v
		}
	}
	var err error
	if f.Limit, f.Offset, err = pagination(c); err != nil {
		return err
	}
	evs, total, err := s.deps.Store.ListAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.AuditEvent]{Items: convertAll(evs, toAPIAudit), Total: total, Limit: f.Limit, Offset: f.Offset})
}

func (s *Server) importSites(c echo.Context) error {
	var req api.SiteImportRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	res, err := s.deps.Ops.ImportSites(c.Request().Context(), s.actor(c), strings.NewReader(req.CSV))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.SiteImportResult{Created: res.Created, Updated: res.Updated, ComputersMoved: res.Moved})
}
