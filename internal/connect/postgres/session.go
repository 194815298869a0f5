package postgres

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/querygate/querygate/internal/connect"
)

// resetTimeout bounds the reset of a released connection.
const resetTimeout = 5 * time.Second

// resetSession is the pool's AfterRelease hook: it makes a connection
// that served one request clean for the next, whoever sends it, before the
// pool hands it out again. DISCARD ALL closes cursors, drops temporary
// tables, deallocates prepared statements, releases session advisory
// locks, unlistens every channel, resets every setting to the value the
// session started with (search_path, TimeZone, statement_timeout, role and
// session authorization, custom variables) and forgets cached plans.
//
// pgxpool runs this hook in its own goroutine after Release returns, so
// the request that used the connection does not wait for it; the
// connection is simply unavailable until it is clean. A connection that
// cannot be reset is closed (returning false destroys it).
func resetSession(conn *pgx.Conn) bool {
	if _, own := ownConnections.Load(conn); own {
		// DISCARD ALL does not close dblink's named connections nor
		// postgres_fdw's cached ones: a request could leave one open,
		// logged in as its credentials, for the next. Such a
		// connection is closed instead of reused.
		return false
	}
	if _, done := resetDone.LoadAndDelete(conn); done {
		// The run reset it already, in the same write as its statement
		// (Query), and checked the answer.
		return true
	}
	resetTrips.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	pg := conn.PgConn()
	if _, err := pg.Exec(ctx, "DISCARD ALL").ReadAll(); err != nil {
		return false
	}
	// RESET ALL restores client_encoding to the UTF8 of the startup
	// message; a connection where it is anything else is not reused.
	return pg.ParameterStatus("client_encoding") == "UTF8" && pg.TxStatus() == 'I'
}

// ownConnections holds the pooled connections of databases with an
// extension that opens connections of its own (see resetSession), from
// AfterConnect until the pool closes them.
var ownConnections sync.Map // *pgx.Conn -> struct{}

// ownConnectionsQuery tells whether the database has such an extension.
const ownConnectionsQuery = `SELECT 1 FROM pg_catalog.pg_extension WHERE extname IN ('dblink', 'postgres_fdw', 'pg_background') LIMIT 1`

// afterConnect checks a new connection before it joins the pool: it notes
// a database with extensions that keep connections of their own, and, for
// a read-only datasource that has not accepted the risk, refuses a role
// that can escape read-only.
func afterConnect(checkRole bool) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		pg := conn.PgConn()
		rows, err := pg.Exec(ctx, ownConnectionsQuery).ReadAll()
		if err != nil {
			return err
		}
		if len(rows) == 1 && len(rows[0].Rows) > 0 {
			ownConnections.Store(conn, struct{}{})
		}
		if checkRole {
			return checkPrivileges(ctx, pg)
		}
		return nil
	}
}

// resetTrips counts the resets that took a round trip of their own (the
// pool's hook), for tests.
var resetTrips atomic.Int64

// resetDone holds the connections a run has just reset itself (DISCARD
// ALL after its statement, in one write), from its release until the
// pool's AfterRelease hook, which then has nothing more to do.
var resetDone sync.Map // *pgx.Conn -> struct{}

// forgetConnection is the pool's BeforeClose hook.
func forgetConnection(conn *pgx.Conn) {
	ownConnections.Delete(conn)
	resetDone.Delete(conn)
}

// privilegeQuery lists what the connection's role can do that a read-only
// transaction does not stop. A read-only transaction refuses writes to
// tables, but not:
//   - a superuser (who can do all of the below, and turn settings off);
//   - the REPLICATION attribute: a replication slot is not transactional,
//     so one made in a rolled-back read-only transaction stays and keeps
//     write-ahead log on the server's disk (and a logical slot streams
//     every table's changes);
//   - COPY ... TO/FROM a server file or PROGRAM (pg_write_server_files,
//     pg_execute_server_program, pg_read_server_files), nor the file and
//     large-object functions granted to a role directly (any overload);
//   - pg_signal_backend, which cancels and ends other sessions;
//   - an extension that opens a connection of its own (dblink,
//     postgres_fdw, pg_background), whose writes commit there;
//   - adminpack's file writes.
//
// Membership counts whether inherited or reachable by SET ROLE (a
// statement may SET ROLE within its read-only transaction), which is what
// pg_has_role's MEMBER means. Each row is one reason, in words fit for an
// error message.
const privilegeQuery = `
SELECT 'it is the superuser role ' || quote_ident(r.rolname)
  FROM pg_catalog.pg_roles r
 WHERE r.rolsuper AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
UNION ALL
SELECT 'it may act as ' || quote_ident(r.rolname) || ', which has the REPLICATION attribute'
  FROM pg_catalog.pg_roles r
 WHERE r.rolreplication AND NOT r.rolsuper AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
UNION ALL
SELECT 'it is a member of ' || r.rolname
  FROM pg_catalog.pg_roles r
 WHERE r.rolname IN ('pg_write_server_files', 'pg_execute_server_program', 'pg_read_server_files', 'pg_signal_backend')
   AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
UNION ALL
SELECT DISTINCT 'it may run the extension ' || e.extname || ', which opens connections or files of its own'
  FROM pg_catalog.pg_extension e
  JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
                             AND d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e'
  JOIN pg_catalog.pg_proc p ON p.oid = d.objid
 WHERE e.extname IN ('dblink', 'postgres_fdw', 'pg_background', 'adminpack')
   AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')
   AND p.proname NOT LIKE '%handler' AND p.proname NOT LIKE '%validator'
UNION ALL
SELECT DISTINCT 'it may call ' || p.proname
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace = 'pg_catalog'::regnamespace
   AND p.proname IN ('lo_export', 'lo_import', 'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file',
                     'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_logdir_ls')
   AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE')`

// checkPrivileges refuses a connection of a read-only datasource whose
// role can get around a read-only transaction (see privilegeQuery). It
// runs on every new pooled connection (AfterConnect), so a datasource test,
// a device unlock and every query on a fresh connection check the role as
// it is now; a privilege granted later is seen by the next new connection.
func checkPrivileges(ctx context.Context, pg *pgconn.PgConn) error {
	res := pg.ExecParams(ctx, privilegeQuery, nil, nil, nil, nil)
	var reasons []string
	for res.NextRow() {
		reasons = append(reasons, string(res.Values()[0]))
	}
	if _, err := res.Close(); err != nil {
		return err
	}
	if len(reasons) == 0 {
		return nil
	}
	return connect.Errorf(connect.EPRIVILEGED, "This datasource is read-only, but its database role can get around a read-only transaction: %s. "+
		"Connect with a role that has none of these privileges, or turn on the setting %s to accept the risk.",
		strings.Join(reasons, "; "), connect.AllowPrivilegedRole)
}
