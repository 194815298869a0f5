package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// schemaOf reads GET /api/datasources/{id}/schema and decodes it.
type schemaAnswer struct {
	Schemas []struct {
		Name   string `json:"name"`
		Tables []struct {
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			Rows    *int64 `json:"rows_estimate"`
			Columns []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Nullable   bool   `json:"nullable"`
				PrimaryKey bool   `json:"primary_key"`
				References string `json:"references"`
			} `json:"columns"`
		} `json:"tables"`
	} `json:"schemas"`
	Truncated bool `json:"truncated"`
}

func (c *client) schema(t *testing.T, id string) schemaAnswer {
	t.Helper()
	r := c.do("GET", "/api/datasources/"+id+"/schema", nil)
	if r.Status != 200 {
		t.Fatalf("schema of %s: %d %s", id, r.Status, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var a schemaAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil {
		t.Fatalf("schema of %s: %v: %s", id, err, r.Body)
	}
	return a
}

// columns lists "namespace.table.column" of an answer.
func (a schemaAnswer) columns() []string {
	var out []string
	for _, n := range a.Schemas {
		for _, tb := range n.Tables {
			for _, c := range tb.Columns {
				out = append(out, n.Name+"."+tb.Name+"."+c.Name)
			}
		}
	}
	return out
}

func schemaEvents(t *testing.T, admin *client) []map[string]any {
	t.Helper()
	return auditEvents(t, admin, "&action=datasource.schema")
}

// The schema read end to end, on the real gateway: each kind through the
// same path as a query, the use grant required (a run grant is refused),
// a device-custody datasource locked until unlocked, exactly one audit
// event per call, and nothing of a schema in the store, the data
// directory or the logs.
func TestSchemaEndToEnd(t *testing.T) {
	canary := "schema_canary_" + strings.ToLower(rand.Text()[:10])
	liteDir, dataDir := t.TempDir(), t.TempDir()
	dbPath := filepath.Join(liteDir, "s.db")
	lite, _ := sql.Open("sqlite", dbPath)
	if _, err := lite.Exec("CREATE TABLE teams (id INTEGER PRIMARY KEY); CREATE TABLE " + canary + "_t (id INTEGER PRIMARY KEY, " +
		canary + " TEXT NOT NULL, team INTEGER REFERENCES teams (id))"); err != nil {
		t.Fatal(err)
	}
	lite.Close()

	pgURL := testenv.PostgresDatabase(t, "qg_schema_e2e")
	pg, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Exec(t.Context(), "CREATE TABLE "+canary+"_pg (id int PRIMARY KEY, "+canary+"_col text)"); err != nil {
		t.Fatal(err)
	}
	pg.Close(t.Context())

	m := testenv.MySQLDSN(t)
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr, mc.DBName = m.User, m.Password, "tcp", m.Host+":"+m.Port, m.Database
	if m.Port == "" {
		mc.Addr = m.Host + ":3306"
	}
	myConn, err := mysql.NewConnector(mc)
	if err != nil {
		t.Fatal(err)
	}
	my := sql.OpenDB(myConn)
	t.Cleanup(func() { my.Close() })
	if _, err := my.Exec("CREATE TABLE " + canary + "_my (id INT PRIMARY KEY, " + canary + "_c TEXT)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { my.Exec("DROP TABLE IF EXISTS " + canary + "_my") })
	myColumn := m.Database + "." + canary + "_my." + canary + "_c"

	openapi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"paths":{"/%s":{"get":{"operationId":"list"}}}}`, canary)
	}))
	t.Cleanup(openapi.Close)

	g := MustRun(t, dataDir, nil, "--sqlite-dir", liteDir, "--log-format", "json")
	admin := g.MustSetup(nil)
	liteID := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	port := portOr(t, pgURL.Port(), 5432)
	pgID := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "pg", "kind": "postgres",
		"settings": map[string]any{"host": pgURL.Hostname(), "port": port, "database": strings.TrimPrefix(pgURL.Path, "/"),
			"user": pgURL.User.Username(), "sslmode": "disable"}})["id"].(string)
	pgRO := postgresSource(t, admin, "pg-ro", true)
	myID := mysqlSource(t, admin, "my", false)
	redisHost, redisPort, _ := strings.Cut(testenv.RedisAddr(t), ":")
	redisID := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "redis", "kind": "redis",
		"settings": map[string]any{"host": redisHost, "port": portOr(t, redisPort, 6379)}})["id"].(string)
	httpID := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http",
		"settings": map[string]any{"base_url": openapi.URL + "/", "openapi_path": "openapi.json"}})["id"].(string)
	httpNone := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "api-none", "kind": "http",
		"settings": map[string]any{"base_url": openapi.URL + "/"}})["id"].(string)

	before := len(schemaEvents(t, admin))
	calls := 0
	contains := func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	}

	a := admin.schema(t, liteID)
	calls++
	if cols := a.columns(); !contains(cols, "main."+canary+"_t."+canary) || a.Truncated {
		t.Errorf("sqlite: %v", cols)
	}
	for _, tb := range a.Schemas[0].Tables {
		if tb.Name == canary+"_t" && (len(tb.Columns) != 3 || !tb.Columns[0].PrimaryKey || tb.Columns[2].References != "main.teams.id") {
			t.Errorf("sqlite %s: %+v", tb.Name, tb)
		}
	}
	if cols := admin.schema(t, pgID).columns(); !contains(cols, "public."+canary+"_pg."+canary+"_col") {
		t.Errorf("postgres: %v", cols)
	}
	calls++
	// A read-only datasource (a role that cannot escape read-only) reads
	// too: the statement runs in its read-only transaction.
	admin.schema(t, pgRO)
	calls++
	if a := admin.schema(t, myID); len(a.Schemas) != 1 || !contains(a.columns(), myColumn) {
		t.Errorf("mysql: %v, want the connected database's tables", a.columns())
	}
	calls++
	if a := admin.schema(t, redisID); len(a.Schemas) != 0 { // schema_scan is off by default
		t.Errorf("redis without schema_scan: %+v, want empty", a)
	}
	calls++
	if a := admin.schema(t, httpID); len(a.Schemas) != 1 || a.Schemas[0].Tables[0].Name != "/"+canary || a.Schemas[0].Tables[0].Kind != "path" {
		t.Errorf("http: %+v", a)
	}
	calls++
	if a := admin.schema(t, httpNone); len(a.Schemas) != 0 {
		t.Errorf("http without openapi_path: %+v, want empty", a)
	}
	calls++

	// Grants: run is not enough (403), use is.
	admin.must(201, "POST", "/api/users", map[string]any{"username": "runner", "password": "runner password 1", "role": "viewer"})
	runner := g.client(nil)
	runner.must(200, "POST", "/api/login", map[string]any{"username": "runner", "password": "runner password 1"})
	runnerID := runner.must(200, "GET", "/api/me", nil)["id"].(string)
	if r := runner.do("GET", "/api/datasources/"+liteID+"/schema", nil); r.Status != 404 {
		t.Errorf("not granted: %d %s, want 404", r.Status, r.Body)
	}
	calls++
	admin.must(200, "PUT", "/api/datasources/"+liteID+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": runnerID, "level": "run"}}})
	if r := runner.do("GET", "/api/datasources/"+liteID+"/schema", nil); r.Status != 403 || r.errorCode() != "forbidden" || strings.Contains(string(r.Body), canary) {
		t.Errorf("run grant: %d %s, want 403 forbidden", r.Status, r.Body)
	}
	calls++
	admin.must(200, "PUT", "/api/datasources/"+liteID+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": runnerID, "level": "use"}}})
	runner.schema(t, liteID)
	calls++

	// Device custody: locked until this device brings its key.
	user, password := deviceUser(t)
	devID := deviceSource(t, admin, "dev", user)
	if r := admin.do("GET", "/api/datasources/"+devID+"/schema", nil); r.Status != 403 || r.errorCode() != "device_locked" {
		t.Errorf("locked: %d %s, want 403 device_locked", r.Status, r.Body)
	}
	calls++
	admin.must(200, "POST", "/api/datasources/"+devID+"/unlock", map[string]any{"password": password})
	if a := admin.schema(t, devID); !contains(a.columns(), myColumn) {
		t.Errorf("unlocked: %v", a.columns())
	}
	calls++

	// Exactly one audit event per call, success and refusal, naming no
	// table or column.
	events := schemaEvents(t, admin)
	if got := len(events) - before; got != calls {
		t.Errorf("%d schema audit events for %d calls", got, calls)
	}
	n := countActions(events)
	if n["datasource.schema/forbidden"] != 1 || n["datasource.schema/device_locked"] != 1 || n["datasource.schema/not_found"] != 1 {
		t.Errorf("refusals audited: %v", n)
	}
	raw, _ := json.Marshal(events)
	if strings.Contains(string(raw), canary) {
		t.Errorf("an audit event names the schema: %s", raw)
	}

	// Nothing of a schema was kept: not in the logs, not in any file of
	// the data directory (the store and its WAL included).
	g.m.Close()
	if strings.Contains(g.logs.String(), canary) {
		t.Error("a log line holds a name of a schema")
	}
	filepath.Walk(dataDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		if b, _ := os.ReadFile(p); strings.Contains(string(b), canary) {
			t.Errorf("%s holds a name of a schema", p)
		}
		return nil
	})
}
