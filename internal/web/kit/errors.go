package kit

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
)

// HandlerFunc is a handler that returns an error; Adapt turns it into a
// response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// UserHandlerFunc is a handler that needs an authenticated user.
type UserHandlerFunc func(w http.ResponseWriter, r *http.Request, u *accounts.User) error

var errCrossOrigin = querygate.Errorf(querygate.EFORBIDDEN, "Cross-origin request refused.")

// StatusOf is the HTTP status of an error code.
func StatusOf(code string) int {
	switch code {
	case querygate.EINVALID:
		return http.StatusBadRequest
	case querygate.ENOTFOUND:
		return http.StatusNotFound
	case querygate.ECONFLICT:
		return http.StatusConflict
	case querygate.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case querygate.EFORBIDDEN, querygate.ESETUP, querygate.EDEVICELOCKED:
		return http.StatusForbidden
	case querygate.ETHROTTLED:
		return http.StatusTooManyRequests
	case querygate.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case querygate.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case querygate.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case querygate.ENOTIMPLEMENTED:
		return http.StatusNotImplemented
	// Connector codes: the statement's fault is the client's (400); the
	// datasource's answer about connecting is a bad gateway (502).
	case querygate.EQUERY, querygate.ECONFIG:
		return http.StatusBadRequest
	case querygate.EREADONLY, querygate.EEGRESS, querygate.EPRIVILEGED:
		return http.StatusForbidden
	case querygate.ETIMEOUT:
		return http.StatusGatewayTimeout
	case querygate.ECANCELED:
		return http.StatusRequestTimeout
	case querygate.EAUTH, querygate.EUNREACHABLE, querygate.ENODATABASE, querygate.ETLS:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// ErrorBody is the body of an error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error as a client sees it: code, safe message, field,
// and what a datasource said about a statement it rejected (see
// querygate.Error).
type ErrorDetail struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Field    string `json:"field,omitempty"`
	Position int    `json:"position,omitempty"`
	Line     int    `json:"line,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// msgInternal is the one sentence a client gets for an error that is not a
// *querygate.Error.
const msgInternal = "An internal error occurred."

// Adapt runs h and answers its error, if any, with WriteError.
func (s *Base) Adapt(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.WriteError(w, r, err)
		}
	})
}

// WriteError answers err as {"error":{...}}. A *querygate.Error is
// answered with its code and safe message; any other error is answered
// with EINTERNAL and a fixed sentence. Internal, unavailable and key
// errors are logged with the request id and the error's Go types only
// (LogError), never its text: driver errors can hold connection strings
// and values.
func (s *Base) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	detail := ErrorDetail{Code: querygate.EINTERNAL, Message: msgInternal}
	var e *querygate.Error
	if errors.As(err, &e) && e.Code != querygate.EKEY {
		detail = ErrorDetail{Code: e.Code, Message: e.Message, Field: e.Field,
			Position: e.Position, Line: e.Line, Hint: e.Hint, Detail: e.Detail}
	}
	if code := querygate.ErrorCode(err); code == querygate.EINTERNAL || code == querygate.EUNAVAILABLE || code == querygate.EKEY {
		s.LogError(r, "request failed", err)
	}
	if rec, ok := w.(*statusRecorder); ok && rec.wrote {
		return // the response is already under way; the log has it
	}
	WriteJSON(w, StatusOf(detail.Code), ErrorBody{Error: detail})
}

// LogError logs a failed request with its request id, the error's code and
// the Go types along its chain of wrapped errors. It never logs the error's
// text, which may hold a connection string, a query or a value.
func (s *Base) LogError(r *http.Request, msg string, err error) {
	s.log.ErrorContext(r.Context(), msg, "request_id", RequestID(r.Context()),
		"code", querygate.ErrorCode(err), "error_type", errorTypes(err))
}

// errorTypes returns the types of err and of the errors it wraps, outermost
// first: "*fmt.wrapError > *pgconn.PgError".
func errorTypes(err error) string {
	var b strings.Builder
	for i := 0; err != nil && i < 8; i++ {
		if i > 0 {
			b.WriteString(" > ")
		}
		fmt.Fprintf(&b, "%T", err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				err = errs[0]
			} else {
				err = nil
			}
		default:
			err = nil
		}
	}
	return b.String()
}
