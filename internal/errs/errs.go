// Package errs classifies errors by kind so that every edge (HTTP handlers, the CLI) maps them
// the same way. Code deep inside tarn returns an *Error with a Kind and a user-facing detail;
// handlers never build status codes by hand.
package errs

import (
	"errors"
	"fmt"
	"net/http"
	"time"

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
	Unavailable                 // a dependency (database, cloud API) cannot be reached now; retry later
	Upstream                    // a cloud API refused for a reason retrying will not fix
)

// DefaultRetryAfter is how long a client is asked to wait before retrying an Unavailable
// error that names no wait of its own.
const DefaultRetryAfter = time.Second

// Error is an error with a kind, a stable code and a detail that is safe to show to users.
// Detail never contains secrets.
type Error struct {
	Kind   Kind
	Code   string // stable machine-readable code, see api.Code*
	Detail string // one line for the user: what was wrong and what to do
	Err    error  // underlying cause, logged but never shown
	// RetryAfter is how long the caller should wait before trying again (an Unavailable
	// error: a database or upstream that is down, a circuit breaker that is open); zero
	// means DefaultRetryAfter.
	RetryAfter time.Duration
	// Field names the request field that was wrong (its JSON name, e.g. "role_arn"), for
	// forms that show the error next to it; empty when the error is not about one field.
	Field string
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

// After returns a copy of e that asks callers to wait d before retrying.
func (e *Error) After(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// In returns a copy of e about the request field named field (its JSON name).
func (e *Error) In(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// InField returns err about the request field named field: the first *Error of its chain,
// copied with that field (see Error.In) unless it names one already, or err itself when
// its chain holds none.
func InField(err error, field string) error {
	var e *Error
	if errors.As(err, &e) && e.Field == "" {
		return e.In(field)
	}
	return err
}

// FieldOf returns the request field the first *Error in err's chain names, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// RetryAfter returns how long a caller should wait before retrying err: the first
// RetryAfter set in err's chain, DefaultRetryAfter for other Unavailable errors, and zero
// for errors that retrying will not fix.
func RetryAfter(err error) time.Duration {
	if !Is(Unavailable, err) {
		return 0
	}
	for err != nil {
		if e, ok := err.(*Error); ok && e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = errors.Unwrap(err)
	}
	return DefaultRetryAfter
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

// DetailOf returns the detail of the first *Error in err's chain, safe to show to users, or
// "the request failed" when it holds none (a cause's own message may carry what users must
// not see).
func DetailOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Detail
	}
	return "the request failed"
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
	case Upstream:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// FromProblem returns the error an API answer p stands for: of the kind whose status p has
// (Internal for any other), with p's code, detail and field, and p as its cause.
func FromProblem(p *api.Problem) *Error {
	k := Internal
	for c := Invalid; c <= Upstream; c++ {
		if Status(c) == p.Status {
			k = c
		}
	}
	return &Error{Kind: k, Code: p.Code, Detail: p.Detail, Field: p.Field, Err: p, RetryAfter: p.RetryAfter}
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
	case Upstream:
		return api.CodeUpstream
	}
	return api.CodeInternal
}
