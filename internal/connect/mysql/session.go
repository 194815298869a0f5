package mysql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/querygate/querygate/internal/connect"
)

// Every request starts from a clean session (P13). MySQL and MariaDB keep
// much per session that a statement can change and no statement can reset
// as a whole: session variables (SET, sql_select_limit, time_zone),
// user variables (@x), temporary tables, prepared statements (PREPARE),
// GET_LOCK locks, the default database (USE). The protocol's
// COM_RESET_CONNECTION would, but go-sql-driver/mysql does not send it.
// So a connection that ran a request is closed, and a fresh one is opened
// in the background to take its place (replenish), so that the next
// request rarely waits for a connection to be made.

// replenish opens one connection into the pool, in the background, while
// the pool has room, so that a request finds a fresh one idle.
func (c *Connector) replenish() {

	if c.closed.Load() {
		return
	}
	if st := c.db.Stats(); st.MaxOpenConnections > 0 && st.OpenConnections >= st.MaxOpenConnections {
		return
	}
	if !c.warming.CompareAndSwap(false, true) {
		return // one at a time is enough
	}
	go func() {
		defer c.warming.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		if conn, err := c.db.Conn(ctx); err == nil {
			conn.Close()
		}
	}()
}

// escapePrivileges are the global privileges with which a statement gets
// around a read-only session and transaction: server files (FILE: SELECT
// ... INTO OUTFILE and DUMPFILE write the server's disk from a read-only
// transaction, LOAD_FILE reads it), server-wide settings (SUPER and the
// privileges that set global variables, such as init_connect, general_log
// and its file), stopping or flushing the server (SHUTDOWN, RELOAD),
// replication and federated servers. ALL PRIVILEGES holds them all.
var escapePrivileges = []string{
	"ALL PRIVILEGES", "ALL", "FILE", "SUPER",
	// Server-wide effects no transaction holds back: stopping the server,
	// and FLUSH / RESET MASTER (which deletes the binary logs).
	"SHUTDOWN", "RELOAD",
	// MySQL 8 dynamic privileges.
	"SYSTEM_VARIABLES_ADMIN", "PERSIST_RO_VARIABLES_ADMIN", "BINLOG_ADMIN", "CONNECTION_ADMIN",
	"REPLICATION_SLAVE_ADMIN", "GROUP_REPLICATION_ADMIN",
	// MariaDB 10.5 and later split SUPER into these.
	"BINLOG ADMIN", "CONNECTION ADMIN", "REPLICATION MASTER ADMIN", "REPLICA ADMIN", "SLAVE ADMIN",
	"FEDERATED ADMIN", "REPLICATION SLAVE ADMIN",
}

// checkedConnector is the driver connector of a read-only datasource
// without allow_privileged_role: every connection it opens is refused
// when its account (or a role it may SET ROLE to) holds an escape
// privilege, before any statement runs on it. A datasource test, a device
// unlock and each fresh pooled connection (one per request, see
// replenish) therefore see the account's privileges as they are now.
type checkedConnector struct {
	driver.Connector
}

func (c *checkedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPrivileges(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// checkPrivileges reads SHOW GRANTS for the connection's account and,
// with each role granted to it made current in turn (SET ROLE, since SHOW
// GRANTS FOR a role needs access to the mysql database), for its roles;
// it refuses escape privileges, then makes the starting role current
// again.
func checkPrivileges(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	e, ok2 := conn.(driver.ExecerContext)
	if !ok || !ok2 {
		return connect.Errorf(connect.ECONFIG, "The MySQL driver cannot read the account's privileges.")
	}
	grants, err := queryLines(ctx, q, "SHOW GRANTS")
	if err != nil {
		return err
	}
	found := map[string]bool{}
	seen := map[string]bool{}
	var queue []string
	var restore string
	for {
		for _, g := range grants {
			privs, granted := parseGrant(g)
			for _, p := range privs {
				if slices.Contains(escapePrivileges, p) {
					found[p] = true
				}
			}
			for _, r := range granted {
				if !seen[r] && len(seen) < 64 {
					seen[r] = true
					queue = append(queue, r)
				}
			}
		}
		if len(queue) == 0 {
			break
		}
		if restore == "" {
			if restore, err = currentRole(ctx, q); err != nil {
				return err
			}
		}
		r := queue[0]
		queue = queue[1:]
		// r is quoted exactly as the server wrote it (parseGrant takes
		// only whole quoted names), never user text.
		if _, err := e.ExecContext(ctx, "SET ROLE "+r, nil); err != nil {
			return mapError(ctx, err, phaseConnect)
		}
		if grants, err = queryLines(ctx, q, "SHOW GRANTS"); err != nil {
			return err
		}
	}
	if restore != "" {
		if _, err := e.ExecContext(ctx, "SET ROLE "+restore, nil); err != nil {
			return mapError(ctx, err, phaseConnect)
		}
	}
	if len(found) == 0 {
		return nil
	}
	names := make([]string, 0, len(found))
	for p := range found {
		names = append(names, p)
	}
	slices.Sort(names)
	return connect.Errorf(connect.EPRIVILEGED, "This datasource is read-only, but its database account can get around a read-only session "+
		"(server files, server-wide settings): it holds %s. Connect with an account without these privileges, or turn on the setting %s to accept the risk.",
		strings.Join(names, ", "), connect.AllowPrivilegedRole)
}

// currentRole returns the argument of SET ROLE that makes the
// connection's current role current again: NONE, or the role quoted.
// MariaDB answers NULL or the bare name, MySQL NONE or quoted names.
func currentRole(ctx context.Context, q driver.QueryerContext) (string, error) {
	lines, err := queryLines(ctx, q, "SELECT CURRENT_ROLE()")
	if err != nil {
		return "", err
	}
	switch {
	case len(lines) == 0 || lines[0] == "" || lines[0] == "NONE":
		return "NONE", nil
	case strings.HasPrefix(lines[0], "`"):
		return lines[0], nil
	}
	return "`" + strings.ReplaceAll(lines[0], "`", "``") + "`", nil
}

// queryLines runs a statement and returns the first column of its rows
// as text (a NULL as "").
func queryLines(ctx context.Context, q driver.QueryerContext, stmt string) ([]string, error) {
	rows, err := q.QueryContext(ctx, stmt, nil)
	if err != nil {
		return nil, mapError(ctx, err, phaseConnect)
	}
	defer rows.Close()
	var out []string
	dest := make([]driver.Value, len(rows.Columns()))
	for {
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, mapError(ctx, err, phaseConnect)
		}
		switch v := dest[0].(type) {
		case []byte:
			out = append(out, string(v))
		case string:
			out = append(out, v)
		}
	}
}

// parseGrant reads one line of SHOW GRANTS: the global privileges it
// grants ("GRANT FILE, SUPER ON *.* TO ..."), or the roles it grants
// ("GRANT `r` TO ..." on MariaDB, "GRANT `r1`@`%`,`r2`@`%` TO ..." on
// MySQL), each as the quoted name the server wrote. Privileges on single
// databases or tables are not global and are ignored: a read-only
// transaction holds against them.
func parseGrant(line string) (privs, roles []string) {
	rest, ok := strings.CutPrefix(line, "GRANT ")
	if !ok {
		return nil, nil
	}
	if !strings.HasPrefix(rest, "`") && !strings.HasPrefix(rest, "'") {
		what, target, ok := strings.Cut(rest, " ON ")
		if !ok || !strings.HasPrefix(target, "*.* ") {
			return nil, nil
		}
		for p := range strings.SplitSeq(what, ",") {
			privs = append(privs, strings.ToUpper(strings.TrimSpace(p)))
		}
		return privs, nil
	}
	// Role names: quoted identifiers (quotes doubled inside), each maybe
	// with @host, separated by commas, up to " TO ".
	var cur strings.Builder
	for i := 0; i < len(rest); {
		switch c := rest[i]; {
		case c == '`' || c == '\'':
			j := i + 1
			for j < len(rest) {
				if rest[j] == c {
					if j+1 < len(rest) && rest[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(rest) {
				return nil, nil // unterminated: not a line this reads
			}
			cur.WriteString(rest[i : j+1])
			i = j + 1
		case c == '@':
			cur.WriteByte('@')
			i++
		case c == ',' || c == ' ':
			if cur.Len() > 0 {
				roles = append(roles, cur.String())
				cur.Reset()
			}
			if c == ' ' {
				if strings.HasPrefix(rest[i:], " TO ") {
					return nil, roles
				}
			}
			i++
		default:
			return nil, nil
		}
	}
	return nil, nil
}
