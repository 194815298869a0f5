package postgres_test

import (
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// TestBounds: a value or a row larger than the bounds is refused with
// querygate.ETOOLARGE, whose message names the bound (and the column of a
// value), and the next query works, on the same connection or a new one.
func TestBounds(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1, bounds: connect.Bounds{MaxValueBytes: 1000, MaxRowBytes: 4000}})
	for _, tc := range []struct {
		name, query string
		want        []string // in the message
	}{
		{"value", `SELECT 1 AS id, repeat('x', 1001) AS big`, []string{"column 2 (big)", "1000 bytes"}},
		{"bytea value", `SELECT decode(repeat('00', 1001), 'hex') AS blob`, []string{"column 1 (blob)", "1000 bytes"}},
		{"row", `SELECT repeat('a', 900) a, repeat('b', 900) b, repeat('c', 900) c, repeat('d', 900) d, repeat('e', 900) e`,
			[]string{"row", "4000 bytes"}},
		// Over what the protocol reader takes: refused before the row is
		// read, and the connection is dropped.
		{"message", `SELECT repeat('x', 100000) AS huge`, []string{"row", "4000 bytes"}},
		{"later row", `SELECT CASE WHEN i < 3 THEN 'x' ELSE repeat('x', 2000) END AS v FROM generate_series(1, 5) i`,
			[]string{"column 1 (v)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(t.Context(), connect.Request{Query: tc.query}, &sink{})
			if got := code(err); got != querygate.ETOOLARGE {
				t.Fatalf("got %v, want %s", err, querygate.ETOOLARGE)
			}
			for _, w := range tc.want {
				if msg := err.(*querygate.Error).Message; !strings.Contains(msg, w) {
					t.Errorf("message %q does not hold %q", msg, w)
				}
			}
			if r, _ := MustQuery(t, c, connect.Request{Query: `SELECT repeat('x', 999) AS v`}); len(r.rows) != 1 {
				t.Fatalf("next query: %v", r.rows)
			}
		})
	}
	t.Run("within", func(t *testing.T) {
		r, _ := MustQuery(t, c, connect.Request{Query: `SELECT repeat('a', 1000) a, repeat('b', 1000) b, repeat('c', 1000) c, repeat('d', 1000) d`})
		if len(r.rows) != 1 || r.rows[0][3] != strings.Repeat("d", 1000) {
			t.Fatalf("got %d rows", len(r.rows))
		}
	})
}

// TestDefaultBounds: the default bounds hold without any setting.
func TestDefaultBounds(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	for _, tc := range []struct{ query, want string }{
		{`SELECT repeat('x', 32 * 1024 * 1024 + 1) AS v`, "32 MiB"},
		{`SELECT repeat('x', 30 * 1024 * 1024) a, repeat('x', 30 * 1024 * 1024) b, repeat('x', 30 * 1024 * 1024) c`, "64 MiB"},
	} {
		_, err := c.Query(t.Context(), connect.Request{Query: tc.query}, &sink{})
		if got := code(err); got != querygate.ETOOLARGE {
			t.Fatalf("%s: got %v, want %s", tc.query, err, querygate.ETOOLARGE)
		}
		if msg := err.(*querygate.Error).Message; !strings.Contains(msg, tc.want) {
			t.Errorf("message %q does not hold %q", msg, tc.want)
		}
	}
}
