package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
	_ "modernc.org/sqlite"
)

// ndjson splits a streamed answer into its lines.
func ndjson(t testing.TB, body []byte) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not an NDJSON line: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// queryGateway starts a gateway allowed to open SQLite files in sqliteDir
// and returns it with a logged-in admin.
func queryGateway(t *testing.T, sqliteDir string) (*gateway, *client) {
	t.Helper()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", sqliteDir)
	return g, g.MustSetup(nil)
}

func postgresSource(t *testing.T, c *client, name string, readOnly bool) string {
	t.Helper()
	u := testenv.PostgresURL(t)
	port := portOr(t, u.Port(), 5432)
	user := u.User.Username()
	if readOnly {
		// The test server's own user is a superuser, which a read-only
		// datasource refuses.
		user = testenv.PostgresReadOnlyUser(t)
	}
	d := c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "postgres", "read_only": readOnly,
		"settings": map[string]any{"host": u.Hostname(), "port": port, "database": strings.TrimPrefix(u.Path, "/"),
			"user": user, "sslmode": "disable"},
		"secrets": map[string]any{"password": "pg-canary-password"}})
	return d["id"].(string)
}

func mysqlSource(t *testing.T, c *client, name string, readOnly bool) string {
	t.Helper()
	m := testenv.MySQLDSN(t)
	port := portOr(t, m.Port, 3306)
	user := m.User
	if readOnly {
		// The test server's root holds global privileges, which a
		// read-only datasource refuses.
		user = testenv.MySQLReadOnlyUser(t)
	}
	body := map[string]any{"name": name, "kind": "mysql", "read_only": readOnly,
		"settings": map[string]any{"host": m.Host, "port": port, "database": m.Database, "user": user, "tls": "disable"}}
	if m.Password != "" && !readOnly {
		body["secrets"] = map[string]any{"password": m.Password}
	}
	return c.must(201, "POST", "/api/datasources", body)["id"].(string)
}

func TestQueryEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec(`CREATE TABLE t (id INTEGER, name TEXT, score REAL); INSERT INTO t VALUES (1, 'a', 1.5), (2, 'b', NULL), (3, 'c', 3.25)`); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	g, c := queryGateway(t, dir)
	sq := c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	sqRO := c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite-ro", "kind": "sqlite", "read_only": true, "settings": map[string]any{"path": dbPath}})["id"].(string)

	t.Run("ndjson", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+sq+"/query", map[string]any{"query": "SELECT id, name, score FROM t WHERE id >= ? ORDER BY id", "params": []any{2}})
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" || r.Header.Get("Cache-Control") != "no-store" ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("got %d %v: %s", r.Status, r.Header, r.Body)
		}
		l := ndjson(t, r.Body)
		if len(l) != 4 || string(l[1]["row"]) != `[2,"b",null]` || string(l[2]["row"]) != `[3,"c",3.25]` {
			t.Fatalf("got %s", r.Body)
		}
		if !strings.Contains(string(l[3]["done"]), `"rows":2,"truncated":false`) {
			t.Fatalf("done: %s", l[3]["done"])
		}
	})
	t.Run("limit", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+sq+"/query", map[string]any{"query": "SELECT id FROM t ORDER BY id", "limit": 2})
		l := ndjson(t, r.Body)
		if len(l) != 4 || !strings.Contains(string(l[3]["done"]), `"rows":2,"truncated":true`) {
			t.Fatalf("got %s", r.Body)
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+sq+"/query", map[string]any{"query": "SELECT id, name FROM t ORDER BY id"}, "Accept", "text/csv")
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			string(r.Body) != "id,name\n1,a\n2,b\n3,c\n" {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
	})
	t.Run("affected rows", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+sq+"/query", map[string]any{"query": "UPDATE t SET score = score WHERE id < 3"})
		if l := ndjson(t, r.Body); len(l) != 1 || !strings.Contains(string(l[0]["done"]), `"rows_affected":2`) {
			t.Fatalf("got %s", r.Body)
		}
	})
	t.Run("read only", func(t *testing.T) {
		r := c.do("POST", "/api/datasources/"+sqRO+"/query", map[string]any{"query": "DELETE FROM t"})
		if r.errorCode() != "read_only" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		if l := ndjson(t, c.do("POST", "/api/datasources/"+sq+"/query", map[string]any{"query": "SELECT count(*) FROM t"}).Body); string(l[1]["row"]) != "[3]" {
			t.Fatal("the read-only datasource changed data")
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			body   map[string]any
			status int
			code   string
		}{
			{map[string]any{"query": "SELEC nonsense"}, 400, "query_failed"},
			{map[string]any{"query": ""}, 400, "invalid"},
			{map[string]any{"query": "SELECT 1", "limit": 5_000_000}, 400, "invalid"},
			{map[string]any{"query": "SELECT 1", "timeout_ms": 3_600_000}, 400, "invalid"},
			{map[string]any{"query": "SELECT 1", "colour": 1}, 400, "invalid"},
		} {
			r := c.do("POST", "/api/datasources/"+sq+"/query", tc.body)
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("%v: got %d %s, want %d %s", tc.body, r.Status, r.Body, tc.status, tc.code)
			}
		}
	})
	t.Run("test endpoint", func(t *testing.T) {
		if got := c.must(200, "POST", "/api/datasources/"+sq+"/test", nil); got["ok"] != true {
			t.Fatalf("got %v", got)
		}
	})
	_ = g
}

func TestSQLiteRefusesOwnFiles(t *testing.T) {
	dataDir := t.TempDir()
	// The operator (wrongly) allows the gateway's own data directory.
	g := MustRun(t, dataDir, nil, "--sqlite-dir", dataDir)
	c := g.MustSetup(nil)
	for _, p := range []string{filepath.Join(dataDir, "querygate.db"), filepath.Join(dataDir, "master.key")} {
		id := c.must(201, "POST", "/api/datasources", map[string]any{"name": filepath.Base(p), "kind": "sqlite", "settings": map[string]any{"path": p}})["id"].(string)
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT * FROM datasources"})
		if r.Status == 200 || strings.Contains(string(r.Body), "secrets") {
			t.Fatalf("%s: got %d %s", p, r.Status, r.Body)
		}
	}
	// Without --sqlite-dir, SQLite is refused with a clear message.
	g2 := MustRun(t, t.TempDir(), nil)
	c2 := g2.MustSetup(nil)
	f := filepath.Join(t.TempDir(), "x.db")
	os.WriteFile(f, nil, 0o600)
	if r := c2.do("POST", "/api/datasources", map[string]any{"name": "x", "kind": "sqlite", "settings": map[string]any{"path": f}}); r.Status != 400 || !strings.Contains(string(r.Body), "sqlite-dir") {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
}

func TestPostgresQuery(t *testing.T) {
	g, c := queryGateway(t, t.TempDir())
	id := postgresSource(t, c, "pg", false)
	ro := postgresSource(t, c, "pg-ro", true)

	r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{
		"query":  "SELECT $1::int8 AS n, 12345678901234567890.123::numeric AS big, true AS b, NULL::text AS z, '2026-01-02T03:04:05Z'::timestamptz AS ts, '{\"a\":1}'::jsonb AS j, '\\x00ff'::bytea AS raw, ARRAY[1,2] AS arr",
		"params": []any{9007199254740993}})
	l := ndjson(t, r.Body)
	if r.Status != 200 || len(l) != 3 {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	if got, want := string(l[1]["row"]), `[9007199254740993,"12345678901234567890.123",true,null,"2026-01-02T03:04:05Z",{"a":1},"AP8=",[1,2]]`; got != want {
		t.Fatalf("row: got %s, want %s", got, want)
	}
	if got := c.must(200, "POST", "/api/datasources/"+id+"/test", nil); got["ok"] != true {
		t.Fatal(got)
	}
	table := fmt.Sprintf("qg_e2e_%d", time.Now().UnixNano())
	c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "CREATE TABLE " + table + " (v int)"})
	t.Cleanup(func() { c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "DROP TABLE " + table}) })
	if r := c.do("POST", "/api/datasources/"+ro+"/query", map[string]any{"query": "INSERT INTO " + table + " VALUES (1)"}); r.errorCode() != "read_only" {
		t.Fatalf("read-only insert: got %d %s", r.Status, r.Body)
	}

	// Closing the connection cancels the query at the server.
	ctx, cancel := context.WithCancel(t.Context())
	marker := fmt.Sprintf("qg_cancel_%d", time.Now().UnixNano())
	req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/datasources/"+id+"/query",
		strings.NewReader(`{"query":"SELECT pg_sleep(30) AS `+marker+`"}`))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := c.http.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	u := testenv.PostgresURL(t)
	conn, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	running := func() int {
		var n int
		conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%"+marker+"%' AND pid <> pg_backend_pid()").Scan(&n)
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for running() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if running() == 0 {
		t.Fatal("the query never started at the server")
	}
	cancel()
	<-done
	for running() > 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := running(); n != 0 {
		t.Fatalf("the query still runs at the server after the client left (%d backends)", n)
	}

	// Timeout.
	if r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT pg_sleep(5)", "timeout_ms": 200}); r.streamErrorCode() != "timeout" {
		t.Fatalf("timeout: got %d %s", r.Status, r.Body)
	}
}

func TestMySQLQuery(t *testing.T) {
	_, c := queryGateway(t, t.TempDir())
	id := mysqlSource(t, c, "my", false)
	ro := mysqlSource(t, c, "my-ro", true)
	r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{
		"query": "SELECT CAST(? AS SIGNED) AS n, CAST('12345678901234567890.123' AS DECIMAL(30,3)) AS big, 'x' AS s, NULL AS z", "params": []any{42}})
	l := ndjson(t, r.Body)
	if r.Status != 200 || len(l) != 3 || string(l[1]["row"]) != `[42,"12345678901234567890.123","x",null]` {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	table := fmt.Sprintf("qg_e2e_%d", time.Now().UnixNano())
	c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "CREATE TABLE " + table + " (v int)"})
	t.Cleanup(func() { c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "DROP TABLE " + table}) })
	if r := c.do("POST", "/api/datasources/"+ro+"/query", map[string]any{"query": "INSERT INTO " + table + " VALUES (1)"}); r.errorCode() != "read_only" {
		t.Fatalf("read-only insert: got %d %s", r.Status, r.Body)
	}
	if r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT SLEEP(5)", "timeout_ms": 200}); r.streamErrorCode() != "timeout" {
		t.Fatalf("timeout: got %d %s", r.Status, r.Body)
	}
}

// TestResultsAreNotKept queries rows holding a canary through every SQL
// kind and proves the canary is in no store file, no log line and no file
// the gateway created (P1).
func TestResultsAreNotKept(t *testing.T) {
	sqliteDir := t.TempDir()
	dataDir := t.TempDir()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // anything the gateway might spill would land here
	const canary = "RESULT-CANARY-5d1e"
	dbPath := filepath.Join(sqliteDir, "c.db")
	lite, _ := sql.Open("sqlite", dbPath)
	if _, err := lite.Exec(`CREATE TABLE c (v TEXT); INSERT INTO c VALUES ('` + canary + `')`); err != nil {
		t.Fatal(err)
	}
	lite.Close()

	g := MustRun(t, dataDir, nil, "--sqlite-dir", sqliteDir, "--log-format", "json")
	c := g.MustSetup(nil)
	ids := []string{c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)}
	q := map[string]string{ids[0]: "SELECT v FROM c"}
	if os.Getenv("CI") == "true" || reachablePostgres() {
		id := postgresSource(t, c, "pg", false)
		ids = append(ids, id)
		q[id] = "SELECT '" + canary + "' AS v FROM generate_series(1, 100)"
	}
	for _, id := range ids {
		for _, accept := range []string{"application/x-ndjson", "text/csv"} {
			r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": q[id]}, "Accept", accept)
			if !strings.Contains(string(r.Body), canary) {
				t.Fatalf("the query did not return the canary: %s", r.Body)
			}
		}
		// An error that carries the canary in the query text.
		c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT nonsense_" + canary})
	}
	g.m.Close()
	if strings.Contains(g.logs.String(), canary) {
		t.Fatal("a log line holds a result value or query text")
	}
	for _, root := range []string{dataDir, tmp} {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			if strings.Contains(string(b), canary) {
				t.Errorf("%s holds a result value", p)
			}
			return nil
		})
	}
}

func reachablePostgres() bool {
	c, err := pgx.Connect(context.Background(), testenvURL())
	if err != nil {
		return false
	}
	c.Close(context.Background())
	return true
}

func testenvURL() string {
	if v := os.Getenv("QG_TEST_POSTGRES_URL"); v != "" {
		return v
	}
	return testenv.DefaultPostgresURL
}

// TestReadOnlyPrivilegedRoleRefused: through the API, a read-only
// datasource whose database role could get around read-only is refused
// (403 privileged_role, naming the privilege and the setting) at test and
// at query, for PostgreSQL and MySQL; allow_privileged_role accepts the
// risk and is listed among the datasource's insecure settings.
func TestReadOnlyPrivilegedRoleRefused(t *testing.T) {
	_, c := queryGateway(t, t.TempDir())
	pg := testenv.PostgresURL(t)
	my := testenv.MySQLDSN(t)
	pgPort, myPort := portOr(t, pg.Port(), 5432), portOr(t, my.Port, 3306)
	for _, tc := range []struct {
		kind     string
		settings map[string]any
		names    string
	}{
		{"postgres", map[string]any{"host": pg.Hostname(), "port": pgPort, "database": strings.TrimPrefix(pg.Path, "/"),
			"user": pg.User.Username(), "sslmode": "disable"}, "superuser"},
		{"mysql", map[string]any{"host": my.Host, "port": myPort, "database": my.Database, "user": my.User, "tls": "disable"}, "ALL PRIVILEGES"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			id := c.must(201, "POST", "/api/datasources", map[string]any{"name": tc.kind + "-ro-priv", "kind": tc.kind,
				"read_only": true, "settings": tc.settings})["id"].(string)
			for _, path := range []string{"/test", "/query"} {
				r := c.do("POST", "/api/datasources/"+id+path, map[string]any{"query": "SELECT 1"})
				if r.Status != 403 || r.errorCode() != "privileged_role" {
					t.Fatalf("%s: got %d %s, want 403 privileged_role", path, r.Status, r.Body)
				}
				if msg := string(r.Body); !strings.Contains(msg, tc.names) || !strings.Contains(msg, "allow_privileged_role") {
					t.Errorf("%s: message %s does not name %q and the setting", path, msg, tc.names)
				}
			}
			d := c.must(200, "PATCH", "/api/datasources/"+id, map[string]any{"settings": map[string]any{"allow_privileged_role": true}})
			// The TLS mode at disable is listed too (the test servers have
			// no TLS).
			if ins, _ := d["insecure"].([]any); !slices.Contains(ins, any("allow_privileged_role")) || len(ins) != 2 {
				t.Errorf("insecure = %v, want the TLS mode and allow_privileged_role", d["insecure"])
			}
			if got := c.must(200, "POST", "/api/datasources/"+id+"/test", nil); got["ok"] != true {
				t.Errorf("test with allow_privileged_role: %v", got)
			}
		})
	}
}

// TestLocalTLSHint: against a database on this machine the TLS default
// (verify-full) fails; the test says what to choose for local use.
func TestLocalTLSHint(t *testing.T) {
	_, c := queryGateway(t, t.TempDir())
	u := testenv.PostgresURL(t)
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "local-default-tls", "kind": "postgres",
		"settings": map[string]any{"host": u.Hostname(), "port": portOr(t, u.Port(), 5432), "database": strings.TrimPrefix(u.Path, "/"), "user": u.User.Username()}})["id"].(string)
	r := c.do("POST", "/api/datasources/"+id+"/test", nil)
	if r.errorCode() != "tls_failed" {
		t.Fatalf("got %d %s, want tls_failed", r.Status, r.Body)
	}
	if !strings.Contains(string(r.Body), "set sslmode to disable") {
		t.Errorf("the TLS failure against a local database gives no advice: %s", r.Body)
	}
}

// TestTestBeforeSaving: the form's "Test connection" before a datasource
// is saved: it connects with the typed settings and secrets (in device
// custody too, with the typed password), answers the datasource's own
// errors, stores nothing, and leaves one audit event.
func TestTestBeforeSaving(t *testing.T) {
	dir := t.TempDir()
	g, c := queryGateway(t, dir)
	u := testenv.PostgresURL(t)
	settings := func(db string) map[string]any {
		return map[string]any{"host": u.Hostname(), "port": portOr(t, u.Port(), 5432), "database": db, "user": u.User.Username(), "sslmode": "disable"}
	}
	const secret = "draft-secret-password-5c1e"
	before := len(c.must(200, "GET", "/api/datasources", nil)["datasources"].([]any))
	for _, custody := range []string{"server", "device"} {
		ok := c.must(200, "POST", "/api/datasources/test", map[string]any{"kind": "postgres", "custody": custody,
			"settings": settings(strings.TrimPrefix(u.Path, "/")), "secrets": map[string]any{"password": secret}})
		if ok["ok"] != true {
			t.Fatalf("%s custody: %v", custody, ok)
		}
	}
	r := c.do("POST", "/api/datasources/test", map[string]any{"kind": "postgres", "settings": settings("qg_no_such_database"),
		"secrets": map[string]any{"password": secret}})
	if r.errorCode() != "database_not_found" {
		t.Errorf("missing database: got %d %s", r.Status, r.Body)
	}
	if r := c.do("POST", "/api/datasources/test", map[string]any{"kind": "postgres", "settings": map[string]any{"host": u.Hostname()}}); r.Status != 400 {
		t.Errorf("invalid settings: got %d %s", r.Status, r.Body)
	}
	if after := len(c.must(200, "GET", "/api/datasources", nil)["datasources"].([]any)); after != before {
		t.Errorf("a test stored a datasource: %d, then %d", before, after)
	}
	n := 0
	for _, e := range auditEvents(t, c, "&action=datasource.test") {
		if d, _ := e["details"].(map[string]any); d["draft"] == true {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d audit events of draft tests, want 4", n)
	}
	g.m.Close()
	// The password reaches no file of the gateway, no log line and no
	// answer, in the forms a reader would try.
	forms := [][]byte{[]byte(secret), []byte(base64.StdEncoding.EncodeToString([]byte(secret))), []byte(hex.EncodeToString([]byte(secret)))}
	holds := func(b []byte) bool {
		for _, f := range forms {
			if bytes.Contains(b, f) {
				return true
			}
		}
		return false
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); holds(b) {
				t.Errorf("%s holds the tested password", p)
			}
		}
		return nil
	})
	if holds([]byte(g.logs.String())) {
		t.Error("the logs hold the tested password")
	}
	if holds(r.Body) {
		t.Error("an answer holds the tested password")
	}
}
