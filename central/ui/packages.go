package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// packagesView is the data of the packages list.
type packagesView struct {
	Items []store.Package
	Pager pager
}

func (u *UI) handlePackages(c echo.Context) error {
	offset, err := offsetParam(c)
	if err != nil {
		return err
	}
	items, total, err := u.deps.Store.ListPackages(c.Request().Context(), pageSize, offset)
	if err != nil {
		return err
	}
	v := packagesView{Items: items, Pager: newPager(uiPrefix+"/packages", c.QueryParams(), total, offset, pageSize)}
	return u.render(c, http.StatusOK, "packages", "Packages", "packages", v)
}

// packageView is the data of a package's page.
type packageView struct {
	P            *store.Package
	Counts       map[string]int64
	Progress     packageProgress
	Manifest     *proto.Manifest
	SignatureErr string
	KeyID        string
	Fragments    []proto.Fragment
	OCSFragments []proto.Fragment
	MoreFrags    int
	Activate     activateForm
	Checked      string
	Report       *packages.CheckReport
	Sites        []store.Site
}

// activateForm is the activation form and its errors.
type activateForm struct {
	InfoLoc, PackLoc, Proto string
	SkipCheck               bool
	Errors                  map[string]string
}

// maxFragmentRows bounds the fragment tables of a package page.
const maxFragmentRows = 200

func (u *UI) packageView(c echo.Context, id string) (*packageView, error) {
	ctx := c.Request().Context()
	p, err := u.deps.Store.Package(ctx, id)
	if err != nil {
		return nil, err
	}
	counts, err := u.deps.Store.DeploymentCounts(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &packageView{P: p, Counts: counts, KeyID: p.ManifestKeyID,
		Progress: progressOf(store.UIPackageStates{PackageID: id, PackageName: p.Name, Active: p.Active, Counts: counts})}
	var pullErr error
	if p.Active {
		// A replica without the package pulls it first
		// (packages.Builder.Ensure); why a pull failed says more than the
		// missing manifest, so it is the signature error then.
		pullErr = u.deps.Packages.Ensure(ctx, id)
	}
	m, err := u.deps.Deploy.Manifest(id)
	if err != nil {
		if pullErr != nil {
			err = pullErr
		}
		v.SignatureErr = err.Error()
	} else {
		v.Manifest = m
		v.Fragments = m.Fragments
		if len(v.Fragments) > maxFragmentRows {
			v.MoreFrags = len(v.Fragments) - maxFragmentRows
			v.Fragments = v.Fragments[:maxFragmentRows]
		}
		v.OCSFragments = m.OCSFragments
		if len(v.OCSFragments) > maxFragmentRows {
			v.OCSFragments = v.OCSFragments[:maxFragmentRows]
		}
	}
	def := u.deps.Deploy.Defaults()
	v.Activate = activateForm{InfoLoc: def.InfoLoc, PackLoc: def.PackLoc, Proto: store.ProtoHTTP, Errors: map[string]string{}}
	if p.Active {
		v.Activate.InfoLoc, v.Activate.PackLoc, v.Activate.Proto = p.InfoLoc, p.PackLoc, p.Proto
	}
	if v.Sites, err = u.deps.Store.ListSites(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (u *UI) handlePackage(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	v, err := u.packageView(c, id)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(c.QueryParam("checked")); err == nil && n >= 0 {
		v.Checked = fmt.Sprintf("The availability check fetched the info file and %d fragment%s from the chosen locations; all match the signed manifest.", n, pluralS(n))
		if c.QueryParam("skipped") == "1" {
			v.Checked = "The package was activated without the availability check."
		}
	}
	return u.render(c, http.StatusOK, "package", v.P.Name, "packages", v)
}

func (u *UI) handleActivate(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	form := activateForm{
		InfoLoc: strings.TrimSpace(c.FormValue("info_loc")), PackLoc: strings.TrimSpace(c.FormValue("pack_loc")),
		Proto: strings.ToUpper(strings.TrimSpace(c.FormValue("proto"))), SkipCheck: c.FormValue("skip_check") != "",
		Errors: map[string]string{},
	}
	for field, loc := range map[string]string{"info_loc": form.InfoLoc, "pack_loc": form.PackLoc} {
		if loc != "" {
			if err := deploy.CheckLocation(loc); err != nil {
				form.Errors[field] = "Write host[:port]/path without https:// (OCS agents add the scheme), for example 10.0.0.5:8443/download."
			}
		}
	}
	if form.Proto != "" && form.Proto != store.ProtoHTTP && form.Proto != store.ProtoHTTPS {
		form.Errors["proto"] = "Choose HTTP or HTTPS."
	}
	report := (*packages.CheckReport)(nil)
	code := http.StatusBadRequest
	if len(form.Errors) == 0 {
		_, report, err = u.deps.Ops.ActivatePackage(c.Request().Context(), u.actor(c), id, deploy.ActivateRequest{
			InfoLoc: form.InfoLoc, PackLoc: form.PackLoc, Proto: form.Proto, SkipCheck: form.SkipCheck})
		switch {
		case err == nil:
			skipped := ""
			if form.SkipCheck {
				skipped = "&skipped=1"
			}
			return seeOther(c, fmt.Sprintf("%s/packages/%s?done=activated&checked=%d%s", uiPrefix, id, report.FragmentsChecked, skipped))
		case errors.Is(err, deploy.ErrUnavailable) && report != nil:
			code = http.StatusUnprocessableEntity
		case errors.Is(err, deploy.ErrInvalid):
			form.Errors["info_loc"] = message(err, http.StatusBadRequest)
		default:
			return err
		}
	}
	v, err := u.packageView(c, id)
	if err != nil {
		return err
	}
	v.Activate, v.Report = form, report
	return u.render(c, code, "package", v.P.Name, "packages", v)
}

func (u *UI) handleDeactivate(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	if err := u.deps.Ops.DeactivatePackage(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/packages/"+id+"?done=deactivated")
}

func (u *UI) handleDeletePackage(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	if err := u.deps.Ops.DeletePackage(c.Request().Context(), u.actor(c), id); err != nil {
		return err
	}
	return seeOther(c, uiPrefix+"/packages?done=deleted")
}

// affectView is the data of the affect form.
type affectView struct {
	P        *store.Package
	Filter   computerFilterForm
	Sites    []store.Site
	Force    bool
	Previewd bool
	Count    int
	Sample   []store.Computer
	// Excluded counts the matching computers left out; Exclusions say why.
	Excluded   int
	Exclusions []deploy.Exclusion
}

// maxAffect bounds the computers of one affectation from the UI.
const maxAffect = 100000

func (u *UI) handleAffectForm(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	p, err := u.deps.Store.Package(c.Request().Context(), id)
	if err != nil {
		return err
	}
	sites, _, err := u.siteNames(c)
	if err != nil {
		return err
	}
	v := affectView{P: p, Filter: readComputerFilter(c.QueryParam), Sites: sites}
	return u.render(c, http.StatusOK, "affect", "Affect "+p.Name, "packages", v)
}

// handleAffect previews (action=preview) or performs (action=confirm) an
// affectation to the computers a search selects.
func (u *UI) handleAffect(c echo.Context) error {
	id, err := packageParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := u.deps.Store.Package(ctx, id)
	if err != nil {
		return err
	}
	sites, _, err := u.siteNames(c)
	if err != nil {
		return err
	}
	v := affectView{P: p, Filter: readComputerFilter(c.FormValue), Sites: sites, Force: c.FormValue("force") != ""}
	f, ok := v.Filter.filter()
	f.Scope = scopeOf(c)
	if ok && v.Filter.Empty() {
		v.Filter.Errors["name"] = "Give at least one criterion; to select every computer, search for the OS or a subnet."
		ok = false
	}
	if !ok {
		return u.render(c, http.StatusBadRequest, "affect", "Affect "+p.Name, "packages", v)
	}
	ids, err := u.selectComputers(c, f)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		v.Previewd = true
		v.Filter.Errors["name"] = "No computer matches this search."
		return u.render(c, http.StatusBadRequest, "affect", "Affect "+p.Name, "packages", v)
	}
	if c.FormValue("action") != "confirm" {
		res, err := u.deps.Deploy.Affect(ctx, id, deploy.AffectRequest{ComputerIDs: ids, DryRun: true})
		if err != nil {
			return err
		}
		v.Previewd, v.Count, v.Excluded, v.Exclusions = true, res.Selected, res.Excluded, res.Exclusions
		f.Limit = 20
		if v.Sample, _, err = u.deps.Store.SearchComputers(ctx, f); err != nil {
			return err
		}
		return u.render(c, http.StatusOK, "affect", "Affect "+p.Name, "packages", v)
	}
	if !p.Active {
		return &userError{msg: "Activate the package before affecting it to computers.", err: deploy.ErrNotActive}
	}
	if _, err := u.deps.Ops.AffectPackage(ctx, u.actor(c), id, ids, v.Force); err != nil {
		return err
	}
	if scopeOf(c).Limited() {
		// The status page is fleet-wide.
		return seeOther(c, uiPrefix+"/packages/"+id+"?done=affected")
	}
	return seeOther(c, uiPrefix+"/packages/"+id+"/status?done=affected")
}

// selectComputers returns the IDs of every computer f matches, up to
// maxAffect.
func (u *UI) selectComputers(c echo.Context, f store.ComputerFilter) ([]uint, error) {
	const page = 1000
	var ids []uint
	for off := 0; ; off += page {
		f.Limit, f.Offset = page, off
		items, total, err := u.deps.Store.SearchComputers(c.Request().Context(), f)
		if err != nil {
			return nil, err
		}
		if total > maxAffect {
			return nil, badInput("%d computers match; narrow the search to at most %d.", total, maxAffect)
		}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		if len(items) < page || int64(len(ids)) >= total {
			return ids, nil
		}
	}
}

// pluralS is the s of a plural noun after n: "1 fragment", "3 fragments".
func pluralS[N ~int | ~int64](n N) string {
	if n == 1 {
		return ""
	}
	return "s"
}
