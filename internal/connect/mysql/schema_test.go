package mysql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/testenv"
)

// schemaServer is the test server on a fresh database made by setup,
// dropped when the test ends.
func schemaServer(t *testing.T, setup ...string) server {
	t.Helper()
	s := MustServer(t)
	db := plainDB(t, s)
	name := uniqueName(t)
	MustExec(t, db, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	})
	s.Database = name
	db = plainDB(t, s)
	for _, q := range setup {
		MustExec(t, db, q)
	}
	return s
}

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
		"CREATE TABLE teams (id INT PRIMARY KEY, label TEXT) ENGINE=InnoDB",
		"CREATE TABLE users (id BIGINT NOT NULL, team_id INT NULL, email VARCHAR(40) NOT NULL, PRIMARY KEY (id), "+
			"FOREIGN KEY (team_id) REFERENCES teams (id)) ENGINE=InnoDB",
		"CREATE VIEW team_labels AS SELECT label FROM teams",
	)
	other := schemaServer(t, "CREATE TABLE elsewhere (x INT)")
	c, _ := MustConnector(t, s, options{})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if len(sc.Schemas) != 1 || sc.Schemas[0].Name != s.Database || sc.Truncated {
		t.Fatalf("got %+v, want the connected database only, whole", sc)
	}
	if findTable(sc, other.Database, "elsewhere") != nil {
		t.Errorf("another database's table listed")
	}
	users := findTable(sc, s.Database, "users")
	if users == nil || users.Kind != schema.KindTable || users.RowsEstimate == nil {
		t.Fatalf("users: %+v, want a table with an estimate", users)
	}
	want := []schema.Column{
		{Name: "id", Type: "bigint(20)", PrimaryKey: true},
		{Name: "team_id", Type: "int(11)", Nullable: true, References: s.Database + ".teams.id"},
		{Name: "email", Type: "varchar(40)"},
	}
	got, _ := json.Marshal(users.Columns)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		// MySQL 8 names integer types without a display width.
		want[0].Type, want[1].Type = "bigint", "int"
		wantJSON, _ = json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("users columns:\n got %s\nwant %s", got, wantJSON)
		}
	}
	if v := findTable(sc, s.Database, "team_labels"); v == nil || v.Kind != schema.KindView || v.RowsEstimate != nil || len(v.Columns) != 1 {
		t.Errorf("team_labels: %+v, want a view of one column, no estimate", v)
	}
}

// More objects than the limits: the answer stops at them and says so.
func TestSchemaTruncated(t *testing.T) {
	var setup []string
	for i := range 30 {
		setup = append(setup, fmt.Sprintf("CREATE TABLE t%02d (a INT, b INT, c INT)", i))
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
		{"exactly at the limits", schema.Limits{MaxTables: 30, MaxColumns: 90}, 30, 90, false},
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
// query: an account that could escape read-only is refused, a harmless
// one reads.
func TestSchemaReadOnly(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	table := MustTable(t, db, "id INT PRIMARY KEY")
	c, _ := MustConnector(t, s, options{readOnly: true})
	if _, err := c.Schema(t.Context(), schema.Limits{}); code(err) != connect.EPRIVILEGED {
		t.Fatalf("root on a read-only datasource: got %v, want %s", err, connect.EPRIVILEGED)
	}
	ro := s
	ro.User, ro.Password = testenv.MySQLReadOnlyUser(t), ""
	c, _ = MustConnector(t, ro, options{readOnly: true})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if tb := findTable(sc, s.Database, table); tb == nil || len(tb.Columns) != 1 || !tb.Columns[0].PrimaryKey {
		t.Fatalf("%s: %+v", table, tb)
	}
}
