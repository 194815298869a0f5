package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/sqlite"
)

// boundedConnector is a connector to f's database with bounds b.
func (f fixture) boundedConnector(t *testing.T, b connect.Bounds) *sqlite.Connector {
	t.Helper()
	c, err := sqlite.New(connect.Config{
		Settings: mustSettings(t, f.db), ReadOnly: true,
		SQLiteDirs: []string{f.dir}, SQLiteDeny: []string{f.own, filepath.Join(f.own, "querygate.db")},
		MaxConns: 1,
		Bounds:   b,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestBounds: a value or a row larger than the bounds is refused with
// querygate.ETOOLARGE, whose message names the bound (and the column
// where known), whether SQLite makes the value or reads it from the file,
// and the next query works.
func TestBounds(t *testing.T) {
	f := newFixture(t)
	db, err := sql.Open("sqlite", f.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE big (id INTEGER PRIMARY KEY, a BLOB, b BLOB)",
		"INSERT INTO big VALUES (1, zeroblob(10), zeroblob(10)), (2, zeroblob(2000), NULL), (3, zeroblob(900), zeroblob(900))",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	c := f.boundedConnector(t, connect.Bounds{MaxValueBytes: 1000, MaxRowBytes: 1500})
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"zeroblob", `SELECT 1 AS id, zeroblob(1001) AS z`, []string{"value", "1000 bytes"}},
		{"randomblob", `SELECT randomblob(5000) AS r`, []string{"value", "1000 bytes"}},
		{"text", `SELECT 1 AS id, printf('%.*c', 1001, 'x') AS t`, []string{"value", "1000 bytes"}},
		{"stored value", `SELECT a FROM big WHERE id = 2`, []string{"value", "1000 bytes"}},
		{"row", `SELECT zeroblob(900) AS a, zeroblob(900) AS b`, []string{"row", "1500 bytes"}},
		{"stored row", `SELECT a, b FROM big WHERE id = 3`, []string{"row", "1500 bytes"}},
		{"later row", `SELECT id, a FROM big ORDER BY id`, []string{"value", "1000 bytes"}},
		// SQLite itself refuses to make the value, even one that would not
		// reach the gateway: its memory is the gateway's.
		{"inside", `SELECT length(randomblob(5000)) AS n`, []string{"value", "1000 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(t.Context(), connect.Request{Query: tc.query}, &sink{})
			if got := querygate.ErrorCode(err); got != querygate.ETOOLARGE {
				t.Fatalf("got %v, want %s", err, querygate.ETOOLARGE)
			}
			for _, w := range tc.want {
				if msg := err.(*querygate.Error).Message; !strings.Contains(msg, w) {
					t.Errorf("message %q does not hold %q", msg, w)
				}
			}
			s := &sink{}
			if _, err := c.Query(t.Context(), connect.Request{Query: `SELECT zeroblob(1000) AS z`}, s); err != nil || len(s.rows) != 1 {
				t.Fatalf("next query: %v, %d rows", err, len(s.rows))
			}
		})
	}
}

// TestDefaultBounds: the default value bound holds without any setting.
func TestDefaultBounds(t *testing.T) {
	f := newFixture(t)
	c := f.boundedConnector(t, connect.Bounds{})
	_, err := c.Query(t.Context(), connect.Request{Query: `SELECT zeroblob(32 * 1024 * 1024 + 1) AS z`}, &sink{})
	if got := querygate.ErrorCode(err); got != querygate.ETOOLARGE || !strings.Contains(err.Error(), "32 MiB") {
		t.Fatalf("got %v, want %s naming 32 MiB", err, querygate.ETOOLARGE)
	}
	s := &sink{}
	if _, err := c.Query(t.Context(), connect.Request{Query: `SELECT zeroblob(30 * 1024 * 1024) AS a, zeroblob(30 * 1024 * 1024) AS b`}, s); err != nil {
		t.Fatalf("within the bounds: %v", err)
	}
	_, err = c.Query(t.Context(), connect.Request{Query: `SELECT zeroblob(30 * 1024 * 1024) AS a, zeroblob(30 * 1024 * 1024) AS b, zeroblob(30 * 1024 * 1024) AS c`}, &sink{})
	if got := querygate.ErrorCode(err); got != querygate.ETOOLARGE || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("got %v, want %s naming 64 MiB", err, querygate.ETOOLARGE)
	}
}
