package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

// mustExec runs statements on the fixture's file, outside the connector.
func (f fixture) mustExec(t *testing.T, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range statements {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func findTable(sc *schema.Schema, name string) *schema.Table {
	for _, n := range sc.Schemas {
		for i := range n.Tables {
			if n.Tables[i].Name == name {
				return &n.Tables[i]
			}
		}
	}
	return nil
}

func TestSchema(t *testing.T) {
	f := newFixture(t)
	f.mustExec(t,
		"CREATE TABLE teams (id INTEGER PRIMARY KEY, label TEXT NOT NULL)",
		"CREATE TABLE users (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams (id), email TEXT)",
		"CREATE TABLE pairs (a INT, b INT, PRIMARY KEY (a, b), FOREIGN KEY (a, b) REFERENCES pairs (b, a))",
		"CREATE VIEW labels AS SELECT label FROM teams",
		"CREATE INDEX users_team ON users (team_id)",
		"ANALYZE", // makes sqlite_stat1, an internal table
	)
	for _, readOnly := range []bool{false, true} {
		c := f.mustConnector(t, readOnly)
		sc, err := c.Schema(t.Context(), schema.Limits{})
		if err != nil {
			t.Fatalf("read-only %v: Schema: %v", readOnly, err)
		}
		if len(sc.Schemas) != 1 || sc.Schemas[0].Name != "main" || sc.Truncated {
			t.Fatalf("got %+v, want main, whole", sc)
		}
		var names []string
		for _, tb := range sc.Schemas[0].Tables {
			names = append(names, tb.Name)
		}
		if got := fmt.Sprint(names); got != "[labels pairs t teams users]" {
			t.Errorf("tables %s, want [labels pairs t teams users] (no internal table, no index)", got)
		}
		users := findTable(sc, "users")
		want := []schema.Column{
			{Name: "id", Type: "INTEGER", PrimaryKey: true},
			{Name: "team_id", Type: "INTEGER", Nullable: true, References: "main.teams.id"},
			{Name: "email", Type: "TEXT", Nullable: true},
		}
		got, _ := json.Marshal(users.Columns)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) || users.Kind != schema.KindTable || users.RowsEstimate != nil {
			t.Errorf("users: %s %s %v\nwant columns %s", users.Kind, got, users.RowsEstimate, wantJSON)
		}
		// A foreign key of two columns names no single reference.
		if p := findTable(sc, "pairs"); p == nil || len(p.Columns) != 2 || p.Columns[0].References != "" || !p.Columns[0].PrimaryKey || !p.Columns[1].PrimaryKey {
			t.Errorf("pairs: %+v", p)
		}
		if v := findTable(sc, "labels"); v == nil || v.Kind != schema.KindView || len(v.Columns) != 1 {
			t.Errorf("labels: %+v, want a view of one column", v)
		}
	}
	// The authorizer still refuses what it refused.
	c := f.mustConnector(t, false)
	for _, q := range []string{"PRAGMA journal_mode = DELETE", "ATTACH DATABASE '" + filepath.Join(f.dir, "x.db") + "' AS x",
		"SELECT * FROM pragma_journal_mode('delete')"} {
		if _, err := c.Query(t.Context(), connect.Request{Query: q}, &sink{}); querygate.ErrorCode(err) != connect.EQUERY {
			t.Errorf("%s: got %v, want it refused", q, err)
		}
	}
}

// More objects than the limits: the answer stops at them and says so.
func TestSchemaTruncated(t *testing.T) {
	f := newFixture(t)
	var setup []string
	for i := range 30 {
		setup = append(setup, fmt.Sprintf("CREATE TABLE t%02d (a INT, b INT, c INT)", i))
	}
	f.mustExec(t, setup...)
	c := f.mustConnector(t, true)
	for _, tc := range []struct {
		name            string
		lim             schema.Limits
		tables, columns int
		truncated       bool
	}{
		// t (5 columns) sorts first.
		{"columns", schema.Limits{MaxColumns: 20}, 6, 20, true},
		{"tables", schema.Limits{MaxTables: 5}, 5, 17, true},
		{"exactly at the limits", schema.Limits{MaxTables: 31, MaxColumns: 95}, 31, 95, false},
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
