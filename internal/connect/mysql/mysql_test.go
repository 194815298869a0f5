package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

func TestTypesRoundTrip(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	c, dc := MustConnector(t, s, options{})
	table := MustTable(t, db, `id INT PRIMARY KEY,
		ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT,
		tiu TINYINT UNSIGNED, iu INT UNSIGNED, biu BIGINT UNSIGNED, yr YEAR,
		dec1 DECIMAL(30,10), fl FLOAT, db DOUBLE,
		d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2),
		ch CHAR(5), vc VARCHAR(50), tx TEXT, vcbin VARCHAR(20) COLLATE utf8mb4_bin, en ENUM('a','b'), st SET('x','y'),
		bl BLOB, bn BINARY(3), vb VARBINARY(10), bt BIT(10), js JSON, geo GEOMETRY`)
	MustExec(t, db, `INSERT INTO `+table+` VALUES (1,
		-128, -32768, -8388608, -2147483648, -9223372036854775808,
		255, 4294967295, 18446744073709551615, 2024,
		'12345678901234567890.0123456789', 1.1, 0.1,
		'2024-02-29', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123', '-838:59:59.00',
		'ab', 'héllo ✓', 'long text', 'Bin', 'b', 'x,y',
		x'00FF10', x'616200', x'', b'1000000001', '{"a": [1, 2.5, null]}', ST_GeomFromText('POINT(1 2)'))`)
	MustExec(t, db, "INSERT INTO "+table+" (id) VALUES (2)")
	// Zero dates need a permissive sql_mode on the inserting connection.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "SET SESSION sql_mode = ''"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "INSERT INTO "+table+" (id, d, dt) VALUES (3, '0000-00-00', '0000-00-00 00:00:00')"); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	wantTypes := []string{"int", "tinyint", "smallint", "mediumint", "int", "bigint",
		"tinyint unsigned", "int unsigned", "bigint unsigned", "year",
		"decimal", "float", "double", "date", "datetime", "timestamp", "time",
		"char", "varchar", "text", "varchar", "enum", "set",
		"blob", "binary", "varbinary", "bit", "", "geometry"}
	utc := time.UTC
	want := []any{int64(1), int64(-128), int64(-32768), int64(-8388608), int64(-2147483648), int64(-9223372036854775808),
		int64(255), int64(4294967295), uint64(18446744073709551615), int64(2024),
		connect.Numeric("12345678901234567890.0123456789"), 1.1, 0.1,
		connect.Date("2024-02-29"), connect.LocalDateTime("2024-02-29T13:14:15.123456"),
		time.Date(2024, 2, 29, 13, 14, 15, 123000000, utc), "-838:59:59.00",
		"ab", "héllo ✓", "long text", "Bin", "b", "x,y",
		[]byte{0, 0xff, 0x10}, []byte("ab\x00"), []byte{}, []byte{0x02, 0x01}, nil, nil}
	// JSON is LONGTEXT on MariaDB (a string) and JSON on MySQL.
	for _, params := range []struct {
		name string
		req  connect.Request
	}{
		{"text protocol", connect.Request{Query: "SELECT * FROM " + table + " ORDER BY id"}},
		{"binary protocol", connect.Request{Query: "SELECT * FROM " + table + " WHERE id > ? ORDER BY id", Params: []any{json.Number("0")}}},
	} {
		t.Run(params.name, func(t *testing.T) {
			got, res := MustQuery(t, c, params.req)
			if !res.HasRows || res.RowsAffected != -1 {
				t.Errorf("Result = %+v, want HasRows and RowsAffected -1", res)
			}
			if got.columns != 1 || len(got.rows) != 3 {
				t.Fatalf("Columns called %d times, %d rows; want 1 and 3", got.columns, len(got.rows))
			}
			for i, col := range got.cols {
				wt := wantTypes[i]
				if col.Name == "js" {
					// The driver names every non-binary text column "TEXT".
					if col.Type != "json" && col.Type != "text" {
						t.Errorf("column js type = %q, want json or text", col.Type)
					}
					continue
				}
				if col.Type != wt {
					t.Errorf("column %s type = %q, want %q", col.Name, col.Type, wt)
				}
			}
			row := got.rows[0]
			for i, w := range want {
				name := got.cols[i].Name
				switch name {
				case "js":
					var doc any
					var raw []byte
					switch v := row[i].(type) {
					case connect.JSON:
						raw = v
					case string:
						raw = []byte(v)
					default:
						t.Errorf("js = %T, want connect.JSON or string", row[i])
						continue
					}
					if err := json.Unmarshal(raw, &doc); err != nil || !equal(doc, map[string]any{"a": []any{1.0, 2.5, nil}}) {
						t.Errorf("js = %s (%v), want the document", raw, err)
					}
					continue
				case "geo":
					b, ok := row[i].([]byte)
					if !ok || len(b) != 25 { // SRID + WKB point
						t.Errorf("geo = %#v, want 25 bytes", row[i])
					}
					continue
				}
				if !equal(row[i], w) {
					t.Errorf("%s = %#v (%T), want %#v (%T)", name, row[i], row[i], w, w)
				}
			}
			for i, v := range got.rows[1][1:] {
				if v != nil {
					t.Errorf("NULL row: %s = %#v, want nil", got.cols[i+1].Name, v)
				}
			}
			zero := got.rows[2]
			if zero[13] != "0000-00-00" || zero[14] != "0000-00-00 00:00:00.000000" {
				t.Errorf("zero dates = %#v, %#v; want the server's text", zero[13], zero[14])
			}
		})
	}
	if dc.n.Load() == 0 {
		t.Error("the connector did not dial through the egress dialer")
	}
}

func TestExpressionsAndEmptyStrings(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{})
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT '' AS e, NULL AS n, 1+1 AS two, 2.50 AS d, UNHEX('00ff') AS b, NOW() AS now"})
	row := got.rows[0]
	if row[0] != "" || row[1] != nil || row[2] != int64(2) || row[3] != connect.Numeric("2.50") {
		t.Errorf("row = %#v", row)
	}
	if b, ok := row[4].([]byte); !ok || string(b) != "\x00\xff" {
		t.Errorf("UNHEX = %#v, want bytes", row[4])
	}
	// NOW() is a DATETIME: a wall clock, in the session's time zone (UTC).
	if s, ok := row[5].(connect.LocalDateTime); !ok {
		t.Errorf("NOW() = %#v, want a connect.LocalDateTime", row[5])
	} else if now, err := time.ParseInLocation("2006-01-02T15:04:05", string(s), time.UTC); err != nil || time.Since(now).Abs() > time.Minute {
		t.Errorf("NOW() = %q, want the current time in UTC (the session time zone is UTC)", s)
	}
}

func TestParams(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	c, _ := MustConnector(t, s, options{})
	table := MustTable(t, db, "id INT PRIMARY KEY, b BOOLEAN, i BIGINT, u BIGINT UNSIGNED, d DECIMAL(40,10), f DOUBLE, s VARCHAR(100), j TEXT, n INT")
	_, res := MustQuery(t, c, connect.Request{
		Query: "INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		Params: []any{json.Number("1"), true, json.Number("-9223372036854775808"), json.Number("18446744073709551615"),
			json.Number("123456789012345678901234567890.0123456789"), 2.5, "it's \"quoted\" ; DROP TABLE x", []any{1.0, "a", nil}, nil},
	})
	if res.HasRows || res.RowsAffected != 1 {
		t.Errorf("INSERT result = %+v, want RowsAffected 1", res)
	}
	MustQuery(t, c, connect.Request{Query: "INSERT INTO " + table + " (id, j) VALUES (?, ?)", Params: []any{json.Number("2"), map[string]any{"k": "v"}}})
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT b, i, u, d, f, s, j, n FROM " + table + " WHERE id = ?", Params: []any{json.Number("1")}})
	want := []any{int64(1), int64(-9223372036854775808), uint64(18446744073709551615),
		connect.Numeric("123456789012345678901234567890.0123456789"), 2.5, "it's \"quoted\" ; DROP TABLE x", `[1,"a",null]`, nil}
	if len(got.rows) != 1 {
		t.Fatalf("%d rows, want 1", len(got.rows))
	}
	for i, w := range want {
		if !equal(got.rows[0][i], w) {
			t.Errorf("%s = %#v, want %#v", got.cols[i].Name, got.rows[0][i], w)
		}
	}
	got, _ = MustQuery(t, c, connect.Request{Query: "SELECT j FROM " + table + " WHERE id = ?", Params: []any{json.Number("2")}})
	if got.rows[0][0] != `{"k":"v"}` {
		t.Errorf("object param = %#v", got.rows[0][0])
	}

	for _, tc := range []struct {
		name   string
		params []any
	}{
		{"bad number", []any{json.Number("1; DROP")}},
		{"bad type", []any{struct{}{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(t.Context(), connect.Request{Query: "SELECT ?", Params: tc.params}, &sink{})
			if code(err) != "invalid" {
				t.Errorf("err = %v, want invalid", err)
			}
		})
	}
	_, err := c.Query(t.Context(), connect.Request{Query: "SELECT ?, ?", Params: []any{"a"}}, &sink{})
	if code(err) != connect.EQUERY {
		t.Errorf("wrong parameter count: err = %v, want %s", err, connect.EQUERY)
	}
}

func TestRowsAffected(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	table := MustTable(t, db, "id INT PRIMARY KEY, v INT")
	other := uniqueName(t)
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + other) })
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{"INSERT INTO " + table + " VALUES (1, 0), (2, 0), (3, 0)", 3},
		{"UPDATE " + table + " SET v = 1 WHERE id >= 2", 2},
		{"UPDATE " + table + " SET v = 1 WHERE id >= 2", 0}, // changed rows, not matched
		{"CREATE TABLE " + other + " (a INT)", 0},
		{"DELETE FROM " + table, 3},
		{"SET @x = 1", 0},
	} {
		got, res := MustQuery(t, c, connect.Request{Query: tc.query})
		if res.HasRows || res.RowsAffected != tc.want || got.columns != 0 {
			t.Errorf("%s: result %+v, Columns called %d times; want RowsAffected %d and no columns", tc.query, res, got.columns, tc.want)
		}
	}
	// The statement ran once.
	MustQuery(t, c, connect.Request{Query: "INSERT INTO " + table + " VALUES (10, 0)"})
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after one INSERT = %d (%v), want 1", n, err)
	}
}

func TestReadOnly(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	table := MustTable(t, db, "id INT PRIMARY KEY, v INT")
	MustExec(t, db, "INSERT INTO "+table+" VALUES (1, 1)")
	created := uniqueName(t)
	t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + created) })
	for _, o := range []struct {
		name string
		opts options
		req  bool
	}{
		{"read-only datasource", options{readOnly: true, maxConns: 1}, false},
		{"read-only request", options{maxConns: 1}, true},
	} {
		t.Run(o.name, func(t *testing.T) {
			if o.opts.readOnly {
				// An account without global privileges: the test server's
				// own would be refused (TestReadOnlyRefusesPrivilegedAccount).
				o.opts.settings = mustAccount(t, s, db).settings
			}
			c, _ := MustConnector(t, s, o.opts)
			for _, q := range []string{
				"INSERT INTO " + table + " VALUES (2, 2)",
				"UPDATE " + table + " SET v = 5",
				"DELETE FROM " + table,
				"CREATE TABLE " + created + " (a INT)",
				"DROP TABLE " + table,
				"CREATE TEMPORARY TABLE " + created + " (a INT)",
			} {
				_, err := c.Query(t.Context(), connect.Request{Query: q, ReadOnly: o.req}, &sink{})
				if code(err) != connect.EREADONLY {
					t.Errorf("%s: err = %v, want %s", q, err, connect.EREADONLY)
				}
			}
			// A session reset by the statement itself does not carry over.
			MustQuery(t, c, connect.Request{Query: "SET SESSION TRANSACTION READ WRITE", ReadOnly: o.req})
			_, err := c.Query(t.Context(), connect.Request{Query: "INSERT INTO " + table + " VALUES (3, 3)", ReadOnly: o.req}, &sink{})
			if code(err) != connect.EREADONLY {
				t.Errorf("INSERT after SET SESSION TRANSACTION READ WRITE: err = %v, want %s", err, connect.EREADONLY)
			}
			got, _ := MustQuery(t, c, connect.Request{Query: "SELECT id, v FROM " + table, ReadOnly: o.req})
			if len(got.rows) != 1 || got.rows[0][0] != int64(1) || got.rows[0][1] != int64(1) {
				t.Errorf("table after refused writes = %v, want [[1 1]]", got.rows)
			}
			var n int
			db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", created).Scan(&n)
			if n != 0 {
				t.Errorf("CREATE TABLE in a read-only request created the table")
			}
		})
	}
	t.Run("read-write after read-only request", func(t *testing.T) {
		c, _ := MustConnector(t, s, options{maxConns: 1})
		MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: true})
		_, res := MustQuery(t, c, connect.Request{Query: "INSERT INTO " + table + " VALUES (4, 4)"})
		if res.RowsAffected != 1 {
			t.Errorf("INSERT on the same connection after a read-only request: %+v", res)
		}
	})
}

// processes returns the ids of the server's threads running a statement
// that contains marker, as seen from a separate connection.
func processes(t *testing.T, db *sql.DB, marker string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()", "%"+marker+"%")
	if err != nil {
		t.Fatalf("PROCESSLIST: %v", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// waitGone waits up to 3 s for no statement containing marker to run.
func waitGone(t *testing.T, db *sql.DB, marker string) {
	t.Helper()
	// Well before the statements' own end (SLEEP(30)); wide enough for a
	// KILL sent over a new connection on a loaded machine under -race.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids := processes(t, db, marker)
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v still run the statement 10 s after it was cancelled", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCancelStopsServer(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	for _, tc := range []struct {
		name     string
		readOnly bool
		deadline bool
		want     string
	}{
		{"cancel", false, false, connect.ECANCELED},
		{"cancel read-only", true, false, connect.ECANCELED},
		{"deadline", false, true, connect.ETIMEOUT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, dc := MustConnector(t, s, options{maxConns: 1})
			marker := uniqueName(t)
			var ctx context.Context
			var cancel context.CancelFunc
			if tc.deadline {
				ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(t.Context())
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			defer cancel()
			start := time.Now()
			_, err := c.Query(ctx, connect.Request{Query: "SELECT SLEEP(30) AS " + marker, ReadOnly: tc.readOnly}, &sink{})
			if code(err) != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Query returned after %v, want soon after the context ended", d)
			}
			waitGone(t, db, "SLEEP(30) AS "+marker)
			// The KILL QUERY went through the egress dialer too: one
			// connection for the statement, one for the kill.
			if n := dc.n.Load(); n < 2 {
				t.Errorf("dials = %d, want the statement's and the kill's", n)
			}
			// The pool still works.
			got, _ := MustQuery(t, c, connect.Request{Query: "SELECT 1"})
			if len(got.rows) != 1 {
				t.Errorf("after cancel: %v", got.rows)
			}
		})
	}
}

// bigQuery returns a million rows without a table, on MySQL 8 and
// MariaDB 10.2 and later.
func bigQuery(marker string) string {
	return "WITH d(n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) " +
		"SELECT a.n + 10*b.n + 100*c.n + 1000*e.n + 10000*f.n + 100000*g.n AS " + marker + ", REPEAT('x', 200) AS pad " +
		"FROM d a, d b, d c, d e, d f, d g"
}

func TestStopEarly(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	for _, readOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "read-write", true: "read-only"}[readOnly], func(t *testing.T) {
			c, _ := MustConnector(t, s, options{maxConns: 1})
			marker := uniqueName(t)
			start := time.Now()
			out := &sink{stopAfter: 10}
			res, err := c.Query(t.Context(), connect.Request{Query: bigQuery(marker), ReadOnly: readOnly}, out)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if len(out.rows) != 10 || !res.HasRows {
				t.Errorf("%d rows, result %+v; want 10 rows", len(out.rows), res)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("stopping early took %v", d)
			}
			waitGone(t, db, "AS "+marker)
			// The same connection (maxConns 1) runs the next statement.
			got, _ := MustQuery(t, c, connect.Request{Query: "SELECT 42"})
			if len(got.rows) != 1 || got.rows[0][0] != int64(42) {
				t.Errorf("after stop: %v", got.rows)
			}
		})
	}
	t.Run("sink error", func(t *testing.T) {
		c, _ := MustConnector(t, s, options{maxConns: 1})
		boom := errors.New("client gone")
		_, err := c.Query(t.Context(), connect.Request{Query: "SELECT 1 UNION ALL SELECT 2"}, errSink{boom})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want the sink's", err)
		}
		MustQuery(t, c, connect.Request{Query: "SELECT 1"})
	})
}

type errSink struct{ err error }

func (errSink) Columns([]connect.Column) error { return nil }
func (s errSink) Row([]any) error              { return s.err }

func TestConcurrentWithinPoolBound(t *testing.T) {
	s := MustServer(t)
	dc := &countingDialer{}
	c, _ := MustConnector(t, s, options{maxConns: 2, dial: dc.Dial})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := c.Query(t.Context(), connect.Request{Query: "SELECT SLEEP(0.01)"}, &sink{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Query: %v", err)
		}
	}
	// Every request gets a fresh connection (P13), but never more than
	// the pool's bound at once.
	dc.mu.Lock()
	peak := dc.peak
	dc.mu.Unlock()
	if peak > 2 {
		t.Errorf("%d connections open at once, want at most the pool's 2", peak)
	}
}

func TestBrokenConnectionIsReplaced(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	o := mustAccount(t, s, db)
	o.maxConns = 1
	c, _ := MustConnector(t, s, o)
	MustQuery(t, c, connect.Request{Query: "SELECT 1"})
	// The idle connection the pool holds now (opened to replace the one
	// the query used) is killed by the server.
	user := o.settings["user"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for killed := 0; killed == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := db.Exec("KILL CONNECTION ?", id); err == nil {
				killed++
			}
		}
	}
	failures := 0
	for range 2 {
		if _, err := c.Query(t.Context(), connect.Request{Query: "SELECT 1"}, &sink{}); err != nil {
			failures++
			t.Logf("after the server killed the pooled connection: %v", err)
		}
	}
	if failures > 1 {
		t.Errorf("%d failed queries after the connection was killed, want at most 1", failures)
	}
	MustQuery(t, c, connect.Request{Query: "SELECT 1"})
}

func TestLoadDataLocalInfileRefused(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	c, _ := MustConnector(t, s, options{})
	table := MustTable(t, db, "line TEXT")
	file := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(file, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{file, "/etc/hostname", "Reader::x"} {
		_, err := c.Query(t.Context(), connect.Request{Query: "LOAD DATA LOCAL INFILE '" + name + "' INTO TABLE " + table}, &sink{})
		if err == nil {
			t.Errorf("LOAD DATA LOCAL INFILE %q succeeded", name)
		} else if strings.Contains(err.Error(), canary) {
			t.Errorf("error holds the file's content: %v", err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != 0 {
		t.Errorf("table has %d rows (%v) after refused LOAD DATA LOCAL INFILE, want 0", n, err)
	}
	// The connection is still usable.
	MustQuery(t, c, connect.Request{Query: "SELECT 1"})
}

func TestPingAndClose(t *testing.T) {
	s := MustServer(t)
	c, dc := MustConnector(t, s, options{})
	if dc.n.Load() != 0 {
		t.Errorf("New dialled %d times, want 0 (lazy pool)", dc.n.Load())
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if dc.n.Load() != 1 {
		t.Errorf("Ping dialled %d times, want 1", dc.n.Load())
	}
	c.Close()
	_, err := c.Query(t.Context(), connect.Request{Query: "SELECT 1"}, &sink{})
	if code(err) != "unavailable" {
		t.Errorf("Query after Close: err = %v, want unavailable", err)
	}
}

// TestParseErrorLine: a statement the server cannot parse reports the
// line the server names, for the editor to mark.
func TestParseErrorLine(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{})
	for query, line := range map[string]int{"SELEC 1": 1, "SELECT 1,\n2,\n3 FRM x y z": 3, "SELECT 1": 0} {
		_, err := c.Query(t.Context(), connect.Request{Query: query}, &sink{})
		qe, _ := errors.AsType[*querygate.Error](err)
		got := 0
		if qe != nil {
			got = qe.Line
		}
		if got != line {
			t.Errorf("%q: line %d (%v), want %d", query, got, err, line)
		}
	}
}
