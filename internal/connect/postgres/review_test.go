package postgres_test

import (
	"testing"

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

// COPY to or from the client is a statement the server accepted; nothing
// broke the connection, so it must not be reported as lost (before the pipelined reset, COPY ... TO STDOUT ran
// and reported its row count; COPY ... FROM STDIN waited for the query's
// timeout).
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
