package agentapi

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/internal/errkind"
	"github.com/shoal-project/shoal/proto"
)

// Errors of the request gates below.
var (
	errNoEnrollToken = errkind.New(errkind.Unauthenticated, "enroll: send the enrollment token as 'Authorization: Bearer <token>'")
	errTokenMismatch = errkind.New(errkind.Forbidden, "enroll: the token in the body differs from the Authorization header")
	errTooLarge      = errkind.New(errkind.TooLarge, "request body too large")
)

// enrollTokenKey is where enrollGate stores the checked token.
const enrollTokenKey = "shoal.enroll-token"

// enrollGate guards the two enrollment routes, whose bodies (an inventory,
// a relay's key and names) are the largest an anonymous client may send.
// Before a byte of the body is read it requires an enrollment token in the
// Authorization header that exists and is neither revoked, expired nor used
// up (one indexed read), refuses a Content-Length over limit, bounds the
// body to limit and takes an ingest slot. The handler then checks that the
// body carries the same token (sameEnrollToken); the token is consumed only
// there, inside the enrollment's transaction.
func (a *API) enrollGate(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			tok = strings.TrimSpace(tok)
			if !ok || !strings.HasPrefix(tok, proto.EnrollTokenPrefix) {
				return errNoEnrollToken
			}
			if err := a.store.CheckEnrollmentToken(req.Context(), hashSecret(tok), a.now()); err != nil {
				a.log.Warn("enrollment refused before reading the body", "path", req.URL.Path, "remote", c.RealIP(), "err", err)
				return fmt.Errorf("enroll: %w", err)
			}
			c.Set(enrollTokenKey, tok)
			return a.limitBody(limit)(a.ingestSlot(next))(c)
		}
	}
}

// sameEnrollToken checks that the token of an enrollment body is the one
// enrollGate checked in the header.
func sameEnrollToken(c echo.Context, body string) error {
	hdr, _ := c.Get(enrollTokenKey).(string)
	if hdr == "" || subtle.ConstantTimeCompare([]byte(hdr), []byte(body)) != 1 {
		return errTokenMismatch
	}
	return nil
}

// limitBody refuses a declared Content-Length over limit before reading
// anything and cuts the body off at limit bytes (the handler's read then
// fails with *http.MaxBytesError, answered 413).
func (a *API) limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return fmt.Errorf("%s: body of %d bytes, this route accepts at most %d: %w", req.URL.Path, req.ContentLength, limit, errTooLarge)
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// ingestSlot runs next in one of the IngestConcurrency slots, or answers
// 503 with Retry-After when none frees up within BusyWait.
func (a *API) ingestSlot(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		release, err := a.ingest.Enter(c.Request().Context())
		if err != nil {
			return err
		}
		defer release()
		return next(c)
	}
}
