package kit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/reqlog"
)

type ctxKey int

const (
	requestKey    ctxKey = iota // *request, set by requestLog
	authMethodKey               // authMethod of the request's user
)

// request is what requestLog keeps of a request for its log line, in one
// allocation: the status, the id, the route pattern (set by
// matchedRoute) and the line a use case adds its metadata to.
type request struct {
	statusRecorder
	id    string
	route string
	line  reqlog.Line
}

// RequestID is the id requestLog gave the request.
func RequestID(ctx context.Context) string {
	if req, _ := ctx.Value(requestKey).(*request); req != nil {
		return req.id
	}
	return ""
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		if !r.wrote {
			r.status, r.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

// requestLog gives each request an id and writes one log line per request
// at the boundary, with the metadata a use case added to it (reqlog): a
// query's line is this one. It logs the path, never the query string or
// any body.
func (s *Base) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		rand.Read(b[:])
		req := &request{statusRecorder: statusRecorder{ResponseWriter: w, status: http.StatusOK}, id: hex.EncodeToString(b[:])}
		w.Header().Set("X-Request-Id", req.id)
		ctx := reqlog.NewContext(context.WithValue(r.Context(), requestKey, req), &req.line)
		start := time.Now()
		next.ServeHTTP(&req.statusRecorder, r.WithContext(ctx))
		elapsed := time.Since(start)
		s.metrics.HTTP(req.route, req.status, elapsed)
		var buf [7 + reqlog.MaxAttrs]slog.Attr
		attrs := append(buf[:0],
			slog.String("request_id", req.id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", req.route),
			slog.Int("status", req.status),
			slog.Int64("duration_ms", elapsed.Milliseconds()),
			slog.String("remote", RemoteHost(r)),
		)
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", append(attrs, req.line.Take()...)...)
	})
}

// matchedRoute wraps the mux and hands the pattern it matched back to
// requestLog (the mux sets it on the request it is given, which the outer
// middleware does not see).
func matchedRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if req, ok := r.Context().Value(requestKey).(*request); ok {
			req.route = r.Pattern
		}
	})
}

// recoverer turns a panic into a 500 without leaking its text.
func (s *Base) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic", "request_id", RequestID(r.Context()), "stack", string(debug.Stack()))
				WriteJSON(w, http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: querygate.EINTERNAL, Message: "An internal error occurred."}})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers on every response. The API serves only JSON,
// so the policy forbids everything a page could load.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		// No response of the gateway may be kept by a cache (P1).
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses, with 421 Misdirected Request, a request whose Host is
// not one of the allowed host names, when there is a list. A page of
// another site whose name an attacker points at the gateway's address (DNS
// rebinding) then gets no answer, even though the browser sees it as same
// origin. Health checks are answered whatever the Host, for load balancers
// and probes that use an address.
func (s *Base) checkHost(next http.Handler) http.Handler {
	if s.hosts == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hosts[normalHost(r.Host)] || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		WriteJSON(w, http.StatusMisdirectedRequest, ErrorBody{Error: ErrorDetail{Code: querygate.EFORBIDDEN,
			Message: "This gateway does not answer for that host name; the operator can allow it with --allowed-hosts."}})
	})
}

// normalHost returns the host name of a Host header or an allowed-hosts
// entry: without port or IPv6 brackets, lower case, without a final dot.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}
