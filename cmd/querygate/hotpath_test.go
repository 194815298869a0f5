package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
)

// changeBound is how long after a change commits on one replica the other
// may still answer from what it kept in memory (a change-sequence reading
// is shared for at most 1 ms), with a margin for the test's own timing.
const changeBound = 5 * time.Millisecond

// TestReplicaCachesInvalidated: each replica keeps sessions, tokens,
// datasources and grants in memory after the first request, and every
// change made on the other replica (logout, a revoked grant, a removed
// group member, a deleted token, a changed role, a deleted user, a
// changed datasource) holds on it within changeBound. Each step first
// warms the second replica's copies with a request that succeeds.
func TestReplicaCachesInvalidated(t *testing.T) {
	_, a, b, _, _ := replicaPair(t)
	admin := newAs(t)
	admin.must(a, 200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})

	pg := testenv.PostgresURL(t)
	port := portOr(t, pg.Port(), 5432)
	dsDB := testenv.PostgresDatabase(t, "qg_ds")
	ds := admin.must(a, 201, "POST", "/api/datasources", map[string]any{"name": "pg", "kind": "postgres",
		"settings": map[string]any{"host": pg.Hostname(), "port": port, "database": strings.TrimPrefix(dsDB.Path, "/"),
			"user": pg.User.Username(), "sslmode": "disable"}})["id"].(string)
	vid := admin.must(a, 201, "POST", "/api/users", map[string]any{"username": "vi", "password": "vi password 12", "role": "viewer"})["id"].(string)
	grant := func(grants ...any) {
		t.Helper()
		admin.must(a, 200, "PUT", "/api/datasources/"+ds+"/grants", map[string]any{"grants": grants})
		time.Sleep(changeBound)
	}
	query := func(c *as, p *process) int {
		t.Helper()
		code, body := c.do(p, "POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT current_database()"})
		if code == 200 && !strings.Contains(body, `"done"`) {
			t.Fatalf("query on %s: %s", p.addr, body)
		}
		return code
	}
	viewer := newAs(t)
	viewer.must(b, 200, "POST", "/api/login", map[string]any{"username": "vi", "password": "vi password 12"})

	// A revoked grant.
	grant(map[string]any{"type": "user", "id": vid, "level": "use"})
	for range 3 {
		if code := query(viewer, b); code != 200 {
			t.Fatalf("granted query on B: %d", code)
		}
	}
	grant()
	if code := query(viewer, b); code != 404 {
		t.Errorf("grant revoked on A, query on B: %d, want 404", code)
	}

	// A group member removed.
	gid := admin.must(a, 201, "POST", "/api/groups", map[string]any{"name": "analysts"})["id"].(string)
	admin.must(a, 200, "PUT", "/api/groups/"+gid+"/members", map[string]any{"user_ids": []string{vid}})
	grant(map[string]any{"type": "group", "id": gid, "level": "use"})
	if code := query(viewer, b); code != 200 {
		t.Fatalf("query granted through a group on B: %d", code)
	}
	admin.must(a, 200, "PUT", "/api/groups/"+gid+"/members", map[string]any{"user_ids": []string{}})
	time.Sleep(changeBound)
	if code := query(viewer, b); code != 404 {
		t.Errorf("member removed on A, query on B: %d, want 404", code)
	}

	// A changed datasource: B's next query uses the new settings.
	grant(map[string]any{"type": "user", "id": vid, "level": "use"})
	if code := query(viewer, b); code != 200 {
		t.Fatalf("query on B: %d", code)
	}
	admin.must(a, 200, "PATCH", "/api/datasources/"+ds, map[string]any{"settings": map[string]any{"database": "qg_no_such_database"}})
	time.Sleep(changeBound)
	if code, body := viewer.do(b, "POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT 1"}); code == 200 && strings.Contains(body, `"done"`) {
		t.Errorf("datasource moved on A, B still queries the old database: %d %s", code, body)
	}

	// Logout on A ends the session on B.
	if code, _ := viewer.do(b, "GET", "/api/me", nil); code != 200 {
		t.Fatalf("me on B: %d", code)
	}
	// The browser forgets the cookie at logout; a thief who copied it
	// before must be refused too.
	bURL := mustURL(t, b.base)
	copied := viewer.jar.Cookies(bURL)
	viewer.must(a, 204, "POST", "/api/logout", nil)
	time.Sleep(changeBound)
	thief := newAs(t)
	thief.jar.SetCookies(bURL, copied)
	if code, _ := thief.do(b, "GET", "/api/me", nil); code != 401 {
		t.Errorf("logged out on A, me on B: %d, want 401", code)
	}

	// A token deleted on A stops working on B; a changed role holds on B.
	viewer.must(b, 200, "POST", "/api/login", map[string]any{"username": "vi", "password": "vi password 12"})
	tok := viewer.must(b, 201, "POST", "/api/tokens", map[string]any{"name": "ci"})
	value, id := tok["token"].(string), tok["id"].(string)
	bearer := func(p *process, path string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", p.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	admin.must(a, 200, "PATCH", "/api/users/"+vid, map[string]any{"role": "admin"})
	time.Sleep(changeBound)
	if code := bearer(b, "/api/users"); code != 200 {
		t.Fatalf("token of an admin on B: %d", code)
	}
	admin.must(a, 200, "PATCH", "/api/users/"+vid, map[string]any{"role": "viewer"})
	time.Sleep(changeBound)
	if code := bearer(b, "/api/users"); code != 403 {
		t.Errorf("role lowered on A, token on B lists users: %d, want 403", code)
	}
	if code := bearer(b, "/api/me"); code != 200 {
		t.Fatalf("token on B: %d", code)
	}
	admin.must(a, 204, "DELETE", "/api/tokens/"+id, nil)
	time.Sleep(changeBound)
	if code := bearer(b, "/api/me"); code != 401 {
		t.Errorf("token deleted on A, used on B: %d, want 401", code)
	}

	// A deleted user's session ends on B.
	viewer.must(b, 200, "POST", "/api/login", map[string]any{"username": "vi", "password": "vi password 12"})
	if code, _ := viewer.do(b, "GET", "/api/me", nil); code != 200 {
		t.Fatalf("me on B: %d", code)
	}
	admin.must(a, 204, "DELETE", "/api/users/"+vid, nil)
	time.Sleep(changeBound)
	if code, _ := viewer.do(b, "GET", "/api/me", nil); code != 401 {
		t.Errorf("user deleted on A, me on B: %d, want 401", code)
	}
}
