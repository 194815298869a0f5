// Package querygate holds the domain error type shared by every layer of the
// gateway. Its messages are always safe to show to a client: they never
// contain secrets, SQL, connection strings or internal error text.
package querygate

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the web layer.
const (
	EINVALID        = "invalid"           // bad input; the message names the field
	ENOTFOUND       = "not_found"         // the thing does not exist (or the caller may not see it)
	ECONFLICT       = "conflict"          // a unique name is taken, or the state forbids it
	EUNAUTHORIZED   = "unauthorized"      // no valid credentials
	EFORBIDDEN      = "forbidden"         // valid credentials, not allowed
	EINTERNAL       = "internal"          // our fault; details are logged, never shown
	EUNAVAILABLE    = "unavailable"       // a dependency (the store) is not reachable
	ETOOLARGE       = "too_large"         // request body over the limit
	ETHROTTLED      = "too_many_requests" // too many failed attempts; wait and retry
	EUNSUPPORTED    = "unsupported"       // media type or method not supported
	EKEY            = "key_mismatch"      // the master key or salt cannot open the store
	ESETUP          = "setup_invalid"     // setup token wrong, or setup already done
	ENOTIMPLEMENTED = "not_implemented"   // this build cannot do that yet
	EDEVICELOCKED   = "device_locked"     // a device-custody datasource needs its password on this device
)

// Error is a domain error. Code is a stable snake_case identifier; Message is a
// human sentence that is safe to show to any client.
type Error struct {
	Code    string
	Message string
	// Field names the offending input field, when there is one.
	Field string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("querygate error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message. The
// arguments must never include secrets or internal error text.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error naming the field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL
// for any other non-nil error, or "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the safe message of the first *Error in err's chain, or
// a generic sentence for any other error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}
