// Package web is the only package that speaks HTTP: routes, middleware
// (request ids, security headers, cross-origin protection, authentication),
// the JSON API and its error adapter.
//
// It must never write a secret, a session id, a token (other than the one
// just created, once) or internal error text into a response or a log line.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/sso"
)

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
}

// Server holds the handlers' dependencies.
type Server struct {
	log             *slog.Logger
	ready           interface{ Ping(context.Context) error }
	accounts        *accounts.Service
	datasources     *datasource.Service
	queries         *query.Service
	cookies         *seal.Cookies
	devices         *device.Service
	audit           *audit.Log
	auditText       bool
	metrics         *metrics.Metrics
	ingressPolicy   Ingress
	egress          func() any
	secure          bool
	version         string
	routes          []Route
	throttle        *throttle
	hosts           map[string]bool // nil: any Host (checkHost)
	savedQueries    *savedquery.Service
	sso             *sso.Service
	dashboards      *dashboard.Service
	forceLocalLogin bool
}

// Route is one API route, as registered.
type Route struct {
	Pattern string // "METHOD /path"
	Public  bool   // reachable without a user
}

// Routes lists the API routes registered by Handler, so that tests can
// prove each one is covered (the authorization matrix).
func (s *Server) Routes() []Route { return s.routes }

// New returns a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: o.Logger, ready: o.Ready, accounts: o.Accounts, datasources: o.Datasources, queries: o.Queries,
		cookies: o.Cookies, devices: o.Devices, audit: o.Audit, auditText: o.AuditQueryText, metrics: o.Metrics, ingressPolicy: o.Ingress, egress: o.Egress, secure: o.Secure, version: o.Version}
	s.savedQueries = o.SavedQueries
	s.sso, s.forceLocalLogin = o.SSO, o.ForceLocalLogin
	s.dashboards = o.Dashboards
	s.throttle = newThrottle()
	if len(o.AllowedHosts) > 0 {
		s.hosts = map[string]bool{}
		for _, h := range o.AllowedHosts {
			s.hosts[normalHost(h)] = true
		}
	}
	return s
}

// Handler returns the whole HTTP surface with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.apiRoutes(mux)
	s.pageRoutes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		return errCrossOrigin
	}))
	var h http.Handler = s.recoverer(s.requestLog(securityHeaders(s.checkHost(cop.Handler(matchedRoute(mux))))))
	if s.secure {
		h = hsts(h)
	}
	return s.ingress(h)
}

// apiRoutes lists every route. Deny by default: a route is public only if it
// is registered with public; everything else needs a user.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	public := func(pattern string, h handlerFunc) {
		s.routes = append(s.routes, Route{Pattern: pattern, Public: true})
		mux.Handle(pattern, s.adapt(h))
	}
	user := func(pattern string, h userHandlerFunc) {
		s.routes = append(s.routes, Route{Pattern: pattern})
		mux.Handle(pattern, s.adapt(s.requireUser(h)))
	}
	// audited is a user route that acts on a datasource (or what runs on
	// one): each request leaves one audit event, refusals included.
	audited := func(pattern, action string, h userHandlerFunc) {
		user(pattern, s.audited(action, h))
	}

	public("GET /healthz", s.healthz)
	public("GET /readyz", s.readyz)
	public("POST /api/setup", s.setup)
	public("POST /api/login", s.login)
	public("POST /api/logout", s.logout)

	user("GET /api/me", s.me)
	user("POST /api/me/password", s.changePassword)
	user("POST /api/me/sso-link", s.linkSSO)
	user("GET /api/sessions", s.listSessions)
	user("DELETE /api/sessions/{id}", s.revokeSession)
	user("POST /api/logout-everywhere", s.logoutEverywhere)
	user("GET /api/users/{id}/sessions", s.listUserSessions)
	user("DELETE /api/users/{id}/sessions", s.endUserSessions)
	user("GET /api/users/{id}/tokens", s.listUserTokens)
	user("GET /api/settings/sso", s.getSSO)
	user("PUT /api/settings/sso", s.putSSO)

	user("GET /api/users", s.listUsers)
	user("POST /api/users", s.createUser)
	user("PATCH /api/users/{id}", s.updateUser)
	user("DELETE /api/users/{id}", s.deleteUser)

	user("GET /api/tokens", s.listTokens)
	user("POST /api/tokens", s.createToken)
	user("DELETE /api/tokens/{id}", s.deleteToken)

	user("GET /api/kinds", s.listKinds)
	user("GET /api/datasources", s.listDatasources)
	audited("POST /api/datasources", audit.DatasourceCreate, s.createDatasource)
	user("GET /api/datasources/{id}", s.findDatasource)
	audited("PATCH /api/datasources/{id}", audit.DatasourceUpdate, s.updateDatasource)
	audited("DELETE /api/datasources/{id}", audit.DatasourceDelete, s.deleteDatasource)
	audited("POST /api/datasources/{id}/test", audit.DatasourceTest, s.testDatasource)
	audited("POST /api/datasources/{id}/query", audit.Query, s.runQuery)
	audited("POST /api/datasources/{id}/unlock", audit.DeviceUnlock, s.unlock)
	audited("DELETE /api/datasources/{id}/unlock", audit.DeviceForget, s.forgetDevice)
	audited("DELETE /api/datasources/{id}/devices", audit.DeviceRevoke, s.revokeDevices)
	user("GET /api/devices", s.listDevices)
	user("GET /api/audit", s.listAudit)
	user("GET /metrics", s.serveMetrics)
	user("GET /api/egress", s.describeEgress)
	user("GET /api/datasources/{id}/grants", s.listGrants)
	audited("PUT /api/datasources/{id}/grants", audit.GrantUpdate, s.setGrants)
	user("GET /api/groups", s.listGroups)
	user("POST /api/groups", s.createGroup)
	user("PUT /api/groups/{id}/members", s.setGroupMembers)
	user("DELETE /api/groups/{id}", s.deleteGroup)
	audited("DELETE /api/devices/{id}", audit.DeviceForget, s.deleteDevice)
	user("GET /api/queries", s.listSavedQueries)
	audited("POST /api/queries", audit.SavedQueryCreate, s.createSavedQuery)
	user("GET /api/queries/export", s.exportSavedQueries)
	audited("POST /api/queries/import", audit.SavedQueryCreate, s.importSavedQueries)
	user("GET /api/queries/{id}", s.findSavedQuery)
	audited("PATCH /api/queries/{id}", audit.SavedQueryUpdate, s.updateSavedQuery)
	audited("DELETE /api/queries/{id}", audit.SavedQueryDelete, s.deleteSavedQuery)
	user("GET /api/queries/{id}/versions", s.listSavedQueryVersions)
	audited("POST /api/queries/{id}/run", audit.SavedQueryRun, s.runSavedQuery)
	user("GET /api/dashboards", s.listDashboards)
	user("POST /api/dashboards", s.createDashboard)
	user("POST /api/dashboards/import", s.importDashboard)
	user("GET /api/dashboards/{id}", s.findDashboard)
	user("PATCH /api/dashboards/{id}", s.updateDashboard)
	user("DELETE /api/dashboards/{id}", s.deleteDashboard)
	user("GET /api/dashboards/{id}/export", s.exportDashboard)
	user("GET /api/dashboards/{id}/grants", s.listDashboardGrants)
	user("PUT /api/dashboards/{id}/grants", s.setDashboardGrants)

	public("/", s.notFound)
}

// serveMetrics answers GET /metrics on the main listener, for admins (a
// scraper uses an admin's API token); --metrics-listen serves them on a
// separate address instead.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := accounts.Authorize(u, accounts.ActionAdmin, accounts.Resource{}); err != nil {
		return err
	}
	if s.metrics == nil {
		return querygate.Errorf(querygate.ENOTFOUND, "Metrics are not enabled.")
	}
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}

// hsts tells browsers to use HTTPS only (set when serving HTTPS).
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// describeEgress answers GET /api/egress (admin): the effective policy
// and the source address datasources see.
func (s *Server) describeEgress(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := accounts.Authorize(u, accounts.ActionAdmin, accounts.Resource{}); err != nil {
		return err
	}
	if s.egress == nil {
		return querygate.Errorf(querygate.ENOTFOUND, "No egress policy is configured.")
	}
	writeJSON(w, http.StatusOK, s.egress())
	return nil
}
