package postgres_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// TestOwnConnectionsDoNotSurviveRequest: a named dblink connection is
// backend state that DISCARD ALL does not close, so the next request on the
// pooled connection (another gateway user with the same grant) can use the
// connection, and the credentials, that the previous request opened.
func TestOwnConnectionsDoNotSurviveRequest(t *testing.T) {
	s := MustServer(t)
	u := testenv.PostgresDatabase(t, "qg_rvdbl")
	c0, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close(t.Context())
	if _, err := c0.Exec(t.Context(), "CREATE EXTENSION dblink"); err != nil {
		testenv.Skipf(t, "dblink: %v", err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	c, _ := MustConnector(t, s, options{maxConns: 1, settings: map[string]any{"database": db}})
	MustQuery(t, c, connect.Request{Query: "SELECT dblink_connect('qg_user_a', 'host=127.0.0.1 dbname=postgres user=postgres')"})
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT coalesce(array_to_string(dblink_get_connections(), ','), '')"})
	if v := got.rows[0][0].(string); v != "" {
		t.Errorf("the next request sees user A's dblink connections %q", v)
		got, _ = MustQuery(t, c, connect.Request{Query: "SELECT * FROM dblink('qg_user_a', 'SELECT current_user::text') AS t(u text)"})
		t.Logf("and runs on it as %v", got.rows)
	}
}
