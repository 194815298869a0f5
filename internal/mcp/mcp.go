// Package mcp serves the Model Context Protocol at /mcp (with --mcp), so
// that AI agents query datasources under the same rules as people: an API
// token names the user; the tools are the datasources and saved queries
// that user may see and run; every tool call goes through the use cases of
// package query (grants, read-only, clean sessions, egress, limits, one
// audit event marked "front": "mcp").
//
// It is an adapter only: it decodes a tool call, calls one use case and
// encodes its answer, sized for an agent (a row cap, cut cells, a byte
// bound). It must never hold a rule of its own about access, never answer
// a credential (only a token in the Authorization header; cookies are
// ignored here), never write a result anywhere but the response (P1), and
// never send a secret setting.
//
// It is stateless: every request is authenticated and gets a fresh MCP
// server built from that user's current grants, so that a revoked grant
// or token takes effect at the next call and replicas need no shared
// session state (DESIGN section 7).
package mcp

import (
	"context"
	"log/slog"
	"net/http"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web/kit"
)

// Defaults of the bounds of one tool call's answer.
const (
	DefaultMaxRows  = 200
	DefaultMaxBytes = 128 << 10
	// MaxCell is the most bytes of one cell's text an answer holds; a
	// longer one is cut with a marker.
	MaxCell = 1 << 10
)

// Options configures New.
type Options struct {
	Queries *query.Service
	// Audit records a tool call refused before it reached a use case
	// (arguments that are not the tool's); the use cases record the rest.
	Audit  *audit.Log
	Logger *slog.Logger
	// MaxRows is the most rows one tool call answers (--mcp-max-rows);
	// MaxBytes the most bytes of JSON of one answer (--mcp-max-bytes).
	MaxRows  int64
	MaxBytes int
	// SQLWritable are the ids of datasources on which run_sql may run
	// although they are not read-only (--mcp-sql-writable): the
	// operator's explicit choice. On every other datasource run_sql runs
	// only when it is read-only, which the datasource enforces.
	SQLWritable []string
	Version     string
}

// Server is the MCP endpoint.
type Server struct {
	base     *kit.Base
	queries  *query.Service
	audit    *audit.Log
	log      *slog.Logger
	maxRows  int64
	maxBytes int
	writable map[string]bool
	version  string
	handler  *sdk.StreamableHTTPHandler
}

// New returns the MCP endpoint, authenticating with base.
func New(base *kit.Base, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	s := &Server{base: base, queries: o.Queries, audit: o.Audit, log: o.Logger, maxRows: o.MaxRows, maxBytes: o.MaxBytes,
		writable: map[string]bool{}, version: o.Version}
	for _, id := range o.SQLWritable {
		s.writable[id] = true
	}
	s.handler = sdk.NewStreamableHTTPHandler(func(r *http.Request) *sdk.Server {
		srv, _ := r.Context().Value(serverKey{}).(*sdk.Server)
		return srv
	}, &sdk.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: true,
		// The gateway's own host check (--allowed-hosts) guards against
		// DNS rebinding, for /mcp as for the API; the SDK's check would
		// also refuse a TLS-terminating proxy on loopback.
		DisableLocalhostProtection: true,
		// A run_sql statement is at most 1 MiB, as API bodies are.
		MaxRequestBodyBytes: 1<<20 + 64<<10,
	})
	return s
}

// recorder is the audit log as a Recorder (nil: none).
func (s *Server) recorder() audit.Recorder {
	if s.audit == nil {
		return nil
	}
	return s.audit
}

// serverKey is the context key of the request's MCP server.
type serverKey struct{}

var errTokenOnly = querygate.Errorf(querygate.EUNAUTHORIZED,
	"The MCP endpoint takes an API token in the Authorization header (Bearer), never a session cookie.")

// ServeHTTP authenticates the request by its API token and serves it with
// an MCP server holding the tools of that user.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only a token: a browser sends its session cookie by itself, with
	// any request a page makes, so a cookie proves no intent to call a
	// tool. The header is checked before anything else reads the request.
	if r.Header.Get("Authorization") == "" {
		s.refuse(w, r, errTokenOnly)
		return
	}
	u, viaToken, err := s.base.Identify(r)
	if err == nil && !viaToken {
		err = errTokenOnly
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	a := accounts.Actor{User: u, Via: accounts.ViaToken, Remote: kit.RemoteHost(r),
		RequestID: kit.RequestID(r.Context()), Front: accounts.FrontMCP}
	srv, err := s.server(r.Context(), r, a)
	if err != nil {
		s.base.WriteError(w, r, err)
		return
	}
	s.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), serverKey{}, srv)))
}

// refuse answers an unauthenticated request (401, with the scheme to use).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="querygate"`)
	}
	s.base.WriteError(w, r, err)
}
