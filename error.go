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

// Codes of what happened at a datasource, reported by the connectors
// (package connect names them too) and mapped to statuses like the others.
const (
	EAUTH        = "auth_failed"          // the datasource refused the credentials
	EUNREACHABLE = "unreachable"          // the host cannot be reached
	ENODATABASE  = "database_not_found"   // the database does not exist
	ETLS         = "tls_failed"           // the TLS handshake or verification failed
	EREADONLY    = "read_only"            // a write was refused by a read-only datasource
	ETIMEOUT     = "timeout"              // the query ran out of time
	ECANCELED    = "canceled"             // the client went away
	EQUERY       = "query_failed"         // the datasource rejected the statement
	EEGRESS      = "egress_denied"        // the egress policy refused the destination
	ECONFIG      = "datasource_misconfig" // the datasource settings cannot be used
	// EPRIVILEGED refuses a read-only datasource whose database role can
	// get around read-only (server files and programs, writes through an
	// extension's own connection, server-wide settings).
	EPRIVILEGED = "privileged_role"
)

// Error is a domain error. Code is a stable snake_case identifier; Message is a
// human sentence that is safe to show to any client.
type Error struct {
	Code    string
	Message string
	// Field names the offending input field, when there is one.
	Field string
	// Position, Line, Hint and Detail are what a datasource says about a
	// statement it rejected, safe to show like Message (they pass the
	// same secret check): Position is the 1-based character of the
	// statement where the server found the error (PostgreSQL), Line its
	// 1-based line (MySQL); zero when unknown.
	Position int
	Line     int
	Hint     string
	Detail   string
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
