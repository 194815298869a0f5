package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
	_ "modernc.org/sqlite"
)

// logLines returns the gateway's JSON log lines for which keep is true,
// each as written and parsed.
func logLines(t testing.TB, g *gateway, keep func(map[string]any) bool) (raw []string, parsed []map[string]any) {
	t.Helper()
	for _, l := range strings.Split(g.logs.String(), "\n") {
		var m map[string]any
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		if keep(m) {
			raw, parsed = append(raw, l), append(parsed, m)
		}
	}
	return raw, parsed
}

// queryFields are the query's metadata that its log line carries.
var queryFields = []string{"user_id", "datasource_id", "kind", "action", "target", "rows", "truncated", "bytes", "elapsed_ms", "outcome"}

// TestQueryLogLine: a query over the HTTP API is one log line besides its
// audit line: the request's (route, status, duration), with the query's
// metadata (rows, bytes, outcome) on it, each field once. An MCP tool
// call's query is logged once too, whole. No line holds the statement.
func TestQueryLogLine(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		dir := t.TempDir()
		dbPath := filepath.Join(dir, "app.db")
		lite, err := sql.Open("sqlite", dbPath)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lite.Exec(`CREATE TABLE t (id INTEGER)`); err != nil {
			t.Fatal(err)
		}
		lite.Close()
		g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", dir, "--log-format", "json")
		c := g.MustSetup(nil)
		ds := c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
		for _, tc := range []struct {
			statement, outcome string
			status             float64
			rows               float64
		}{
			{"SELECT 41 + 1 AS log_marker_col", "ok", 200, 1},
			{"SELECT * FROM log_marker_missing", "query_failed", 400, 0},
		} {
			r := c.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": tc.statement})
			id := r.Header.Get("X-Request-Id")
			if r.Status != int(tc.status) || id == "" {
				t.Fatalf("%s: %d %s", tc.statement, r.Status, r.Body)
			}
			mine := func(m map[string]any) bool { return m["request_id"] == id }
			// The line is written once the handler returns, which may be
			// just after the client has read the answer.
			testenv.WaitFor(t, 5*time.Second, "the request's log line", func() bool {
				_, p := logLines(t, g, func(m map[string]any) bool { return mine(m) && m["msg"] == "request" })
				return len(p) > 0
			})
			raw, lines := logLines(t, g, func(m map[string]any) bool { return mine(m) && m["msg"] != "audit" })
			if len(lines) != 1 {
				t.Fatalf("%s: %d log lines, want one:\n%s", tc.statement, len(lines), strings.Join(raw, "\n"))
			}
			l := lines[0]
			if l["msg"] != "request" || l["route"] != "POST /api/datasources/{id}/query" || l["status"] != tc.status || l["duration_ms"] == nil ||
				l["rows"] != tc.rows || l["outcome"] != tc.outcome || l["kind"] != "sqlite" || l["datasource_id"] != ds || l["action"] != "query" {
				t.Errorf("%s: the log line: %s", tc.statement, raw[0])
			}
			for _, f := range append([]string{"request_id", "status"}, queryFields...) {
				if n := strings.Count(raw[0], `"`+f+`":`); n != 1 {
					t.Errorf("%s: %q %d times in %s", tc.statement, f, n, raw[0])
				}
			}
		}
		if strings.Contains(g.logs.String(), "log_marker") {
			t.Errorf("the log holds a statement:\n%s", g.logs)
		}
	})

	t.Run("mcp", func(t *testing.T) {
		f := newMCPFixture(t, "--log-format", "json")
		cs, _ := mcpSession(t, f.g, f.adminTok)
		if a, isErr := callTool(t, cs, "run_sql", map[string]any{"datasource": f.ro, "sql": "SELECT 7 AS log_marker_mcp"}); isErr || a.RowCount != 1 {
			t.Fatalf("run_sql: %v %+v", isErr, a)
		}
		// On the request's line or on its own: once, whole.
		var raw []string
		testenv.WaitFor(t, 5*time.Second, "the MCP query's log line", func() bool {
			raw, _ = logLines(t, f.g, func(m map[string]any) bool {
				return m["msg"] != "audit" && m["datasource_id"] == f.ro && m["outcome"] == "ok" && m["rows"] == 1.0
			})
			return len(raw) > 0
		})
		if len(raw) != 1 {
			t.Fatalf("%d lines of the query, want one:\n%s", len(raw), strings.Join(raw, "\n"))
		}
		for _, fl := range append([]string{"request_id"}, queryFields...) {
			if n := strings.Count(raw[0], `"`+fl+`":`); n != 1 {
				t.Errorf("%q %d times in %s", fl, n, raw[0])
			}
		}
		if strings.Contains(f.g.logs.String(), "log_marker") {
			t.Errorf("the log holds a statement")
		}
	})
}
