package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestValuesAsTheDatabaseMeansThem runs dates and timestamps through the
// real gateway against each SQL kind and checks the NDJSON and CSV forms:
// a DATE travels as "2024-03-01", a timestamp without time zone as
// "2024-03-01T10:00:00" (no zone: it names no instant), and a timestamp
// with time zone as the instant it is, in RFC 3339 with an offset. The
// columns line names each column's type.
func TestValuesAsTheDatabaseMeansThem(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "values.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec(`CREATE TABLE v (d DATE, dt DATETIME, ts TIMESTAMP, b BLOB);
		INSERT INTO v VALUES ('2024-03-01', '2024-03-01 10:00:00', '2024-03-01 10:00:00+02:00', x'00ff')`); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	_, c := queryGateway(t, dir)

	run := func(t *testing.T, id, query string) (cols, row string) {
		t.Helper()
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": query})
		l := ndjson(t, r.Body)
		if r.Status != 200 || len(l) != 3 {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		return string(l[0]["columns"]), string(l[1]["row"])
	}
	check := func(t *testing.T, id, query, wantCols, wantRow string) {
		t.Helper()
		cols, row := run(t, id, query)
		if cols != wantCols {
			t.Errorf("columns = %s, want %s", cols, wantCols)
		}
		if row != wantRow {
			t.Errorf("row = %s, want %s", row, wantRow)
		}
	}

	t.Run("postgres", func(t *testing.T) {
		id := postgresSource(t, c, "pg-values", false)
		// The session's time zone must not move the instant, nor the
		// wall clock.
		check(t, id, `SELECT '2024-03-01'::date AS d, '2024-03-01 10:00:00'::timestamp AS ts,
			'2024-03-01 10:00:00+02'::timestamptz AS tz, '2024-03-01 10:00:00.25'::timestamp AS frac,
			'\x00ff'::bytea AS b, ARRAY['2024-03-01'::date] AS ds`,
			`[{"name":"d","type":"date"},{"name":"ts","type":"timestamp"},{"name":"tz","type":"timestamptz"},{"name":"frac","type":"timestamp"},{"name":"b","type":"bytea"},{"name":"ds","type":"_date"}]`,
			`["2024-03-01","2024-03-01T10:00:00","2024-03-01T08:00:00Z","2024-03-01T10:00:00.25","AP8=",["2024-03-01"]]`)
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": `SELECT '2024-03-01'::date AS d, '2024-03-01 10:00:00'::timestamp AS ts, '2024-03-01 10:00:00+02'::timestamptz AS tz`}, "Accept", "text/csv")
		if want := "d,ts,tz\n2024-03-01,2024-03-01T10:00:00,2024-03-01T08:00:00Z\n"; string(r.Body) != want {
			t.Errorf("csv = %q, want %q", r.Body, want)
		}
	})

	t.Run("mysql", func(t *testing.T) {
		id := mysqlSource(t, c, "my-values", false)
		table := fmt.Sprintf("qg_values_%d", time.Now().UnixNano())
		c.must(200, "POST", "/api/datasources/"+id+"/query", map[string]any{"query": "CREATE TABLE " + table + " (d DATE, dt DATETIME(3), ts TIMESTAMP NULL, n DECIMAL(6,2))"})
		t.Cleanup(func() { c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "DROP TABLE " + table}) })
		// The gateway's session time zone is UTC: the TIMESTAMP is
		// stored and read back as the instant 10:00 UTC.
		c.must(200, "POST", "/api/datasources/"+id+"/query", map[string]any{"query": "INSERT INTO " + table + " VALUES ('2024-03-01', '2024-03-01 10:00:00.5', '2024-03-01 10:00:00', 1234.5)"})
		want := `["2024-03-01","2024-03-01T10:00:00.5","2024-03-01T10:00:00Z","1234.50"]`
		check(t, id, "SELECT d, dt, ts, n FROM "+table,
			`[{"name":"d","type":"date"},{"name":"dt","type":"datetime"},{"name":"ts","type":"timestamp"},{"name":"n","type":"decimal"}]`, want)
		// The binary protocol (a statement with parameters) says the same.
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT d, dt, ts, n FROM " + table + " WHERE n > ?", "params": []any{0}})
		if l := ndjson(t, r.Body); len(l) != 3 || string(l[1]["row"]) != want {
			t.Errorf("binary protocol: got %s", r.Body)
		}
	})

	t.Run("sqlite", func(t *testing.T) {
		id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "lite-values", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
		// SQLite has no time zones: a DATETIME or TIMESTAMP is a wall
		// clock unless its text carries an offset. An expression has no
		// declared type: its storage class names it.
		check(t, id, "SELECT d, dt, ts, b, 1.5 * 2 AS e, 'x' || 'y' AS s FROM v",
			`[{"name":"d","type":"date"},{"name":"dt","type":"datetime"},{"name":"ts","type":"timestamp"},{"name":"b","type":"blob"},{"name":"e","type":"real"},{"name":"s","type":"text"}]`,
			`["2024-03-01","2024-03-01T10:00:00","2024-03-01T10:00:00+02:00","AP8=",3,"xy"]`)
	})
}
