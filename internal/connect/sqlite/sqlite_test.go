package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/sqlite"
)

// sink collects a result.
type sink struct {
	cols []connect.Column
	rows [][]any
	max  int
}

func (s *sink) Columns(c []connect.Column) error { s.cols = c; return nil }
func (s *sink) Row(v []any) error {
	row := make([]any, len(v))
	for i, x := range v {
		if b, ok := x.([]byte); ok {
			x = append([]byte{}, b...)
		}
		row[i] = x
	}
	s.rows = append(s.rows, row)
	if s.max > 0 && len(s.rows) >= s.max {
		return connect.ErrStop
	}
	return nil
}

// fixture makes a database file in an allowed directory, beside a fake
// data directory of the gateway.
type fixture struct {
	dir, db, own string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{dir: filepath.Join(root, "allowed"), own: filepath.Join(root, "data")}
	os.Mkdir(f.dir, 0o700)
	os.Mkdir(f.own, 0o700)
	f.db = filepath.Join(f.dir, "app.db")
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, at DATETIME)",
		"INSERT INTO t VALUES (1, 'a', 1.5, x'00ff', '2026-01-02 03:04:05'), (2, NULL, NULL, NULL, NULL), (3, 'c', 3, x'', NULL)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.own, "querygate.db"), []byte("secret store"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// mustSettings decodes the settings of a datasource of that path, as the
// query service does.
func mustSettings(t *testing.T, path string) *sqlite.Settings {
	t.Helper()
	s, err := sqlite.DecodeSettings(map[string]any{"path": path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f fixture) connector(t *testing.T, path string, readOnly bool) (*sqlite.Connector, error) {
	t.Helper()
	c, err := sqlite.New(connect.Config{
		Settings: mustSettings(t, path), ReadOnly: readOnly,
		SQLiteDirs: []string{f.dir}, SQLiteDeny: []string{f.own, filepath.Join(f.own, "querygate.db")},
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func (f fixture) mustConnector(t *testing.T, readOnly bool) *sqlite.Connector {
	t.Helper()
	c, err := f.connector(t, f.db, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQueryValues(t *testing.T) {
	f := newFixture(t)
	c := f.mustConnector(t, false)
	var s sink
	res, err := c.Query(t.Context(), connect.Request{Query: "SELECT id, name, score, data FROM t WHERE id >= ? ORDER BY id", Params: []any{json.Number("1")}}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasRows || len(s.rows) != 3 {
		t.Fatalf("res %+v rows %v", res, s.rows)
	}
	wantCols := []connect.Column{{Name: "id", Type: "integer"}, {Name: "name", Type: "text"}, {Name: "score", Type: "real"}, {Name: "data", Type: "blob"}}
	if !reflect.DeepEqual(s.cols, wantCols) {
		t.Errorf("cols %v, want %v", s.cols, wantCols)
	}
	want := [][]any{{int64(1), "a", 1.5, []byte{0, 0xff}}, {int64(2), nil, nil, nil}, {int64(3), "c", float64(3), []byte{}}}
	if !reflect.DeepEqual(s.rows, want) {
		t.Errorf("rows %#v, want %#v", s.rows, want)
	}
	// The row limit stops the statement.
	s = sink{max: 1}
	if _, err := c.Query(t.Context(), connect.Request{Query: "SELECT id FROM t"}, &s); err != nil || len(s.rows) != 1 {
		t.Fatalf("stop: %v %v", err, s.rows)
	}
	// Writes report affected rows.
	res, err = c.Query(t.Context(), connect.Request{Query: "UPDATE t SET score = 0 WHERE id < 3"}, &sink{})
	if err != nil || res.HasRows || res.RowsAffected != 2 {
		t.Fatalf("update: %+v %v", res, err)
	}
	res, err = c.Query(t.Context(), connect.Request{Query: "CREATE TABLE u (x)"}, &sink{})
	if err != nil || res.RowsAffected != 0 {
		t.Fatalf("create: %+v %v", res, err)
	}
	// A statement error is the datasource's message, coded.
	_, err = c.Query(t.Context(), connect.Request{Query: "SELECT * FROM missing"}, &sink{})
	if querygate.ErrorCode(err) != connect.EQUERY || querygate.ErrorMessage(err) != "SQL logic error: no such table: missing" {
		t.Fatalf("missing table: %q %q", querygate.ErrorCode(err), querygate.ErrorMessage(err))
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t)
	c := f.mustConnector(t, true)
	for _, q := range []string{"DELETE FROM t", "CREATE TABLE x (a)", "INSERT INTO t (id) VALUES (9)"} {
		_, err := c.Query(t.Context(), connect.Request{Query: q, ReadOnly: true}, &sink{})
		if querygate.ErrorCode(err) != connect.EREADONLY {
			t.Errorf("%s: got %v, want read_only", q, err)
		}
	}
	// A read-only request on a writable datasource is read-only too.
	w := f.mustConnector(t, false)
	if _, err := w.Query(t.Context(), connect.Request{Query: "DELETE FROM t", ReadOnly: true}, &sink{}); querygate.ErrorCode(err) != connect.EREADONLY {
		t.Errorf("read-only request: got %v", err)
	}
	var s sink
	if _, err := w.Query(t.Context(), connect.Request{Query: "SELECT count(*) FROM t"}, &s); err != nil || s.rows[0][0] != int64(3) {
		t.Fatalf("rows were deleted: %v %v", err, s.rows)
	}
}

func TestRefusedStatements(t *testing.T) {
	f := newFixture(t)
	c := f.mustConnector(t, false)
	out := filepath.Join(f.dir, "copy.db")
	for _, q := range []string{
		"ATTACH DATABASE '" + filepath.Join(f.own, "querygate.db") + "' AS own",
		"ATTACH DATABASE '" + out + "' AS x",
		"VACUUM INTO '" + out + "'",
		"PRAGMA journal_mode = DELETE",
		"PRAGMA writable_schema = 1",
		"PRAGMA temp_store_directory = '/tmp'",
		"SELECT load_extension('/tmp/x.so')",
	} {
		_, err := c.Query(t.Context(), connect.Request{Query: q}, &sink{})
		if querygate.ErrorCode(err) != connect.EQUERY {
			t.Errorf("%s: got %v, want query_failed", q, err)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a statement wrote a file")
	}
	// Reading pragmas work.
	var s sink
	if _, err := c.Query(t.Context(), connect.Request{Query: "PRAGMA table_info(t)"}, &s); err != nil || len(s.rows) != 5 {
		t.Fatalf("table_info: %v %d", err, len(s.rows))
	}
}

func TestPaths(t *testing.T) {
	f := newFixture(t)
	outside := filepath.Join(filepath.Dir(f.dir), "outside.db")
	os.WriteFile(outside, nil, 0o600)
	link := filepath.Join(f.dir, "link.db")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(f.dir, "hard.db")
	if err := os.Link(filepath.Join(f.own, "querygate.db"), hard); err != nil {
		t.Fatal(err)
	}
	ownLink := filepath.Join(f.dir, "own.db")
	os.Symlink(filepath.Join(f.own, "querygate.db"), ownLink)
	for _, tc := range []struct {
		path, code string
	}{
		{"relative.db", connect.ECONFIG},
		{filepath.Join(f.dir, "missing.db"), connect.ECONFIG},
		{f.dir, connect.ECONFIG},
		{outside, connect.ECONFIG},
		{link, connect.ECONFIG},
		{filepath.Join(f.dir, "..", "outside.db"), connect.ECONFIG},
		{hard, querygate.EFORBIDDEN},
		{ownLink, querygate.EFORBIDDEN},
		{filepath.Join(f.own, "querygate.db"), querygate.EFORBIDDEN},
	} {
		_, err := f.connector(t, tc.path, false)
		if querygate.ErrorCode(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.path, err, tc.code)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "missing.db")); err == nil {
		t.Error("a missing database was created")
	}
	// No allowed directory: refused with the flag's name.
	_, err := sqlite.New(connect.Config{Settings: mustSettings(t, f.db)})
	if querygate.ErrorCode(err) != connect.ECONFIG || !strings.Contains(querygate.ErrorMessage(err), "--sqlite-dir") {
		t.Errorf("no dirs: %v", err)
	}
	// A link swapped after the datasource was made is checked again when
	// a connection opens.
	swap := filepath.Join(f.dir, "swap.db")
	os.Symlink(f.db, swap)
	c, err := f.connector(t, swap, false)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(swap)
	os.Symlink(filepath.Join(f.own, "querygate.db"), swap)
	if err := c.Ping(t.Context()); querygate.ErrorCode(err) != querygate.EFORBIDDEN {
		t.Errorf("swapped link: got %v", err)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	c := f.mustConnector(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Query(ctx, connect.Request{Query: "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r"}, &sink{})
	if querygate.ErrorCode(err) != connect.ETIMEOUT {
		t.Fatalf("got %v, want timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the query ran on for %v after its deadline", d)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("the pool is unusable after a cancel: %v", err)
	}
}
