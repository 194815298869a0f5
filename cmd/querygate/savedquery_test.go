package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sqlInjections are values that would break a statement if pasted into it.
var sqlInjections = []string{
	"'; DROP TABLE sqt; --", `" OR "1"="1`, "1; DELETE FROM sqt", "x' OR '1'='1", "/* */ -- ", "\\'; DROP TABLE sqt; --",
	"Robert'); DROP TABLE sqt;--", "`sqt`", "$1 ? :s", "ü'ñ\u2028ç\U0001F600", "a\r\nb",
}

// resultRows returns the rows of a streamed answer, each value as JSON text.
func resultRows(t *testing.T, r response) [][]string {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("run: got %d %s", r.Status, r.Body)
	}
	var out [][]string
	for _, l := range ndjson(t, r.Body) {
		if e, ok := l["error"]; ok {
			t.Fatalf("stream error: %s", e)
		}
		raw, ok := l["row"]
		if !ok {
			continue
		}
		var row []json.RawMessage
		json.Unmarshal(raw, &row)
		var s []string
		for _, v := range row {
			s = append(s, string(v))
		}
		out = append(out, s)
	}
	return out
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkSQLBinding proves, on a real datasource, that values are bound:
// each injection string comes back as data and the table is intact.
func checkSQLBinding(t *testing.T, c *client, ds, table string) {
	t.Helper()
	c.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "insert",
		"query": "INSERT INTO " + table + " (v) VALUES (:s)", "parameters": []any{map[string]any{"name": "s", "type": "text", "required": true}}})
	echo := c.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "echo",
		"query":      "SELECT :s AS s, :n AS n, (SELECT COUNT(*) FROM " + table + " WHERE v = :s) AS found /* :s is bound */ -- ':s'",
		"parameters": []any{map[string]any{"name": "s", "type": "text"}, map[string]any{"name": "n", "type": "int", "min": 0}}})["id"].(string)
	ins := c.must(200, "GET", "/api/queries?datasource_id="+ds, nil)["queries"].([]any)
	var insID string
	for _, q := range ins {
		if q.(map[string]any)["name"] == "insert" {
			insID = q.(map[string]any)["id"].(string)
		}
	}
	for _, s := range sqlInjections {
		resultRows(t, c.do("POST", "/api/queries/"+insID+"/run", map[string]any{"params": map[string]any{"s": s}}))
		rows := resultRows(t, c.do("POST", "/api/queries/"+echo+"/run", map[string]any{"params": map[string]any{"s": s, "n": 42}}))
		if len(rows) != 1 || rows[0][0] != jsonString(s) || !strings.Contains(rows[0][1], "42") || !strings.Contains(rows[0][2], "1") {
			t.Errorf("%q came back as %v", s, rows)
		}
	}
	// The table is intact and holds every value once.
	rows := resultRows(t, c.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT COUNT(*) FROM " + table}))
	if len(rows) != 1 || !strings.Contains(rows[0][0], fmt.Sprint(len(sqlInjections))) {
		t.Errorf("table after the injections: %v", rows)
	}
	// Wrong type, out of range, NUL: 400 naming the parameter, nothing runs.
	for _, p := range []map[string]any{{"s": "x", "n": "42"}, {"s": "x", "n": -1}, {"s": "a\x00b"}, {"s": 5}, {"s": "x", "other": 1}} {
		r := c.do("POST", "/api/queries/"+echo+"/run", map[string]any{"params": p})
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"params`) {
			t.Errorf("params %v: got %d %s", p, r.Status, r.Body)
		}
	}
	r := c.do("POST", "/api/queries/"+insID+"/run", map[string]any{"params": map[string]any{}})
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"params.s"`) {
		t.Errorf("missing required: got %d %s", r.Status, r.Body)
	}
	rows = resultRows(t, c.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT COUNT(*) FROM " + table}))
	if !strings.Contains(rows[0][0], fmt.Sprint(len(sqlInjections))) {
		t.Errorf("a refused run changed the table: %v", rows)
	}
}

func TestSavedQueriesSQLite(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec("CREATE TABLE sqt (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	g, admin := queryGateway(t, dir)
	ds := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	checkSQLBinding(t, admin, ds, "sqt")

	// A run grantee runs saved queries, and reaches no ad-hoc path.
	admin.must(201, "POST", "/api/users", map[string]any{"username": "runner", "password": "runner password 1", "role": "viewer"})
	runner := g.client(nil)
	runnerID := runner.must(200, "POST", "/api/login", map[string]any{"username": "runner", "password": "runner password 1"})
	_ = runnerID
	me := runner.must(200, "GET", "/api/me", nil)["id"].(string)
	admin.must(200, "PUT", "/api/datasources/"+ds+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": me, "level": "run"}}})
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "by value", "description": "rows by value",
		"query": "SELECT v FROM sqt WHERE v = :v", "parameters": []any{map[string]any{"name": "v", "type": "enum", "values": []string{"x' OR '1'='1", "none"}}}})
	qid := q["id"].(string)
	rows := resultRows(t, runner.do("POST", "/api/queries/"+qid+"/run", map[string]any{"params": map[string]any{"v": "x' OR '1'='1"}}))
	if len(rows) != 1 || rows[0][0] != jsonString("x' OR '1'='1") {
		t.Errorf("runner: %v", rows)
	}
	for _, path := range []string{"/api/datasources/" + ds + "/query", "/api/datasources/" + ds + "/test"} {
		if r := runner.do("POST", path, map[string]any{"query": "SELECT 1"}); r.Status != 403 {
			t.Errorf("run grantee on %s: got %d, want 403", path, r.Status)
		}
	}
	if r := runner.do("PATCH", "/api/queries/"+qid, map[string]any{"description": "x"}); r.Status != 403 {
		t.Errorf("run grantee changes a query: %d", r.Status)
	}
	if r := runner.do("POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "mine", "query": "SELECT 1"}); r.Status != 403 {
		t.Errorf("run grantee creates a query: %d", r.Status)
	}

	// Versions: editing makes a new one; the old one stays readable and
	// runnable by number.
	v2 := admin.must(200, "PATCH", "/api/queries/"+qid, map[string]any{"query": "SELECT v, 2 AS version FROM sqt WHERE v = :v"})
	if v2["version"] != 2.0 || v2["current_version"] != 2.0 || v2["description"] != "rows by value" || len(v2["parameters"].([]any)) != 1 {
		t.Fatalf("after PATCH: %v", v2)
	}
	vs := admin.must(200, "GET", "/api/queries/"+qid+"/versions", nil)["versions"].([]any)
	if len(vs) != 2 || vs[0].(map[string]any)["query"] != "SELECT v FROM sqt WHERE v = :v" || vs[1].(map[string]any)["version"] != 2.0 {
		t.Fatalf("versions: %v", vs)
	}
	if old := admin.must(200, "GET", "/api/queries/"+qid+"?version=1", nil); old["query"] != "SELECT v FROM sqt WHERE v = :v" {
		t.Fatalf("version 1: %v", old)
	}
	rows = resultRows(t, runner.do("POST", "/api/queries/"+qid+"/run", map[string]any{"params": map[string]any{"v": "none"}, "version": 1}))
	rows2 := resultRows(t, runner.do("POST", "/api/queries/"+qid+"/run", map[string]any{"params": map[string]any{"v": "x' OR '1'='1"}}))
	if len(rows) != 0 || len(rows2) != 1 || len(rows2[0]) != 2 {
		t.Errorf("runs by version: %v %v", rows, rows2)
	}
	if r := runner.do("POST", "/api/queries/"+qid+"/run", map[string]any{"version": 9}); r.Status != 400 {
		t.Errorf("unknown version: %d", r.Status)
	}
	// A bad edit changes nothing.
	if r := admin.do("PATCH", "/api/queries/"+qid, map[string]any{"query": "SELECT :undeclared"}); r.Status != 400 {
		t.Errorf("bad edit: %d %s", r.Status, r.Body)
	}
	if n := len(admin.must(200, "GET", "/api/queries/"+qid+"/versions", nil)["versions"].([]any)); n != 2 {
		t.Errorf("versions after a bad edit: %d", n)
	}

	// Audit: one event per run naming the query and version, never the
	// text or a value.
	events := auditEvents(t, admin, "&action=savedquery.run")
	var runs int
	for _, e := range events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), "SELECT") || strings.Contains(string(b), "DROP") || strings.Contains(string(b), "OR '1'") {
			t.Errorf("audit event holds query text or a value: %s", b)
		}
		d, _ := e["details"].(map[string]any)
		if e["target"] == qid && e["outcome"] == "ok" {
			runs++
			if d["saved_query"] != qid || (d["version"] != 1.0 && d["version"] != 2.0) {
				t.Errorf("run event: %s", b)
			}
		}
	}
	if runs != 3 {
		t.Errorf("run events for %s: got %d, want 3", qid, runs)
	}

	// Export and import: a round trip into another datasource, then
	// conflicts by name.
	other := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "lite2", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	exp := admin.do("GET", "/api/queries/export?datasource_id="+ds, nil)
	if exp.Status != 200 || strings.Contains(string(exp.Body), dbPath) || strings.Contains(string(exp.Body), ds) {
		t.Fatalf("export: %d %s", exp.Status, exp.Body)
	}
	var file map[string]any
	json.Unmarshal(exp.Body, &file)
	if len(file["queries"].([]any)) != 3 || file["datasource"].(map[string]any)["kind"] != "sqlite" {
		t.Fatalf("export: %s", exp.Body)
	}
	file["datasource_id"] = other
	res := admin.must(200, "POST", "/api/queries/import", file)
	if len(res["created"].([]any)) != 3 || len(res["conflicts"].([]any)) != 0 {
		t.Fatalf("import: %v", res)
	}
	exp2 := admin.do("GET", "/api/queries/export?datasource_id="+other, nil)
	var file2 map[string]any
	json.Unmarshal(exp2.Body, &file2)
	a, _ := json.Marshal(file["queries"])
	b, _ := json.Marshal(file2["queries"])
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	res = admin.must(200, "POST", "/api/queries/import", file)
	if len(res["created"].([]any)) != 0 || len(res["conflicts"].([]any)) != 3 {
		t.Fatalf("import again: %v", res)
	}
	// Into a datasource named in the file, replacing: new versions.
	delete(file, "datasource_id")
	file["replace"] = true
	res = admin.must(200, "POST", "/api/queries/import", file)
	if len(res["updated"].([]any)) != 3 {
		t.Fatalf("import with replace: %v", res)
	}
	// A bad query imports nothing, and the error names it.
	bad := map[string]any{"datasource_id": other, "queries": []any{
		map[string]any{"name": "fine", "query": "SELECT 1", "parameters": []any{}},
		map[string]any{"name": "bad", "query": "SELECT :x", "parameters": []any{}}}}
	if r := admin.do("POST", "/api/queries/import", bad); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"queries[1].query"`) {
		t.Errorf("bad import: %d %s", r.Status, r.Body)
	}
	if n := len(admin.must(200, "GET", "/api/queries?datasource_id="+other, nil)["queries"].([]any)); n != 3 {
		t.Errorf("queries after a bad import: %d", n)
	}

	// Deleting the query; it is gone, and so for the runner.
	admin.must(204, "DELETE", "/api/queries/"+qid, nil)
	if r := runner.do("POST", "/api/queries/"+qid+"/run", map[string]any{}); r.Status != 404 {
		t.Errorf("run after delete: %d", r.Status)
	}
	// A runner without a grant sees no query.
	admin.must(200, "PUT", "/api/datasources/"+ds+"/grants", map[string]any{"grants": []any{}})
	if n := len(runner.must(200, "GET", "/api/queries", nil)["queries"].([]any)); n != 0 {
		t.Errorf("ungranted runner lists %d queries", n)
	}
}

func TestSavedQueriesPostgres(t *testing.T) {
	_, admin := queryGateway(t, t.TempDir())
	ds := postgresSource(t, admin, "pg", false)
	table := fmt.Sprintf("sqt_%d", time.Now().UnixNano())
	resultRows(t, admin.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "CREATE TABLE " + table + " (v text)"}))
	t.Cleanup(func() {
		admin.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "DROP TABLE " + table})
	})
	checkSQLBinding(t, admin, ds, table)
	// Typed parameters bind to their types: casts, dollar quotes and
	// timestamps.
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "typed",
		"query": "SELECT :d::date + 1 AS d, :ts::timestamptz AT TIME ZONE 'UTC' AS ts, :id::uuid AS id, $$ :not_a_param $$ AS lit",
		"parameters": []any{map[string]any{"name": "d", "type": "date"}, map[string]any{"name": "ts", "type": "timestamp"},
			map[string]any{"name": "id", "type": "uuid"}}})["id"].(string)
	rows := resultRows(t, admin.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": map[string]any{
		"d": "2024-02-28", "ts": "2024-01-31T12:00:00+01:00", "id": "123E4567-E89B-12D3-A456-426614174000"}}))
	if len(rows) != 1 || !strings.Contains(rows[0][0], "2024-02-29") || !strings.Contains(rows[0][1], "11:00:00") ||
		rows[0][2] != `"123e4567-e89b-12d3-a456-426614174000"` || rows[0][3] != `" :not_a_param "` {
		t.Errorf("typed: %v", rows)
	}
}

func TestSavedQueriesMySQL(t *testing.T) {
	_, admin := queryGateway(t, t.TempDir())
	ds := mysqlSource(t, admin, "my", false)
	table := fmt.Sprintf("sqt_%d", time.Now().UnixNano())
	resultRows(t, admin.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "CREATE TABLE " + table + " (v TEXT) CHARACTER SET utf8mb4"}))
	t.Cleanup(func() {
		admin.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "DROP TABLE " + table})
	})
	checkSQLBinding(t, admin, ds, table)
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "typed",
		"query":      "SELECT CAST(:ts AS DATETIME) AS ts, 'it\\'s :no' AS lit, :b AS b",
		"parameters": []any{map[string]any{"name": "ts", "type": "timestamp"}, map[string]any{"name": "b", "type": "bool"}}})["id"].(string)
	rows := resultRows(t, admin.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": map[string]any{"ts": "2024-01-31T12:00:00+01:00", "b": true}}))
	if len(rows) != 1 || !strings.Contains(rows[0][0], "2024-01-31") || !strings.Contains(rows[0][0], "11:00:00") || rows[0][1] != `"it's :no"` || rows[0][2] != "1" {
		t.Errorf("typed: %v", rows)
	}
}

func TestSavedQueriesHTTP(t *testing.T) {
	up := newHTTPUpstream(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	ds := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http",
		"settings": map[string]any{"base_url": up.URL + "/v1/"}})["id"].(string)
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "item",
		"request": map[string]any{"method": "POST", "path": "/items/{{id}}/detail", "query": map[string]any{"q": "{{q}}", "fixed": "1"},
			"headers": map[string]string{"X-Tag": "{{tag}}"}, "body": map[string]any{"name": "{{q}}", "n": "{{n}}", "flag": "{{flag}}"}},
		"parameters": []any{map[string]any{"name": "id", "type": "text"}, map[string]any{"name": "q", "type": "text"},
			map[string]any{"name": "tag", "type": "text"}, map[string]any{"name": "n", "type": "int"}, map[string]any{"name": "flag", "type": "bool"}}})["id"].(string)
	run := func(p map[string]any) response {
		return admin.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": p})
	}
	type echo struct {
		Method, Path, Query, Body string
		Headers                   map[string][]string
	}
	seen := func(r response) echo {
		rows := resultRows(t, r)
		var s string
		var e echo
		if len(rows) != 1 {
			t.Fatalf("rows %v", rows)
		}
		if err := json.Unmarshal([]byte(rows[0][3]), &e); err != nil {
			json.Unmarshal([]byte(rows[0][3]), &s)
			t.Fatalf("body %v", rows[0][3])
		}
		return e
	}
	// JSON-breaking and query-breaking characters stay values.
	for _, s := range []string{`"},"admin":true,"x":{"`, "a&admin=1", "a=b#frag", "\\u0000", "</script>", "ü\U0001F600"} {
		e := seen(run(map[string]any{"id": "a b", "q": s, "tag": "t", "n": 5, "flag": false}))
		var body map[string]any
		if err := json.Unmarshal([]byte(e.Body), &body); err != nil || body["name"] != s || body["n"] != 5.0 || body["flag"] != false || len(body) != 3 {
			t.Errorf("body for %q: %s", s, e.Body)
		}
		if e.Path != "/v1/items/a b/detail" || e.Method != "POST" || e.Headers["X-Tag"][0] != "t" {
			t.Errorf("upstream saw %+v", e)
		}
		if !strings.Contains(e.Query, "fixed=1") || strings.Count(e.Query, "&") != 1 {
			t.Errorf("query for %q: %s", s, e.Query)
		}
	}
	// Path values that could leave their segment, header values that
	// could split a header: refused before anything is sent.
	before := len(up.seen)
	for _, tc := range []struct {
		p     map[string]any
		field string
	}{
		{map[string]any{"id": "../admin"}, "params.id"}, {map[string]any{"id": ".."}, "params.id"}, {map[string]any{"id": "%2f"}, "params.id"},
		{map[string]any{"id": "..%2f"}, "params.id"}, {map[string]any{"id": "a/b"}, "params.id"}, {map[string]any{"id": "."}, "params.id"},
		{map[string]any{"id": "x", "tag": "a\r\nX-Injected: 1"}, "params.tag"}, {map[string]any{"id": "x", "tag": "a\nb"}, "params.tag"},
		{map[string]any{"id": "x", "n": "5"}, "params.n"}, {map[string]any{}, "params.id"},
	} {
		r := run(tc.p)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("%v: got %d %s, want 400 on %s", tc.p, r.Status, r.Body, tc.field)
		}
	}
	up.mu.Lock()
	after := len(up.seen)
	up.mu.Unlock()
	if after != before {
		t.Errorf("refused runs reached the upstream: %d requests", after-before)
	}
}

// TestSavedQueriesRedis runs a Redis command template: a parameter is one
// argument whatever it holds (spaces, CR/LF, a second command), the command
// name is fixed, and a read-only datasource still refuses a write template.
func TestSavedQueriesRedis(t *testing.T) {
	_, admin := queryGateway(t, t.TempDir())
	ds := redisSource(t, admin, "cache", false, nil, nil)
	key := fmt.Sprintf("qg:sq:%d", time.Now().UnixNano())
	set := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "set",
		"command": []string{"SET", "{{key}}", "{{value}}"}, "parameters": []any{
			map[string]any{"name": "key", "type": "text", "required": true, "pattern": "qg:sq:[0-9]+.*"},
			map[string]any{"name": "value", "type": "text", "required": true}}})["id"].(string)
	get := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "get",
		"command": []string{"GET", "{{key}}"}, "parameters": []any{map[string]any{"name": "key", "type": "text", "required": true}}})["id"].(string)
	t.Cleanup(func() {
		admin.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"command": []string{"DEL", key, key + " FLUSHALL"}})
	})
	for _, v := range []string{"plain", "two words", "x\r\nFLUSHALL\r\n", "*1\r\n$8\r\nFLUSHALL\r\n", "ü'\"`$"} {
		resultRows(t, admin.do("POST", "/api/queries/"+set+"/run", map[string]any{"params": map[string]any{"key": key, "value": v}}))
		rows := resultRows(t, admin.do("POST", "/api/queries/"+get+"/run", map[string]any{"params": map[string]any{"key": key}}))
		if len(rows) != 1 || !strings.Contains(strings.Join(rows[0], " "), jsonString(v)) {
			t.Errorf("%q came back as %v", v, rows)
		}
	}
	// A key with a space is one argument too, and the pattern is enforced.
	resultRows(t, admin.do("POST", "/api/queries/"+set+"/run", map[string]any{"params": map[string]any{"key": key + " FLUSHALL", "value": "v"}}))
	if r := admin.do("POST", "/api/queries/"+set+"/run", map[string]any{"params": map[string]any{"key": "other", "value": "v"}}); r.Status != 400 ||
		!strings.Contains(string(r.Body), `"field":"params.key"`) {
		t.Errorf("pattern: got %d %s", r.Status, r.Body)
	}
	// The command name cannot be a parameter.
	if r := admin.do("POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "any",
		"command": []string{"{{cmd}}", "x"}, "parameters": []any{map[string]any{"name": "cmd", "type": "text"}}}); r.Status != 400 {
		t.Errorf("a parameter as the command name: got %d %s", r.Status, r.Body)
	}
	// A read-only datasource refuses a write template when it runs.
	ro := redisSource(t, admin, "cache-ro", true, nil, nil)
	w := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ro, "name": "set",
		"command": []string{"SET", "{{key}}", "v"}, "parameters": []any{map[string]any{"name": "key", "type": "text", "required": true}}})["id"].(string)
	r := admin.do("POST", "/api/queries/"+w+"/run", map[string]any{"params": map[string]any{"key": key}})
	if r.Status == 200 && !strings.Contains(string(r.Body), `"error"`) {
		t.Errorf("a write on a read-only Redis datasource ran: %s", r.Body)
	}
}

// TestSavedQueriesDeviceCustody runs a saved query on a device-custody
// datasource: locked on a device that has not unlocked it (for a run
// grantee too), then run once this device holds its key.
func TestSavedQueriesDeviceCustody(t *testing.T) {
	user, password := deviceUser(t)
	g, admin := queryGateway(t, t.TempDir())
	ds := deviceSource(t, admin, "ledger", user)
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": "n",
		"query": "SELECT :n + 1 AS next", "parameters": []any{map[string]any{"name": "n", "type": "int", "required": true}}})["id"].(string)
	viewer := admin.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "viewer"})["id"].(string)
	admin.must(200, "PUT", "/api/datasources/"+ds+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": viewer, "level": "run"}}})
	vic := g.login("vic", "vic password 1")

	for _, c := range []*client{admin, vic} {
		if r := c.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": map[string]any{"n": 1}}); r.errorCode() != "device_locked" {
			t.Fatalf("locked: got %d %s", r.Status, r.Body)
		}
		c.must(200, "POST", "/api/datasources/"+ds+"/unlock", map[string]any{"password": password})
		rows := resultRows(t, c.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": map[string]any{"n": 41}}))
		if len(rows) != 1 || rows[0][0] != "42" {
			t.Fatalf("device-custody saved query: %v", rows)
		}
	}
	// The run grantee still has no ad-hoc path, unlocked or not.
	if r := vic.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT 1"}); r.Status != 403 && r.Status != 404 {
		t.Fatalf("ad-hoc query by a run grantee: %d", r.Status)
	}
}
