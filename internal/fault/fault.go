// Package fault defines the typed errors that domain packages return.
//
// A domain package says what went wrong (Kind) and, where the condition has a
// more specific AWS error code than its kind implies, which one (Code). The wire
// adapters in awsapi turn a fault into the exact error shape of their protocol.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies a failure independently of any wire protocol.
type Kind int

const (
	// Internal is an unexpected failure; never the caller's fault.
	Internal Kind = iota
	// Invalid means the input is malformed or violates a rule.
	Invalid
	// NotFound means a named resource does not exist.
	NotFound
	// AlreadyExists means a resource with that identity exists already.
	AlreadyExists
	// Conflict means the resource is in a state that forbids the operation
	// (for example in use, or still enabled).
	Conflict
	// LimitExceeded means a quota would be exceeded.
	LimitExceeded
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case AlreadyExists:
		return "already exists"
	case Conflict:
		return "conflict"
	case LimitExceeded:
		return "limit exceeded"
	default:
		return "internal"
	}
}

// Error is a domain failure with a message fit to show the API caller.
type Error struct {
	Kind    Kind
	Code    string // optional AWS error code, more specific than Kind
	Message string
	// ResourceID and ResourceARN identify the existing resource for AlreadyExists.
	ResourceID  string
	ResourceARN string
}

func (e *Error) Error() string { return e.Message }

// New returns a fault of the given kind.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Coded returns a fault that carries a specific AWS error code.
func Coded(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf is shorthand for New(Invalid, ...).
func Invalidf(format string, args ...any) *Error { return New(Invalid, format, args...) }

// NotFoundf is shorthand for New(NotFound, ...).
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// Conflictf is shorthand for New(Conflict, ...).
func Conflictf(format string, args ...any) *Error { return New(Conflict, format, args...) }

// As returns the fault inside err, or an Internal fault wrapping it.
func As(err error) *Error {
	var f *Error
	if errors.As(err, &f) {
		return f
	}
	return &Error{Kind: Internal, Message: "internal error"}
}

// Is reports whether err is a fault of the given kind.
func Is(err error, kind Kind) bool {
	var f *Error
	return errors.As(err, &f) && f.Kind == kind
}
