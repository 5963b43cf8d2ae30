package ui

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

// Bounds of the text fields of an upload.
const (
	maxUploadFields     = 64
	maxUploadFieldBytes = 64 << 10
	fileField           = "file"
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
func (u *UI) readUpload(c echo.Context) (fields map[string]string, spooled string, err error) {
	csrfOK, _ := c.Get("ui.csrf_ok").(bool)
	want := sessionOf(c).CSRF
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return nil, "", badInput("Send the form as multipart/form-data with a file.")
	}
	fields = map[string]string{}
	defer func() {
		if err != nil && spooled != "" {
			os.Remove(spooled)
			spooled = ""
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, spooled, interrupted(err)
		}
		name := part.FormName()
		if name == fileField {
			if !csrfOK {
				return nil, spooled, errCSRF
			}
			if spooled != "" {
				return nil, spooled, badInput("Upload one file per package.")
			}
			path, _, err := u.deps.Packages.Spool(part, 0)
			if err != nil {
				if errors.Is(err, packages.ErrTooLarge) {
					return nil, "", &userError{msg: "The file is larger than central accepts (packages.max_upload_bytes).", err: err}
				}
				return nil, "", fmt.Errorf("upload: %w", err)
			}
			spooled = path
			fields["filename"] = part.FileName()
			continue
		}
		if len(fields) > maxUploadFields {
			return nil, spooled, badInput("Too many form fields.")
		}
		b, err := io.ReadAll(io.LimitReader(part, maxUploadFieldBytes+1))
		if err != nil {
			return nil, spooled, interrupted(err)
		}
		if len(b) > maxUploadFieldBytes {
			return nil, spooled, badInput("The field %s is too long.", name)
		}
		if name == csrfField {
			if !equalTokens(string(b), want) {
				return nil, spooled, errCSRF
			}
			csrfOK = true
			continue
		}
		fields[name] = string(b)
	}
	if !csrfOK {
		return nil, spooled, errCSRF
	}
	return fields, spooled, nil
}

// interrupted reports an upload body that could not be read.
func interrupted(err error) error {
	return &userError{msg: "The upload was interrupted; send the file again.", err: fmt.Errorf("read upload: %w: %w", errBadRequest, err)}
}

// specFromForm converts the form fields into a package spec, recording
// the fields that are not numbers in errs.
func specFromForm(f map[string]string, errs map[string]string) packages.Spec {
	num := func(k string, def int) int {
		v := strings.TrimSpace(f[k])
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs[k] = "Enter a whole number."
		}
		return n
	}
	on := func(k string) bool { return f[k] != "" }
	spec := packages.Spec{
		Name: strings.TrimSpace(f["name"]), Description: f["description"],
		Platform: strings.ToUpper(strings.TrimSpace(f["platform"])), Action: strings.ToUpper(strings.TrimSpace(f["action"])),
		Command: strings.TrimSpace(f["command"]), Path: strings.TrimSpace(f["path"]), LaunchName: strings.TrimSpace(f["launch_name"]),
		NotifyUser: on("notify_user"), NotifyText: f["notify_text"], NotifyCountdown: strings.TrimSpace(f["notify_countdown"]),
		NotifyCanAbort: on("notify_can_abort"), NotifyCanDelay: on("notify_can_delay"),
		NeedDoneAction: on("need_done_action"), NeedDoneActionText: f["need_done_action_text"],
		Priority: num("priority", packages.DefaultPriority), OCSFragments: num("fragments", 0),
	}
	if spec.Name == "" {
		spec.Name = f["filename"]
	}
	if spec.Platform == "" {
		spec.Platform = proto.PlatformLinux
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
	p := packageModel(spec, built, proto.KeyID(u.deps.PKI.SigningPublicKey()))
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
		ManifestKeyID: keyID, Proto: store.ProtoHTTP,
	}
}
