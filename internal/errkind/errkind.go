// Package errkind classifies errors by what went wrong for the caller: the
// request was invalid, the thing it names does not exist, it conflicts with
// the state, and so on. A package's sentinel errors are made with New, so
// that errors.Is(err, errkind.NotFound) holds for every error that wraps
// one; the edges (HTTP handlers) then map a kind to a status in one place
// instead of listing every sentinel of every package.
//
// The kinds say nothing about HTTP: a sentinel keeps its own identity
// (errors.Is(err, store.ErrNotFound) still holds) and its own message.
package errkind

import "errors"

// Kind is a class of errors. Kinds are compared by identity; they are
// errors only so that errors.Is can find them in a chain.
type Kind struct{ name string }

// Error returns the kind's name.
func (k *Kind) Error() string { return k.name }

// The kinds, from the caller's point of view.
var (
	// Invalid: the request is malformed or its values are out of range.
	Invalid = &Kind{"invalid"}
	// Unauthenticated: the caller did not prove who it is.
	Unauthenticated = &Kind{"unauthenticated"}
	// Forbidden: the caller is known but may not do this.
	Forbidden = &Kind{"forbidden"}
	// NotFound: what the request names does not exist.
	NotFound = &Kind{"not found"}
	// Conflict: the request clashes with the current state (a duplicate
	// name, an entity already enrolled, a finished deployment).
	Conflict = &Kind{"conflict"}
	// TooLarge: the request or one of its values is over a bound.
	TooLarge = &Kind{"too large"}
	// Unprocessable: the request is well formed but cannot be carried out
	// (a package not available at the given locations, an invalid
	// manifest).
	Unprocessable = &Kind{"unprocessable"}
	// RateLimited: the caller tried too often; it may retry later.
	RateLimited = &Kind{"rate limited"}
	// Unavailable: the server is busy; retry later.
	Unavailable = &Kind{"unavailable"}
	// ClientGone: the client went away (cancelled the request, closed the
	// connection mid-body); nobody reads the answer.
	ClientGone = &Kind{"client gone"}
)

// kinds is every kind, in the order Of tries them: an error that carries
// two kinds (errors.Join) is classified by the first.
var kinds = []*Kind{ClientGone, Unauthenticated, Forbidden, RateLimited, Unavailable, TooLarge,
	NotFound, Conflict, Unprocessable, Invalid}

// Kinds returns every kind.
func Kinds() []*Kind { return append([]*Kind(nil), kinds...) }

// Of returns the kind of err, or nil when err carries none (an internal
// error).
func Of(err error) *Kind {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// kinded is an error of a kind: a sentinel made by New, or an error marked
// by Mark.
type kinded struct {
	msg  string
	kind *Kind
	err  error // the marked error, nil for a sentinel
}

func (e *kinded) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

// Is reports whether target is the error's kind.
func (e *kinded) Is(target error) bool { return target == e.kind }

// Unwrap returns the marked error.
func (e *kinded) Unwrap() error { return e.err }

// New returns a sentinel error of kind k with the message msg. Each call
// returns a distinct error, as errors.New does.
func New(k *Kind, msg string) error { return &kinded{msg: msg, kind: k} }

// Mark returns err with kind k added and its message unchanged; it
// returns nil when err is nil.
func Mark(k *Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kinded{kind: k, err: err}
}
