package ui

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/proto"
)

// packageForm is the create-package form, its values and errors.
type packageForm struct {
	F      map[string]string
	Errors map[string]string
	// MaxUpload is the largest accepted file, for display.
	MaxUpload string
}

func (u *UI) handlePackageForm(c echo.Context) error {
	v := packageForm{F: map[string]string{"platform": proto.PlatformLinux, "action": proto.ActionExecute,
		"priority": strconv.Itoa(packages.DefaultPriority)}, Errors: map[string]string{}}
	return u.render(c, http.StatusOK, "package_new", "New package", "packages", v)
}

// readUpload streams a multipart upload: the text fields into a map and the
// file part to a spool file on disk (never into memory). Unless the CSRF
// header was already checked, the _csrf field must come before the file.
func (u *UI) readUpload(c echo.Context) (map[string]string, string, error) {
	csrfOK, _ := c.Get("ui.csrf_ok").(bool)
	want := sessionOf(c).CSRF
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return nil, "", badInput("Send the form as multipart/form-data with a file.")
	}
	fields, spooled, err := packages.ReadUpload(mr, u.deps.Packages, packages.UploadHooks{
		Field: func(name, value string) (bool, error) {
			if name != csrfField {
				return true, nil
			}
			if !equalTokens(value, want) {
				return false, errCSRF
			}
			csrfOK = true
			return false, nil
		},
		BeforeFile: func(map[string]string) error {
			if !csrfOK {
				return errCSRF
			}
			return nil
		},
	})
	var ue *packages.UploadError
	switch {
	case errors.As(err, &ue):
		if ue.Problem == packages.UploadInterrupted {
			u.log.Info("upload interrupted by the client", "remote", clientIP(c), "err", ue.Err)
		}
		return nil, "", uploadProblem(ue)
	case errors.Is(err, packages.ErrTooLarge):
		return nil, "", &userError{msg: "The file is larger than central accepts (packages.max_upload_bytes).", err: err}
	case errors.Is(err, errCSRF):
		return nil, "", errCSRF
	case err != nil:
		return nil, "", fmt.Errorf("upload: %w", err)
	}
	if !csrfOK {
		if spooled != "" {
			os.Remove(spooled)
		}
		return nil, "", errCSRF
	}
	return fields, spooled, nil
}

// uploadProblem presents a malformed upload body on the form.
func uploadProblem(ue *packages.UploadError) error {
	switch ue.Problem {
	case packages.UploadInterrupted:
		return &userError{msg: "The upload was interrupted; send the file again.", err: fmt.Errorf("read upload: %w: %w", errBadRequest, ue)}
	case packages.UploadTooManyFields:
		return badInput("Too many form fields.")
	case packages.UploadFieldTooLong:
		return badInput("The field %s is too long.", ue.Field)
	default:
		return badInput("Upload one file per package.")
	}
}

// specFromForm converts the form fields into a package spec, recording
// the fields that are not numbers in errs.
func specFromForm(f map[string]string, errs map[string]string) packages.Spec {
	spec, err := packages.SpecFromFields(f)
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var fe *packages.FieldError
		if errors.As(e, &fe) {
			errs[fe.Field] = "Enter a whole number."
		}
	}
	return spec
}

// fieldErrors maps the problems of a spec onto form field names.
func fieldErrors(err error, errs map[string]string) {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var fe *packages.FieldError
		if !errors.As(e, &fe) {
			errs["file"] = e.Error()
			continue
		}
		name := fe.Field
		switch name {
		case "ocs_fragments", "ocs_fragment_size":
			name = "fragments"
		case "id":
			name = "file"
		}
		if _, seen := errs[name]; !seen {
			errs[name] = strings.ToUpper(fe.Problem[:1]) + fe.Problem[1:] + "."
		}
	}
}

// uploadReply is the JSON answer to an upload sent by the page's script.
type uploadReply struct {
	Redirect string            `json:"redirect,omitempty"`
	Error    string            `json:"error,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"`
}

// handleUpload creates a package from the form: it streams the file to
// disk, builds the OCS layout and the signed manifest and records the
// package. The page's script sends it with XMLHttpRequest to show upload
// progress and asks for JSON; without script it is a plain form post.
func (u *UI) handleUpload(c echo.Context) error {
	fields, spooled, err := u.readUpload(c)
	if spooled != "" {
		defer os.Remove(spooled)
	}
	if err != nil {
		return err
	}
	form := packageForm{F: fields, Errors: map[string]string{}}
	spec := specFromForm(fields, form.Errors)
	if spooled == "" {
		form.Errors["file"] = "Choose the file to deploy."
	}
	spec.ID = "1" // checked with a placeholder; the real one is taken below
	if err := spec.Validate(); err != nil {
		fieldErrors(err, form.Errors)
	}
	if len(form.Errors) > 0 {
		return u.uploadFailed(c, form)
	}
	if err := packages.CheckUpload(spec, spooled); err != nil {
		if !errors.Is(err, packages.ErrInvalidSpec) {
			return err
		}
		fieldErrors(err, form.Errors)
		return u.uploadFailed(c, form)
	}
	spec.ID = u.deps.Packages.NewID()
	built, err := u.build(c, &spec, spooled)
	var fe *packages.FieldError
	if errors.As(err, &fe) {
		fieldErrors(fe, form.Errors)
		return u.uploadFailed(c, form)
	}
	if err != nil {
		return err
	}
	p := packages.Record(spec, built, proto.KeyID(u.deps.PKI.SigningPublicKey()))
	if err := u.deps.Store.CreatePackage(c.Request().Context(), p); err != nil {
		_ = u.deps.Packages.Delete(spec.ID)
		return err
	}
	u.audit(c, "package.create", p.ID, fmt.Sprintf("%s (%d bytes, %s)", p.Name, p.Size, p.Action))
	next := uiPrefix + "/packages/" + p.ID + "?done=created"
	if wantsJSON(c) {
		return c.JSON(http.StatusCreated, uploadReply{Redirect: next})
	}
	return seeOther(c, next)
}

func (u *UI) uploadFailed(c echo.Context, form packageForm) error {
	if wantsJSON(c) {
		return c.JSON(http.StatusBadRequest, uploadReply{Error: "Correct the marked fields and send the file again.", Errors: form.Errors})
	}
	return u.render(c, http.StatusBadRequest, "package_new", "New package", "packages", form)
}

// build builds the package, taking the next ID when another server (the
// API) took this one in the same second.
func (u *UI) build(c echo.Context, spec *packages.Spec, src string) (*packages.Built, error) {
	for attempt := 0; ; attempt++ {
		built, err := u.deps.Packages.Build(c.Request().Context(), *spec, src)
		if errors.Is(err, packages.ErrExists) && attempt < 5 {
			spec.ID = u.deps.Packages.NewID()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("build package: %w", err)
		}
		return built, nil
	}
}
