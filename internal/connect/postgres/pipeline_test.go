package postgres_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/connect"
)

// A statement that runs on its own (autocommit) commits at the Sync that
// follows it; an error there (a deferred constraint, a serialization
// failure) comes after its CommandComplete. The statement failed and
// must be reported so, not as done: the row is not in the table.
func TestCommitErrorReported(t *testing.T) {
	s := MustServer(t)
	admin := plainConn(t, s)
	table := MustTable(t, admin, "id int UNIQUE DEFERRABLE INITIALLY DEFERRED")
	MustExec(t, admin, "INSERT INTO "+table+" VALUES (1)")
	c, _ := MustConnector(t, s, options{maxConns: 1})
	for _, q := range []string{
		"INSERT INTO " + table + " VALUES (1)",
		"INSERT INTO " + table + " VALUES (1) RETURNING id",
	} {
		res, err := c.Query(t.Context(), connect.Request{Query: q}, &sink{})
		if err == nil {
			t.Errorf("%q: reported done (%+v), but its commit failed", q, res)
		}
	}
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// COPY to or from the client through the API fails as the statement's
// error, with what to do instead, not as a lost connection (nothing broke
// it: the pipeline that carries the statement cannot take COPY's data).
func TestCopyNotLostConnection(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	for _, ro := range []bool{false, true} {
		for _, q := range []string{"COPY (SELECT 1) TO STDOUT", "COPY (SELECT 1 WHERE false) TO STDOUT"} {
			_, err := c.Query(t.Context(), connect.Request{Query: q, ReadOnly: ro}, &sink{})
			if code(err) == connect.EUNREACHABLE {
				t.Errorf("read-only=%v %q: %v", ro, q, err)
			}
		}
	}
}

// ownContext is a caller's context of a type of its own: context.AfterFunc
// then waits for it in a goroutine, until it ends or the function is
// stopped.
type ownContext struct{ context.Context }

// Value hides the standard context underneath (which context.AfterFunc
// would otherwise find and register with, without a goroutine).
func (ownContext) Value(any) any { return nil }

// A run whose remaining rows are not wanted (the row limit, a client that
// stops) no longer listens to its caller's context: a caller that runs
// many statements under one long-lived context does not accumulate one
// waiting registration (here a goroutine) per abandoned statement.
func TestAbandonUnlinksCaller(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	ctx := ownContext{t.Context()}
	MustQuery(t, c, connect.Request{Query: "SELECT 1"})
	settle := func() int {
		time.Sleep(400 * time.Millisecond) // pgconn's cancel goroutines end
		return runtime.NumGoroutine()
	}
	before := settle()
	const n = 20
	for range n {
		if _, err := c.Query(ctx, connect.Request{Query: "SELECT g FROM generate_series(1, 100000) g"}, &sink{stopAfter: 1}); err != nil {
			t.Fatal(err)
		}
	}
	MustQuery(t, c, connect.Request{Query: "SELECT 1"}) // the last release is done
	if grown := settle() - before; grown >= n/2 {
		t.Fatalf("%d goroutines more after %d abandoned statements under one context", grown, n)
	}
}
