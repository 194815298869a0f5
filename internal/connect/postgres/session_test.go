package postgres_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/testenv"
)

// TestCleanSession proves P13 for PostgreSQL: whatever one request leaves
// in its session (settings, temporary tables, prepared statements,
// advisory locks, LISTEN, custom variables), the next request on the same
// pooled connection does not see it, on read-write and read-only requests
// alike.
func TestCleanSession(t *testing.T) {
	s := MustServer(t)
	cases := []struct {
		name  string
		leave string // what user A runs
		probe string // what user B runs: one text value
		clean func(string) bool
	}{
		{"time zone", "SET TimeZone = 'Asia/Tokyo'", "SHOW TimeZone", func(v string) bool { return v != "Asia/Tokyo" }},
		{"statement timeout", "SET statement_timeout = 1", "SHOW statement_timeout", func(v string) bool { return v == "0" }},
		{"search path", "SET search_path = qg_nowhere", "SHOW search_path", func(v string) bool { return !strings.Contains(v, "qg_nowhere") }},
		{"custom variable", "SET qg.secret_of_a = 'alpha'", "SELECT coalesce(current_setting('qg.secret_of_a', true), '')", func(v string) bool { return v == "" }},
		{"set_config", "SELECT set_config('qg.secret_of_a', 'alpha', false)", "SELECT coalesce(current_setting('qg.secret_of_a', true), '')", func(v string) bool { return v == "" }},
		{"temporary table", "CREATE TEMP TABLE qg_tmp_a AS SELECT 'alpha' AS v", "SELECT coalesce(to_regclass('pg_temp.qg_tmp_a')::text, '')", func(v string) bool { return v == "" }},
		{"prepared statement", "PREPARE qg_prep_a AS SELECT 'alpha'", "SELECT count(*)::text FROM pg_prepared_statements", func(v string) bool { return v == "0" }},
		{"advisory lock", "SELECT pg_advisory_lock(424242)", "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", func(v string) bool { return v == "0" }},
		{"listen", "LISTEN qg_channel_a", "SELECT count(*)::text FROM pg_listening_channels()", func(v string) bool { return v == "0" }},
		{"cursor with hold", "DECLARE qg_cur_a CURSOR WITH HOLD FOR SELECT 1", "SELECT count(*)::text FROM pg_cursors WHERE name = 'qg_cur_a'", func(v string) bool { return v == "0" }},
		{"role", "SET ROLE pg_monitor", "SELECT (current_user = session_user)::text", func(v string) bool { return v == "true" }},
	}
	for _, readOnly := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.name+"/read-only="+strconv.FormatBool(readOnly), func(t *testing.T) {
				// One connection, so that B gets the connection A used.
				c, _ := MustConnector(t, s, options{maxConns: 1})
				pid := func() string {
					got, _ := MustQuery(t, c, connect.Request{Query: "SELECT pg_backend_pid()::text", ReadOnly: readOnly})
					return got.rows[0][0].(string)
				}
				before := pid()
				// A's statement may be refused in a read-only transaction
				// (temporary tables): then it left nothing, which the probe
				// shows as well.
				c.Query(t.Context(), connect.Request{Query: tc.leave, ReadOnly: readOnly}, &sink{})
				got, _ := MustQuery(t, c, connect.Request{Query: tc.probe, ReadOnly: readOnly})
				if v := got.rows[0][0].(string); !tc.clean(v) {
					t.Errorf("after %q, the next request sees %q", tc.leave, v)
				}
				if after := pid(); after != before {
					// The reset closed the connection instead of
					// cleaning it: still clean, but it should not.
					t.Logf("backend changed from %s to %s", before, after)
				}
			})
		}
	}
}

// mustRole creates a login role with no privileges (dropped when the test
// ends) and returns its name.
func mustRole(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	role := uniqueName(t)
	MustExec(t, conn, "CREATE ROLE "+role+" LOGIN")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn.Exec(ctx, "DROP OWNED BY "+role)
		conn.Exec(ctx, "DROP ROLE IF EXISTS "+role)
	})
	return role
}

// TestReadOnlyRefusesPrivilegedRole proves P10 for PostgreSQL: a read-only
// datasource whose role could get around a read-only transaction (here:
// write a server file with COPY, which a read-only transaction allows) is
// refused at connection time with an error naming the privilege, unless
// the operator accepts the risk with allow_privileged_role.
func TestReadOnlyRefusesPrivilegedRole(t *testing.T) {
	s := MustServer(t)
	admin := plainConn(t, s)
	var super bool
	if err := admin.QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		testenv.Skipf(t, "the test PostgreSQL user is not a superuser: roles cannot be set up")
	}
	role := mustRole(t, admin)
	as := func(user string, extra map[string]any) options {
		o := options{readOnly: true, settings: map[string]any{"user": user}}
		for k, v := range extra {
			o.settings[k] = v
		}
		return o
	}
	ping := func(o options) error {
		c, _ := MustConnector(t, s, o)
		return c.Ping(t.Context())
	}
	refused := func(t *testing.T, err error, names string) {
		t.Helper()
		if code := querygate.ErrorCode(err); code != connect.EPRIVILEGED {
			t.Fatalf("error = %v, want %s", err, connect.EPRIVILEGED)
		}
		if msg := querygate.ErrorMessage(err); !strings.Contains(msg, names) || !strings.Contains(msg, connect.AllowPrivilegedRole) {
			t.Errorf("message %q does not name %q and %s", msg, names, connect.AllowPrivilegedRole)
		}
	}

	t.Run("plain role", func(t *testing.T) {
		if err := ping(as(role, nil)); err != nil {
			t.Fatalf("a role without privileges: %v", err)
		}
	})
	t.Run("superuser", func(t *testing.T) {
		o := as(s.user, nil)
		c, _ := MustConnector(t, s, o)
		refused(t, c.Ping(t.Context()), "superuser")
		// Nothing runs either: the statement that proves the hole (a
		// server file written from a read-only transaction).
		_, err := c.Query(t.Context(), connect.Request{Query: "COPY (SELECT 1) TO '/tmp/qg-readonly-escape'", ReadOnly: true}, &sink{})
		refused(t, err, "superuser")
	})
	for _, member := range []string{"pg_write_server_files", "pg_execute_server_program", "pg_read_server_files"} {
		t.Run(member, func(t *testing.T) {
			r := mustRole(t, admin)
			// NOINHERIT membership still counts: SET ROLE reaches it.
			MustExec(t, admin, "ALTER ROLE "+r+" NOINHERIT")
			MustExec(t, admin, "GRANT "+member+" TO "+r)
			refused(t, ping(as(r, nil)), member)
		})
	}
	t.Run("superuser reachable by SET ROLE", func(t *testing.T) {
		r, boss := mustRole(t, admin), mustRole(t, admin)
		MustExec(t, admin, "ALTER ROLE "+boss+" SUPERUSER NOLOGIN")
		MustExec(t, admin, "GRANT "+boss+" TO "+r)
		refused(t, ping(as(r, nil)), "superuser")
	})
	t.Run("function granted directly", func(t *testing.T) {
		r := mustRole(t, admin)
		MustExec(t, admin, "GRANT EXECUTE ON FUNCTION pg_read_file(text) TO "+r)
		refused(t, ping(as(r, nil)), "pg_read_file")
	})
	t.Run("extension with its own connections", func(t *testing.T) {
		u := testenv.PostgresDatabase(t, "qg_ext")
		c, err := pgx.Connect(t.Context(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(t.Context(), "CREATE EXTENSION dblink"); err != nil {
			testenv.Skipf(t, "dblink is not available on the test server: %v", err)
		}
		r := mustRole(t, admin)
		db := strings.TrimPrefix(u.Path, "/")
		refused(t, ping(as(r, map[string]any{"database": db})), "dblink")
		// Without EXECUTE on its functions the extension is harmless.
		MustExec(t, c, "REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC")
		if err := ping(as(r, map[string]any{"database": db})); err != nil {
			t.Errorf("dblink without EXECUTE: %v", err)
		}
	})
	t.Run("privilege granted later", func(t *testing.T) {
		r := mustRole(t, admin)
		c, _ := MustConnector(t, s, as(r, nil))
		if err := c.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		MustExec(t, admin, "GRANT pg_write_server_files TO "+r)
		// A new connection sees it (a test, an unlock, a new pooled one).
		refused(t, ping(as(r, nil)), "pg_write_server_files")
	})
	t.Run("operator accepts the risk", func(t *testing.T) {
		if err := ping(as(s.user, map[string]any{connect.AllowPrivilegedRole: true})); err != nil {
			t.Fatalf("allow_privileged_role: %v", err)
		}
	})
	t.Run("read-write datasource", func(t *testing.T) {
		o := as(s.user, nil)
		o.readOnly = false
		if err := ping(o); err != nil {
			t.Fatalf("read-write with a superuser: %v", err)
		}
	})
}

// TestReadOnlySessionDefault proves the defence in depth: a statement that
// ends the read-only transaction it runs in still cannot write, because
// every transaction of a read-only datasource's session starts read-only.
func TestReadOnlySessionDefault(t *testing.T) {
	s := MustServer(t)
	admin := plainConn(t, s)
	table := MustTable(t, admin, "id int")
	role := mustRole(t, admin)
	MustExec(t, admin, "GRANT ALL ON "+table+" TO "+role)
	c, _ := MustConnector(t, s, options{readOnly: true, maxConns: 1, settings: map[string]any{"user": role}})
	got, _ := MustQuery(t, c, connect.Request{Query: "SHOW default_transaction_read_only", ReadOnly: true})
	if v := got.rows[0][0]; v != "on" {
		t.Errorf("default_transaction_read_only = %v, want on", v)
	}
	// A request without the read-only flag on a read-only datasource (a
	// caller bug) still cannot write.
	_, err := c.Query(t.Context(), connect.Request{Query: "INSERT INTO " + table + " VALUES (1)"}, &sink{})
	if code := querygate.ErrorCode(err); code != connect.EREADONLY {
		t.Errorf("insert: error = %v, want %s", err, connect.EREADONLY)
	}
}

// A query's connection is rolled back and reset in the same write as its
// statement: the pool's hook has no round trip of its own left to make,
// the connection is reused (the same backend), and a transaction a
// statement left open is never seen by the next request.
func TestResetInOneWrite(t *testing.T) {
	s := MustServer(t)
	for _, readOnly := range []bool{false, true} {
		t.Run("read-only="+strconv.FormatBool(readOnly), func(t *testing.T) {
			c, _ := MustConnector(t, s, options{maxConns: 1})
			pid := func() string {
				got, _ := MustQuery(t, c, connect.Request{Query: "SELECT pg_backend_pid()::text", ReadOnly: readOnly})
				return got.rows[0][0].(string)
			}
			first := pid()
			before := postgres.ResetTrips()
			for range 10 {
				MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: readOnly})
				MustQuery(t, c, connect.Request{Query: "SET TimeZone = 'Asia/Tokyo'", ReadOnly: readOnly})
				if p := pid(); p != first {
					t.Fatalf("backend changed from %s to %s: the connection was not reused", first, p)
				}
			}
			// The hook runs after Release returns: give it its moment.
			time.Sleep(50 * time.Millisecond)
			if n := postgres.ResetTrips() - before; n != 0 {
				t.Fatalf("%d resets took a round trip of their own", n)
			}
			if readOnly {
				return // a BEGIN inside the read-only transaction changes nothing
			}
			// A transaction left open (BEGIN) is not the next request's:
			// a savepoint needs a transaction block.
			MustQuery(t, c, connect.Request{Query: "BEGIN"})
			if _, err := c.Query(t.Context(), connect.Request{Query: "SAVEPOINT qg_sp"}, &sink{}); err == nil {
				t.Fatal("the next request ran inside the transaction the previous one opened")
			}
		})
	}
}

// A caller whose context ends once its result is complete (the HTTP
// request returns) sends the server no cancel request: the reset that
// follows a statement is read after the caller returned, and a cancel
// request sent then could reach the server after the connection went
// back to the pool, and cancel the next request's statement (cancel
// requests dial a connection of their own: the dials are counted).
func TestCallerEndSendsNoCancel(t *testing.T) {
	s := MustServer(t)
	c, dials := MustConnector(t, s, options{maxConns: 1})
	MustQuery(t, c, connect.Request{Query: "SELECT 1"})
	time.Sleep(50 * time.Millisecond)
	before := dials.n.Load()
	for i := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		_, err := c.Query(ctx, connect.Request{Query: "SELECT 1"}, &sink{})
		cancel() // the caller is done
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Query(t.Context(), connect.Request{Query: "SELECT pg_sleep(0.01)"}, &sink{}); err != nil {
			t.Fatalf("round %d: the next statement failed: %v", i, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := dials.n.Load() - before; n != 0 {
		t.Fatalf("%d dials (cancel requests, or connections replaced) after callers ended with complete results", n)
	}
}
