package postgres

import (
	"context"
	"strings"
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

// privilegeQuery lists what the connection's role can do that a read-only
// transaction does not stop. A read-only transaction refuses writes to
// tables, but not:
//   - a superuser (who can do all of the below, and turn settings off);
//   - COPY ... TO/FROM a server file or PROGRAM (pg_write_server_files,
//     pg_execute_server_program, pg_read_server_files), nor the file
//     functions granted to a role directly;
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
SELECT 'it is a member of ' || r.rolname
  FROM pg_catalog.pg_roles r
 WHERE r.rolname IN ('pg_write_server_files', 'pg_execute_server_program', 'pg_read_server_files')
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
SELECT 'it may call ' || f
  FROM unnest(ARRAY['lo_export(oid,text)', 'lo_import(text)', 'lo_import(text,oid)',
                    'pg_read_file(text)', 'pg_read_binary_file(text)', 'pg_ls_dir(text)']) AS f
 WHERE pg_catalog.to_regprocedure(f) IS NOT NULL
   AND pg_catalog.has_function_privilege(pg_catalog.to_regprocedure(f), 'EXECUTE')`

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
