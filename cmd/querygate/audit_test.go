package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
