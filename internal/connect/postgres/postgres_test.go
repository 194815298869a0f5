package postgres_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

func TestTypes(t *testing.T) {
	s := MustServer(t)
	c, dc := MustConnector(t, s, options{})
	utc := func(y int, mo time.Month, d, h, mi, sec, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, sec, ns, time.UTC)
	}
	N := func(s string) connect.Numeric { return connect.Numeric(s) }
	J := func(s string) connect.JSON { return connect.JSON(s) }
	tests := []struct {
		name, expr, typ string
		want            any
	}{
		{"null", "NULL::int4", "int4", nil},
		{"int2", "(-32768)::int2", "int2", int64(-32768)},
		{"int4", "2147483647::int4", "int4", int64(math.MaxInt32)},
		{"int8 max", "9223372036854775807::int8", "int8", int64(math.MaxInt64)},
		{"int8 min", "(-9223372036854775808)::int8", "int8", int64(math.MinInt64)},
		{"oid", "4294967295::oid", "oid", int64(4294967295)},
		{"float4 stays short", "0.1::float4", "float4", 0.1},
		{"float4 inf", "'-Infinity'::float4", "float4", math.Inf(-1)},
		{"float8", "1.5e300::float8", "float8", 1.5e300},
		{"float8 nan", "'NaN'::float8", "float8", math.NaN()},
		{"float8 inf", "'Infinity'::float8", "float8", math.Inf(1)},
		{"numeric exact", "12345678901234567890.000000001::numeric", "numeric", N("12345678901234567890.000000001")},
		{"numeric scale", "12.50::numeric(5,2)", "numeric", N("12.50")},
		{"numeric nan", "'NaN'::numeric", "numeric", N("NaN")},
		{"numeric infinity", "'-Infinity'::numeric", "numeric", N("-Infinity")},
		{"bool true", "true", "bool", true},
		{"bool false", "false", "bool", false},
		{"text", "'héllo ☃'::text", "text", "héllo ☃"},
		{"varchar", "'v'::varchar(5)", "varchar", "v"},
		{"bpchar pads", "'ab'::char(4)", "bpchar", "ab  "},
		{"name", "'n'::name", "name", "n"},
		{"char", `'x'::"char"`, "char", "x"},
		{"bytea", `'\xdeadbeef00'::bytea`, "bytea", []byte{0xde, 0xad, 0xbe, 0xef, 0}},
		{"bytea empty", `''::bytea`, "bytea", []byte{}},
		{"timestamp is a wall clock", "'2024-02-29 12:34:56.789012'::timestamp", "timestamp", connect.LocalDateTime("2024-02-29T12:34:56.789012")},
		{"timestamp BC", "'0044-03-15 10:00:00 BC'::timestamp", "timestamp", connect.LocalDateTime("-0043-03-15T10:00:00")},
		{"timestamp max", "'294276-12-31 23:59:59.999999'::timestamp", "timestamp", connect.LocalDateTime("294276-12-31T23:59:59.999999")},
		{"timestamp before 2000", "'1969-12-31 23:59:59.5'::timestamp", "timestamp", connect.LocalDateTime("1969-12-31T23:59:59.5")},
		{"timestamp infinity", "'infinity'::timestamp", "timestamp", "infinity"},
		{"timestamptz", "'2024-02-29 12:34:56.789012+02'::timestamptz", "timestamptz", utc(2024, 2, 29, 10, 34, 56, 789012000)},
		{"timestamptz -infinity", "'-infinity'::timestamptz", "timestamptz", "-infinity"},
		{"date", "'1999-12-31'::date", "date", connect.Date("1999-12-31")},
		{"date BC", "'0001-01-01 BC'::date", "date", connect.Date("0000-01-01")},
		{"date infinity", "'infinity'::date", "date", "infinity"},
		{"time", "'12:34:56.5'::time", "time", "12:34:56.5"},
		{"timetz", "'12:34:56+02'::timetz", "timetz", "12:34:56+02"},
		{"interval", "'1 year 2 mons 3 days 04:05:06.7'::interval", "interval", "1 year 2 mons 3 days 04:05:06.7"},
		{"uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid", "uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"json kept as is", `'{"a": [1, 2.50]}'::json`, "json", J(`{"a": [1, 2.50]}`)},
		{"jsonb", `'{"b":1, "a": "x"}'::jsonb`, "jsonb", J(`{"a": "x", "b": 1}`)},
		{"jsonb scalar", `'"s"'::jsonb`, "jsonb", J(`"s"`)},
		{"inet", "'192.168.0.1/24'::inet", "inet", "192.168.0.1/24"},
		{"cidr", "'10.0.0.0/8'::cidr", "cidr", "10.0.0.0/8"},
		{"macaddr", "'08:00:2B:01:02:03'::macaddr", "macaddr", "08:00:2b:01:02:03"},
		{"point", "point(1, 2)", "point", "(1,2)"},
		{"int4range", "int4range(1, 5)", "int4range", "[1,5)"},
		{"bit", "B'101'", "bit", "101"},
		{"record", "ROW(1, 'a b')", "record", `(1,"a b")`},
		{"untyped literal", "'lit'", "text", "lit"},
		{"int4 array", "ARRAY[1, NULL, 3]::int4[]", "_int4", []any{int64(1), nil, int64(3)}},
		{"int8 2d array", "ARRAY[[1, 2], [3, 4]]::int8[]", "_int8", []any{[]any{int64(1), int64(2)}, []any{int64(3), int64(4)}}},
		{"empty array", "'{}'::int4[]", "_int4", []any{}},
		{"array lower bound", "'[0:1]={7,8}'::int2[]", "_int2", []any{int64(7), int64(8)}},
		{"text array", `ARRAY['a', NULL, 'b "c"', 'NULL', '']`, "_text", []any{"a", nil, `b "c"`, "NULL", ""}},
		{"varchar array", `ARRAY['x']::varchar[]`, "_varchar", []any{"x"}},
		{"bool array", "ARRAY[true, false]", "_bool", []any{true, false}},
		{"float8 array", "ARRAY[1.5, 'NaN']::float8[]", "_float8", []any{1.5, math.NaN()}},
		{"float4 array", "ARRAY[0.1]::float4[]", "_float4", []any{0.1}},
		{"bytea array", `ARRAY['\x01'::bytea, NULL]`, "_bytea", []any{[]byte{1}, nil}},
		{"date array", "ARRAY['2000-01-01'::date]", "_date", []any{connect.Date("2000-01-01")}},
		{"timestamp array", "ARRAY['2000-01-01 10:00'::timestamp]", "_timestamp", []any{connect.LocalDateTime("2000-01-01T10:00:00")}},
		{"timestamptz array", "ARRAY['2000-01-01 10:00+02'::timestamptz]", "_timestamptz", []any{utc(2000, 1, 1, 8, 0, 0, 0)}},
		{"timestamptz array", "ARRAY['2000-01-01 00:00:01+00'::timestamptz]", "_timestamptz", []any{utc(2000, 1, 1, 0, 0, 1, 0)}},
		{"uuid array", "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]", "_uuid", []any{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}},
		{"numeric array", "ARRAY[1.5, NULL, 'NaN']::numeric[]", "_numeric", []any{N("1.5"), nil, N("NaN")}},
		{"numeric 2d array with bounds", "'[0:1][1:1]={{1},{2.5}}'::numeric[]", "_numeric", []any{[]any{N("1")}, []any{N("2.5")}}},
		{"jsonb array", `ARRAY['{"a": "x,}"}'::jsonb, '[1]']`, "_jsonb", []any{J(`{"a": "x,}"}`), J(`[1]`)}},
		{"interval array", "ARRAY['1 day'::interval, NULL]", "_interval", []any{"1 day", nil}},
		{"box array", "ARRAY[box '((1,1),(0,0))', box '((2,2),(1,1))']", "_box", []any{"(1,1),(0,0)", "(2,2),(1,1)"}},
		{"inet array", "ARRAY['::1'::inet]", "_inet", []any{"::1"}},
		{"timetz array", "ARRAY['12:00+02'::timetz, NULL]", "_timetz", []any{"12:00:00+02", nil}},
		{"void", "pg_sleep(0)", "void", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := MustQuery(t, c, connect.Request{Query: "SELECT " + tt.expr + " AS v"})
			if !res.HasRows || got.columns != 1 || len(got.rows) != 1 {
				t.Fatalf("result = %+v, %d Columns calls, %d rows; want one row", res, got.columns, len(got.rows))
			}
			if want := []connect.Column{{Name: "v", Type: tt.typ}}; fmt.Sprint(got.cols) != fmt.Sprint(want) {
				t.Errorf("columns = %v, want %v", got.cols, want)
			}
			if v := got.rows[0][0]; !equal(v, tt.want) {
				t.Errorf("value = %#v (%T), want %#v (%T)", v, v, tt.want, tt.want)
			}
		})
	}
	if dc.n.Load() == 0 {
		t.Error("the connector never used the dialer it was given")
	}
}

// TestTableRoundTrip writes one row of every value kind through parameters
// and reads it back, beside a row of NULLs.
func TestTableRoundTrip(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	c, _ := MustConnector(t, s, options{})
	table := MustTable(t, plain, `id int8 PRIMARY KEY, i2 int2, i4 int4, f8 float8, f4 float4, n numeric, b bool,
		t text, vc varchar(10), by bytea, ts timestamp, tz timestamptz, d date, u uuid, j json, jb jsonb,
		iv interval, ip inet, ia int4[], ta text[]`)
	insert := "INSERT INTO " + table + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
	params := []any{
		json.Number("1"), json.Number("-7"), json.Number("2147483647"), 2.25, json.Number("0.5"),
		json.Number("123456789012345678901234567890.123456789"), true, "tëxt", "vc", `\x0102`,
		"2024-01-02 03:04:05.123456", "2024-01-02T03:04:05.5Z", "2024-01-02", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		map[string]any{"k": []any{json.Number("1"), "x"}}, []any{json.Number("1"), nil}, "P1DT2H", "::1",
		[]any{json.Number("1"), nil, json.Number("3")}, []any{"a", "b,c"},
	}
	_, res := MustQuery(t, c, connect.Request{Query: insert, Params: params})
	if res.HasRows || res.RowsAffected != 1 {
		t.Fatalf("insert result = %+v, want 1 row affected and no rows", res)
	}
	nulls := make([]any, len(params))
	nulls[0] = json.Number("2")
	MustQuery(t, c, connect.Request{Query: insert, Params: nulls})

	got, res := MustQuery(t, c, connect.Request{Query: "SELECT * FROM " + table + " ORDER BY id"})
	if !res.HasRows || res.RowsAffected != 2 || len(got.rows) != 2 {
		t.Fatalf("select result = %+v with %d rows, want 2", res, len(got.rows))
	}
	wantTypes := "int8 int2 int4 float8 float4 numeric bool text varchar bytea timestamp timestamptz date uuid json jsonb interval inet _int4 _text"
	var types []string
	for _, col := range got.cols {
		types = append(types, col.Type)
	}
	if strings.Join(types, " ") != wantTypes {
		t.Errorf("types = %v, want %v", types, wantTypes)
	}
	want := []any{
		int64(1), int64(-7), int64(2147483647), 2.25, 0.5,
		connect.Numeric("123456789012345678901234567890.123456789"), true, "tëxt", "vc", []byte{1, 2},
		connect.LocalDateTime("2024-01-02T03:04:05.123456"), time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC),
		connect.Date("2024-01-02"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		connect.JSON(`{"k":[1,"x"]}`), connect.JSON(`[1, null]`), "1 day 02:00:00", "::1",
		[]any{int64(1), nil, int64(3)}, []any{"a", "b,c"},
	}
	for i, w := range want {
		if g := got.rows[0][i]; !equal(g, w) {
			t.Errorf("column %s = %#v, want %#v", got.cols[i].Name, g, w)
		}
	}
	for i, g := range got.rows[1][1:] {
		if g != nil {
			t.Errorf("NULL row column %s = %#v, want nil", got.cols[i+1].Name, g)
		}
	}
}

func TestParams(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{})
	tests := []struct {
		name  string
		query string
		param any
		want  any
	}{
		{"null", "SELECT $1::int4", nil, nil},
		{"bool", "SELECT $1::bool", true, true},
		{"integer json.Number to int8", "SELECT $1::int8", json.Number("9007199254740993"), int64(9007199254740993)},
		{"integer json.Number to int4", "SELECT $1::int4", json.Number("-5"), int64(-5)},
		{"integer json.Number to numeric", "SELECT $1::numeric", json.Number("42"), connect.Numeric("42")},
		{"integer json.Number to float8", "SELECT $1::float8", json.Number("42"), 42.0},
		{"integer json.Number to text", "SELECT $1::text", json.Number("42"), "42"},
		{"decimal json.Number keeps digits", "SELECT $1::numeric", json.Number("0.1000000000000000000001"), connect.Numeric("0.1000000000000000000001")},
		{"huge json.Number", "SELECT $1::numeric", json.Number("123456789012345678901234567890"), connect.Numeric("123456789012345678901234567890")},
		{"decimal json.Number to float8", "SELECT $1::float8", json.Number("1.5e3"), 1500.0},
		{"float64", "SELECT $1::float8", 2.5, 2.5},
		{"whole float64 to int4", "SELECT $1::int4", 3.0, int64(3)},
		{"string", "SELECT $1::text", "it's", "it's"},
		{"string untyped", "SELECT $1", "x", "x"},
		{"string to date", "SELECT $1::date", "2020-02-02", connect.Date("2020-02-02")},
		{"string to uuid", "SELECT $1::uuid", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"array to int8[]", "SELECT $1::int8[]", []any{json.Number("1"), nil}, []any{int64(1), nil}},
		{"array to text[]", "SELECT $1::text[]", []any{"a", "b"}, []any{"a", "b"}},
		{"array to numeric[]", "SELECT $1::numeric[]", []any{json.Number("1.5")}, []any{connect.Numeric("1.5")}},
		{"array to jsonb", "SELECT $1::jsonb", []any{json.Number("1"), "x", true}, connect.JSON(`[1, "x", true]`)},
		{"object to jsonb", "SELECT $1::jsonb", map[string]any{"a": json.Number("1.25")}, connect.JSON(`{"a": 1.25}`)},
		{"object to text", "SELECT $1::text", map[string]any{"a": nil}, `{"a":null}`},
		{"injection is data", "SELECT $1::text", "'; DROP TABLE x; --", "'; DROP TABLE x; --"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := MustQuery(t, c, connect.Request{Query: tt.query, Params: []any{tt.param}})
			if len(got.rows) != 1 || !equal(got.rows[0][0], tt.want) {
				t.Errorf("%s with %#v = %#v, want %#v", tt.query, tt.param, got.rows, tt.want)
			}
		})
	}

	t.Run("several", func(t *testing.T) {
		got, _ := MustQuery(t, c, connect.Request{Query: "SELECT $1::int4 + $2::int4, $3::text", Params: []any{json.Number("1"), json.Number("2"), "c"}})
		if !equal(got.rows[0], []any{int64(3), "c"}) {
			t.Errorf("row = %#v", got.rows[0])
		}
	})
	errTests := []struct {
		name   string
		query  string
		params []any
		code   string
	}{
		{"too few", "SELECT $1::int4, $2::int4", []any{json.Number("1")}, querygate.EINVALID},
		{"too many", "SELECT 1", []any{json.Number("1")}, querygate.EINVALID},
		{"not an int", "SELECT $1::int4", []any{"abc"}, connect.EQUERY},
		{"not a number", "SELECT $1::int4", []any{json.Number("1; DROP")}, querygate.EINVALID},
		{"unsupported Go type", "SELECT $1", []any{struct{}{}}, querygate.EINVALID},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Query(t.Context(), connect.Request{Query: tt.query, Params: tt.params}, &sink{})
			if code(err) != tt.code {
				t.Errorf("error = %v, want code %s", err, tt.code)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	table := MustTable(t, plain, "id int PRIMARY KEY, v text")
	MustExec(t, plain, "INSERT INTO "+table+" VALUES (1, 'one')")
	seq := table + "_seq"
	MustExec(t, plain, "CREATE SEQUENCE "+seq)
	t.Cleanup(func() { plain.Exec(t.Context(), "DROP SEQUENCE IF EXISTS "+seq) })
	ro, _ := MustConnector(t, s, options{maxConns: 1})

	writes := []string{
		"INSERT INTO " + table + " VALUES (2, 'two')",
		"UPDATE " + table + " SET v = 'changed'",
		"DELETE FROM " + table,
		"CREATE TABLE " + table + "_new (x int)",
		"DROP TABLE " + table,
		"SELECT nextval('" + seq + "')",
		"WITH d AS (DELETE FROM " + table + " RETURNING *) SELECT * FROM d",
	}
	for _, q := range writes {
		t.Run(q, func(t *testing.T) {
			_, err := ro.Query(t.Context(), connect.Request{Query: q, ReadOnly: true}, &sink{})
			if code(err) != connect.EREADONLY {
				t.Fatalf("error = %v, want %s", err, connect.EREADONLY)
			}
			assertNoSecret(t, err)
		})
	}
	// Attempts to leave read-only mode inside one statement fail (the
	// server allows it only before the first query of the transaction).
	for _, q := range []string{
		"DO $$ BEGIN SET TRANSACTION READ WRITE; INSERT INTO " + table + " VALUES (4, 'four'); END $$",
		"DO $$ BEGIN PERFORM set_config('transaction_read_only', 'off', true); INSERT INTO " + table + " VALUES (5, 'five'); END $$",
	} {
		if _, err := ro.Query(t.Context(), connect.Request{Query: q, ReadOnly: true}, &sink{}); err == nil {
			t.Errorf("%s: no error", q)
		}
	}
	// A statement that ends the transaction cannot open the door either.
	MustQuery(t, ro, connect.Request{Query: "COMMIT", ReadOnly: true})
	if _, err := ro.Query(t.Context(), connect.Request{Query: "INSERT INTO " + table + " VALUES (3, 'three')", ReadOnly: true}, &sink{}); code(err) != connect.EREADONLY {
		t.Errorf("insert after COMMIT: error = %v, want %s", err, connect.EREADONLY)
	}

	got, _ := MustQuery(t, ro, connect.Request{Query: "SELECT id, v FROM " + table, ReadOnly: true})
	if len(got.rows) != 1 || !equal(got.rows[0], []any{int64(1), "one"}) {
		t.Errorf("read-only select = %v, want [[1 one]]", got.rows)
	}
	var n int
	var v string
	if err := plain.QueryRow(t.Context(), "SELECT count(*), min(v) FROM "+table).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != "one" {
		t.Errorf("table holds %d rows, min %q; want the one row unchanged", n, v)
	}

	// Without ReadOnly, statements autocommit: a write is visible at once
	// from another session.
	rw, _ := MustConnector(t, s, options{})
	_, res := MustQuery(t, rw, connect.Request{Query: "UPDATE " + table + " SET v = 'uno'"})
	if res.RowsAffected != 1 {
		t.Errorf("update result = %+v, want 1 row affected", res)
	}
	if err := plain.QueryRow(t.Context(), "SELECT v FROM "+table).Scan(&v); err != nil || v != "uno" {
		t.Errorf("after update v = %q, %v; want uno", v, err)
	}
	got, _ = MustQuery(t, rw, connect.Request{Query: "SELECT current_setting('transaction_read_only')"})
	if !equal(got.rows[0][0], "off") {
		t.Errorf("transaction_read_only = %v, want off", got.rows[0][0])
	}
}

func TestResultWithoutRows(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	c, _ := MustConnector(t, s, options{})
	table := MustTable(t, plain, "id int")
	tests := []struct {
		query    string
		hasRows  bool
		affected int64
		rows     int
	}{
		{"INSERT INTO " + table + " SELECT generate_series(1, 3)", false, 3, 0},
		{"UPDATE " + table + " SET id = id + 1 WHERE id > 1", false, 2, 0},
		{"SELECT * FROM " + table + " WHERE false", true, 0, 0},
		{"DELETE FROM " + table + " WHERE id = 1 RETURNING id", true, 1, 1},
		{"CREATE INDEX ON " + table + " (id)", false, -1, 0},
	}
	for _, tt := range tests {
		got, res := MustQuery(t, c, connect.Request{Query: tt.query})
		if res.HasRows != tt.hasRows || res.RowsAffected != tt.affected || len(got.rows) != tt.rows {
			t.Errorf("%s: result %+v with %d rows, want HasRows %v, affected %d, %d rows", tt.query, res, len(got.rows), tt.hasRows, tt.affected, tt.rows)
		}
		if wantColumns := map[bool]int{true: 1, false: 0}[tt.hasRows]; got.columns != wantColumns {
			t.Errorf("%s: Columns called %d times, want %d", tt.query, got.columns, wantColumns)
		}
	}
}

func TestErrStop(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("read-only=%v", readOnly), func(t *testing.T) {
			c, _ := MustConnector(t, s, options{maxConns: 1})
			marker := uniqueName(t)
			// generate_series in the select list streams (in FROM it would be
			// materialised first).
			q := "SELECT generate_series(1, 50000000), 'row' /* " + marker + " */"
			start := time.Now()
			got := &sink{stopAfter: 5}
			res, err := c.Query(t.Context(), connect.Request{Query: q, ReadOnly: readOnly}, got)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("stopping after 5 rows took %v", took)
			}
			if !res.HasRows || len(got.rows) != 5 {
				t.Errorf("result %+v with %d rows, want 5", res, len(got.rows))
			}
			// The pool (of one connection) still works, and the server
			// stopped the statement.
			again, _ := MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: readOnly})
			if !equal(again.rows, [][]any{{int64(1)}}) {
				t.Errorf("next query = %v", again.rows)
			}
			waitNoActive(t, plain, marker)
		})
	}
}

// waitNoActive waits up to 3 s until no active backend with
// application_name querygate runs a statement containing marker.
func waitNoActive(t *testing.T, plain *pgx.Conn, marker string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var n int
		err := plain.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'querygate' AND state = 'active' AND query LIKE '%' || $1 || '%'`, marker).Scan(&n)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends still run the statement %s at the server", n, marker)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
