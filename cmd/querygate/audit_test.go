package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// auditEvents returns the audit events of a gateway, oldest first.
func auditEvents(t *testing.T, c *client, query string) []map[string]any {
	t.Helper()
	got := c.must(200, "GET", "/api/audit?limit=1000"+query, nil)["events"].([]any)
	out := make([]map[string]any, len(got))
	for i, e := range got {
		out[len(got)-1-i] = e.(map[string]any)
	}
	return out
}

func countActions(events []map[string]any) map[string]int {
	n := map[string]int{}
	for _, e := range events {
		n[e["action"].(string)+"/"+e["outcome"].(string)]++
	}
	return n
}

func TestAuditTrail(t *testing.T) {
	dir, liteDir := t.TempDir(), t.TempDir()
	dbPath := filepath.Join(liteDir, "a.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t (v TEXT)")
	lite.Close()
	g := MustRun(t, dir, nil, "--sqlite-dir", liteDir)
	c := g.MustSetup(nil)
	const canary = "AUDIT-CANARY-5d1"
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "a", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT '" + canary + "' AS v"})
	c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELEC nonsense " + canary})
	c.must(200, "POST", "/api/datasources/"+id+"/test", nil)
	c.must(200, "PATCH", "/api/datasources/"+id, map[string]any{"read_only": true, "settings": map[string]any{"path": dbPath}})
	c.must(204, "DELETE", "/api/datasources/"+id, nil)

	events := auditEvents(t, c, "")
	n := countActions(events)
	for action, want := range map[string]int{"query/ok": 1, "query/query_failed": 1, "datasource.test/ok": 1,
		"datasource.create/ok": 1, "datasource.update/ok": 1, "datasource.delete/ok": 1} {
		if n[action] != want {
			t.Errorf("%s: %d events, want %d (all: %v)", action, n[action], want, n)
		}
	}
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), canary) {
		t.Fatalf("the query text is in the audit trail: %s", raw)
	}
	for _, e := range events {
		if e["action"] == "query" && e["outcome"] == "ok" {
			d := e["details"].(map[string]any)
			if d["rows"] != float64(1) || d["kind"] != "sqlite" || e["datasource_id"] != id || e["actor_name"] != "admin" {
				t.Errorf("query event: %v", e)
			}
		}
		if e["action"] == "datasource.update" {
			if f := e["details"].(map[string]any)["fields"]; len(f.([]any)) != 2 {
				t.Errorf("update fields: %v", f)
			}
		}
	}
	// Accounts: setup, logins, logout, users, tokens, groups, grants.
	c.must(201, "POST", "/api/users", map[string]any{"username": "ann", "password": "ann password 1", "role": "viewer"})
	ann := g.client(nil)
	ann.must(200, "POST", "/api/login", map[string]any{"username": "ann", "password": "ann password 1"})
	ann.do("POST", "/api/login", map[string]any{"username": "ann", "password": "wrong " + canary})
	ann.do("POST", "/api/login", map[string]any{"username": "no-such-" + canary, "password": "x"})
	ann.must(204, "POST", "/api/logout", nil)
	annID := c.must(200, "GET", "/api/users", nil)["users"].([]any)[1].(map[string]any)["id"].(string)
	c.must(200, "PATCH", "/api/users/"+annID, map[string]any{"role": "editor"})
	tok := c.must(201, "POST", "/api/tokens", map[string]any{"name": "t"})["id"].(string)
	c.must(204, "DELETE", "/api/tokens/"+tok, nil)
	grp := c.must(201, "POST", "/api/groups", map[string]any{"name": "g"})["id"].(string)
	c.must(200, "PUT", "/api/groups/"+grp+"/members", map[string]any{"user_ids": []string{annID}})
	c.must(204, "DELETE", "/api/users/"+annID, nil)
	var acc map[string]int
	for range 100 { // failed logins are recorded in the background
		acc = countActions(auditEvents(t, c, ""))
		if acc["login.failure/unauthorized"] == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for action, want := range map[string]int{"setup/ok": 1, "user.create/ok": 1, "login.success/ok": 1, "login.failure/unauthorized": 2,
		"logout/ok": 1, "user.update/ok": 1, "token.create/ok": 1, "token.delete/ok": 1, "group.create/ok": 1,
		"group.update/ok": 1, "user.delete/ok": 1} {
		if acc[action] != want {
			t.Errorf("%s: %d events, want %d (all: %v)", action, acc[action], want, acc)
		}
	}
	events = auditEvents(t, c, "")
	raw, _ = json.Marshal(events)
	if strings.Contains(string(raw), canary) {
		t.Fatalf("an attempted password or unknown user name is in the audit trail")
	}

	// Filters and paging.
	if q := auditEvents(t, c, "&action=datasource."); len(q) != 4 {
		t.Errorf("action prefix filter: %d events", len(q))
	}
	page := c.must(200, "GET", "/api/audit?limit=2", nil)
	if len(page["events"].([]any)) != 2 || page["next_before"] == nil {
		t.Fatalf("paging: %v", page)
	}
	if r := c.do("GET", "/api/audit?since=yesterday", nil); r.Status != 400 {
		t.Fatalf("bad since: %d", r.Status)
	}

	// The chain verifies, exports, and finds an edit.
	g.m.Close()
	v := MustRun(t, dir, nil, "audit", "verify")
	if !strings.Contains(v.logs.String(), "0 problems") {
		t.Fatalf("verify: %s", v.logs)
	}
	x := MustRun(t, dir, nil, "audit", "export")
	lines := strings.Split(strings.TrimSpace(x.logs.String()), "\n")
	var jsonLines int
	for _, l := range lines {
		if strings.HasPrefix(l, `{"seq":`) {
			jsonLines++
		}
	}
	if jsonLines < len(events) {
		t.Fatalf("export: %d JSON lines, want %d:\n%s", jsonLines, len(events), x.logs)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TRIGGER audit_events_no_update", "UPDATE audit_events SET outcome = 'ok' WHERE outcome = 'query_failed'"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if _, err := run(t, dir, nil, nil, "audit", "verify"); err == nil {
		t.Fatal("audit verify passed on an edited trail")
	}

	// With --audit-query-text the statement is recorded.
	dir2 := t.TempDir()
	g2 := MustRun(t, dir2, nil, "--sqlite-dir", liteDir, "--audit-query-text")
	c2 := g2.MustSetup(nil)
	os.WriteFile(filepath.Join(liteDir, "b.db"), nil, 0o600)
	id2 := c2.must(201, "POST", "/api/datasources", map[string]any{"name": "b", "kind": "sqlite", "settings": map[string]any{"path": filepath.Join(liteDir, "b.db")}})["id"].(string)
	c2.do("POST", "/api/datasources/"+id2+"/query", map[string]any{"query": "SELECT '" + canary + "'"})
	raw, _ = json.Marshal(auditEvents(t, c2, "&action=query"))
	if !strings.Contains(string(raw), canary) {
		t.Fatalf("--audit-query-text did not record the text: %s", raw)
	}
}

func TestLoginThrottle(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	g.MustSetup(nil)
	c := g.client(nil)
	for i := range 4 {
		if r := c.do("POST", "/api/login", map[string]any{"username": "admin", "password": "wrong"}); r.Status != 401 {
			t.Fatalf("failure %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Now even the right password waits, with the same answer for an
	// unknown account guessed just as often.
	r := c.do("POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	if r.Status != 429 || r.errorCode() != "too_many_requests" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled login: %d %v %s", r.Status, r.Header, r.Body)
	}
	time.Sleep(1100 * time.Millisecond)
	c.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
}

// auditEventsOf returns the audit events of one request, by its id.
func auditEventsOf(t *testing.T, c *client, r response) []map[string]any {
	t.Helper()
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatalf("no X-Request-Id: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, e := range auditEvents(t, c, "") {
		if e["request_id"] == id {
			out = append(out, e)
		}
	}
	return out
}

// deleteNewestSQLite deletes the newest n audit events straight from the
// store file, as a thief with the file (and not the master key) would.
func deleteNewestSQLite(t *testing.T, path string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_events_no_delete",
		fmt.Sprintf("DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) FROM audit_events) - %d", n)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestAuditVerifyFindsDeletedNewestEvents: deleting the newest events of
// the trail leaves a valid chain; audit verify still finds it, through
// the head record kept in the data directory, and names what is missing.
func TestAuditVerifyFindsDeletedNewestEvents(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	c := g.MustSetup(nil)
	for range 3 {
		tok := c.must(201, "POST", "/api/tokens", map[string]any{"name": "t"})["id"].(string)
		c.must(204, "DELETE", "/api/tokens/"+tok, nil)
	}
	last := len(auditEvents(t, c, ""))
	g.m.Close()

	v := MustRun(t, dir, nil, "audit", "verify")
	if out := v.logs.String(); !strings.Contains(out, "0 problems") || !strings.Contains(out, fmt.Sprintf("event %d is present and matches", last)) {
		t.Fatalf("verify of an untouched trail:\n%s", out)
	}
	deleteNewestSQLite(t, filepath.Join(dir, "querygate.db"), 2)
	v, err := run(t, dir, nil, nil, "audit", "verify")
	want := fmt.Sprintf("the newest 2 events (%d to %d) are missing", last-1, last)
	if err == nil || !strings.Contains(v.logs.String(), want) {
		t.Fatalf("verify after deleting the newest 2 events: %v, want %q in:\n%s", err, want, v.logs)
	}

	// The gateway keeps running on the shortened store: new events
	// continue after the lost ones, so verify still finds the loss.
	g = MustRun(t, dir, nil)
	c = g.client(nil)
	c.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	g.m.Close()
	v, err = run(t, dir, nil, nil, "audit", "verify")
	want = fmt.Sprintf("events %d to %d are missing", last-1, last)
	if err == nil || !strings.Contains(v.logs.String(), want) {
		t.Fatalf("verify after new events: %v, want %q in:\n%s", err, want, v.logs)
	}
}

// TestAuditVerifyFindsDeletedNewestEventsPostgres: the same on a
// PostgreSQL store shared by two replicas, each with its own data
// directory and head record. Verify given both replicas' records finds
// the deletion whichever replica wrote the deleted events; one replica's
// record anchors only the events up to the newest that replica wrote (the
// documented limit).
func TestAuditVerifyFindsDeletedNewestEventsPostgres(t *testing.T) {
	store := testenv.PostgresDatabase(t, "qg_audit")
	key := filepath.Join(t.TempDir(), "master.key")
	dirA, dirB := t.TempDir(), t.TempDir()
	common := []string{"--database-url", store.String(), "--master-key-file", key}
	a := MustRun(t, dirA, nil, common...)
	ca := a.MustSetup(nil)
	ca.must(201, "POST", "/api/tokens", map[string]any{"name": "a"})
	b := MustRun(t, dirB, nil, common...)
	cb := b.client(nil)
	cb.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	cb.must(201, "POST", "/api/tokens", map[string]any{"name": "b1"})
	cb.must(201, "POST", "/api/tokens", map[string]any{"name": "b2"})
	last := len(auditEvents(t, cb, ""))
	a.m.Close()
	b.m.Close()

	verify := func(dir string, heads ...string) (string, error) {
		args := append([]string{"audit", "verify"}, common...)
		for _, h := range heads {
			args = append(args, "--head", filepath.Join(h, "audit.head"))
		}
		v, err := run(t, dir, nil, nil, args...)
		return v.logs.String(), err
	}
	if out, err := verify(dirA, dirA, dirB); err != nil || !strings.Contains(out, "0 problems") {
		t.Fatalf("verify of an untouched trail: %v\n%s", err, out)
	}
	conn, err := pgx.Connect(t.Context(), store.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ALTER TABLE audit_events DISABLE TRIGGER USER",
		"DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) FROM audit_events) - 2"} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(t.Context())

	want := fmt.Sprintf("the newest 2 events (%d to %d) are missing", last-1, last)
	for _, heads := range [][]string{{dirA, dirB}, {dirB}} {
		if out, err := verify(dirA, heads...); err == nil || !strings.Contains(out, want) {
			t.Errorf("verify with the head records of %v: %v, want %q in:\n%s", heads, err, want, out)
		}
	}
	// B's own data dir holds B's record: verify there needs no --head.
	if out, err := verify(dirB); err == nil || !strings.Contains(out, want) {
		t.Errorf("verify in B's data dir: %v\n%s", err, out)
	}
	// The limit: A's record alone anchors only what A wrote.
	if out, err := verify(dirA); err != nil {
		t.Errorf("A's record alone was expected not to see B's events (the documented limit): %v\n%s", err, out)
	}
}

// TestAuditRefusals: every refused request on a datasource leaves exactly
// one audit event, with the action, the actor, the datasource and the
// error code as outcome, and never the request's text.
func TestAuditRefusals(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer up.Close()
	dir, liteDir := t.TempDir(), t.TempDir()
	dbPath := filepath.Join(liteDir, "a.db")
	os.WriteFile(dbPath, nil, 0o600)
	g := MustRun(t, dir, nil, "--sqlite-dir", liteDir)
	c := g.MustSetup(nil)
	lite := c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	api := c.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http",
		"settings": map[string]any{"base_url": up.URL + "/"}})["id"].(string)
	dev := c.must(201, "POST", "/api/datasources", map[string]any{"name": "dev", "kind": "postgres", "custody": "device",
		"settings": map[string]any{"host": "127.0.0.1", "port": 5432, "database": "x", "user": "x", "sslmode": "disable"}})["id"].(string)
	c.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "viewer"})
	g.m.Close()

	// Loopback is now denied: the HTTP datasource's test is refused by
	// the egress policy.
	g = MustRun(t, dir, nil, "--sqlite-dir", liteDir, "--egress-deny", "127.0.0.0/8")
	admin := g.client(nil)
	admin.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	vic := g.client(nil)
	vic.must(200, "POST", "/api/login", map[string]any{"username": "vic", "password": "vic password 1"})

	const canary = "REFUSAL-CANARY-7c2"
	q := map[string]any{"query": "SELECT '" + canary + "'"}
	huge := `{"query":"SELECT '` + canary + strings.Repeat("x", 1<<20) + `'"}`
	for _, tc := range []struct {
		name         string
		c            *client
		method, path string
		body         any
		action, code string
		actor, dsID  string
		status       int
	}{
		{"viewer without grant", vic, "POST", "/api/datasources/" + lite + "/query", q, "query", "not_found", "vic", lite, 404},
		{"viewer without grant, test", vic, "POST", "/api/datasources/" + lite + "/test", nil, "datasource.test", "not_found", "vic", lite, 404},
		{"viewer creates", vic, "POST", "/api/datasources", map[string]any{"name": canary, "kind": "sqlite", "settings": map[string]any{"path": dbPath}},
			"datasource.create", "forbidden", "vic", "", 403},
		{"invalid body", admin, "POST", "/api/datasources/" + lite + "/query", "not json " + canary, "query", "invalid", "admin", lite, 400},
		{"unknown field", admin, "POST", "/api/datasources/" + lite + "/query", map[string]any{"query": canary, "nope": 1}, "query", "invalid", "admin", lite, 400},
		{"device locked", admin, "POST", "/api/datasources/" + dev + "/query", q, "query", "device_locked", "admin", dev, 403},
		{"egress denied", admin, "POST", "/api/datasources/" + api + "/test", nil, "datasource.test", "egress_denied", "admin", api, 403},
		{"too large", admin, "POST", "/api/datasources/" + lite + "/query", huge, "query", "too_large", "admin", lite, 413},
		{"no such datasource", admin, "POST", "/api/datasources/nope/query", q, "query", "not_found", "admin", "nope", 404},
		{"long id", admin, "POST", "/api/datasources/" + strings.Repeat("z", 300) + "/query", q, "query", "not_found", "admin", strings.Repeat("z", 64), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
			events := auditEventsOf(t, admin, r)
			if len(events) != 1 {
				t.Fatalf("%d audit events for the request, want 1: %v", len(events), events)
			}
			e := events[0]
			if e["action"] != tc.action || e["outcome"] != tc.code || e["actor_name"] != tc.actor || (e["datasource_id"] != nil || tc.dsID != "") && e["datasource_id"] != tc.dsID {
				t.Errorf("event %v, want action %s, outcome %s, actor %s, datasource %q", e, tc.action, tc.code, tc.actor, tc.dsID)
			}
			if raw, _ := json.Marshal(e); strings.Contains(string(raw), canary) {
				t.Errorf("the request's text is in the audit event: %s", raw)
			}
		})
	}
	// A success is still one event.
	r := admin.do("POST", "/api/datasources/"+lite+"/query", map[string]any{"query": "SELECT 1"})
	if events := auditEventsOf(t, admin, r); r.Status != 200 || len(events) != 1 || events[0]["outcome"] != "ok" {
		t.Fatalf("a query: %d, events %v", r.Status, events)
	}
	// The refusals are part of the chain like every other event.
	g.m.Close()
	if v := MustRun(t, dir, nil, "audit", "verify"); !strings.Contains(v.logs.String(), "0 problems") {
		t.Fatalf("verify: %s", v.logs)
	}
}
