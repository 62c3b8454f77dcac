// Package errs classifies errors by kind so that every edge (HTTP handlers, the CLI) maps them
// the same way. Code deep inside tarn returns an *Error with a Kind and a user-facing detail;
// handlers never build status codes by hand.
package errs

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tarnhq/tarn/api"
)

// Kind is the class of an error.
type Kind int

// The kinds of error, each mapped to one HTTP status by Status.
const (
	Internal        Kind = iota // a bug or an unexpected failure; details are logged, not shown
	Invalid                     // the request is malformed or names something invalid
	Unauthenticated             // no, unknown, revoked or expired credentials
	Permission                  // authenticated but not allowed
	NotFound                    // the named thing does not exist
	Conflict                    // the thing already exists or is in use
	TooLarge                    // the request body is over the limit
	Unavailable                 // a dependency (database, cloud API) cannot be reached
)

// Error is an error with a kind, a stable code and a detail that is safe to show to users.
// Detail never contains secrets.
type Error struct {
	Kind   Kind
	Code   string // stable machine-readable code, see api.Code*
	Detail string // one line for the user: what was wrong and what to do
	Err    error  // underlying cause, logged but never shown
}

// Error returns the detail followed by the cause, for logs. Users see only Detail.
func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Detail
	case e.Detail == "" || e.Detail == e.Err.Error():
		return e.Err.Error()
	}
	return e.Detail + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error of kind k with the default code of that kind and a formatted detail.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Code: defaultCode(k), Detail: fmt.Sprintf(format, args...)}
}

// WithCode returns a copy of e whose code is code.
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// Wrap returns an error of kind k whose detail is detail and whose cause is err.
func Wrap(k Kind, err error, detail string) *Error {
	return &Error{Kind: k, Code: defaultCode(k), Detail: detail, Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err's chain holds an *Error of kind k.
func Is(k Kind, err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// Status returns the HTTP status of kind k.
func Status(k Kind) int {
	switch k {
	case Invalid:
		return http.StatusBadRequest
	case Unauthenticated:
		return http.StatusUnauthorized
	case Permission:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func defaultCode(k Kind) string {
	switch k {
	case Invalid:
		return api.CodeInvalid
	case Unauthenticated:
		return api.CodeUnauthenticated
	case Permission:
		return api.CodePermissionDenied
	case NotFound:
		return api.CodeNotFound
	case Conflict:
		return api.CodeConflict
	case TooLarge:
		return api.CodeTooLarge
	case Unavailable:
		return api.CodeUnavailable
	}
	return api.CodeInternal
}
