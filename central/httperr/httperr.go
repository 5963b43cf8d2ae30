// Package httperr is the one error → HTTP status mapping of central's edges
// (the admin UI, the REST API, the agent API and the OCS endpoint). Domain
// packages make their sentinel errors with errkind.New; Status maps the kind
// to a status, so an edge never lists another package's sentinels, and the
// edges cannot disagree about one.
//
// It is support for the edges, not an edge: it imports no edge, and no
// service imports it.
package httperr

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/internal/gate"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/api"
	"github.com/shoal-project/shoal/proto/ocs"
)

// StatusClientClosed is the status logged for a request whose client went
// away before the answer (nginx's 499); nobody reads it.
const StatusClientClosed = 499

// statuses is the status of each kind.
var statuses = map[*errkind.Kind]int{
	errkind.Invalid:         http.StatusBadRequest,
	errkind.Unauthenticated: http.StatusUnauthorized,
	errkind.Forbidden:       http.StatusForbidden,
	errkind.NotFound:        http.StatusNotFound,
	errkind.Conflict:        http.StatusConflict,
	errkind.TooLarge:        http.StatusRequestEntityTooLarge,
	errkind.Unprocessable:   http.StatusUnprocessableEntity,
	errkind.RateLimited:     http.StatusTooManyRequests,
	errkind.Unavailable:     http.StatusServiceUnavailable,
	// A body cut short is a bad request, answered if the client still
	// listens.
	errkind.ClientGone: http.StatusBadRequest,
}

// foreign gives a kind to the sentinels of packages that do not use
// errkind (the wire formats shared with agents and relays, which stay free
// of central's vocabulary).
var foreign = []struct {
	err  error
	kind *errkind.Kind
}{
	{proto.ErrManifestInvalid, errkind.Invalid},
	{api.ErrInvalidFilter, errkind.Invalid},
	{ocs.ErrEncoding, errkind.Invalid},
	{ocs.ErrXML, errkind.Invalid},
	{ocs.ErrDeviceID, errkind.Invalid},
	{ocs.ErrQuery, errkind.Invalid},
	{ocs.ErrTooLarge, errkind.TooLarge},
	{gate.ErrBusy, errkind.Unavailable},
}

// Kind returns the kind of err: the kind of a sentinel it wraps, or of a
// foreign sentinel or error type listed here; nil for an internal error.
// When err carries several (errors.Join), the first in errkind.Kinds order
// wins.
func Kind(err error) *errkind.Kind {
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	for _, k := range errkind.Kinds() {
		if errors.Is(err, k) {
			return k
		}
		if k == errkind.TooLarge && errors.As(err, &mbe) {
			return k
		}
		for _, f := range foreign {
			if f.kind == k && errors.Is(err, f.err) {
				return k
			}
		}
	}
	return nil
}

// Status returns the HTTP status of err: an *echo.HTTPError's own code, the
// status of its kind, 499 for a cancelled request, else 500.
func Status(err error) int {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code
	}
	if k := Kind(err); k != nil {
		return statuses[k]
	}
	if errors.Is(err, context.Canceled) {
		return StatusClientClosed
	}
	return http.StatusInternalServerError
}
