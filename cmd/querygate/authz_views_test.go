package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthorizationOfViews checks, against the running
// gateway, the authorization properties the web split (web/kit, api, ui),
// the use cases in package query and the kind registry must keep: admin
// pages and routes stay admin-only, per-datasource checks on pages, the
// same answer for a datasource the caller may not see as for one that
// does not exist, a run grant that runs saved queries but no ad-hoc query,
// session-only routes refuse API tokens, and exactly one audit event for
// every request on an audited route, refusals included.
func TestAuthorizationOfViews(t *testing.T) {
	liteDir := t.TempDir()
	dbPath := filepath.Join(liteDir, "r.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t (v INTEGER)")
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", liteDir)
	admin := g.MustSetup(nil)
	ids := map[string]string{}
	users := map[string]*client{}
	for _, role := range []string{"editor", "viewer"} {
		ids[role] = admin.must(201, "POST", "/api/users", map[string]any{"username": role, "password": role + " password 1", "role": role})["id"].(string)
		c := g.client(nil)
		c.must(200, "POST", "/api/login", map[string]any{"username": role, "password": role + " password 1"})
		users[role] = c
	}
	viewer, editor := users["viewer"], users["editor"]
	newDS := func(name string) string {
		return admin.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "sqlite",
			"settings": map[string]any{"path": dbPath}})["id"].(string)
	}
	runDS, hiddenDS := newDS("run-granted"), newDS("hidden-secret-name")
	for _, who := range []string{"viewer", "editor"} {
		_ = who
	}
	admin.must(200, "PUT", "/api/datasources/"+runDS+"/grants", map[string]any{"grants": []any{
		map[string]any{"type": "user", "id": ids["viewer"], "level": "run"},
		map[string]any{"type": "user", "id": ids["editor"], "level": "run"},
	}})
	sq := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": runDS, "name": "one", "query": "SELECT 1 AS x"})["id"].(string)
	hiddenSQ := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": hiddenDS, "name": "two", "query": "SELECT 2 AS x"})["id"].(string)

	t.Run("pages", func(t *testing.T) {
		for _, tc := range []struct {
			c    *client
			path string
			want int
		}{
			{viewer, "/users", 403}, {viewer, "/groups", 403}, {viewer, "/audit", 403}, {viewer, "/network", 403},
			{viewer, "/settings/sso", 403}, {editor, "/users", 403}, {editor, "/audit", 403},
			{viewer, "/datasources/new", 403},
			{viewer, "/datasources/" + runDS, 403}, // a run grant has no workspace (ad-hoc queries)
			{viewer, "/datasources/" + hiddenDS, 404},
			{viewer, "/datasources/nosuchid", 404},
			{viewer, "/datasources/" + runDS + "/edit", 403},
			{editor, "/datasources/" + runDS + "/edit", 403},
			{viewer, "/datasources/" + hiddenDS + "/edit", 404},
			{viewer, "/queries/new", 403},
			{viewer, "/queries/" + sq, 200},
			{viewer, "/queries/" + sq + "/edit", 403},
			{viewer, "/queries/" + hiddenSQ, 404},
			{viewer, "/queries/" + hiddenSQ + "/edit", 404},
		} {
			if r := tc.c.do("GET", tc.path, nil); r.Status != tc.want {
				t.Errorf("GET %s: status %d, want %d", tc.path, r.Status, tc.want)
			}
		}
		for _, p := range []string{"/datasources", "/queries", "/dashboards"} {
			r := viewer.do("GET", p, nil)
			if r.Status != 200 || strings.Contains(string(r.Body), "hidden-secret-name") || strings.Contains(string(r.Body), hiddenDS) {
				t.Errorf("GET %s as viewer: status %d, or shows a datasource not granted", p, r.Status)
			}
		}
	})

	t.Run("hidden datasource answers like a missing one", func(t *testing.T) {
		routes := []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/datasources/%s", nil},
			{"PATCH", "/api/datasources/%s", map[string]any{"read_only": true}},
			{"DELETE", "/api/datasources/%s", nil},
			{"POST", "/api/datasources/%s/test", nil},
			{"POST", "/api/datasources/%s/query", map[string]any{"query": "SELECT 1"}},
			{"POST", "/api/datasources/%s/unlock", map[string]any{"password": "x"}},
			{"DELETE", "/api/datasources/%s/unlock", nil},
			{"DELETE", "/api/datasources/%s/devices", nil},
			{"GET", "/api/datasources/%s/grants", nil},
			{"PUT", "/api/datasources/%s/grants", map[string]any{"grants": []any{}}},
		}
		for _, c := range []*client{viewer, editor} {
			for _, rt := range routes {
				hidden := c.do(rt.method, strings.Replace(rt.path, "%s", hiddenDS, 1), rt.body)
				missing := c.do(rt.method, strings.Replace(rt.path, "%s", "dsnosuchone", 1), rt.body)
				if hidden.Status != 404 || missing.Status != 404 || string(hidden.Body) != string(missing.Body) {
					t.Errorf("%s %s: hidden %d %s, missing %d %s", rt.method, rt.path, hidden.Status, hidden.Body, missing.Status, missing.Body)
				}
			}
			for _, p := range []string{"/api/queries/%s", "/api/queries/%s/versions"} {
				hidden := c.do("GET", strings.Replace(p, "%s", hiddenSQ, 1), nil)
				missing := c.do("GET", strings.Replace(p, "%s", "sqnosuchone", 1), nil)
				if hidden.Status != 404 || string(hidden.Body) != string(missing.Body) {
					t.Errorf("GET %s: hidden %d %s, missing %d %s", p, hidden.Status, hidden.Body, missing.Status, missing.Body)
				}
			}
			hidden := c.do("POST", "/api/queries/"+hiddenSQ+"/run", map[string]any{})
			missing := c.do("POST", "/api/queries/sqnosuchone/run", map[string]any{})
			if hidden.Status != 404 || string(hidden.Body) != string(missing.Body) {
				t.Errorf("run hidden saved query: %d %s, missing %d %s", hidden.Status, hidden.Body, missing.Status, missing.Body)
			}
		}
	})

	t.Run("run grant", func(t *testing.T) {
		if r := viewer.do("POST", "/api/datasources/"+runDS+"/query", map[string]any{"query": "SELECT 1"}); r.Status != 403 {
			t.Errorf("ad-hoc query with a run grant: %d %s", r.Status, r.Body)
		}
		if r := viewer.do("POST", "/api/datasources/"+runDS+"/test", nil); r.Status != 403 {
			t.Errorf("test with a run grant: %d %s", r.Status, r.Body)
		}
		if r := viewer.do("POST", "/api/queries/"+sq+"/run", map[string]any{}); r.Status != 200 {
			t.Errorf("saved query run with a run grant: %d %s", r.Status, r.Body)
		}
		for _, rq := range []struct {
			m, p string
			body any
		}{
			{"PATCH", "/api/queries/" + sq, map[string]any{"query": "SELECT 3"}},
			{"DELETE", "/api/queries/" + sq, nil},
			{"PATCH", "/api/datasources/" + runDS, map[string]any{"read_only": true}},
			{"DELETE", "/api/datasources/" + runDS, nil},
			{"GET", "/api/datasources/" + runDS + "/grants", nil},
		} {
			for _, c := range []*client{viewer, editor} {
				if r := c.do(rq.m, rq.p, rq.body); r.Status != 403 {
					t.Errorf("%s %s with a run grant: %d %s", rq.m, rq.p, r.Status, r.Body)
				}
			}
		}
	})

	t.Run("session-only routes refuse tokens", func(t *testing.T) {
		tok := viewer.must(201, "POST", "/api/tokens", map[string]any{"name": "t"})["token"].(string)
		tc := g.client(nil)
		tc.bearer = tok
		tc.must(200, "GET", "/api/me", nil)
		for _, rq := range []struct {
			m, p string
			body any
		}{
			{"POST", "/api/tokens", map[string]any{"name": "t2"}},
			{"POST", "/api/me/password", map[string]any{"current_password": "viewer password 1", "new_password": "another password 2"}},
			{"POST", "/api/me/sso-link", nil},
		} {
			if r := tc.do(rq.m, rq.p, rq.body); r.Status != 403 {
				t.Errorf("%s %s with a token: %d %s", rq.m, rq.p, r.Status, r.Body)
			}
		}
		for _, p := range []string{"/api/users", "/api/audit", "/api/groups", "/api/settings/sso", "/api/egress", "/metrics",
			"/api/users/" + ids["editor"] + "/tokens", "/api/users/" + ids["editor"] + "/sessions", "/api/devices?datasource_id=" + runDS,
			"/api/tokens?user_id=" + ids["editor"]} {
			if r := tc.do("GET", p, nil); r.Status != 403 {
				t.Errorf("GET %s as a viewer's token: %d", p, r.Status)
			}
		}
	})

	t.Run("one audit event per audited request", func(t *testing.T) {
		count := func(reqID string) int {
			n := 0
			for _, e := range admin.must(200, "GET", "/api/audit?limit=1000", nil)["events"].([]any) {
				if e.(map[string]any)["request_id"] == reqID {
					n++
				}
			}
			return n
		}
		for _, rq := range []struct {
			c      *client
			m, p   string
			body   any
			status int
		}{
			{viewer, "POST", "/api/datasources", map[string]any{"name": "v", "kind": "sqlite", "settings": map[string]any{"path": dbPath}}, 403},
			{editor, "POST", "/api/datasources", map[string]any{"name": "e", "kind": "nosuchkind"}, 400},
			{editor, "POST", "/api/datasources", `{"name":`, 400},
			{viewer, "PATCH", "/api/datasources/" + runDS, map[string]any{"read_only": true}, 403},
			{viewer, "PATCH", "/api/datasources/" + hiddenDS, map[string]any{"read_only": true}, 404},
			{viewer, "PATCH", "/api/datasources/" + runDS, `{"read_only":`, 400},
			{viewer, "DELETE", "/api/datasources/" + runDS, nil, 403},
			{viewer, "DELETE", "/api/datasources/" + hiddenDS, nil, 404},
			{viewer, "POST", "/api/datasources/" + runDS + "/test", nil, 403},
			{viewer, "POST", "/api/datasources/" + runDS + "/query", map[string]any{"query": "SELECT 1"}, 403},
			{viewer, "POST", "/api/datasources/" + runDS + "/unlock", map[string]any{"password": "x"}, 400},
			{viewer, "PUT", "/api/datasources/" + runDS + "/grants", map[string]any{"grants": []any{}}, 403},
			{viewer, "DELETE", "/api/datasources/" + runDS + "/devices", nil, 403},
			{viewer, "POST", "/api/queries/" + sq + "/run", map[string]any{}, 200},
			{viewer, "POST", "/api/queries/" + hiddenSQ + "/run", map[string]any{}, 404},
			{viewer, "PATCH", "/api/queries/" + sq, map[string]any{"query": "SELECT 3"}, 403},
			{editor, "PATCH", "/api/datasources/" + runDS, map[string]any{"read_only": true}, 403},
			{admin, "PATCH", "/api/datasources/" + runDS, map[string]any{"name": "run-granted-2"}, 200},
			{admin, "POST", "/api/datasources/" + runDS + "/query", map[string]any{"query": "SELECT 1"}, 200},
		} {
			r := rq.c.do(rq.m, rq.p, rq.body)
			if r.Status != rq.status {
				t.Errorf("%s %s: status %d, want %d: %s", rq.m, rq.p, r.Status, rq.status, r.Body)
			}
			if n := count(r.Header.Get("X-Request-Id")); n != 1 {
				t.Errorf("%s %s (%d): %d audit events, want exactly 1", rq.m, rq.p, r.Status, n)
			}
		}
	})
}
