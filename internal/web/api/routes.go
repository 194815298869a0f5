// Package api is the JSON API: its routes, each with the action it needs,
// and one file per resource. Handlers decode the request, call a use case
// and write its answer; the shared middleware (package kit) authenticates
// the request and checks the route's action first.
//
// It must never write a secret, a session id, a token (other than the one
// just created, once) or internal error text into a response or a log line.
package api

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
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/web/kit"
)

// Queries are the query use cases (query.Service).
type Queries interface {
	Authorize(ctx context.Context, a accounts.Actor, id string, act accounts.Action) (*datasource.Datasource, error)
	Resource(ctx context.Context, a accounts.Actor, d *datasource.Datasource) (accounts.Resource, error)
	VisibleDatasources(ctx context.Context, a accounts.Actor) ([]query.Visible, error)
	Run(ctx context.Context, a accounts.Actor, dsID string, in query.Input, keys query.DeviceKeys, out query.Output) (query.Summary, error)
	RunSaved(ctx context.Context, a accounts.Actor, queryID string, in query.SavedInput, keys query.DeviceKeys, out query.Output) (query.Summary, error)
	TestDatasource(ctx context.Context, a accounts.Actor, dsID string, keys query.DeviceKeys) error
	Schema(ctx context.Context, a accounts.Actor, dsID string, keys query.DeviceKeys) (*schema.Schema, error)
	Unlock(ctx context.Context, a accounts.Actor, dsID string, password seal.Secret, remember bool) (query.Unlocked, error)
	CreateDatasource(ctx context.Context, a accounts.Actor, in datasource.CreateInput) (*datasource.Datasource, error)
	UpdateDatasource(ctx context.Context, a accounts.Actor, id string, in datasource.UpdateInput) (*datasource.Datasource, error)
	DeleteDatasource(ctx context.Context, a accounts.Actor, id string) error
	TestDraft(ctx context.Context, a accounts.Actor, in datasource.CreateInput) error
	SetGrants(ctx context.Context, a accounts.Actor, dsID string, grants []datasource.Grant) ([]datasource.Grant, error)
	CreateSavedQuery(ctx context.Context, a accounts.Actor, in savedquery.CreateInput) (*savedquery.Query, error)
	UpdateSavedQuery(ctx context.Context, a accounts.Actor, id string, in savedquery.UpdateInput) (*savedquery.Query, error)
	DeleteSavedQuery(ctx context.Context, a accounts.Actor, id string) error
	ImportSavedQueries(ctx context.Context, a accounts.Actor, in query.ImportInput) (query.ImportResult, error)
	dashboard.Queries
	Forget(dsID string)
	ForgetDevice(dsID, deviceID string)
	Limits() query.Limits
}

var _ Queries = (*query.Service)(nil)

// Options are the dependencies of the API.
type Options struct {
	// Ready answers /readyz: the metadata store is reachable.
	Ready        interface{ Ping(context.Context) error }
	Accounts     *accounts.Service
	Datasources  *datasource.Service
	Queries      Queries
	SavedQueries *savedquery.Service
	Dashboards   *dashboard.Service
	Cookies      *seal.Cookies
	Devices      *device.Service
	Audit        *audit.Log
	Metrics      *metrics.Metrics
	// Egress describes the egress policy for GET /api/egress.
	Egress func() any
	// AuditQueryText records each query's text in its audit event.
	AuditQueryText bool
	Version        string
	// SSO is single sign-on (nil: none).
	SSO *sso.Service
	// ForceLocalLogin keeps password sign-in on even when the SSO setting
	// turns it off.
	ForceLocalLogin bool
}

// Server holds the API handlers' dependencies.
type Server struct {
	*kit.Base
	log             *slog.Logger
	ready           interface{ Ping(context.Context) error }
	accounts        *accounts.Service
	datasources     *datasource.Service
	queries         Queries
	cookies         *seal.Cookies
	devices         *device.Service
	audit           *audit.Log
	auditText       bool
	metrics         *metrics.Metrics
	egress          func() any
	secure          bool
	version         string
	throttle        *kit.Throttle
	savedQueries    *savedquery.Service
	sso             *sso.Service
	dashboards      *dashboard.Service
	forceLocalLogin bool
}

// New returns the API's handlers on the shared middleware b.
func New(b *kit.Base, o Options) *Server {
	return &Server{Base: b, log: b.Logger(), ready: o.Ready, accounts: o.Accounts, datasources: o.Datasources, queries: o.Queries,
		cookies: o.Cookies, devices: o.Devices, audit: o.Audit, auditText: o.AuditQueryText, metrics: o.Metrics, egress: o.Egress,
		secure: b.Secure(), version: o.Version, throttle: kit.NewThrottle(), savedQueries: o.SavedQueries, sso: o.SSO,
		dashboards: o.Dashboards, forceLocalLogin: o.ForceLocalLogin}
}

// surface answers the API's refusals and errors in JSON.
func (s *Server) surface() kit.Surface {
	return kit.Surface{
		Unauthenticated: s.WriteError,
		Failed: func(w http.ResponseWriter, r *http.Request, _ *accounts.User, err error) {
			s.WriteError(w, r, err)
		},
	}
}

// Register lists every API route on mux and returns them. Deny by
// default: a route is public only if it is registered with Public;
// every other one names the action it needs, checked before the handler
// (kit.SignedIn: any user, the use case checks the resource).
func (s *Server) Register(mux *http.ServeMux) []kit.Route {
	rt := s.Router(mux, s.surface())
	public := rt.Public
	handle := rt.Handle
	// audited is a route that changes something (every route but GET
	// and the public ones): each request leaves exactly one audit event,
	// refusals of its action, bad bodies and refusals of its use case
	// included (auditedAs).
	audited := func(pattern, event string, a accounts.Action, h kit.UserHandlerFunc) {
		rt.Handle(pattern, a, h, s.auditedAs(event))
	}
	const (
		signedIn = kit.SignedIn
		admin    = accounts.ActionAdmin
	)

	public("GET /healthz", s.healthz)
	public("GET /readyz", s.readyz)
	public("POST /api/setup", s.setup)
	public("POST /api/login", s.login)
	public("POST /api/logout", s.logout)

	handle("GET /api/me", signedIn, s.me)
	audited("POST /api/me/password", audit.PasswordChange, signedIn, s.changePassword)
	audited("POST /api/me/sso-link", audit.SSOLink, signedIn, s.linkSSO)
	handle("GET /api/sessions", signedIn, s.listSessions)
	audited("DELETE /api/sessions/{id}", audit.SessionRevoke, signedIn, s.revokeSession)
	audited("POST /api/logout-everywhere", audit.LogoutAll, signedIn, s.logoutEverywhere)
	handle("GET /api/users/{id}/sessions", admin, s.listUserSessions)
	audited("DELETE /api/users/{id}/sessions", audit.LogoutAll, admin, s.endUserSessions)
	handle("GET /api/users/{id}/tokens", admin, s.listUserTokens)
	handle("GET /api/settings/sso", admin, s.getSSO)
	audited("PUT /api/settings/sso", audit.SSOUpdate, admin, s.putSSO)

	handle("GET /api/users", admin, s.listUsers)
	audited("POST /api/users", audit.UserCreate, admin, s.createUser)
	audited("PATCH /api/users/{id}", audit.UserUpdate, admin, s.updateUser)
	audited("POST /api/users/{id}/password", audit.PasswordReset, admin, s.resetPassword)
	audited("DELETE /api/users/{id}", audit.UserDelete, admin, s.deleteUser)

	handle("GET /api/tokens", signedIn, s.listTokens)
	audited("POST /api/tokens", audit.TokenCreate, signedIn, s.createToken)
	audited("DELETE /api/tokens/{id}", audit.TokenDelete, signedIn, s.deleteToken)

	handle("GET /api/kinds", signedIn, s.listKinds)
	handle("GET /api/datasources", accounts.ActionDatasourceList, s.listDatasources)
	audited("POST /api/datasources", audit.DatasourceCreate, accounts.ActionDatasourceCreate, s.createDatasource)
	handle("GET /api/datasources/{id}", signedIn, s.findDatasource)
	audited("PATCH /api/datasources/{id}", audit.DatasourceUpdate, signedIn, s.updateDatasource)
	audited("DELETE /api/datasources/{id}", audit.DatasourceDelete, signedIn, s.deleteDatasource)
	audited("POST /api/datasources/{id}/test", audit.DatasourceTest, signedIn, s.testDatasource)
	audited("POST /api/datasources/test", audit.DatasourceTest, accounts.ActionDatasourceCreate, s.testDraft)
	audited("POST /api/datasources/{id}/query", audit.Query, signedIn, s.runQuery)
	audited("GET /api/datasources/{id}/schema", audit.SchemaRead, signedIn, s.readSchema)
	audited("POST /api/datasources/{id}/unlock", audit.DeviceUnlock, signedIn, s.unlock)
	audited("DELETE /api/datasources/{id}/unlock", audit.DeviceForget, signedIn, s.forgetDevice)
	audited("DELETE /api/datasources/{id}/devices", audit.DeviceRevoke, signedIn, s.revokeDevices)
	handle("GET /api/devices", signedIn, s.listDevices)
	handle("GET /api/audit", admin, s.listAudit)
	handle("GET /metrics", admin, s.serveMetrics)
	handle("GET /api/egress", admin, s.describeEgress)
	handle("GET /api/datasources/{id}/grants", signedIn, s.listGrants)
	audited("PUT /api/datasources/{id}/grants", audit.GrantUpdate, signedIn, s.setGrants)
	handle("GET /api/groups", admin, s.listGroups)
	audited("POST /api/groups", audit.GroupCreate, admin, s.createGroup)
	audited("PUT /api/groups/{id}/members", audit.GroupUpdate, admin, s.setGroupMembers)
	audited("DELETE /api/groups/{id}", audit.GroupDelete, admin, s.deleteGroup)
	audited("DELETE /api/devices/{id}", audit.DeviceForget, signedIn, s.deleteDevice)
	handle("GET /api/queries", signedIn, s.listSavedQueries)
	audited("POST /api/queries", audit.SavedQueryCreate, signedIn, s.createSavedQuery)
	handle("GET /api/queries/export", signedIn, s.exportSavedQueries)
	audited("POST /api/queries/import", audit.SavedQueryCreate, signedIn, s.importSavedQueries)
	handle("GET /api/queries/{id}", signedIn, s.findSavedQuery)
	audited("PATCH /api/queries/{id}", audit.SavedQueryUpdate, signedIn, s.updateSavedQuery)
	audited("DELETE /api/queries/{id}", audit.SavedQueryDelete, signedIn, s.deleteSavedQuery)
	handle("GET /api/queries/{id}/versions", signedIn, s.listSavedQueryVersions)
	audited("POST /api/queries/{id}/run", audit.SavedQueryRun, signedIn, s.runSavedQuery)
	handle("GET /api/dashboards", signedIn, s.listDashboards)
	audited("POST /api/dashboards", audit.DashboardCreate, accounts.ActionDashboardCreate, s.createDashboard)
	audited("POST /api/dashboards/import", audit.DashboardCreate, accounts.ActionDashboardCreate, s.importDashboard)
	handle("GET /api/dashboards/{id}", signedIn, s.findDashboard)
	audited("PATCH /api/dashboards/{id}", audit.DashboardUpdate, signedIn, s.updateDashboard)
	audited("DELETE /api/dashboards/{id}", audit.DashboardDelete, signedIn, s.deleteDashboard)
	handle("GET /api/dashboards/{id}/export", signedIn, s.exportDashboard)
	handle("GET /api/dashboards/{id}/grants", signedIn, s.listDashboardGrants)
	audited("PUT /api/dashboards/{id}/grants", audit.DashboardGrants, signedIn, s.setDashboardGrants)

	public("/", s.notFound)
	return rt.Routes()
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	return querygate.Errorf(querygate.ENOTFOUND, "No such endpoint.")
}

// serveMetrics answers GET /metrics on the main listener, for admins (a
// scraper uses an admin's API token); --metrics-listen serves them on a
// separate address instead.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if s.metrics == nil {
		return querygate.Errorf(querygate.ENOTFOUND, "Metrics are not enabled.")
	}
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}

// describeEgress answers GET /api/egress (admin): the effective policy
// and the source address datasources see.
func (s *Server) describeEgress(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if s.egress == nil {
		return querygate.Errorf(querygate.ENOTFOUND, "No egress policy is configured.")
	}
	kit.WriteJSON(w, http.StatusOK, s.egress())
	return nil
}
