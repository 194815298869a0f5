// Package web assembles the HTTP surface: the JSON API (package api) and
// the pages (package ui), both registered through the same deny-by-default
// route registration and wrapped in the same middleware (package kit:
// request ids, security headers, cross-origin protection,
// authentication).
//
// It must never write a secret, a session id, a token (other than the one
// just created, once) or internal error text into a response or a log line.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/mcp"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/web/api"
	"github.com/querygate/querygate/internal/web/kit"
	"github.com/querygate/querygate/internal/web/ui"
)

// Ingress is the operator's client policy.
type Ingress = kit.Ingress

// Route is one route, as registered, with the action it needs.
type Route = kit.Route

// Options are the dependencies of the web layer.
type Options struct {
	Logger *slog.Logger
	// Ready answers /readyz: the metadata store is reachable.
	Ready       interface{ Ping(context.Context) error }
	Accounts    *accounts.Service
	Datasources *datasource.Service
	Queries     *query.Service
	// SavedQueries is the saved-query catalogue the query use cases run
	// from; Dashboards the dashboards.
	SavedQueries *savedquery.Service
	Dashboards   *dashboard.Service
	Cookies      *seal.Cookies
	Devices      *device.Service
	Audit        *audit.Log
	Metrics      *metrics.Metrics
	Ingress      Ingress
	// Egress describes the egress policy for GET /api/egress.
	Egress func() any
	// AuditQueryText records each query's text in its audit event.
	AuditQueryText bool
	// Secure is true when the gateway serves HTTPS: cookies then carry the
	// Secure attribute and the __Host- prefix.
	Secure  bool
	Version string
	// SSO is single sign-on (nil: none).
	SSO *sso.Service
	// ForceLocalLogin keeps password sign-in on even when the SSO setting
	// turns it off: the way back in when the IdP fails.
	ForceLocalLogin bool
	// AllowedHosts, when not empty, are the only host names (Host header,
	// port ignored) the gateway answers, against DNS rebinding; empty
	// accepts any.
	AllowedHosts []string
	// MCP, when set, serves the Model Context Protocol at /mcp (--mcp),
	// with the Queries service.
	MCP *mcp.Options
}

// Server is the whole HTTP surface.
type Server struct {
	base   *kit.Base
	api    *api.Server
	ui     *ui.Server
	routes []Route // the API's, as registered by Handler
	pages  []Route // the pages', as registered by Handler
	mcp    *mcp.Server
}

// Routes lists the API routes registered by Handler, so that tests can
// prove each one is covered (the authorization matrix).
func (s *Server) Routes() []Route { return s.routes }

// Pages lists the page routes (and static files) registered by Handler.
func (s *Server) Pages() []Route { return s.pages }

// New returns a Server.
func New(o Options) *Server {
	var accs kit.Authenticator
	if o.Accounts != nil {
		accs = o.Accounts
	}
	b := kit.New(kit.Options{Logger: o.Logger, Accounts: accs, Cookies: o.Cookies, Metrics: o.Metrics, Ingress: o.Ingress,
		Secure: o.Secure, AllowedHosts: o.AllowedHosts})
	var queries api.Queries
	if o.Queries != nil {
		queries = o.Queries
	}
	a := api.New(b, api.Options{Ready: o.Ready, Accounts: o.Accounts, Datasources: o.Datasources, Queries: queries,
		SavedQueries: o.SavedQueries, Dashboards: o.Dashboards, Cookies: o.Cookies, Devices: o.Devices, Audit: o.Audit,
		Metrics: o.Metrics, Egress: o.Egress, AuditQueryText: o.AuditQueryText, Version: o.Version, SSO: o.SSO,
		ForceLocalLogin: o.ForceLocalLogin})
	s := &Server{base: b, api: a, ui: ui.New(a, ui.Options{Accounts: o.Accounts, Datasources: o.Datasources, Queries: o.Queries,
		SavedQueries: o.SavedQueries, Dashboards: o.Dashboards, Devices: o.Devices, Audit: o.Audit, Egress: o.Egress,
		SSO: o.SSO, ForceLocalLogin: o.ForceLocalLogin})}
	if o.MCP != nil {
		m := *o.MCP
		m.Queries, m.Audit, m.Logger = o.Queries, o.Audit, o.Logger
		s.mcp = mcp.New(b, m)
	}
	return s
}

// Handler returns the whole HTTP surface with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes = s.api.Register(mux)
	s.pages = s.ui.Register(mux)
	if s.mcp != nil {
		// Behind the same middleware (ingress, host check, cross-origin
		// protection, request log); it authenticates by token itself.
		mux.Handle("/mcp", s.mcp)
	}
	return s.base.Wrap(mux)
}
