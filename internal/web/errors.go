package web

import (
	"errors"
	"net/http"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/connect"
)

// handlerFunc is a handler that returns an error; adapt turns it into a
// response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// userHandlerFunc is a handler that needs an authenticated user.
type userHandlerFunc func(w http.ResponseWriter, r *http.Request, u *accounts.User) error

var errCrossOrigin = querygate.Errorf(querygate.EFORBIDDEN, "Cross-origin request refused.")

func statusOf(code string) int {
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
	case connect.EQUERY, connect.ECONFIG:
		return http.StatusBadRequest
	case connect.EREADONLY, connect.EEGRESS:
		return http.StatusForbidden
	case connect.ETIMEOUT:
		return http.StatusGatewayTimeout
	case connect.ECANCELED:
		return http.StatusRequestTimeout
	case connect.EAUTH, connect.EUNREACHABLE, connect.ENODATABASE, connect.ETLS:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// adapt runs h and writes its error, if any, as {"error":{...}}. Internal
// errors are logged with the request id; the client gets only the safe
// message of a *querygate.Error, or a generic sentence.
func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code := querygate.ErrorCode(err)
		var e *querygate.Error
		detail := errorDetail{Code: code, Message: querygate.ErrorMessage(err)}
		if errors.As(err, &e) {
			detail.Field = e.Field
		}
		if code == querygate.EINTERNAL || code == querygate.EUNAVAILABLE || code == querygate.EKEY {
			s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "error", err.Error())
			if code == querygate.EKEY {
				detail = errorDetail{Code: querygate.EINTERNAL, Message: "An internal error occurred."}
			}
		}
		if rec, ok := w.(*statusRecorder); ok && rec.wrote {
			return // the response is already under way; the log has it
		}
		writeJSON(w, statusOf(code), errorBody{Error: detail})
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return querygate.Errorf(querygate.ENOTFOUND, "No such endpoint.")
}
