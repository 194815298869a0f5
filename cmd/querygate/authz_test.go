package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAuthorizationMatrix calls every API endpoint as every role, on
// datasources the caller owns, is granted (run, use, manage) or is not
// granted, and checks the exact status. An API route missing from the
// matrix fails the test, so a new endpoint cannot skip it.
func TestAuthorizationMatrix(t *testing.T) {
	liteDir := t.TempDir()
	dbPath := filepath.Join(liteDir, "m.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t (v INTEGER)")
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", liteDir)
	admin := g.MustSetup(nil)
	users := map[string]*client{"admin": admin}
	ids := map[string]string{}
	for _, role := range []string{"editor", "viewer"} {
		u := admin.must(201, "POST", "/api/users", map[string]any{"username": role, "password": role + " password 1", "role": role})
		ids[role] = u["id"].(string)
		c := g.client(nil)
		c.must(200, "POST", "/api/login", map[string]any{"username": role, "password": role + " password 1"})
		users[role] = c
	}
	ids["admin"] = admin.must(200, "GET", "/api/me", nil)["id"].(string)
	// Every request that changes something, or would, leaves exactly one
	// audit event: successes and refusals alike (P14), whatever refused
	// it (the route's action, the use case, a missing resource).
	lastSeq := func() float64 {
		evs := admin.must(200, "GET", "/api/audit?limit=1", nil)["events"].([]any)
		if len(evs) == 0 {
			return 0
		}
		return evs[0].(map[string]any)["seq"].(float64)
	}
	audited := func(c *client, method, path string, body any) response {
		t.Helper()
		if method == "GET" {
			return c.do(method, path, body)
		}
		before := lastSeq()
		r := c.do(method, path, body)
		if n := lastSeq() - before; n != 1 {
			t.Errorf("%s %s (status %d) left %v audit events, want 1", method, path, r.Status, n)
		}
		return r
	}
	group := admin.must(201, "POST", "/api/groups", map[string]any{"name": "readers"})["id"].(string)
	admin.must(200, "PUT", "/api/groups/"+group+"/members", map[string]any{"user_ids": []string{ids["viewer"]}})

	// newSource makes a datasource in one ownership/grant case for role.
	n := 0
	newSource := func(role, access string) string {
		n++
		maker := admin
		if access == "owned" && role == "editor" {
			maker = users["editor"]
		}
		id := maker.must(201, "POST", "/api/datasources", map[string]any{"name": fmt.Sprintf("m%d", n), "kind": "sqlite",
			"settings": map[string]any{"path": dbPath}})["id"].(string)
		if level, ok := strings.CutPrefix(access, "granted "); ok {
			subject := map[string]any{"type": "user", "id": ids[role], "level": level}
			if role == "viewer" && level == "use" {
				subject = map[string]any{"type": "group", "id": group, "level": level} // through a group
			}
			admin.must(200, "PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{subject}})
		}
		return id
	}

	// Datasource routes: the action each needs and its success status.
	type dsRoute struct {
		need string // read, use, manage
		ok   int
		body any
	}
	dsRoutes := map[string]dsRoute{
		"GET /api/datasources/{id}":            {need: "read", ok: 200},
		"PATCH /api/datasources/{id}":          {need: "manage", ok: 200, body: map[string]any{"read_only": true}},
		"DELETE /api/datasources/{id}":         {need: "manage", ok: 204},
		"POST /api/datasources/{id}/test":      {need: "use", ok: 200},
		"POST /api/datasources/{id}/query":     {need: "use", ok: 200, body: map[string]any{"query": "SELECT 1"}},
		"GET /api/datasources/{id}/schema":     {need: "use", ok: 200},
		"POST /api/datasources/{id}/unlock":    {need: "read", ok: 400, body: map[string]any{"password": "x"}}, // not device custody
		"DELETE /api/datasources/{id}/unlock":  {need: "read", ok: 204},
		"DELETE /api/datasources/{id}/devices": {need: "manage", ok: 200},
		"GET /api/datasources/{id}/grants":     {need: "manage", ok: 200},
		"PUT /api/datasources/{id}/grants":     {need: "manage", ok: 200, body: map[string]any{"grants": []any{}}},
	}
	// may[role][access] lists what the role may do in each case.
	may := map[string]map[string]string{
		"admin":  {"owned": "read use manage", "granted run": "read use manage", "granted use": "read use manage", "granted manage": "read use manage", "not granted": "read use manage"},
		"editor": {"owned": "read use manage", "granted run": "read", "granted use": "read use", "granted manage": "read use manage", "not granted": ""},
		"viewer": {"owned": "", "granted run": "read", "granted use": "read use", "granted manage": "read use", "not granted": ""},
	}
	for pattern, rt := range dsRoutes {
		method, path, _ := strings.Cut(pattern, " ")
		for role, cases := range may {
			for access, allowed := range cases {
				if role == "viewer" && access == "owned" {
					continue // viewers cannot create datasources
				}
				id := newSource(role, access)
				want := rt.ok
				switch {
				case !strings.Contains(allowed, "read"):
					want = 404
				case !strings.Contains(allowed, rt.need):
					want = 403
				}
				r := audited(users[role], method, strings.Replace(path, "{id}", id, 1), rt.body)
				if r.Status != want {
					t.Errorf("%s as %s on %s datasource: got %d, want %d: %s", pattern, role, access, r.Status, want, r.Body)
				}
			}
		}
	}

	// Saved query routes: on a query of a datasource in each case, the
	// action each needs on the datasource and its success status. A run
	// grant reads and runs saved queries; /query and /test need use.
	type qRoute struct {
		need string
		ok   int
		path func(ds, q string) string
		body func() any
	}
	sq := 0
	newQuery := func(ds string) string {
		sq++
		return admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": fmt.Sprintf("q%d", sq),
			"query": "SELECT :v AS v", "parameters": []any{map[string]any{"name": "v", "type": "int"}}})["id"].(string)
	}
	qRoutes := map[string]qRoute{
		"GET /api/queries":         {need: "read", ok: 200, path: func(ds, q string) string { return "/api/queries?datasource_id=" + ds }},
		"POST /api/queries":        {need: "manage", ok: 201, path: func(ds, q string) string { return "/api/queries" }, body: nil},
		"GET /api/queries/export":  {need: "read", ok: 200, path: func(ds, q string) string { return "/api/queries/export?datasource_id=" + ds }},
		"POST /api/queries/import": {need: "manage", ok: 200, path: func(ds, q string) string { return "/api/queries/import" }},
		"GET /api/queries/{id}":    {need: "read", ok: 200, path: func(ds, q string) string { return "/api/queries/" + q }},
		"PATCH /api/queries/{id}": {need: "manage", ok: 200, path: func(ds, q string) string { return "/api/queries/" + q },
			body: func() any { return map[string]any{"description": "changed"} }},
		"DELETE /api/queries/{id}":       {need: "manage", ok: 204, path: func(ds, q string) string { return "/api/queries/" + q }},
		"GET /api/queries/{id}/versions": {need: "read", ok: 200, path: func(ds, q string) string { return "/api/queries/" + q + "/versions" }},
		"POST /api/queries/{id}/run": {need: "read", ok: 200, path: func(ds, q string) string { return "/api/queries/" + q + "/run" },
			body: func() any { return map[string]any{"params": map[string]any{"v": 7}} }},
	}
	for pattern, rt := range qRoutes {
		method, _, _ := strings.Cut(pattern, " ")
		for role, cases := range may {
			for access, allowed := range cases {
				if role == "viewer" && access == "owned" {
					continue
				}
				ds := newSource(role, access)
				q := newQuery(ds)
				var body any
				switch {
				case rt.body != nil:
					body = rt.body()
				case pattern == "POST /api/queries":
					sq++
					body = map[string]any{"datasource_id": ds, "name": fmt.Sprintf("n%d", sq), "query": "SELECT 1"}
				case pattern == "POST /api/queries/import":
					body = map[string]any{"datasource_id": ds, "queries": []any{map[string]any{"name": "imported", "query": "SELECT 2", "parameters": []any{}}}}
				}
				want := rt.ok
				switch {
				case !strings.Contains(allowed, "read"):
					want = 404
				case !strings.Contains(allowed, rt.need):
					want = 403
				}
				r := audited(users[role], method, rt.path(ds, q), body)
				if r.Status != want {
					t.Errorf("%s as %s on %s datasource: got %d, want %d: %s", pattern, role, access, r.Status, want, r.Body)
				}
			}
		}
	}

	// Dashboard routes: on a dashboard the role owns, is granted (view,
	// edit) or is not granted, the access each needs.
	nd := 0
	newDashboard := func(role, access string) string {
		nd++
		maker := admin
		if access == "owned" {
			maker = users[role]
		}
		id := maker.must(201, "POST", "/api/dashboards", map[string]any{"name": fmt.Sprintf("d%d", nd), "definition": map[string]any{}})["id"].(string)
		if level, ok := strings.CutPrefix(access, "granted "); ok {
			admin.must(200, "PUT", "/api/dashboards/"+id+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": ids[role], "level": level}}})
		}
		return id
	}
	dbRoutes := map[string]dsRoute{
		"GET /api/dashboards/{id}":        {need: "view", ok: 200},
		"GET /api/dashboards/{id}/export": {need: "view", ok: 200},
		"PATCH /api/dashboards/{id}":      {need: "edit", ok: 200, body: map[string]any{"description": "changed"}},
		"DELETE /api/dashboards/{id}":     {need: "own", ok: 204},
		"GET /api/dashboards/{id}/grants": {need: "own", ok: 200},
		"PUT /api/dashboards/{id}/grants": {need: "own", ok: 200, body: map[string]any{"grants": []any{}}},
	}
	dbMay := map[string]map[string]string{
		"admin":  {"owned": "view edit own", "granted view": "view edit own", "granted edit": "view edit own", "not granted": "view edit own"},
		"editor": {"owned": "view edit own", "granted view": "view", "granted edit": "view edit", "not granted": ""},
		"viewer": {"granted view": "view", "granted edit": "view edit", "not granted": ""},
	}
	for pattern, rt := range dbRoutes {
		method, path, _ := strings.Cut(pattern, " ")
		for role, cases := range dbMay {
			for access, allowed := range cases {
				id := newDashboard(role, access)
				want := rt.ok
				switch {
				case !strings.Contains(allowed, "view"):
					want = 404
				case !strings.Contains(allowed, rt.need):
					want = 403
				}
				if r := audited(users[role], method, strings.Replace(path, "{id}", id, 1), rt.body); r.Status != want {
					t.Errorf("%s as %s on a dashboard %s: got %d, want %d: %s", pattern, role, access, r.Status, want, r.Body)
				}
			}
		}
	}

	// Collection and account routes: status per role.
	tokenOf := func(c *client) string {
		return c.must(201, "POST", "/api/tokens", map[string]any{"name": "t"})["id"].(string)
	}
	k := 0
	global := map[string]func(role string) (path string, body any, want int){
		"GET /api/me":              func(string) (string, any, int) { return "/api/me", nil, 200 },
		"GET /api/kinds":           func(string) (string, any, int) { return "/api/kinds", nil, 200 },
		"GET /api/datasources":     func(string) (string, any, int) { return "/api/datasources", nil, 200 },
		"GET /api/tokens":          func(string) (string, any, int) { return "/api/tokens", nil, 200 },
		"GET /api/devices":         func(string) (string, any, int) { return "/api/devices", nil, 200 },
		"DELETE /api/devices/{id}": func(string) (string, any, int) { return "/api/devices/dvnone", nil, 404 },
		"POST /api/tokens":         func(string) (string, any, int) { return "/api/tokens", map[string]any{"name": "x"}, 201 },
		"DELETE /api/tokens/{id}":  func(role string) (string, any, int) { return "/api/tokens/" + tokenOf(users[role]), nil, 204 },
		"GET /api/users":           func(role string) (string, any, int) { return "/api/users", nil, adminOnly(role, 200) },
		"GET /api/audit":           func(role string) (string, any, int) { return "/api/audit", nil, adminOnly(role, 200) },
		"GET /api/groups":          func(role string) (string, any, int) { return "/api/groups", nil, adminOnly(role, 200) },
		"GET /metrics":             func(role string) (string, any, int) { return "/metrics", nil, adminOnly(role, 200) },
		"GET /api/egress":          func(role string) (string, any, int) { return "/api/egress", nil, adminOnly(role, 200) },
		"GET /api/sessions":        func(string) (string, any, int) { return "/api/sessions", nil, 200 },
		"POST /api/me/sso-link":    func(string) (string, any, int) { return "/api/me/sso-link", nil, 404 }, // any user; single sign-on is off here
		"GET /api/dashboards":      func(string) (string, any, int) { return "/api/dashboards", nil, 200 },
		"POST /api/dashboards": func(role string) (string, any, int) {
			k++
			return "/api/dashboards", map[string]any{"name": fmt.Sprintf("n%d", k), "definition": map[string]any{}}, notViewer(role, 201)
		},
		"POST /api/dashboards/import": func(role string) (string, any, int) {
			k++
			return "/api/dashboards/import", map[string]any{"format": "querygate.dashboard/v1", "name": fmt.Sprintf("i%d", k), "inputs": []any{}, "panels": []any{}}, notViewer(role, 201)
		},
		"GET /api/settings/sso": func(role string) (string, any, int) { return "/api/settings/sso", nil, adminOnly(role, 200) },
		"PUT /api/settings/sso": func(role string) (string, any, int) {
			return "/api/settings/sso", map[string]any{"enabled": false, "local_login": true}, adminOnly(role, 200)
		},
		"GET /api/users/{id}/sessions": func(role string) (string, any, int) {
			return "/api/users/" + ids["viewer"] + "/sessions", nil, adminOnly(role, 200)
		},
		"GET /api/users/{id}/tokens": func(role string) (string, any, int) {
			return "/api/users/" + ids["viewer"] + "/tokens", nil, adminOnly(role, 200)
		},
		"POST /api/datasources": func(role string) (string, any, int) {
			k++
			want := 201
			if role == "viewer" {
				want = 403
			}
			return "/api/datasources", map[string]any{"name": fmt.Sprintf("c%d", k), "kind": "sqlite", "settings": map[string]any{"path": dbPath}}, want
		},
		"POST /api/datasources/test": func(role string) (string, any, int) {
			want := 200
			if role == "viewer" {
				want = 403
			}
			return "/api/datasources/test", map[string]any{"kind": "sqlite", "settings": map[string]any{"path": dbPath}}, want
		},
		"POST /api/users": func(role string) (string, any, int) {
			k++
			return "/api/users", map[string]any{"username": fmt.Sprintf("u%d", k), "password": "a long password", "role": "viewer"}, adminOnly(role, 201)
		},
		"PATCH /api/users/{id}": func(role string) (string, any, int) {
			return "/api/users/" + ids["viewer"], map[string]any{"role": "viewer"}, adminOnly(role, 200)
		},
		"DELETE /api/users/{id}": func(role string) (string, any, int) {
			k++
			id := admin.must(201, "POST", "/api/users", map[string]any{"username": fmt.Sprintf("d%d", k), "password": "a long password", "role": "viewer"})["id"].(string)
			return "/api/users/" + id, nil, adminOnly(role, 204)
		},
		"POST /api/groups": func(role string) (string, any, int) {
			k++
			return "/api/groups", map[string]any{"name": fmt.Sprintf("g%d", k)}, adminOnly(role, 201)
		},
		"PUT /api/groups/{id}/members": func(role string) (string, any, int) {
			return "/api/groups/" + group + "/members", map[string]any{"user_ids": []string{ids["viewer"]}}, adminOnly(role, 200)
		},
		"DELETE /api/groups/{id}": func(role string) (string, any, int) {
			k++
			id := admin.must(201, "POST", "/api/groups", map[string]any{"name": fmt.Sprintf("x%d", k)})["id"].(string)
			return "/api/groups/" + id, nil, adminOnly(role, 204)
		},
	}
	for pattern, call := range global {
		method, _, _ := strings.Cut(pattern, " ")
		for _, role := range []string{"admin", "editor", "viewer"} {
			path, body, want := call(role)
			if r := audited(users[role], method, path, body); r.Status != want {
				t.Errorf("%s as %s: got %d, want %d: %s", pattern, role, r.Status, want, r.Body)
			}
			// Without a session every user route is 401.
			if r := g.client(nil).do(method, path, body); r.Status != 401 {
				t.Errorf("%s without a session: got %d, want 401", pattern, r.Status)
			}
		}
	}

	// Routes that end sessions run as throwaway users of each role, so
	// that the clients above stay signed in.
	throwaway := func(role string) (*client, string) {
		k++
		name := fmt.Sprintf("t%d", k)
		id := admin.must(201, "POST", "/api/users", map[string]any{"username": name, "password": "a long password", "role": role})["id"].(string)
		return g.login(name, "a long password"), id
	}
	ending := map[string]func(role string) (c *client, path string, body any, want int){
		"POST /api/logout-everywhere": func(role string) (*client, string, any, int) {
			c, _ := throwaway(role)
			return c, "/api/logout-everywhere", nil, 204
		},
		"POST /api/me/password": func(role string) (*client, string, any, int) {
			c, _ := throwaway(role)
			return c, "/api/me/password", map[string]any{"current_password": "a long password", "new_password": "another long password"}, 204
		},
		"DELETE /api/sessions/{id}": func(role string) (*client, string, any, int) {
			c, _ := throwaway(role)
			sessions := c.must(200, "GET", "/api/sessions", nil)["sessions"].([]any)
			return c, "/api/sessions/" + sessions[0].(map[string]any)["id"].(string), nil, 204
		},
		"DELETE /api/users/{id}/sessions": func(role string) (*client, string, any, int) {
			_, id := throwaway("viewer")
			return users[role], "/api/users/" + id + "/sessions", nil, adminOnly(role, 204)
		},
		"POST /api/users/{id}/password": func(role string) (*client, string, any, int) {
			_, id := throwaway("viewer")
			return users[role], "/api/users/" + id + "/password", map[string]any{"password": "a new long password"}, adminOnly(role, 200)
		},
	}
	for pattern, call := range ending {
		method, _, _ := strings.Cut(pattern, " ")
		for _, role := range []string{"admin", "editor", "viewer"} {
			c, path, body, want := call(role)
			if r := g.client(nil).do(method, path, body); r.Status != 401 {
				t.Errorf("%s without a session: got %d, want 401", pattern, r.Status)
			}
			if r := audited(c, method, path, body); r.Status != want {
				t.Errorf("%s as %s: got %d, want %d: %s", pattern, role, r.Status, want, r.Body)
			}
		}
	}

	// A bad body and an unknown id, sent by an admin to every route that
	// changes something, still leave exactly one audit event (each as a
	// throwaway admin: some routes end the session).
	for _, r := range g.m.web.Routes() {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok || r.Public || method == "GET" {
			continue
		}
		c, _ := throwaway("admin")
		path = strings.ReplaceAll(path, "{id}", "xnone")
		audited(c, method, path, "{") // refused, or (a route without a body) done
	}

	// Every registered route is in the matrix (public ones are listed).
	public := []string{"GET /healthz", "GET /readyz", "POST /api/setup", "POST /api/login", "POST /api/logout", "/"}
	for _, r := range g.m.web.Routes() {
		_, inDS := dsRoutes[r.Pattern]
		_, inGlobal := global[r.Pattern]
		_, inQueries := qRoutes[r.Pattern]
		_, inEnding := ending[r.Pattern]
		_, inDashboards := dbRoutes[r.Pattern]
		inGlobal = inGlobal || inQueries || inEnding || inDashboards
		switch {
		case r.Public && !slices.Contains(public, r.Pattern):
			t.Errorf("public route %s is not listed in the matrix", r.Pattern)
		case !r.Public && !inDS && !inGlobal:
			t.Errorf("route %s is not in the authorization matrix", r.Pattern)
		}
	}
}

func notViewer(role string, ok int) int {
	if role == "viewer" {
		return 403
	}
	return ok
}

func adminOnly(role string, ok int) int {
	if role == "admin" {
		return ok
	}
	return 403
}

func TestGrantsBadInput(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", "/srv")
	admin := g.MustSetup(nil)
	id := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "x", "kind": "sqlite", "settings": map[string]any{"path": "/srv/x.db"}})["id"].(string)
	me := admin.must(200, "GET", "/api/me", nil)["id"].(string)
	good := map[string]any{"type": "user", "id": me, "level": "use"}
	admin.must(200, "PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{good}})
	for _, tc := range []struct {
		name  string
		grant any
		field string
	}{
		{"unknown user", map[string]any{"type": "user", "id": "unobody", "level": "use"}, "grants[1].id"},
		{"unknown group", map[string]any{"type": "group", "id": "gnone", "level": "use"}, "grants[1].id"},
		{"bad level", map[string]any{"type": "user", "id": me, "level": "owner"}, "grants[1].level"},
		{"bad type", map[string]any{"type": "robot", "id": me, "level": "use"}, "grants[1].type"},
		{"twice", good, "grants[1].id"},
	} {
		r := admin.do("PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{good, tc.grant}})
		if r.Status != 400 || !strings.Contains(string(r.Body), tc.field) {
			t.Errorf("%s: got %d %s, want 400 naming %s", tc.name, r.Status, r.Body, tc.field)
		}
	}
	// Bad input changed nothing.
	got := admin.must(200, "GET", "/api/datasources/"+id+"/grants", nil)["grants"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["level"] != "use" {
		t.Fatalf("grants after bad input: %v", got)
	}
	if r := admin.do("GET", "/api/datasources/dsnone/grants", nil); r.Status != 404 {
		t.Fatalf("unknown datasource: %d", r.Status)
	}
}
