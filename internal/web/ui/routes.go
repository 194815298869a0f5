// Package ui is the pages: server-rendered with html/template, one file
// per screen, registered through the same deny-by-default route
// registration as the API (package kit), each with the action it needs.
// Small ES modules under static/js talk to the JSON API.
package ui

import (
	"context"
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/web/api"
	"github.com/querygate/querygate/internal/web/kit"
)

// Options are the dependencies of the pages.
type Options struct {
	Accounts *accounts.Service
	// Setup says whether the gateway has no user yet (nil: Accounts).
	Setup        interface{ NeedsSetup(context.Context) bool }
	Datasources  *datasource.Service
	Queries      interface{ Limits() query.Limits }
	SavedQueries *savedquery.Service
	Dashboards   *dashboard.Service
	Devices      *device.Service
	Audit        *audit.Log
	Egress       func() any
	SSO          *sso.Service
	// ForceLocalLogin keeps password sign-in on even when the SSO setting
	// turns it off.
	ForceLocalLogin bool
}

// Server holds the pages' dependencies. It builds on the API's handlers
// for the views they share (the datasources a user may see, the response
// shapes).
type Server struct {
	*api.Server
	accounts        *accounts.Service
	setup           interface{ NeedsSetup(context.Context) bool }
	datasources     *datasource.Service
	queries         interface{ Limits() query.Limits }
	savedQueries    *savedquery.Service
	dashboards      *dashboard.Service
	devices         *device.Service
	audit           *audit.Log
	egress          func() any
	sso             *sso.Service
	forceLocalLogin bool
}

// New returns the pages on the API a.
func New(a *api.Server, o Options) *Server {
	if o.Setup == nil && o.Accounts != nil {
		o.Setup = o.Accounts
	}
	return &Server{Server: a, accounts: o.Accounts, setup: o.Setup, datasources: o.Datasources, queries: o.Queries, savedQueries: o.SavedQueries,
		dashboards: o.Dashboards, devices: o.Devices, audit: o.Audit, egress: o.Egress, sso: o.SSO, forceLocalLogin: o.ForceLocalLogin}
}

// surface answers for the pages: a browser without a user goes to the
// login page (or to setup when there is no user yet); a refusal or an
// error becomes an error page with the error's safe message.
func (s *Server) surface() kit.Surface {
	return kit.Surface{
		Unauthenticated: func(w http.ResponseWriter, r *http.Request, _ error) {
			if s.needsSetup(r) {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
		},
		Failed: s.errorPage,
	}
}

// Register lists the pages and the static files on mux and returns them.
// Deny by default, as for the API: a page is public only if registered
// with public; every other one names the action it needs.
func (s *Server) Register(mux *http.ServeMux) []kit.Route {
	rt := s.Router(mux, s.surface())
	public := func(pattern string, h http.HandlerFunc) {
		rt.Public(pattern, func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil })
	}
	handle := func(pattern string, a accounts.Action, h pageFunc) { rt.Handle(pattern, a, kit.UserHandlerFunc(h)) }
	const (
		signedIn = kit.SignedIn
		admin    = accounts.ActionAdmin
	)

	rt.PublicHandler("GET /static/", staticAssets)
	public("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/datasources", http.StatusSeeOther)
	})
	public("GET /setup", s.setupPage)
	public("GET /login", s.loginPage)
	public("GET /auth/oidc/login", s.SSOLogin)
	public("GET /auth/oidc/callback", s.SSOCallback)

	handle("GET /settings/sso", admin, s.ssoPage)
	handle("GET /datasources", signedIn, s.datasourcesPage)
	handle("GET /datasources/new", accounts.ActionDatasourceCreate, s.newDatasourcePage)
	handle("GET /datasources/{id}", signedIn, s.workspacePage)
	handle("GET /datasources/{id}/edit", signedIn, s.editDatasourcePage)
	handle("GET /users", admin, s.usersPage)
	handle("GET /tokens", signedIn, s.tokensPage)
	handle("GET /devices", signedIn, s.devicesPage)
	handle("GET /account", signedIn, s.accountPage)
	handle("GET /dashboards", signedIn, s.dashboardsPage)
	handle("GET /dashboards/{id}", signedIn, s.dashboardPage)
	handle("GET /dashboards/{id}/edit", signedIn, s.editDashboardPage)
	handle("GET /groups", admin, s.groupsPage)
	handle("GET /audit", admin, s.auditPage)
	handle("GET /network", admin, s.networkPage)
	handle("GET /queries", signedIn, s.savedQueriesPage)
	handle("GET /queries/new", signedIn, s.newSavedQueryPage)
	handle("GET /queries/{id}", signedIn, s.savedQueryPage)
	handle("GET /queries/{id}/edit", signedIn, s.editSavedQueryPage)
	return rt.Routes()
}
