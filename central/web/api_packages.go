package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

func (s *Server) listPackages(c echo.Context) error {
	limit, offset, err := pagination(c)
	if err != nil {
		return err
	}
	items, total, err := s.deps.Store.ListPackages(c.Request().Context(), limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.List[api.Package]{Items: convertAll(items, toAPIPackage), Total: total, Limit: limit, Offset: offset})
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
	v := api.PackageDetail{
		Package: toAPIPackage(p), DeploymentCounts: counts, Downloads: toAPIDownloads(s.counters.Stats(id)),
		Signature: api.Signature{Status: api.SignatureValid, KeyID: p.ManifestKeyID},
		Fragments: []api.Fragment{}, OCSFragments: []api.Fragment{},
	}
	var pullErr error
	if p.Active {
		// A replica without the package pulls it first
		// (packages.Builder.Ensure); why a pull failed says more than the
		// missing manifest, so it is the signature error then.
		pullErr = s.deps.Packages.Ensure(ctx, id)
	}
	m, err := s.deps.Deploy.Manifest(id)
	if err != nil {
		if pullErr != nil {
			err = pullErr
		}
		v.Signature = api.Signature{Status: api.SignatureInvalid, KeyID: p.ManifestKeyID, Error: err.Error()}
	} else {
		v.Fragments, v.OCSFragments = toAPIFragments(m.Fragments), toAPIFragments(m.OCSFragments)
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
	if err := s.deps.Ops.DeletePackage(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// errSpecInvalid carries the invalid spec of an upload whose fields came
// before its file.
type errSpecInvalid struct{ err error }

func (e *errSpecInvalid) Error() string { return e.err.Error() }

// createPackage streams a multipart upload (form fields plus a "file"
// part) to disk without holding it in memory, builds the OCS layout and the
// signed manifest, and records the package.
func (s *Server) createPackage(c echo.Context) error {
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return fmt.Errorf("send multipart/form-data with a '%s' part: %w", api.FormFile, errBadRequest)
	}
	fields, spooled, err := packages.ReadUpload(mr, s.deps.Packages, packages.UploadHooks{
		// Fields sent before the file (as shoalctl does) are checked
		// before the upload is spooled, so a bad spec fails fast.
		BeforeFile: func(fields map[string]string) error {
			if fields[api.FormAction] == "" {
				return nil
			}
			spec, err := specFromFields(fields)
			if err != nil {
				return err
			}
			spec.ID = "1"
			if err := spec.Validate(); err != nil {
				return &errSpecInvalid{err: err}
			}
			return nil
		},
	})
	if spooled != "" {
		defer os.Remove(spooled)
	}
	var invalid *errSpecInvalid
	var ue *packages.UploadError
	switch {
	case errors.As(err, &invalid):
		return c.JSON(http.StatusBadRequest, specError(invalid.err))
	case errors.As(err, &ue):
		if ue.Problem == packages.UploadInterrupted {
			s.log.Info("upload interrupted by the client", "remote", c.RealIP(), "err", ue.Err)
		}
		return uploadProblem(ue)
	case err != nil:
		return fmt.Errorf("upload: %w", err)
	}
	if spooled == "" {
		return fmt.Errorf("the '%s' part is missing: %w", api.FormFile, errBadRequest)
	}
	spec, err := specFromFields(fields)
	if err != nil {
		return err
	}
	spec.ID = s.deps.Packages.NewID()
	if err := spec.Validate(); err != nil {
		return c.JSON(http.StatusBadRequest, specError(err))
	}
	if err := packages.CheckUpload(spec, spooled); err != nil {
		if errors.Is(err, packages.ErrInvalidSpec) {
			return c.JSON(http.StatusBadRequest, specError(err))
		}
		return err
	}
	built, err := s.deps.Packages.Build(c.Request().Context(), spec, spooled)
	if err != nil {
		return fmt.Errorf("build package: %w", err)
	}
	p := packages.Record(spec, built, proto.KeyID(s.deps.PKI.SigningPublicKey()))
	if err := s.deps.Store.CreatePackage(c.Request().Context(), p); err != nil {
		_ = s.deps.Packages.Delete(spec.ID)
		return err
	}
	s.audit(c, "package.create", p.ID, fmt.Sprintf("%s (%d bytes, %s)", p.Name, p.Size, p.Action))
	return c.JSON(http.StatusCreated, toAPIPackage(p))
}

// specError lists the invalid fields of a package spec by their form name.
func specError(err error) api.Error {
	out := api.Error{Error: "the package is invalid", Fields: map[string]string{}}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		out.Detail = append(out.Detail, e.Error())
		var fe *packages.FieldError
		if errors.As(e, &fe) {
			name := fe.Field
			switch name {
			case "ocs_fragments":
				name = api.FormFragments
			case "ocs_fragment_size":
				name = api.FormFragmentSize
			}
			if _, seen := out.Fields[name]; !seen {
				out.Fields[name] = fe.Problem
			}
		}
	}
	return out
}

// uploadProblem presents a malformed upload body as a bad request.
func uploadProblem(ue *packages.UploadError) error {
	switch ue.Problem {
	case packages.UploadInterrupted:
		if ue.Field != "" {
			return badRequest(fmt.Errorf("read field %s: %w", ue.Field, ue.Err))
		}
		return badRequest(fmt.Errorf("read multipart body: %w", ue.Err))
	case packages.UploadTooManyFields:
		return fmt.Errorf("too many form fields: %w", errBadRequest)
	case packages.UploadFieldTooLong:
		return fmt.Errorf("field %s is too long: %w", ue.Field, errBadRequest)
	default:
		return fmt.Errorf("only one file per package: %w", errBadRequest)
	}
}

// specFromFields is packages.SpecFromFields with the first field that is
// not a number as a bad request.
func specFromFields(f map[string]string) (packages.Spec, error) {
	spec, err := packages.SpecFromFields(f)
	if err != nil {
		var fe *packages.FieldError
		if errors.As(err, &fe) {
			return spec, badRequest(fmt.Errorf("%s %s", fe.Field, fe.Problem))
		}
		return spec, badRequest(err)
	}
	return spec, nil
}

func (s *Server) activatePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var req api.ActivateRequest
	if c.Request().ContentLength != 0 {
		if err := s.bindJSON(c, &req); err != nil {
			return err
		}
	}
	p, report, err := s.deps.Ops.ActivatePackage(c.Request().Context(), s.actor(c), id, deploy.ActivateRequest{
		InfoLoc: req.InfoLoc, PackLoc: req.PackLoc, Proto: req.Proto, SkipCheck: req.SkipCheck})
	if errors.Is(err, deploy.ErrUnavailable) && report != nil {
		return c.JSON(http.StatusUnprocessableEntity, api.Error{
			Error: "availability check failed; the package was not activated", Detail: report.Problems})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.ActivateResult{Package: toAPIPackage(p), Check: toAPICheck(report, req.SkipCheck)})
}

func (s *Server) deactivatePackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	if err := s.deps.Ops.DeactivatePackage(c.Request().Context(), s.actor(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// Bounds of one affectation: all computers, and those listed by ID.
const (
	maxAffect          = 100000
	maxListedComputers = 10000
)

func (s *Server) affectPackage(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var req api.AffectRequest
	if err := s.bindJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.deps.Store.Package(ctx, id)
	if err != nil {
		return err
	}
	// Refuse an inactive package before checking the computers, as the
	// operation itself would.
	if !p.Active && !req.DryRun {
		return fmt.Errorf("affect %s: activate it first: %w", id, deploy.ErrNotActive)
	}
	ids, err := s.selectComputers(ctx, req, scopeOf(c))
	if err != nil {
		return err
	}
	if req.DryRun {
		res, err := s.deps.Deploy.Affect(ctx, id, deploy.AffectRequest{ComputerIDs: ids, DryRun: true})
		if err != nil {
			return err
		}
		out := toAPIAffectResult(res)
		out.DryRun = true
		return c.JSON(http.StatusOK, out)
	}
	res, err := s.deps.Ops.AffectPackage(ctx, s.actor(c), id, ids, req.Force)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIAffectResult(res))
}

func toAPIAffectResult(res *deploy.AffectResult) api.AffectResult {
	out := api.AffectResult{Selected: res.Selected, Created: res.Created, Excluded: res.Excluded}
	for _, e := range res.Exclusions {
		out.Exclusions = append(out.Exclusions, api.Exclusion{Platform: e.Platform, Count: e.Count, Reason: e.Reason})
	}
	return out
}

// selectComputers returns the distinct computer IDs of an affectation: the
// listed ones plus the search's.
func (s *Server) selectComputers(ctx context.Context, req api.AffectRequest, scope store.Scope) ([]uint, error) {
	if len(req.ComputerIDs) == 0 && req.Filter == nil {
		return nil, fmt.Errorf("give computer_ids or a filter: %w", errBadRequest)
	}
	if req.Filter != nil && req.Filter.Empty() && !req.All {
		return nil, fmt.Errorf("an empty filter selects every computer; send \"all\": true to affect them all: %w", errBadRequest)
	}
	seen := map[uint]bool{}
	var ids []uint
	add := func(list []uint) {
		for _, id := range list {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	add(req.ComputerIDs)
	if len(ids) > 0 {
		if len(ids) > maxListedComputers {
			return nil, fmt.Errorf("at most %d computer_ids; use a filter for more: %w", maxListedComputers, errBadRequest)
		}
		found, err := s.deps.Store.FindComputerIDs(ctx, store.ComputerFilter{IDs: ids, Scope: scope}, len(ids))
		if err != nil {
			return nil, err
		}
		if missing := missingIDs(ids, found); len(missing) > 0 && scope.Limited() {
			return nil, fmt.Errorf("computers %s: %w", joinIDs(missing), errOutOfScope)
		}
		if missing := missingIDs(ids, found); len(missing) > 0 {
			return nil, fmt.Errorf("no computer has id %s: %w", joinIDs(missing), store.ErrNotFound)
		}
	}
	if req.Filter != nil {
		q := computerQuery(*req.Filter)
		q.Scope = scope
		found, err := s.deps.Store.FindComputerIDs(ctx, q, maxAffect)
		if err != nil {
			return nil, err
		}
		add(found)
	}
	if len(ids) > maxAffect {
		return nil, fmt.Errorf("%d computers selected, at most %d: %w", len(ids), maxAffect, errBadRequest)
	}
	return ids, nil
}

// missingIDs returns the IDs of want that are not in have (sorted).
func missingIDs(want, have []uint) []uint {
	in := make(map[uint]bool, len(have))
	for _, id := range have {
		in[id] = true
	}
	var out []uint
	for _, id := range want {
		if !in[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// joinIDs prints at most ten IDs.
func joinIDs(ids []uint) string {
	parts := make([]string, 0, min(len(ids), 10)+1)
	for i, id := range ids {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ids)-10))
			break
		}
		parts = append(parts, strconv.FormatUint(uint64(id), 10))
	}
	return strings.Join(parts, ", ")
}
