package postgres_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// writeCounter is a connection that counts its writes: each flight of
// messages to the server (a round trip) is one write.
type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// A read-only query costs four flights of messages to the server, two of
// them on the request's path: BEGIN READ ONLY with the statement's
// description (one pipeline), then its execution; the ROLLBACK and the
// DISCARD ALL of the release follow after the answer. It was five (BEGIN
// on its own). A statement refused in the pipeline still leaves a clean
// connection behind.
func TestReadOnlyRoundTrips(t *testing.T) {
	s := MustServer(t)
	var writes atomic.Int64
	var d net.Dialer
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writeCounter{Conn: c, n: &writes}, nil
	}
	c, _ := MustConnector(t, s, options{readOnly: true, maxConns: 1, dial: dial, settings: map[string]any{connect.AllowPrivilegedRole: true}})
	MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: true}) // connects
	const n = 20
	before := writes.Load()
	for range n {
		got, _ := MustQuery(t, c, connect.Request{Query: "SELECT $1::int4 + 1", Params: []any{"1"}, ReadOnly: true})
		if len(got.rows) != 1 || !equal(got.rows[0][0], int64(2)) {
			t.Fatalf("rows %v", got.rows)
		}
	}
	// One more query on the one connection waits for the last release.
	MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: true})
	// The first query's release (its ROLLBACK and DISCARD ALL, sent
	// after the answer) may land on either side of before: 2 more.
	if got := writes.Load() - before; got > 4*(n+1)+2 {
		t.Fatalf("%d writes for %d read-only queries, want at most 4 each", got, n+1)
	}
	for _, q := range []string{"SELEC 1", "SELECT $1::int4", "SELECT 1/0", "INSERT INTO pg_class DEFAULT VALUES"} {
		if _, err := c.Query(t.Context(), connect.Request{Query: q, ReadOnly: true}, &sink{}); err == nil {
			t.Fatalf("%q: no error", q)
		}
		got, _ := MustQuery(t, c, connect.Request{Query: "SELECT current_setting('transaction_read_only')", ReadOnly: true})
		if len(got.rows) != 1 || !equal(got.rows[0][0], "on") {
			t.Fatalf("after %q: %v", q, got.rows)
		}
	}
}
