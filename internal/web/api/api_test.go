package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/web/kit"
)

// fakeAuth proves the user of a Bearer token by its value: "admin",
// "editor" or "viewer" (a user of that role); any other fails.
type fakeAuth struct{}

var _ kit.Authenticator = (*fakeAuth)(nil)

func (fakeAuth) SessionUser(ctx context.Context, id []byte) (*accounts.User, error) {
	return nil, querygate.Errorf(querygate.EUNAUTHORIZED, "no session")
}

func (fakeAuth) TokenUser(ctx context.Context, value string) (*accounts.User, error) {
	switch value {
	case accounts.RoleAdmin, accounts.RoleEditor, accounts.RoleViewer:
		return &accounts.User{ID: "u-" + value, Username: value, Role: value}, nil
	}
	return nil, querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in, or your session or token is no longer valid.")
}

// fakeQueries records the query it is asked to run and answers with err
// (or one NDJSON line when err is nil).
type fakeQueries struct {
	calls int
	actor accounts.Actor
	dsID  string
	in    query.Input
	err   error
	// grants are the grants SetGrants was given.
	grants []datasource.Grant
	// schema is what Schema answers (when err is nil); keys is whether
	// it was given the request's device keys.
	schema *schema.Schema
	keys   bool
}

var _ Queries = (*fakeQueries)(nil)

func (f *fakeQueries) Run(ctx context.Context, a accounts.Actor, dsID string, in query.Input, keys query.DeviceKeys, out query.Output) (query.Summary, error) {
	f.calls++
	f.actor, f.dsID, f.in = a, dsID, in
	if f.err != nil {
		return query.Summary{}, f.err
	}
	out.Start()
	out.W.Write([]byte(`{"row":[1]}` + "\n"))
	return query.Summary{}, nil
}

func (f *fakeQueries) RunSaved(context.Context, accounts.Actor, string, query.SavedInput, query.DeviceKeys, query.Output) (query.Summary, error) {
	panic("not called")
}

func (f *fakeQueries) TestDatasource(context.Context, accounts.Actor, string, query.DeviceKeys) error {
	panic("not called")
}

func (f *fakeQueries) Schema(ctx context.Context, a accounts.Actor, dsID string, keys query.DeviceKeys) (*schema.Schema, error) {
	f.calls++
	f.actor, f.dsID = a, dsID
	f.keys = keys != nil
	if f.err != nil {
		return nil, f.err
	}
	return f.schema, nil
}

func (f *fakeQueries) Unlock(context.Context, accounts.Actor, string, seal.Secret, bool) (query.Unlocked, error) {
	panic("not called")
}

func (f *fakeQueries) CreateDatasource(context.Context, accounts.Actor, datasource.CreateInput) (*datasource.Datasource, error) {
	panic("not called")
}

func (f *fakeQueries) UpdateDatasource(context.Context, accounts.Actor, string, datasource.UpdateInput) (*datasource.Datasource, error) {
	panic("not called")
}

func (f *fakeQueries) Authorize(context.Context, accounts.Actor, string, accounts.Action) (*datasource.Datasource, error) {
	panic("not called")
}

func (f *fakeQueries) Resource(context.Context, accounts.Actor, *datasource.Datasource) (accounts.Resource, error) {
	panic("not called")
}

func (f *fakeQueries) VisibleDatasources(context.Context, accounts.Actor) ([]query.Visible, error) {
	panic("not called")
}

func (f *fakeQueries) TestDraft(context.Context, accounts.Actor, datasource.CreateInput) error {
	panic("not called")
}

func (f *fakeQueries) DeleteDatasource(context.Context, accounts.Actor, string) error {
	panic("not called")
}

func (f *fakeQueries) SetGrants(ctx context.Context, a accounts.Actor, dsID string, grants []datasource.Grant) ([]datasource.Grant, error) {
	f.calls++
	f.actor, f.dsID, f.grants = a, dsID, grants
	if f.err != nil {
		return nil, f.err
	}
	return []datasource.Grant{}, nil
}

func (f *fakeQueries) CreateSavedQuery(context.Context, accounts.Actor, savedquery.CreateInput) (*savedquery.Query, error) {
	panic("not called")
}

func (f *fakeQueries) UpdateSavedQuery(context.Context, accounts.Actor, string, savedquery.UpdateInput) (*savedquery.Query, error) {
	panic("not called")
}

func (f *fakeQueries) DeleteSavedQuery(context.Context, accounts.Actor, string) error {
	panic("not called")
}

func (f *fakeQueries) ImportSavedQueries(context.Context, accounts.Actor, query.ImportInput) (query.ImportResult, error) {
	panic("not called")
}

func (f *fakeQueries) PanelQuery(context.Context, accounts.Actor, string) (dashboard.PanelQuery, error) {
	return dashboard.PanelQuery{}, f.err
}
func (f *fakeQueries) SavedQueryID(context.Context, accounts.Actor, string, string) (string, error) {
	return "", querygate.Errorf(querygate.ENOTFOUND, "no datasource of that name that you can see")
}
func (f *fakeQueries) Forget(string)               {}
func (f *fakeQueries) ForgetDevice(string, string) {}
func (f *fakeQueries) Limits() query.Limits        { return query.Limits{} }

// newTestAPI is the API on fakes, its routes on a bare mux (no other
// dependency: a handler that reached one would panic).
func newTestAPI(q Queries) http.Handler {
	b := kit.New(kit.Options{Accounts: fakeAuth{}})
	mux := http.NewServeMux()
	New(b, Options{Queries: q}).Register(mux)
	return b.Wrap(mux)
}

func call(h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body kit.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return body.Error.Code
}

// The query route decodes the body, hands it to the use case with the
// datasource of the path and the caller, and answers the use case's
// error with its status.
func TestRunQueryRoute(t *testing.T) {
	q := &fakeQueries{}
	h := newTestAPI(q)
	w := call(h, "POST", "/api/datasources/ds-1/query", "viewer", `{"query":"select $1","params":[7],"limit":5,"timeout_ms":900}`)
	if w.Code != 200 || w.Body.String() != `{"row":[1]}`+"\n" {
		t.Fatalf("got %d %q, want 200 and the use case's stream", w.Code, w.Body)
	}
	if q.calls != 1 || q.dsID != "ds-1" || string(q.in.Query) != `"select $1"` || q.in.Limit != 5 || q.in.TimeoutMS != 900 ||
		len(q.in.Params) != 1 || q.in.Params[0] != json.Number("7") {
		t.Fatalf("use case called %d times with %q %+v", q.calls, q.dsID, q.in)
	}
	if q.actor.User == nil || q.actor.User.ID != "u-viewer" || q.actor.Via != accounts.ViaToken {
		t.Fatalf("actor %+v, want the token's user, via token", q.actor)
	}

	for _, tc := range []struct {
		err  error
		want int
		code string
	}{
		{querygate.Errorf(querygate.ENOTFOUND, "No such datasource."), 404, querygate.ENOTFOUND},
		{querygate.Errorf(querygate.EFORBIDDEN, "No."), 403, querygate.EFORBIDDEN},
		{querygate.Errorf(querygate.EDEVICELOCKED, "Unlock it."), 403, querygate.EDEVICELOCKED},
		{querygate.Errorf(querygate.ETIMEOUT, "Too slow."), 504, querygate.ETIMEOUT},
		{querygate.Errorf(querygate.EUNREACHABLE, "Down."), 502, querygate.EUNREACHABLE},
		{context.Canceled, 500, querygate.EINTERNAL},
	} {
		q := &fakeQueries{err: tc.err}
		w := call(newTestAPI(q), "POST", "/api/datasources/ds-1/query", "viewer", `{"query":"select 1"}`)
		if w.Code != tc.want || errorCode(t, w) != tc.code {
			t.Errorf("use case error %v: got %d %s, want %d %s", tc.err, w.Code, w.Body, tc.want, tc.code)
		}
	}

	// A body the route cannot decode never reaches the use case.
	q = &fakeQueries{}
	if w := call(newTestAPI(q), "POST", "/api/datasources/ds-1/query", "viewer", `{"sql":"select 1"}`); w.Code != 400 || q.calls != 0 {
		t.Errorf("unknown field: got %d %s with %d calls, want 400 and none", w.Code, w.Body, q.calls)
	}
	// Nor does a request without a user.
	if w := call(newTestAPI(q), "POST", "/api/datasources/ds-1/query", "", `{"query":"select 1"}`); w.Code != 401 || q.calls != 0 {
		t.Errorf("anonymous: got %d with %d calls, want 401 and none", w.Code, q.calls)
	}
}

// A collection route is refused by the action it is registered with,
// before its handler runs: the API here has no accounts service, so a
// handler that ran would panic.
func TestCollectionRouteDeniedByItsAction(t *testing.T) {
	h := newTestAPI(&fakeQueries{})
	for _, route := range []struct{ method, path, body string }{
		{"GET", "/api/users", ""},
		{"POST", "/api/users", `{"username":"x","password":"y","role":"admin"}`},
		{"GET", "/api/groups", ""},
		{"GET", "/api/audit", ""},
		{"GET", "/api/settings/sso", ""},
	} {
		for _, role := range []string{accounts.RoleEditor, accounts.RoleViewer} {
			w := call(h, route.method, route.path, role, route.body)
			if w.Code != 403 || errorCode(t, w) != querygate.EFORBIDDEN {
				t.Errorf("%s %s as %s: got %d %s, want 403", route.method, route.path, role, w.Code, w.Body)
			}
		}
		if w := call(h, route.method, route.path, "", route.body); w.Code != 401 {
			t.Errorf("%s %s without a user: got %d, want 401", route.method, route.path, w.Code)
		}
	}
}

// Every route is either public or names its action, and the admin
// routes name accounts.ActionAdmin (deny by default, one place).
func TestRoutesCarryTheirAction(t *testing.T) {
	routes := New(kit.New(kit.Options{}), Options{}).Register(http.NewServeMux())
	byPattern := map[string]kit.Route{}
	for _, r := range routes {
		byPattern[r.Pattern] = r
	}
	for pattern, want := range map[string]accounts.Action{
		"GET /api/users":                   accounts.ActionAdmin,
		"DELETE /api/users/{id}":           accounts.ActionAdmin,
		"PUT /api/groups/{id}/members":     accounts.ActionAdmin,
		"GET /metrics":                     accounts.ActionAdmin,
		"POST /api/datasources":            accounts.ActionDatasourceCreate,
		"GET /api/datasources":             accounts.ActionDatasourceList,
		"POST /api/dashboards":             accounts.ActionDashboardCreate,
		"POST /api/datasources/{id}/query": kit.SignedIn, // the datasource's grant: checked by the use case
		"GET /api/datasources/{id}/schema": kit.SignedIn, // likewise
	} {
		r, ok := byPattern[pattern]
		if !ok || r.Public || r.Action != want {
			t.Errorf("%s: registered %v %+v, want action %q", pattern, ok, r, want)
		}
	}
	if r := byPattern["POST /api/login"]; !r.Public {
		t.Errorf("POST /api/login is not public")
	}
}

// The grants route decodes the list, hands it to the use case with the
// datasource of the path and the caller, and writes what the use case
// answers (or its error's status).
func TestSetGrantsRoute(t *testing.T) {
	q := &fakeQueries{}
	w := call(newTestAPI(q), "PUT", "/api/datasources/ds-1/grants", "editor", `{"grants":[{"type":"user","id":"u2","level":"run"}]}`)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"grants":[]}` {
		t.Fatalf("got %d %q, want 200 and the use case's list", w.Code, w.Body)
	}
	if q.calls != 1 || q.dsID != "ds-1" || len(q.grants) != 1 || q.grants[0] != (datasource.Grant{Type: "user", ID: "u2", Level: "run"}) ||
		q.actor.User == nil || q.actor.User.ID != "u-editor" {
		t.Fatalf("use case called %d times with %q %+v by %+v", q.calls, q.dsID, q.grants, q.actor)
	}
	q = &fakeQueries{err: querygate.Errorf(querygate.ENOTFOUND, "Datasource not found.")}
	if w := call(newTestAPI(q), "PUT", "/api/datasources/ds-1/grants", "viewer", `{"grants":[]}`); w.Code != 404 || errorCode(t, w) != querygate.ENOTFOUND {
		t.Errorf("refused: got %d %s, want 404", w.Code, w.Body)
	}
	q = &fakeQueries{}
	if w := call(newTestAPI(q), "PUT", "/api/datasources/ds-1/grants", "editor", `{"grant":[]}`); w.Code != 400 || q.calls != 0 {
		t.Errorf("unknown field: got %d %s with %d calls, want 400 and none", w.Code, w.Body, q.calls)
	}
}

// The schema route hands the datasource of the path, the caller and the
// device keys to the use case and answers its schema as JSON, never
// cached, or its error with the error's status.
func TestSchemaRoute(t *testing.T) {
	rows := int64(42)
	q := &fakeQueries{schema: &schema.Schema{Schemas: []schema.Namespace{{Name: "public", Tables: []schema.Table{
		{Name: "users", Kind: schema.KindTable, RowsEstimate: &rows, Columns: []schema.Column{
			{Name: "id", Type: "int4", PrimaryKey: true},
			{Name: "team_id", Type: "int4", Nullable: true, References: "public.teams.id"}}},
		{Name: "v", Kind: schema.KindView, Columns: []schema.Column{}}}}}, Truncated: true}}
	w := call(newTestAPI(q), "GET", "/api/datasources/ds-1/schema", "viewer", "")
	want := `{"schemas":[{"name":"public","tables":[` +
		`{"name":"users","kind":"table","rows_estimate":42,"columns":[` +
		`{"name":"id","type":"int4","nullable":false,"primary_key":true},` +
		`{"name":"team_id","type":"int4","nullable":true,"primary_key":false,"references":"public.teams.id"}]},` +
		`{"name":"v","kind":"view","rows_estimate":null,"columns":[]}]}],"truncated":true}`
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != want {
		t.Fatalf("got %d %s, want 200 %s", w.Code, w.Body, want)
	}
	if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
		t.Errorf("Content-Type %q, Cache-Control %q: want application/json, no-store", ct, cc)
	}
	if q.calls != 1 || q.dsID != "ds-1" || !q.keys || q.actor.User == nil || q.actor.User.ID != "u-viewer" || q.actor.Via != accounts.ViaToken {
		t.Fatalf("use case called %d times with %q by %+v", q.calls, q.dsID, q.actor)
	}

	for _, tc := range []struct {
		err  error
		want int
		code string
	}{
		{querygate.Errorf(querygate.ENOTFOUND, "Datasource not found."), 404, querygate.ENOTFOUND},
		{querygate.Errorf(querygate.EFORBIDDEN, "No."), 403, querygate.EFORBIDDEN},
		{querygate.Errorf(querygate.EDEVICELOCKED, "Unlock it."), 403, querygate.EDEVICELOCKED},
		{querygate.Errorf(querygate.ETIMEOUT, "Too slow."), 504, querygate.ETIMEOUT},
	} {
		q := &fakeQueries{err: tc.err}
		w := call(newTestAPI(q), "GET", "/api/datasources/ds-1/schema", "viewer", "")
		if w.Code != tc.want || errorCode(t, w) != tc.code {
			t.Errorf("use case error %v: got %d %s, want %d %s", tc.err, w.Code, w.Body, tc.want, tc.code)
		}
	}
	q = &fakeQueries{schema: schema.Empty()}
	if w := call(newTestAPI(q), "GET", "/api/datasources/ds-1/schema", "", ""); w.Code != 401 || q.calls != 0 {
		t.Errorf("anonymous: got %d with %d calls, want 401 and none", w.Code, q.calls)
	}
	if w := call(newTestAPI(q), "GET", "/api/datasources/ds-1/schema", "editor", ""); w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"schemas":[],"truncated":false}` {
		t.Errorf("empty schema: got %d %s", w.Code, w.Body)
	}
}
