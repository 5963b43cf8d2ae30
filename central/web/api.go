package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

func (s *Server) routeAPI(e *echo.Echo) {
	g := e.Group("/api/v1", s.authenticate)
	g.GET("/server", s.serverInfo)
	g.GET("/stats", s.stats)
	g.POST("/tokens", s.createToken)
	g.GET("/tokens", s.listTokens)
	g.DELETE("/tokens/:id", s.revokeToken)

	g.GET("/computers", s.listComputers)
	g.GET("/computers/:id", s.getComputer)
	g.DELETE("/computers/:id", s.deleteComputer)

	g.GET("/packages", s.listPackages)
	g.POST("/packages", s.createPackage)
	g.GET("/packages/:id", s.getPackage)
	g.DELETE("/packages/:id", s.deletePackage)
	g.GET("/packages/:id/manifest", s.getManifest)
	g.POST("/packages/:id/activate", s.activatePackage)
	g.POST("/packages/:id/deactivate", s.deactivatePackage)
	g.POST("/packages/:id/affect", s.affectPackage)
	g.GET("/packages/:id/deployments", s.listPackageDeployments)

	g.GET("/deployments", s.listDeployments)
	g.GET("/deployments/:id", s.getDeployment)
	g.POST("/deployments/:id/redeploy", s.redeploy)
	g.POST("/deployments/:id/cancel", s.cancel)

	g.GET("/sites", s.listSites)
	g.POST("/sites", s.createSite)
	g.GET("/sites/:id", s.getSite)
	g.PUT("/sites/:id", s.updateSite)
	g.DELETE("/sites/:id", s.deleteSite)
}

// list is the envelope of every paginated answer.
type list[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

func (s *Server) bindJSON(c echo.Context, v any) error {
	ct, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if ct != "application/json" {
		return fmt.Errorf("send a JSON body with Content-Type: application/json: %w", errBadRequest)
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxAPIBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("JSON body: %w", errTooLarge)
		}
		return fmt.Errorf("invalid JSON body: %s: %w", err.Error(), errBadRequest)
	}
	return nil
}

func uintParam(c echo.Context, name string) (uint, error) {
	v, err := strconv.ParseUint(c.Param(name), 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q: %w", name, c.Param(name), errBadRequest)
	}
	return uint(v), nil
}

func pkgParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !packageIDRE.MatchString(id) {
		return "", fmt.Errorf("package id must be digits, got %q: %w", id, errBadRequest)
	}
	return id, nil
}

func pagination(c echo.Context) (limit, offset int, err error) {
	limit, offset = 50, 0
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, fmt.Errorf("limit must be 1..1000: %w", errBadRequest)
		}
	}
	if v := c.QueryParam("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return 0, 0, fmt.Errorf("offset must be 0 or more: %w", errBadRequest)
		}
	}
	return limit, offset, nil
}

func (s *Server) serverInfo(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{
		"ca_fingerprint_sha256": s.deps.PKI.CAFingerprint(),
		"manifest_key_id":       proto.KeyID(s.deps.PKI.SigningPublicKey()),
		"manifest_public_key":   s.deps.PKI.SigningPublicKey(),
		"protocol_version":      proto.ProtocolVersion,
		"default_info_loc":      s.deps.Deploy.Defaults().InfoLoc,
		"default_pack_loc":      s.deps.Deploy.Defaults().PackLoc,
	})
}

// stats reports row counts and what central served from its download tree.
func (s *Server) stats(c echo.Context) error {
	rows, err := s.deps.Store.CountRows(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rows": rows, "downloads": s.counters.All()})
}

// computerFilter reads the search parameters shared by listing and affectation.
func computerFilter(c echo.Context) (store.ComputerFilter, error) {
	f := store.ComputerFilter{
		Name: c.QueryParam("name"), OS: c.QueryParam("os"), Software: c.QueryParam("software"),
		SoftwareVersion: c.QueryParam("software_version"), IP: c.QueryParam("ip"), Tag: c.QueryParam("tag"),
	}
	if v := c.QueryParam("site"); v != "" {
		id, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return f, fmt.Errorf("site must be a site id: %w", errBadRequest)
		}
		sid := uint(id)
		f.SiteID = &sid
	}
	var err error
	f.Limit, f.Offset, err = pagination(c)
	return f, err
}

func (s *Server) listComputers(c echo.Context) error {
	f, err := computerFilter(c)
	if err != nil {
		return err
	}
	items, total, err := s.deps.Store.SearchComputers(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[store.Computer]{Items: items, Total: total, Limit: f.Limit, Offset: f.Offset})
}

func (s *Server) getComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	d, err := s.deps.Store.ComputerDetail(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) deleteComputer(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteComputer(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "computer.delete", fmt.Sprint(id))
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listPackages(c echo.Context) error {
	limit, offset, err := pagination(c)
	if err != nil {
		return err
	}
	items, total, err := s.deps.Store.ListPackages(c.Request().Context(), limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[store.Package]{Items: items, Total: total, Limit: limit, Offset: offset})
}

type packageView struct {
	store.Package
	Deployments map[string]int64 `json:"deployments"`
	Downloads   PackageStats     `json:"downloads"`
	Manifest    *proto.Manifest  `json:"manifest,omitempty"`
	Signature   string           `json:"signature_status"`
}

func (s *Server) getPackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.deps.Store.Package(ctx, id)
	if err != nil {
		return err
	}
	counts, err := s.deps.Store.DeploymentCounts(ctx, id)
	if err != nil {
		return err
	}
	v := packageView{Package: *p, Deployments: counts, Downloads: s.counters.Stats(id), Signature: "valid"}
	if v.Manifest, err = s.deps.Deploy.Manifest(id); err != nil {
		v.Signature = "invalid: " + err.Error()
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) getManifest(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	b, err := s.deps.Packages.ManifestBytes(id)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("package %s has no manifest: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", b)
}

func (s *Server) deletePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.deps.Store.Package(ctx, id); err != nil {
		return err
	}
	if err := s.deps.Store.DeletePackage(ctx, id); err != nil {
		return err
	}
	if err := s.deps.Packages.Delete(id); err != nil {
		return err
	}
	s.audit(c, "package.delete", id)
	return c.NoContent(http.StatusNoContent)
}

// newPackageID allocates an OCS package ID: the Unix time of creation, as the
// OCS console does, bumped past the last one so two uploads in the same second
// get distinct IDs.
func (s *Server) newPackageID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	id := time.Now().Unix()
	if id <= s.lastID {
		id = s.lastID + 1
	}
	s.lastID = id
	return strconv.FormatInt(id, 10)
}

// createPackage streams a multipart upload ("file" part plus form fields) to
// disk, builds the OCS layout and the signed manifest, and records the package.
func (s *Server) createPackage(c echo.Context) error {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return fmt.Errorf("send multipart/form-data with a 'file' part: %w", errBadRequest)
	}
	fields := map[string]string{}
	var spooled string
	defer func() {
		if spooled != "" {
			os.Remove(spooled)
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read multipart body: %s: %w", err.Error(), errBadRequest)
		}
		name := part.FormName()
		if name == "file" {
			if spooled != "" {
				return fmt.Errorf("only one file per package: %w", errBadRequest)
			}
			path, _, err := s.deps.Packages.Spool(part, 0)
			if err != nil {
				return fmt.Errorf("upload: %w", err)
			}
			spooled = path
			if fields["name"] == "" && part.FileName() != "" {
				fields["filename"] = part.FileName()
			}
			continue
		}
		if len(fields) > 64 {
			return fmt.Errorf("too many form fields: %w", errBadRequest)
		}
		b, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
		if err != nil {
			return fmt.Errorf("read field %s: %s: %w", name, err.Error(), errBadRequest)
		}
		if len(b) > 64<<10 {
			return fmt.Errorf("field %s is too long: %w", name, errBadRequest)
		}
		fields[name] = string(b)
	}
	if spooled == "" {
		return fmt.Errorf("the 'file' part is missing: %w", errBadRequest)
	}
	spec, err := specFromFields(fields)
	if err != nil {
		return err
	}
	spec.ID = s.newPackageID()
	if err := spec.Validate(); err != nil {
		return err
	}
	built, err := s.deps.Packages.Build(c.Request().Context(), spec, spooled)
	if err != nil {
		return fmt.Errorf("build package: %w", err)
	}
	p := packageModel(spec, built, proto.KeyID(s.deps.PKI.SigningPublicKey()))
	if err := s.deps.Store.CreatePackage(c.Request().Context(), p); err != nil {
		_ = s.deps.Packages.Delete(spec.ID)
		return err
	}
	s.audit(c, "package.create", p.ID)
	return c.JSON(http.StatusCreated, p)
}

func specFromFields(f map[string]string) (packages.Spec, error) {
	atoi := func(k string, def int) (int, error) {
		v := strings.TrimSpace(f[k])
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s must be a number: %w", k, packages.ErrInvalidSpec)
		}
		return n, nil
	}
	boolean := func(k string) bool {
		b, _ := strconv.ParseBool(strings.TrimSpace(f[k]))
		return b
	}
	spec := packages.Spec{
		Name: strings.TrimSpace(f["name"]), Description: f["description"],
		Platform: strings.ToUpper(strings.TrimSpace(f["platform"])), Action: strings.ToUpper(strings.TrimSpace(f["action"])),
		Command: f["command"], Path: f["path"], LaunchName: f["launch_name"],
		NotifyUser: boolean("notify_user"), NotifyText: f["notify_text"], NotifyCountdown: f["notify_countdown"],
		NotifyCanAbort: boolean("notify_can_abort"), NotifyCanDelay: boolean("notify_can_delay"),
		NeedDoneAction: boolean("need_done_action"), NeedDoneActionText: f["need_done_action_text"],
	}
	if spec.Name == "" {
		spec.Name = f["filename"]
	}
	if spec.Platform == "" {
		spec.Platform = "LINUX"
	}
	if spec.Action == "RUN" {
		spec.Action = "EXECUTE"
	}
	var err error
	if spec.Priority, err = atoi("priority", 5); err != nil {
		return spec, err
	}
	if spec.OCSFragments, err = atoi("fragments", 0); err != nil {
		return spec, err
	}
	fs, err := atoi("fragment_size", 0)
	if err != nil {
		return spec, err
	}
	spec.OCSFragmentSize = int64(fs)
	return spec, nil
}

func packageModel(spec packages.Spec, b *packages.Built, keyID string) *store.Package {
	m := b.Manifest
	return &store.Package{
		ID: spec.ID, Name: spec.Name, Description: spec.Description, Platform: spec.Platform, Action: spec.Action,
		Command: spec.Command, Path: spec.Path, LaunchName: spec.LaunchName, Priority: spec.Priority,
		Size: b.Size, MD5: b.MD5, SHA256: b.SHA256, OCSFragments: b.OCSFragments,
		FragmentSize: m.FragmentSize, ShoalFragments: len(m.Fragments),
		NotifyUser: spec.NotifyUser, NotifyText: spec.NotifyText, NotifyCountdown: spec.NotifyCountdown,
		NotifyCanAbort: spec.NotifyCanAbort, NotifyCanDelay: spec.NotifyCanDelay,
		NeedDoneAction: spec.NeedDoneAction, NeedDoneActionText: spec.NeedDoneActionText,
		ManifestKeyID: keyID, Proto: "HTTP",
	}
}

func (s *Server) activatePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var req deploy.ActivateRequest
	if c.Request().ContentLength != 0 {
		if err := s.bindJSON(c, &req); err != nil {
			return err
		}
	}
	report, err := s.deps.Deploy.Activate(c.Request().Context(), id, req)
	if errors.Is(err, deploy.ErrUnavailable) {
		return c.JSON(http.StatusUnprocessableEntity, map[string]any{
			"error": "availability check failed; the package was not activated", "detail": report.Problems, "check": report})
	}
	if err != nil {
		return err
	}
	s.audit(c, "package.activate", id)
	p, err := s.deps.Store.Package(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"package": p, "check": report})
}

func (s *Server) deactivatePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	if err := s.deps.Deploy.Deactivate(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "package.deactivate", id)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) affectPackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var req deploy.AffectRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	res, err := s.deps.Deploy.Affect(c.Request().Context(), id, req)
	if err != nil {
		return err
	}
	if !req.DryRun {
		s.audit(c, "package.affect", id)
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) deploymentFilter(c echo.Context) (store.DeploymentFilter, error) {
	f := store.DeploymentFilter{State: c.QueryParam("state"), PackageID: c.QueryParam("package")}
	if v := c.QueryParam("computer"); v != "" {
		id, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return f, fmt.Errorf("computer must be a computer id: %w", errBadRequest)
		}
		f.ComputerID = uint(id)
	}
	var err error
	f.Limit, f.Offset, err = pagination(c)
	return f, err
}

func (s *Server) listDeployments(c echo.Context) error {
	f, err := s.deploymentFilter(c)
	if err != nil {
		return err
	}
	items, total, err := s.deps.Store.ListDeployments(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[store.Deployment]{Items: items, Total: total, Limit: f.Limit, Offset: f.Offset})
}

func (s *Server) listPackageDeployments(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	c.QueryParams().Set("package", id)
	return s.listDeployments(c)
}

func (s *Server) getDeployment(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := s.deps.Store.Deployment(ctx, id)
	if err != nil {
		return err
	}
	ev, err := s.deps.Store.DeploymentEvents(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"deployment": d, "events": ev})
}

func (s *Server) redeploy(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Store.Redeploy(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deployment.redeploy", fmt.Sprint(id))
	return s.getDeployment(c)
}

func (s *Server) cancel(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Store.Cancel(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "deployment.cancel", fmt.Sprint(id))
	return s.getDeployment(c)
}

type siteRequest struct {
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	CIDRs            []string `json:"cidrs"`
	FragmentLocation string   `json:"fragment_location"`
}

func (r siteRequest) model() (*store.Site, error) {
	if r.FragmentLocation != "" {
		if err := deploy.CheckLocation(r.FragmentLocation); err != nil {
			return nil, err
		}
	}
	site := &store.Site{Name: r.Name, Description: r.Description, FragmentLocation: r.FragmentLocation}
	for _, c := range r.CIDRs {
		site.CIDRs = append(site.CIDRs, store.SiteCIDR{CIDR: c})
	}
	return site, nil
}

func (s *Server) listSites(c echo.Context) error {
	sites, err := s.deps.Store.ListSites(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": sites})
}

func (s *Server) createSite(c echo.Context) error {
	var req siteRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	site, err := req.model()
	if err != nil {
		return err
	}
	if err := s.deps.Store.CreateSite(c.Request().Context(), site); err != nil {
		return err
	}
	s.audit(c, "site.create", site.Name)
	return c.JSON(http.StatusCreated, site)
}

func (s *Server) getSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	site, err := s.deps.Store.Site(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, site)
}

func (s *Server) updateSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	var req siteRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	site, err := req.model()
	if err != nil {
		return err
	}
	site.ID = id
	if err := s.deps.Store.UpdateSite(c.Request().Context(), site); err != nil {
		return err
	}
	s.audit(c, "site.update", site.Name)
	return s.getSite(c)
}

func (s *Server) deleteSite(c echo.Context) error {
	id, err := uintParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.deps.Store.DeleteSite(c.Request().Context(), id); err != nil {
		return err
	}
	s.audit(c, "site.delete", fmt.Sprint(id))
	return c.NoContent(http.StatusNoContent)
}
