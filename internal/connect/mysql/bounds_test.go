package mysql_test

import (
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// TestBounds: a value or a row larger than the bounds is refused with
// querygate.ETOOLARGE, whose message names the bound (and the column of a
// value), and the next query works.
func TestBounds(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1, bounds: connect.Bounds{MaxValueBytes: 1000, MaxRowBytes: 4000}})
	for _, tc := range []struct {
		name, query string
		params      []any
		want        []string // in the message
	}{
		{"value", `SELECT 1 AS id, REPEAT('x', 1001) AS big`, nil, []string{"column 2 (big)", "1000 bytes"}},
		{"binary value", `SELECT UNHEX(REPEAT('00', 1001)) AS bin`, nil, []string{"column 1 (bin)", "1000 bytes"}},
		{"prepared value", `SELECT REPEAT('x', ?) AS big`, []any{float64(1001)}, []string{"column 1 (big)", "1000 bytes"}},
		{"row", `SELECT REPEAT('a', 900) a, REPEAT('b', 900) b, REPEAT('c', 900) c, REPEAT('d', 900) d, REPEAT('e', 900) e`, nil,
			[]string{"row", "4000 bytes"}},
		{"later row", `SELECT IF(seq < 3, 'x', REPEAT('x', 2000)) AS v FROM seq_1_to_5`, nil, []string{"column 1 (v)"}},
		// Over what a connection may read for one row: refused while the
		// driver reads it, before it holds the whole row, and the
		// connection is dropped.
		{"read budget", `SELECT REPEAT('x', 3 * 1024 * 1024) AS huge`, nil, []string{"row", "4000 bytes"}},
		{"prepared read budget", `SELECT REPEAT('x', ?) AS huge`, []any{float64(3 << 20)}, []string{"row", "4000 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Query(t.Context(), connect.Request{Query: tc.query, Params: tc.params}, &sink{})
			if got := code(err); got != querygate.ETOOLARGE {
				t.Fatalf("got %v, want %s", err, querygate.ETOOLARGE)
			}
			for _, w := range tc.want {
				if msg := err.(*querygate.Error).Message; !strings.Contains(msg, w) {
					t.Errorf("message %q does not hold %q", msg, w)
				}
			}
			if r, _ := MustQuery(t, c, connect.Request{Query: `SELECT REPEAT('x', 999) AS v`}); len(r.rows) != 1 {
				t.Fatalf("next query: %v", r.rows)
			}
		})
	}
	t.Run("within", func(t *testing.T) {
		r, _ := MustQuery(t, c, connect.Request{Query: `SELECT REPEAT('a', 1000) a, REPEAT('b', 1000) b, REPEAT('c', 1000) c, REPEAT('d', 1000) d`})
		if len(r.rows) != 1 || r.rows[0][3] != strings.Repeat("d", 1000) {
			t.Fatalf("got %d rows", len(r.rows))
		}
	})
	t.Run("many rows within", func(t *testing.T) {
		// Each row has its own budget: a result far larger than one row's
		// bounds streams.
		r, _ := MustQuery(t, c, connect.Request{Query: `SELECT REPEAT('x', 1000) AS v FROM seq_1_to_3000`})
		if len(r.rows) != 3000 {
			t.Fatalf("got %d rows", len(r.rows))
		}
	})
}
