package postgres_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/testenv"
)

// schemaServer is the test server on a fresh database made by setup
// (statements run as the server's user), dropped when the test ends.
func schemaServer(t *testing.T, setup ...string) server {
	t.Helper()
	s := MustServer(t)
	u := testenv.PostgresDatabase(t, "qg_schema")
	s.url, s.database = u, strings.TrimPrefix(u.Path, "/")
	conn := plainConn(t, s)
	for _, q := range setup {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return s
}

// findTable returns the table ns.name of sc, or nil.
func findTable(sc *schema.Schema, ns, name string) *schema.Table {
	for _, n := range sc.Schemas {
		if n.Name != ns {
			continue
		}
		for i := range n.Tables {
			if n.Tables[i].Name == name {
				return &n.Tables[i]
			}
		}
	}
	return nil
}

func TestSchema(t *testing.T) {
	s := schemaServer(t,
		"CREATE SCHEMA app",
		"CREATE TABLE app.teams (id int PRIMARY KEY, label text)",
		"CREATE TABLE app.users (id bigint, team_id int REFERENCES app.teams (id), name varchar(40) NOT NULL, PRIMARY KEY (id))",
		"INSERT INTO app.teams SELECT g, 't' FROM generate_series(1, 50) g",
		"ANALYZE app.teams",
		"ALTER TABLE app.users DROP COLUMN name", // a dropped column is not listed
		"ALTER TABLE app.users ADD COLUMN email text",
		"CREATE VIEW app.team_names AS SELECT label FROM app.teams",
		"CREATE MATERIALIZED VIEW app.team_count AS SELECT count(*) AS n FROM app.teams",
		"CREATE TABLE app.events (at date NOT NULL) PARTITION BY RANGE (at)",
		"CREATE TABLE public.empty_one ()",
	)
	c, _ := MustConnector(t, s, options{})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if sc.Truncated {
		t.Errorf("truncated, want the whole schema")
	}
	for _, n := range sc.Schemas {
		switch n.Name {
		case "pg_catalog", "information_schema", "pg_toast":
			t.Errorf("system schema %s listed", n.Name)
		}
	}
	users := findTable(sc, "app", "users")
	if users == nil {
		t.Fatalf("app.users missing from %+v", sc)
	}
	want := []schema.Column{
		{Name: "id", Type: "bigint", PrimaryKey: true},
		{Name: "team_id", Type: "integer", Nullable: true, References: "app.teams.id"},
		{Name: "email", Type: "text", Nullable: true},
	}
	if got, _ := json.Marshal(users.Columns); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("app.users columns:\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	if users.Kind != schema.KindTable || users.RowsEstimate != nil {
		t.Errorf("app.users: kind %q, rows %v; want table, no estimate (never analysed)", users.Kind, users.RowsEstimate)
	}
	if teams := findTable(sc, "app", "teams"); teams == nil || teams.RowsEstimate == nil || *teams.RowsEstimate != 50 {
		t.Errorf("app.teams: %+v, want a rows estimate of 50", teams)
	}
	for _, tc := range []struct{ ns, name, kind string }{
		{"app", "team_names", schema.KindView},
		{"app", "team_count", schema.KindMaterializedView},
		{"app", "events", schema.KindPartitionedTable},
		{"public", "empty_one", schema.KindTable},
	} {
		tb := findTable(sc, tc.ns, tc.name)
		if tb == nil || tb.Kind != tc.kind {
			t.Errorf("%s.%s: %+v, want kind %s", tc.ns, tc.name, tb, tc.kind)
		}
	}
	if v := findTable(sc, "app", "team_names"); v != nil && (v.RowsEstimate != nil || len(v.Columns) != 1 || v.Columns[0].Name != "label") {
		t.Errorf("view: %+v, want its one column and no estimate", v)
	}
	if e := findTable(sc, "public", "empty_one"); e != nil && (e.Columns == nil || len(e.Columns) != 0) {
		t.Errorf("a table without columns: %+v, want an empty list", e)
	}
}

// A role sees only the schemas it may use and the tables it has a
// privilege on.
func TestSchemaOnlyWhatTheRoleMayUse(t *testing.T) {
	role := "qg_schema_" + strings.ToLower(rand.Text()[:10])
	s := schemaServer(t,
		"CREATE SCHEMA open", "CREATE SCHEMA closed",
		"CREATE TABLE open.granted (a int)", "CREATE TABLE open.withheld (b int)",
		"CREATE TABLE open.some_columns (c int, d int)",
		"CREATE TABLE closed.granted_but_hidden (e int)",
		"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		"CREATE ROLE "+role+" LOGIN",
		"GRANT USAGE ON SCHEMA open TO "+role,
		"GRANT SELECT ON open.granted TO "+role,
		"GRANT SELECT (c) ON open.some_columns TO "+role,
		"GRANT SELECT ON closed.granted_but_hidden TO "+role,
	)
	t.Cleanup(func() {
		conn, err := pgx.Connect(t.Context(), MustServer(t).url.String())
		if err != nil {
			return
		}
		defer conn.Close(t.Context())
		conn.Exec(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
	})
	t.Cleanup(func() {
		conn, err := pgx.Connect(t.Context(), MustServer(t).url.String())
		if err != nil {
			return
		}
		defer conn.Close(t.Context())
		conn.Exec(t.Context(), "DROP ROLE IF EXISTS "+role)
	})
	s.user = role
	c, _ := MustConnector(t, s, options{})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	var got []string
	for _, n := range sc.Schemas {
		for _, tb := range n.Tables {
			got = append(got, n.Name+"."+tb.Name)
		}
	}
	if strings.Join(got, " ") != "open.granted open.some_columns" {
		t.Errorf("listed %v, want open.granted open.some_columns", got)
	}
}

// More objects than the limits: the answer stops at them and says so.
func TestSchemaTruncated(t *testing.T) {
	setup := []string{}
	for i := range 40 {
		setup = append(setup, fmt.Sprintf("CREATE TABLE t%02d (a int, b int, c int)", i))
	}
	s := schemaServer(t, setup...)
	c, _ := MustConnector(t, s, options{})
	for _, tc := range []struct {
		name            string
		lim             schema.Limits
		tables, columns int
		truncated       bool
	}{
		{"columns", schema.Limits{MaxColumns: 20}, 7, 20, true},
		{"tables", schema.Limits{MaxTables: 5}, 5, 15, true},
		{"bytes", schema.Limits{MaxBytes: 100}, 3, 7, true},
		{"exactly at the limits", schema.Limits{MaxTables: 40, MaxColumns: 120}, 40, 120, false},
	} {
		sc, err := c.Schema(t.Context(), tc.lim)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tables, columns := sc.Count()
		if tables != tc.tables || columns != tc.columns || sc.Truncated != tc.truncated {
			t.Errorf("%s: %d tables, %d columns, truncated %v; want %d, %d, %v", tc.name, tables, columns, sc.Truncated, tc.tables, tc.columns, tc.truncated)
		}
	}
}

// A read-only datasource reads its schema through the same checks as a
// query: a role that could escape read-only is refused, a harmless one
// reads.
func TestSchemaReadOnly(t *testing.T) {
	s := schemaServer(t, "CREATE TABLE visible (a int PRIMARY KEY)")
	c, _ := MustConnector(t, s, options{readOnly: true})
	if _, err := c.Schema(t.Context(), schema.Limits{}); querygate.ErrorCode(err) != connect.EPRIVILEGED {
		t.Fatalf("a superuser on a read-only datasource: got %v, want %s", err, connect.EPRIVILEGED)
	}
	s.user = testenv.PostgresReadOnlyUser(t)
	c, _ = MustConnector(t, s, options{readOnly: true})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if tb := findTable(sc, "public", "visible"); tb == nil || len(tb.Columns) != 1 || !tb.Columns[0].PrimaryKey {
		t.Fatalf("public.visible: %+v in %+v", tb, sc)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
