package packages

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
)

// Bounds of the text fields of an upload.
const (
	MaxUploadFields     = 64
	MaxUploadFieldBytes = 64 << 10
)

// UploadProblem says what is wrong with an upload's multipart body.
type UploadProblem int

// The problems ReadUpload reports as an *UploadError.
const (
	// UploadInterrupted: the body could not be read (Field names the
	// field being read, empty between parts).
	UploadInterrupted UploadProblem = iota + 1
	// UploadTooManyFields: more than MaxUploadFields text fields.
	UploadTooManyFields
	// UploadFieldTooLong: Field is longer than MaxUploadFieldBytes.
	UploadFieldTooLong
	// UploadSecondFile: more than one file part.
	UploadSecondFile
)

// UploadError is a malformed upload body, for the caller to present.
type UploadError struct {
	Problem UploadProblem
	Field   string
	Err     error
}

func (e *UploadError) Error() string {
	switch e.Problem {
	case UploadInterrupted:
		return "read upload: " + e.Err.Error()
	case UploadTooManyFields:
		return "upload: too many form fields"
	case UploadFieldTooLong:
		return "upload: field " + e.Field + " is too long"
	default:
		return "upload: only one file per package"
	}
}

func (e *UploadError) Unwrap() error { return e.Err }

// bodyReader remembers the error reading the request body returned, to
// tell a client that went away from a disk that failed.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// UploadHooks let a caller check an upload while it streams. Nil hooks do
// nothing.
type UploadHooks struct {
	// Field sees each text field; keep false leaves it out of the fields
	// (e.g. a CSRF token), an error stops the upload.
	Field func(name, value string) (keep bool, err error)
	// BeforeFile sees the fields read so far (with "filename") before the
	// file part is spooled; an error stops the upload.
	BeforeFile func(fields map[string]string) error
}

// ReadUpload streams a multipart upload: its text fields into a map (the
// file name as "filename") and its api.FormFile part to a spool file of b,
// never into memory. The body's problems are *UploadError; errors of the
// hooks are returned as they are. On error no spool file is left.
func ReadUpload(mr *multipart.Reader, b *Builder, hooks UploadHooks) (fields map[string]string, spooled string, err error) {
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
			return fields, spooled, nil
		}
		if err != nil {
			return nil, spooled, &UploadError{Problem: UploadInterrupted, Err: err}
		}
		name := part.FormName()
		if name == api.FormFile {
			if spooled != "" {
				return nil, spooled, &UploadError{Problem: UploadSecondFile}
			}
			if part.FileName() != "" {
				fields["filename"] = part.FileName()
			}
			if hooks.BeforeFile != nil {
				if err := hooks.BeforeFile(fields); err != nil {
					return nil, spooled, err
				}
			}
			body := &bodyReader{r: part}
			path, _, err := b.Spool(body, 0)
			var mbe *http.MaxBytesError
			if err != nil && body.err != nil && !errors.As(body.err, &mbe) {
				// The client went away or sent a body cut short: its
				// problem, not the disk's.
				return nil, spooled, &UploadError{Problem: UploadInterrupted, Err: body.err}
			}
			if err != nil {
				return nil, spooled, fmt.Errorf("spool upload: %w", err)
			}
			spooled = path
			continue
		}
		if len(fields) > MaxUploadFields {
			return nil, spooled, &UploadError{Problem: UploadTooManyFields}
		}
		v, err := io.ReadAll(io.LimitReader(part, MaxUploadFieldBytes+1))
		if err != nil {
			return nil, spooled, &UploadError{Problem: UploadInterrupted, Field: name, Err: err}
		}
		if len(v) > MaxUploadFieldBytes {
			return nil, spooled, &UploadError{Problem: UploadFieldTooLong, Field: name}
		}
		keep := true
		if hooks.Field != nil {
			if keep, err = hooks.Field(name, string(v)); err != nil {
				return nil, spooled, err
			}
		}
		if keep {
			fields[name] = string(v)
		}
	}
}

// SpecFromFields converts the form fields of an upload (named as the
// api.Form* constants, the file name as "filename") into a spec. Each
// field that is not a whole number gives a *FieldError named after the
// form field, joined into err; the spec is filled in all the same.
// Check boxes are true for "on" or a true strconv.ParseBool value.
func SpecFromFields(f map[string]string) (spec Spec, err error) {
	var errs []error
	num := func(k string, def int) int {
		v := strings.TrimSpace(f[k])
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, &FieldError{Field: k, Problem: fmt.Sprintf("must be a whole number, got %q", v)})
		}
		return n
	}
	on := func(k string) bool {
		v := strings.TrimSpace(f[k])
		b, err := strconv.ParseBool(v)
		return v == "on" || (err == nil && b)
	}
	spec = Spec{
		Name: strings.TrimSpace(f[api.FormName]), Description: f[api.FormDescription],
		Platform: strings.ToUpper(strings.TrimSpace(f[api.FormPlatform])), Action: strings.ToUpper(strings.TrimSpace(f[api.FormAction])),
		Command: strings.TrimSpace(f[api.FormCommand]), Path: strings.TrimSpace(f[api.FormPath]), LaunchName: strings.TrimSpace(f[api.FormLaunchName]),
		NotifyUser: on(api.FormNotifyUser), NotifyText: f[api.FormNotifyText], NotifyCountdown: strings.TrimSpace(f[api.FormNotifyCountdown]),
		NotifyCanAbort: on(api.FormNotifyCanAbort), NotifyCanDelay: on(api.FormNotifyCanDelay),
		NeedDoneAction: on(api.FormNeedDoneAction), NeedDoneActionText: f[api.FormNeedDoneActionText],
		Priority: num(api.FormPriority, DefaultPriority), OCSFragments: num(api.FormFragments, 0),
		OCSFragmentSize: int64(num(api.FormFragmentSize, 0)),
	}
	if spec.Name == "" {
		spec.Name = f["filename"]
	}
	if spec.Platform == "" {
		spec.Platform = proto.PlatformLinux
	}
	if spec.Action == "RUN" {
		spec.Action = proto.ActionExecute
	}
	return spec, errors.Join(errs...)
}

// MaxUploadBody is the largest multipart upload body b accepts: the file
// (Config.MaxUploadBytes) plus room for the text fields and the part
// headers. The HTTP edge refuses a larger Content-Length before it reads a
// byte, so an over-limit upload never reaches the disk.
func (b *Builder) MaxUploadBody() int64 {
	return b.cfg.MaxUploadBytes + MaxUploadFields*MaxUploadFieldBytes + 1<<20
}

// CheckUploadLength refuses a declared body length over MaxUploadBody
// with ErrTooLarge; -1 (unknown, chunked) passes, and the spooler's own
// limit stops such a body.
func (b *Builder) CheckUploadLength(n int64) error {
	if n > b.MaxUploadBody() {
		return fmt.Errorf("upload of %d bytes, at most %d (packages.max_upload_bytes %d plus the form): %w",
			n, b.MaxUploadBody(), b.cfg.MaxUploadBytes, ErrTooLarge)
	}
	return nil
}
