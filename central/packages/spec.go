package packages

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shoal-project/shoal/proto"
)

// Fragment protocols OCS agents may use (the info file's PROTO).
const (
	ProtoHTTP  = "HTTP"
	ProtoHTTPS = "HTTPS"
)

// Spec is what an admin asks for when building a package.
type Spec struct {
	// ID is the OCS package ID, digits only. The caller allocates it (Unix
	// time based and unique, as the OCS console does).
	ID string
	// Name and Description are for the catalog; Name is also in the manifest.
	Name, Description string
	// Platform is proto.PlatformLinux, PlatformWindows or PlatformMacOSX.
	Platform string
	// Action is proto.ActionExecute, ActionStore or ActionLaunch.
	Action string
	// Command (EXECUTE), Path (STORE) and LaunchName (LAUNCH) complete the
	// action; only the one the action needs is written out.
	Command, Path, LaunchName string
	// Priority is 0 (exclusive, highest) to 10. The zero value is a real
	// priority: callers wanting the OCS default pass DefaultPriority.
	Priority int
	// OCSFragments is the number of OCS fragments. When 0, the count is
	// derived from OCSFragmentSize, or from the config default. A count
	// larger than the file's size is reduced to the size.
	OCSFragments int
	// OCSFragmentSize is the wanted size of OCS fragments; use it or
	// OCSFragments, not both.
	OCSFragmentSize int64
	// Proto is the scheme OCS agents use for fragments: ProtoHTTP (the
	// default when empty, as in the OCS console) or ProtoHTTPS.
	Proto string
	// Notification fields, copied to the info file (Windows agents only).
	NotifyUser                     bool
	NotifyText, NotifyCountdown    string
	NotifyCanAbort, NotifyCanDelay bool
	NeedDoneAction                 bool
	NeedDoneActionText             string
}

// FieldError is one problem in a Spec. It wraps ErrInvalidSpec; the web
// layer can use errors.As to find the field.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return "spec: " + e.Field + ": " + e.Problem }

// Unwrap makes errors.Is(err, ErrInvalidSpec) true.
func (e *FieldError) Unwrap() error { return ErrInvalidSpec }

// Length limits of text fields.
const (
	maxNameLen = 255
	maxTextLen = 4096
)

// Validate reports every problem of s, joined; each wraps ErrInvalidSpec.
func (s Spec) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if !proto.IsPackageID(s.ID) {
		add("id", "%q must be 1 to %d digits", s.ID, proto.MaxPackageIDLen)
	}
	if strings.TrimSpace(s.Name) == "" {
		add("name", "must not be empty")
	}
	checkText := func(field, v string, max int, multiline bool) {
		if len(v) > max {
			add(field, "longer than %d bytes", max)
		}
		if !utf8.ValidString(v) {
			add(field, "is not valid UTF-8")
			return
		}
		for _, r := range v {
			if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
				add(field, "contains control character %U", r)
				return
			}
		}
	}
	checkText("name", s.Name, maxNameLen, false)
	checkText("description", s.Description, maxTextLen, true)
	checkText("command", s.Command, maxTextLen, false)
	checkText("path", s.Path, maxTextLen, false)
	checkText("launch_name", s.LaunchName, maxTextLen, false)
	checkText("notify_text", s.NotifyText, maxTextLen, true)
	checkText("need_done_action_text", s.NeedDoneActionText, maxTextLen, true)
	switch s.Platform {
	case proto.PlatformLinux, proto.PlatformWindows, proto.PlatformMacOSX:
	default:
		add("platform", "%q must be LINUX, WINDOWS or MACOSX", s.Platform)
	}
	switch s.Action {
	case proto.ActionExecute:
		if strings.TrimSpace(s.Command) == "" {
			add("command", "EXECUTE needs a command")
		}
	case proto.ActionStore:
		if strings.TrimSpace(s.Path) == "" {
			add("path", "STORE needs a path")
		}
	case proto.ActionLaunch:
		if strings.TrimSpace(s.LaunchName) == "" {
			add("launch_name", "LAUNCH needs a program name")
		}
	default:
		add("action", "%q must be EXECUTE, STORE or LAUNCH", s.Action)
	}
	if s.Priority < 0 || s.Priority > proto.MaxPriority {
		add("priority", "%d must be 0..%d", s.Priority, proto.MaxPriority)
	}
	if s.OCSFragments < 0 || s.OCSFragments > MaxOCSFragments {
		add("ocs_fragments", "%d must be 0..%d", s.OCSFragments, MaxOCSFragments)
	}
	if s.OCSFragmentSize != 0 && s.OCSFragmentSize < MinFragmentSize {
		add("ocs_fragment_size", "%d must be 0 or >= %d", s.OCSFragmentSize, MinFragmentSize)
	}
	if s.OCSFragments != 0 && s.OCSFragmentSize != 0 {
		add("ocs_fragments", "set the fragment count or the fragment size, not both")
	}
	switch s.Proto {
	case "", ProtoHTTP, ProtoHTTPS:
	default:
		add("proto", "%q must be HTTP or HTTPS", s.Proto)
	}
	for _, r := range s.NotifyCountdown {
		if r < '0' || r > '9' {
			add("notify_countdown", "%q must be a number of seconds", s.NotifyCountdown)
			break
		}
	}
	return errors.Join(errs...)
}

// fragmentProto returns the fragment protocol written to the info file.
func (s Spec) fragmentProto() string {
	if s.Proto == "" {
		return ProtoHTTP
	}
	return s.Proto
}

// actionFields returns Command, Path and LaunchName with only the field the
// action uses kept.
func (s Spec) actionFields() (command, path, launchName string) {
	switch s.Action {
	case proto.ActionExecute:
		return s.Command, "", ""
	case proto.ActionStore:
		return "", s.Path, ""
	case proto.ActionLaunch:
		return "", "", s.LaunchName
	}
	return "", "", ""
}
