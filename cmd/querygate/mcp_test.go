package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/querygate/querygate/internal/testenv"
)

// mcpTransport adds an API token to every request of an MCP client and
// keeps every response (headers and body) for the leak sweep.
type mcpTransport struct {
	token string
	mu    sync.Mutex
	seen  bytes.Buffer
}

func (m *mcpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	m.mu.Lock()
	resp.Header.Write(&m.seen)
	m.seen.Write(body)
	m.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

func (m *mcpTransport) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen.String()
}

// mcpSession connects the official Go SDK's client to the gateway's /mcp
// with an API token (initialize included).
func mcpSession(t testing.TB, g *gateway, token string) (*sdk.ClientSession, *mcpTransport) {
	t.Helper()
	tr := &mcpTransport{token: token}
	c := sdk.NewClient(&sdk.Implementation{Name: "querygate-test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: g.url + "/mcp", HTTPClient: &http.Client{Transport: tr}}, nil)
	if err != nil {
		t.Fatalf("MCP initialize: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, tr
}

func toolNamesOf(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// mcpAnswer is a tool's structured answer (or its error).
type mcpAnswer struct {
	Columns []struct {
		Name, Type string
	} `json:"columns"`
	Rows         [][]json.RawMessage `json:"rows"`
	RowCount     int                 `json:"row_count"`
	Truncated    bool                `json:"truncated"`
	RowsAffected *int64              `json:"rows_affected"`
	Note         string              `json:"note"`
	Datasources  []map[string]any    `json:"datasources"`
	Tables       []struct {
		Name, Kind string
		Columns    []map[string]any
	} `json:"tables"`
	Error struct {
		Code, Message string
	} `json:"error"`
}

// callTool calls a tool and reads its answer from the text content (what
// every client shows a model); it checks that the structured content says
// the same.
func callTool(t testing.TB, cs *sdk.ClientSession, name string, args any) (mcpAnswer, bool) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("tools/call %s: %d contents", name, len(res.Content))
	}
	text := res.Content[0].(*sdk.TextContent).Text
	var a mcpAnswer
	if err := json.Unmarshal([]byte(text), &a); err != nil {
		t.Fatalf("tools/call %s: answer is not JSON: %v: %s", name, err, text)
	}
	if !res.IsError {
		sc, _ := json.Marshal(res.StructuredContent)
		var b mcpAnswer
		json.Unmarshal(sc, &b)
		if a.RowCount != b.RowCount || len(a.Datasources) != len(b.Datasources) {
			t.Errorf("tools/call %s: structured content differs from the text: %s", name, sc)
		}
	}
	return a, res.IsError
}

// mcpFixture is a gateway serving MCP with PostgreSQL datasources, saved
// queries, and users with different grants, each with an API token.
type mcpFixture struct {
	g                        *gateway
	admin                    *client
	ro, rw, dev, hidden      string // datasource ids
	table, password          string
	adminTok, runTok, useTok string
	byID, hiddenQ            string // saved query ids
}

func newMCPFixture(t testing.TB, args ...string) *mcpFixture {
	t.Helper()
	u := testenv.PostgresURL(t)
	f := &mcpFixture{password: "mcp-canary-" + strings.ToLower(rand.Text())}
	f.g = MustRun(t, t.TempDir(), nil, append([]string{"--mcp"}, args...)...)
	f.admin = f.g.MustSetup(nil)
	pg := func(name, user string, readOnly bool, custody string) string {
		body := map[string]any{"name": name, "kind": "postgres", "read_only": readOnly,
			"settings": map[string]any{"host": u.Hostname(), "port": portOr(t, u.Port(), 5432), "database": strings.TrimPrefix(u.Path, "/"),
				"user": user, "sslmode": "disable"}}
		if custody != "" {
			body["custody"] = custody
		} else {
			body["secrets"] = map[string]any{"password": f.password}
		}
		return f.admin.must(201, "POST", "/api/datasources", body)["id"].(string)
	}
	roUser := testenv.PostgresReadOnlyUser(t)
	f.ro = pg("Sales (read-only)", roUser, true, "")
	f.rw = pg("sales-rw", u.User.Username(), false, "")
	f.dev = pg("vault", roUser, true, "device")
	f.hidden = pg("hidden-ops", roUser, true, "")

	f.table = "mcp_t_" + strings.ToLower(rand.Text()[:10])
	for _, q := range []string{
		"CREATE TABLE " + f.table + " (id int PRIMARY KEY, name text)",
		"INSERT INTO " + f.table + " SELECT i, 'name ' || i FROM generate_series(1, 120) i",
		"UPDATE " + f.table + " SET name = repeat('long', 1500) WHERE id = 7",
	} {
		if r := f.admin.do("POST", "/api/datasources/"+f.rw+"/query", map[string]any{"query": q}); r.Status != 200 || r.streamErrorCode() != "" {
			t.Fatalf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), u.String()); err == nil {
			conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+f.table)
			conn.Close(context.Background())
		}
	})

	f.byID = f.admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": f.ro, "name": "Row by id",
		"description": "One row of the test table.", "query": "SELECT id, name FROM " + f.table + " WHERE id = :id",
		"parameters": []any{map[string]any{"name": "id", "type": "int", "required": true, "min": 1, "description": "the row's id"}}})["id"].(string)
	f.admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": f.ro, "name": "Row-by-id!", "query": "SELECT 1 AS one"})
	f.hiddenQ = f.admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": f.hidden, "name": "secret ops", "query": "SELECT 2"})["id"].(string)
	f.admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": f.dev, "name": "vault rows", "query": "SELECT 3"})

	user := func(name, role string) (string, string) {
		id := f.admin.must(201, "POST", "/api/users", map[string]any{"username": name, "password": name + " password 1", "role": role})["id"].(string)
		c := f.g.login(name, name+" password 1")
		return id, c.must(201, "POST", "/api/tokens", map[string]any{"name": "agent"})["token"].(string)
	}
	runID, runTok := user("runner", "viewer")
	useID, useTok := user("user", "viewer")
	f.runTok, f.useTok = runTok, useTok
	f.adminTok = f.admin.must(201, "POST", "/api/tokens", map[string]any{"name": "agent"})["token"].(string)
	grant := func(ds string, grants ...any) {
		f.admin.must(200, "PUT", "/api/datasources/"+ds+"/grants", map[string]any{"grants": grants})
	}
	grant(f.ro, map[string]any{"type": "user", "id": runID, "level": "run"}, map[string]any{"type": "user", "id": useID, "level": "use"})
	grant(f.rw, map[string]any{"type": "user", "id": useID, "level": "use"})
	grant(f.dev, map[string]any{"type": "user", "id": useID, "level": "use"})
	return f
}

// TestMCPGoClient drives /mcp with the official Go SDK's client: each
// user's token lists only the tools that user may run, run_sql needs a use
// grant and a read-only datasource, answers are bounded, every call is one
// audit event marked as MCP's, and no answer holds the datasource password.
func TestMCPGoClient(t *testing.T) {
	f := newMCPFixture(t, "--mcp-max-rows", "50", "--mcp-max-bytes", "16384")
	run, runRec := mcpSession(t, f.g, f.runTok)
	use, useRec := mcpSession(t, f.g, f.useTok)
	adm, admRec := mcpSession(t, f.g, f.adminTok)

	t.Run("tools per user", func(t *testing.T) {
		want := []string{"list_datasources", "sales_read_only__row_by_id_" + idTail(f.byID)}
		got := toolNamesOf(t, run)
		if len(got) != 3 || got[0] != "list_datasources" || !slices.Contains(got, want[1]) {
			t.Fatalf("run grantee's tools: got %v, want list_datasources and the two saved queries of the read-only datasource", got)
		}
		for _, n := range got {
			if strings.Contains(n, "hidden") || strings.Contains(n, "vault") || n == "run_sql" {
				t.Errorf("run grantee is offered %s", n)
			}
		}
		if got := toolNamesOf(t, use); !slices.Contains(got, "run_sql") || !slices.Contains(got, "describe_schema") || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "vault") || strings.HasPrefix(n, "hidden") }) {
			t.Errorf("use grantee's tools: %v", got)
		}
		if got := toolNamesOf(t, adm); !slices.Contains(got, "hidden_ops__secret_ops") || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "vault") }) {
			t.Errorf("admin's tools: %v (a device-custody datasource's queries are not served)", got)
		}
		// The saved query's typed parameter is the tool's JSON Schema.
		res, _ := run.ListTools(t.Context(), nil)
		for _, tool := range res.Tools {
			if tool.Name != want[1] {
				continue
			}
			s, _ := json.Marshal(tool.InputSchema)
			for _, part := range []string{`"id":{`, `"type":"integer"`, `"description":"the row's id"`, `"required":["id"]`, `"additionalProperties":false`, `"minimum":1`} {
				if !strings.Contains(string(s), part) {
					t.Errorf("input schema %s lacks %s", s, part)
				}
			}
			if !strings.Contains(tool.Description, "One row of the test table.") {
				t.Errorf("tool description %q", tool.Description)
			}
		}
	})

	t.Run("list_datasources", func(t *testing.T) {
		a, isErr := callTool(t, use, "list_datasources", map[string]any{})
		if isErr || len(a.Datasources) != 3 {
			t.Fatalf("got %v %+v", isErr, a)
		}
		for _, d := range a.Datasources {
			for _, k := range []string{"settings", "secrets", "host", "user"} {
				if _, ok := d[k]; ok {
					t.Errorf("datasource entry has %s: %v", k, d)
				}
			}
			switch d["name"] {
			case "vault":
				if d["served"] != false || !strings.Contains(d["description"].(string), "device custody") {
					t.Errorf("device custody entry: %v", d)
				}
			case "sales-rw":
				if d["run_sql"] != false || d["read_only"] != false {
					t.Errorf("read-write entry: %v", d)
				}
			case "Sales (read-only)":
				if d["run_sql"] != true || len(d["tools"].([]any)) != 2 {
					t.Errorf("read-only entry: %v", d)
				}
			default:
				t.Errorf("unexpected datasource %v", d)
			}
		}
	})

	t.Run("saved query tool", func(t *testing.T) {
		name := "sales_read_only__row_by_id_" + idTail(f.byID)
		a, isErr := callTool(t, run, name, map[string]any{"id": 3})
		if isErr || a.RowCount != 1 || string(a.Rows[0][1]) != `"name 3"` || a.Columns[0].Name != "id" || a.Truncated {
			t.Fatalf("got %v %+v", isErr, a)
		}
		// A long cell is cut, with the marker and its length.
		a, _ = callTool(t, run, name, map[string]any{"id": 7})
		var cell string
		json.Unmarshal(a.Rows[0][1], &cell)
		if !a.Truncated || len(cell) > 1100 || !strings.Contains(cell, "…[cut; bytes in all: 6000]") || !strings.Contains(a.Note, "cut at 1024 bytes") {
			t.Errorf("long cell: %q, note %q", cell, a.Note)
		}
		for _, bad := range []map[string]any{{"id": "three"}, {}, {"id": 0}, {"id": 1, "other": 2}} {
			a, isErr := callTool(t, run, name, bad)
			if !isErr || a.Error.Code != "invalid" {
				t.Errorf("%v: got %v %+v, want an invalid-argument error", bad, isErr, a)
			}
		}
	})

	t.Run("run_sql", func(t *testing.T) {
		// A run grant does not offer run_sql, and calling it fails.
		if res, err := run.CallTool(t.Context(), &sdk.CallToolParams{Name: "run_sql", Arguments: map[string]any{"datasource": f.ro, "sql": "SELECT 1"}}); err == nil && !res.IsError {
			t.Errorf("run grantee called run_sql: %+v", res)
		}
		a, isErr := callTool(t, use, "run_sql", map[string]any{"datasource": "Sales (read-only)", "sql": "SELECT id, name FROM " + f.table + " WHERE id <= 3 ORDER BY id"})
		if isErr || a.RowCount != 3 || string(a.Rows[2][0]) != "3" || a.Truncated {
			t.Fatalf("got %v %+v", isErr, a)
		}
		// The row cap, said so.
		a, _ = callTool(t, use, "run_sql", map[string]any{"datasource": f.ro, "sql": "SELECT id FROM " + f.table + " ORDER BY id"})
		if a.RowCount != 50 || !a.Truncated || !strings.Contains(a.Note, "more than 50 rows") {
			t.Errorf("row cap: %d rows, note %q", a.RowCount, a.Note)
		}
		// The byte bound, said so.
		a, _ = callTool(t, use, "run_sql", map[string]any{"datasource": f.ro, "sql": "SELECT repeat('x', 900) FROM generate_series(1, 40)"})
		if a.RowCount == 0 || a.RowCount >= 40 || !a.Truncated || !strings.Contains(a.Note, "16384-byte bound") {
			t.Errorf("byte bound: %d rows, note %q", a.RowCount, a.Note)
		}
		// Writes on a read-only datasource are refused by the datasource.
		for _, stmt := range []string{"INSERT INTO " + f.table + " VALUES (1000, 'x')", "CREATE TABLE " + f.table + "_x (i int)", "DELETE FROM " + f.table} {
			a, isErr := callTool(t, use, "run_sql", map[string]any{"datasource": f.ro, "sql": stmt})
			if !isErr || a.Error.Code != "read_only" {
				t.Errorf("%s: got %v %+v, want read_only", stmt, isErr, a)
			}
		}
		// A datasource that is not read-only is refused (the use case
		// decides, before connecting).
		a, isErr = callTool(t, use, "run_sql", map[string]any{"datasource": "sales-rw", "sql": "SELECT 1"})
		if !isErr || a.Error.Code != "forbidden" || !strings.Contains(a.Error.Message, "read-only") {
			t.Errorf("read-write datasource: got %v %+v", isErr, a)
		}
		// Device custody: a clear refusal.
		a, isErr = callTool(t, use, "run_sql", map[string]any{"datasource": "vault", "sql": "SELECT 1"})
		if !isErr || a.Error.Code != "device_locked" || !strings.Contains(a.Error.Message, "device custody") {
			t.Errorf("device custody: got %v %+v", isErr, a)
		}
		// A datasource the user may not see does not exist for them.
		a, isErr = callTool(t, use, "run_sql", map[string]any{"datasource": f.hidden, "sql": "SELECT 1"})
		if !isErr || a.Error.Code != "not_found" {
			t.Errorf("hidden datasource: got %v %+v", isErr, a)
		}
		if a, isErr = callTool(t, use, "run_sql", map[string]any{"datasource": f.ro}); !isErr || a.Error.Code != "invalid" {
			t.Errorf("no sql: got %v %+v", isErr, a)
		}
		// Arguments that are not the tool's: refused before the use case,
		// and still one audit event.
		if a, isErr = callTool(t, use, "run_sql", map[string]any{"datasource": f.ro, "sql": "SELECT 1", "limit": 5}); !isErr || a.Error.Code != "invalid" {
			t.Errorf("unknown argument: got %v %+v", isErr, a)
		}
		if a, isErr = callTool(t, use, "list_datasources", map[string]any{"all": true}); !isErr || a.Error.Code != "invalid" {
			t.Errorf("unknown argument: got %v %+v", isErr, a)
		}
		// The run grantee's saved-query tool does not reach the hidden
		// datasource's query by its id either.
		if _, err := run.CallTool(t.Context(), &sdk.CallToolParams{Name: "hidden_ops__secret_ops"}); err == nil {
			t.Errorf("run grantee called a hidden datasource's query")
		}
	})

	t.Run("describe_schema", func(t *testing.T) {
		a, isErr := callTool(t, use, "describe_schema", map[string]any{"datasource": "Sales (read-only)", "filter": strings.ToUpper(f.table)})
		if isErr || len(a.Tables) != 1 || a.Tables[0].Name != "public."+f.table || a.Tables[0].Kind != "table" || len(a.Tables[0].Columns) != 2 {
			t.Fatalf("got %v %+v", isErr, a)
		}
		if c := a.Tables[0].Columns[0]; c["name"] != "id" || c["primary_key"] != true || c["type"] != "integer" {
			t.Errorf("column id: %v", c)
		}
		// A run grant reads no schema (the use case needs the use grant).
		if res, err := run.CallTool(t.Context(), &sdk.CallToolParams{Name: "describe_schema", Arguments: map[string]any{"datasource": f.ro}}); err == nil && !res.IsError {
			t.Errorf("run grantee read the schema: %+v", res)
		}
		if a, isErr := callTool(t, use, "describe_schema", map[string]any{"datasource": "vault"}); !isErr || a.Error.Code != "device_locked" {
			t.Errorf("device custody: got %v %+v", isErr, a)
		}
	})

	t.Run("audit", func(t *testing.T) {
		events := auditEvents(t, f.admin, "")
		n := map[string]int{}
		for _, e := range events {
			d, _ := e["details"].(map[string]any)
			if d["front"] != "mcp" {
				continue
			}
			if _, ok := d["query"]; ok {
				t.Errorf("query text recorded without --audit-query-text: %v", e)
			}
			n[e["action"].(string)+"/"+e["outcome"].(string)]++
		}
		want := map[string]int{"datasource.list/ok": 1, "savedquery.run/ok": 2, "savedquery.run/invalid": 4, "query/ok": 3,
			"query/read_only": 3, "query/forbidden": 1, "query/device_locked": 1, "query/not_found": 1, "query/invalid": 2, "datasource.list/invalid": 1,
			"datasource.schema/ok": 1, "datasource.schema/device_locked": 1}
		for k, v := range want {
			if n[k] != v {
				t.Errorf("MCP audit events %s: got %d, want %d (all: %v)", k, n[k], v, n)
			}
		}
	})

	// The operator names a read-write datasource: run_sql runs there,
	// writes included (a restart, as flags are read at start).
	outer := t
	t.Run("mcp-sql-writable", func(t *testing.T) {
		f.g.m.Close()
		g := MustRun(outer, f.g.dir, nil, "--mcp", "--mcp-sql-writable", f.rw, "--audit-query-text")
		cs, rec := mcpSession(t, g, f.useTok)
		defer func() { useRec.seen.WriteString(rec.String()) }()
		a, isErr := callTool(t, cs, "run_sql", map[string]any{"datasource": "sales-rw", "sql": "INSERT INTO " + f.table + " VALUES (1000, 'agent')"})
		if isErr || a.RowsAffected == nil || *a.RowsAffected != 1 {
			t.Fatalf("write on an allowed datasource: got %v %+v", isErr, a)
		}
		a, _ = callTool(t, cs, "list_datasources", nil)
		for _, d := range a.Datasources {
			if d["name"] == "sales-rw" && d["run_sql"] != true {
				t.Errorf("allowed datasource listed as %v", d)
			}
		}
		// With --audit-query-text the statement is in its event.
		f.admin.g = g // the session is in the store
		events := auditEvents(t, f.admin, "&action=query")
		if d, _ := events[len(events)-1]["details"].(map[string]any); d["front"] != "mcp" || !strings.Contains(fmt.Sprint(d["query"]), "VALUES (1000, 'agent')") {
			t.Errorf("audit event with --audit-query-text: %v", d)
		}
		// The read-only one still refuses writes.
		if a, isErr := callTool(t, cs, "run_sql", map[string]any{"datasource": f.ro, "sql": "DELETE FROM " + f.table}); !isErr || a.Error.Code != "read_only" {
			t.Errorf("read-only datasource: got %v %+v", isErr, a)
		}
	})

	t.Run("no password in any answer", func(t *testing.T) {
		all := runRec.String() + useRec.String() + admRec.String()
		if len(all) < 1000 {
			t.Fatalf("recorded only %d bytes", len(all))
		}
		// Nor is it, or a statement's text or a value, in the log.
		logs := f.g.logs.String()
		if strings.Contains(logs, f.password) || strings.Contains(logs, f.table) || strings.Contains(logs, "name 3") {
			t.Errorf("the log holds the password, a statement or a value:\n%s", logs)
		}
		all += logs
		pw := []byte(f.password)
		for _, enc := range []string{f.password, base64.StdEncoding.EncodeToString(pw), base64.RawURLEncoding.EncodeToString(pw),
			base64.RawStdEncoding.EncodeToString(pw), hex.EncodeToString(pw), strings.ToUpper(hex.EncodeToString(pw))} {
			if strings.Contains(all, enc) {
				t.Fatalf("an MCP answer holds the datasource password (%q)", enc)
			}
		}
	})
}

// idTail is the end of a saved query's id that tells apart tools whose
// names would be alike.
func idTail(id string) string { return id[len(id)-6:] }

// TestMCPAuthentication proves that /mcp takes an API token only: no
// session cookie, no bad token, no cross-origin request, and that it is
// off without --mcp.
func TestMCPAuthentication(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--mcp")
	admin := g.MustSetup(nil)
	tok := admin.must(201, "POST", "/api/tokens", map[string]any{"name": "agent"})["token"].(string)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	hdr := []string{"Accept", "application/json, text/event-stream"}

	// The signed-in admin's session cookie alone is refused.
	if r := admin.do("POST", "/mcp", initialize, hdr...); r.Status != 401 || r.errorCode() != "unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("cookie only: got %d %s", r.Status, r.Body)
	}
	bad := g.client(nil)
	bad.bearer = "qg_not-a-token"
	if r := bad.do("POST", "/mcp", initialize, hdr...); r.Status != 401 {
		t.Errorf("bad token: got %d %s", r.Status, r.Body)
	}
	good := g.client(nil)
	good.bearer = tok
	if r := good.do("POST", "/mcp", initialize, hdr...); r.Status != 200 || !strings.Contains(string(r.Body), `"serverInfo"`) {
		t.Fatalf("token: got %d %s", r.Status, r.Body)
	}
	// A page of another site cannot make a browser call it.
	if r := good.do("POST", "/mcp", initialize, append(hdr, "Sec-Fetch-Site", "cross-site")...); r.Status != 403 {
		t.Errorf("cross-origin: got %d %s", r.Status, r.Body)
	}
	if r := good.do("POST", "/mcp", initialize, append(hdr, "Origin", "https://evil.example")...); r.Status != 403 {
		t.Errorf("cross-origin (Origin): got %d %s", r.Status, r.Body)
	}
	// A deleted token stops working at the next call.
	id := admin.must(200, "GET", "/api/tokens", nil)["tokens"].([]any)[0].(map[string]any)["id"].(string)
	admin.must(204, "DELETE", "/api/tokens/"+id, nil)
	if r := good.do("POST", "/mcp", initialize, hdr...); r.Status != 401 {
		t.Errorf("deleted token: got %d %s", r.Status, r.Body)
	}

	off := MustRun(t, t.TempDir(), nil)
	offAdmin := off.MustSetup(nil)
	c := off.client(nil)
	c.bearer = offAdmin.must(201, "POST", "/api/tokens", map[string]any{"name": "agent"})["token"].(string)
	if r := c.do("POST", "/mcp", initialize, hdr...); r.Status == 200 {
		t.Errorf("without --mcp: got %d %s", r.Status, r.Body)
	}
}

// tsReport is what testdata/mcpclient/client.mjs prints.
type tsReport struct {
	Sessions []struct {
		Tools   []string                   `json:"tools"`
		Schemas map[string]json.RawMessage `json:"schemas"`
		Results []struct {
			IsError       bool            `json:"isError"`
			Text          string          `json:"text"`
			Structured    json.RawMessage `json:"structuredContent"`
			ProtocolError string          `json:"protocolError"`
		} `json:"results"`
	} `json:"sessions"`
	Raw string `json:"raw"`
}

// TestMCPTypeScriptClient drives /mcp with the official TypeScript SDK's
// client (npm @modelcontextprotocol/sdk, pinned in testdata/mcpclient;
// `npm ci` there installs it): the tools per user, run_sql refused to a run
// grantee and on a datasource that is not read-only, a write refused by a
// read-only one, and no datasource password in any answer.
func TestMCPTypeScriptClient(t *testing.T) {
	dir := filepath.Join("testdata", "mcpclient")
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Skipf(t, "node is not installed: the TypeScript MCP client test needs it")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		testenv.Skipf(t, "the TypeScript MCP SDK is not installed: run `npm ci` in cmd/querygate/%s", dir)
	}
	f := newMCPFixture(t)
	saved := "sales_read_only__row_by_id_" + idTail(f.byID)
	type call struct {
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	}
	type session struct {
		Token string `json:"token"`
		Calls []call `json:"calls"`
	}
	plan, _ := json.Marshal(map[string]any{"url": f.g.url + "/mcp", "sessions": []session{
		{Token: f.runTok, Calls: []call{
			{Name: "list_datasources"},
			{Name: saved, Arguments: map[string]any{"id": 5}},
			{Name: "run_sql", Arguments: map[string]any{"datasource": f.ro, "sql": "SELECT 1"}},
		}},
		{Token: f.useTok, Calls: []call{
			{Name: "run_sql", Arguments: map[string]any{"datasource": f.ro, "sql": "SELECT count(*) AS n FROM " + f.table}},
			{Name: "run_sql", Arguments: map[string]any{"datasource": f.ro, "sql": "UPDATE " + f.table + " SET name = 'x'"}},
			{Name: "run_sql", Arguments: map[string]any{"datasource": f.rw, "sql": "SELECT 1"}},
		}},
	}})
	cmd := exec.CommandContext(t.Context(), "node", "client.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(plan)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client.mjs: %v\n%s", err, stderr.String())
	}
	var rep tsReport
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Sessions) != 2 {
		t.Fatalf("report: %v: %s", err, out)
	}
	run, use := rep.Sessions[0], rep.Sessions[1]
	if len(run.Tools) != 3 || slices.Contains(run.Tools, "run_sql") || !slices.Contains(run.Tools, saved) {
		t.Errorf("run grantee's tools: %v", run.Tools)
	}
	if s := string(run.Schemas[saved]); !strings.Contains(s, `"type":"integer"`) || !strings.Contains(s, `"the row's id"`) {
		t.Errorf("saved query's input schema: %s", s)
	}
	if !slices.Contains(use.Tools, "run_sql") {
		t.Errorf("use grantee's tools: %v", use.Tools)
	}
	if r := run.Results[0]; r.IsError || !strings.Contains(r.Text, `"Sales (read-only)"`) || strings.Contains(r.Text, "hidden-ops") {
		t.Errorf("list_datasources: %+v", r)
	}
	if r := run.Results[1]; r.IsError || !strings.Contains(string(r.Structured), `"name 5"`) || !strings.Contains(string(r.Structured), `"columns"`) {
		t.Errorf("saved query: %+v", r)
	}
	if r := run.Results[2]; r.ProtocolError == "" && !r.IsError {
		t.Errorf("run grantee called run_sql: %+v", r)
	}
	if r := use.Results[0]; r.IsError || !strings.Contains(r.Text, `"rows":[[120]]`) {
		t.Errorf("run_sql: %+v", r)
	}
	if r := use.Results[1]; !r.IsError || !strings.Contains(r.Text, `"read_only"`) {
		t.Errorf("write on a read-only datasource: %+v", r)
	}
	if r := use.Results[2]; !r.IsError || !strings.Contains(r.Text, `"forbidden"`) {
		t.Errorf("run_sql on a datasource that is not read-only: %+v", r)
	}
	pw := []byte(f.password)
	if len(rep.Raw) < 500 {
		t.Fatalf("recorded only %d bytes", len(rep.Raw))
	}
	for _, enc := range []string{f.password, base64.StdEncoding.EncodeToString(pw), base64.RawURLEncoding.EncodeToString(pw), hex.EncodeToString(pw)} {
		if strings.Contains(rep.Raw, enc) {
			t.Fatalf("an MCP answer holds the datasource password (%q)", enc)
		}
	}
}

// BenchmarkMCPToolCall measures one saved-query tool call through /mcp
// (a stateless request: token check, the user's catalogue, a fresh MCP
// server, the use case, the bounded answer) beside its baseline, the same
// saved query run through the HTTP API: compare the two ns/op.
//
//	go test -run XXX -bench MCPToolCall -benchtime 200x ./cmd/querygate/
func BenchmarkMCPToolCall(b *testing.B) {
	f := newMCPFixture(b)
	name := "sales_read_only__row_by_id_" + idTail(f.byID)
	b.Run("mcp", func(b *testing.B) {
		cs, _ := mcpSession(b, f.g, f.runTok)
		for b.Loop() {
			if a, isErr := callTool(b, cs, name, map[string]any{"id": 3}); isErr || a.RowCount != 1 {
				b.Fatalf("got %+v", a)
			}
		}
	})
	b.Run("api", func(b *testing.B) {
		c := f.g.client(nil)
		c.bearer = f.runTok
		for b.Loop() {
			if r := c.do("POST", "/api/queries/"+f.byID+"/run", map[string]any{"params": map[string]any{"id": 3}}); r.Status != 200 {
				b.Fatalf("got %d %s", r.Status, r.Body)
			}
		}
	})
}
