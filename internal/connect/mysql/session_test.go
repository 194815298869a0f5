package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

// mustAccount creates an account on the test server with the given grants
// (dropped when the test ends) and returns options that connect as it.
// Each grant is a statement with %s for the account's quoted name, such
// as "GRANT FILE ON *.* TO %s".
func mustAccount(t *testing.T, s server, db *sql.DB, grants ...string) options {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "qg_u_" + hex.EncodeToString(b[:])
	account := "'" + name + "'@'%'"
	MustExec(t, db, "CREATE USER "+account)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP USER IF EXISTS "+account)
	})
	MustExec(t, db, "GRANT ALL ON `"+strings.ReplaceAll(s.Database, "`", "``")+"`.* TO "+account)
	for _, g := range grants {
		MustExec(t, db, fmt.Sprintf(g, account))
	}
	return options{settings: map[string]any{"user": name}}
}

// TestCleanSession proves P13 for MySQL/MariaDB: whatever one request
// leaves in its session, the next request, on a pool of one connection,
// does not see it.
func TestCleanSession(t *testing.T) {
	s := MustServer(t)
	cases := []struct {
		name  string
		leave string
		probe string
		clean func(v string, err error) bool
	}{
		{"sql_select_limit", "SET SESSION sql_select_limit = 1", "SELECT @@SESSION.sql_select_limit", func(v string, err error) bool { return err == nil && v != "1" }},
		{"time zone", "SET time_zone = '+09:00'", "SELECT @@SESSION.time_zone", func(v string, err error) bool { return err == nil && v == "+00:00" }},
		{"user variable", "SET @qg_secret_of_a = 'alpha'", "SELECT @qg_secret_of_a IS NULL", func(v string, err error) bool { return err == nil && v == "1" }},
		{"temporary table", "CREATE TEMPORARY TABLE qg_tmp_a AS SELECT 'alpha' AS v", "SELECT v FROM qg_tmp_a", func(v string, err error) bool { return err != nil }},
		{"prepared statement", "PREPARE qg_prep_a FROM 'SELECT 1'", "EXECUTE qg_prep_a", func(v string, err error) bool { return err != nil }},
		{"lock", "SELECT GET_LOCK('qg_lock_a', 0)", "SELECT COALESCE(IS_USED_LOCK('qg_lock_a') = CONNECTION_ID(), 0)", func(v string, err error) bool { return err == nil && v == "0" }},
		{"default database", "USE information_schema", "SELECT DATABASE()", func(v string, err error) bool { return err == nil && v != "information_schema" }},
	}
	for _, readOnly := range []bool{false, true} {
		cases := cases
		if !readOnly {
			// A read-only request runs in a transaction of its own.
			cases = append(cases[:len(cases):len(cases)], struct {
				name  string
				leave string
				probe string
				clean func(v string, err error) bool
			}{"open transaction", "START TRANSACTION", "SELECT @@in_transaction", func(v string, err error) bool { return err == nil && v == "0" }})
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/read-only=%v", tc.name, readOnly), func(t *testing.T) {
				c, _ := MustConnector(t, s, options{maxConns: 1})
				c.Query(t.Context(), connect.Request{Query: tc.leave, ReadOnly: readOnly}, &sink{})
				got := &sink{}
				_, err := c.Query(t.Context(), connect.Request{Query: tc.probe, ReadOnly: readOnly}, got)
				v := ""
				if err == nil && len(got.rows) == 1 {
					v = fmt.Sprint(got.rows[0][0])
				}
				if !tc.clean(v, err) {
					t.Errorf("after %q, the next request gets %q (error %v)", tc.leave, v, err)
				}
			})
		}
	}
}

// TestReadOnlyRefusesPrivilegedAccount proves P10 for MySQL/MariaDB: a
// read-only datasource whose account could write server files (FILE: INTO
// OUTFILE works in a read-only transaction) or change server-wide settings
// (SUPER) is refused, also when the privilege comes through a role it may
// SET ROLE to, unless allow_privileged_role accepts the risk.
func TestReadOnlyRefusesPrivilegedAccount(t *testing.T) {
	s := MustServer(t)
	db := plainDB(t, s)
	refused := func(t *testing.T, o options, names string) {
		t.Helper()
		o.readOnly = true
		c, _ := MustConnector(t, s, o)
		err := c.Ping(t.Context())
		if code := querygate.ErrorCode(err); code != connect.EPRIVILEGED {
			t.Fatalf("Ping: error = %v, want %s", err, connect.EPRIVILEGED)
		}
		if msg := querygate.ErrorMessage(err); !strings.Contains(msg, names) || !strings.Contains(msg, connect.AllowPrivilegedRole) {
			t.Errorf("message %q does not name %q and %s", msg, names, connect.AllowPrivilegedRole)
		}
		_, err = c.Query(t.Context(), connect.Request{Query: "SELECT 1 INTO OUTFILE '/tmp/qg-readonly-escape-" + rand.Text() + "'", ReadOnly: true}, &sink{})
		if code := querygate.ErrorCode(err); code != connect.EPRIVILEGED {
			t.Errorf("Query: error = %v, want %s", err, connect.EPRIVILEGED)
		}
	}
	t.Run("plain account", func(t *testing.T) {
		o := mustAccount(t, s, db)
		o.readOnly = true
		c, _ := MustConnector(t, s, o)
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("an account with database grants only: %v", err)
		}
		MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: true})
	})
	t.Run("test server's own account", func(t *testing.T) {
		var grants string
		if err := db.QueryRow("SHOW GRANTS").Scan(&grants); err != nil || !strings.Contains(grants, "ON *.*") {
			testenv.Skipf(t, "the test account has no global grants: %q %v", grants, err)
		}
		refused(t, options{}, "")
	})
	t.Run("FILE", func(t *testing.T) { refused(t, mustAccount(t, s, db, "GRANT FILE ON *.* TO %s"), "FILE") })
	t.Run("SUPER", func(t *testing.T) { refused(t, mustAccount(t, s, db, "GRANT SUPER ON *.* TO %s"), "SUPER") })
	t.Run("SHUTDOWN", func(t *testing.T) { refused(t, mustAccount(t, s, db, "GRANT SHUTDOWN ON *.* TO %s"), "SHUTDOWN") })
	t.Run("RELOAD", func(t *testing.T) { refused(t, mustAccount(t, s, db, "GRANT RELOAD ON *.* TO %s"), "RELOAD") })
	t.Run("role", func(t *testing.T) {
		var b [4]byte
		rand.Read(b[:])
		role := "qg_r_" + hex.EncodeToString(b[:])
		if _, err := db.Exec("CREATE ROLE " + role); err != nil {
			testenv.Skipf(t, "roles are not supported by the test server: %v", err)
		}
		t.Cleanup(func() { db.Exec("DROP ROLE IF EXISTS " + role) })
		MustExec(t, db, "GRANT FILE ON *.* TO "+role)
		// Granted but not active: SET ROLE reaches it from a statement.
		refused(t, mustAccount(t, s, db, "GRANT "+role+" TO %s"), "FILE")
	})
	t.Run("operator accepts the risk", func(t *testing.T) {
		o := mustAccount(t, s, db, "GRANT FILE ON *.* TO %s")
		o.readOnly = true
		o.settings[connect.AllowPrivilegedRole] = true
		c, _ := MustConnector(t, s, o)
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("allow_privileged_role: %v", err)
		}
	})
}

// countingDialer tracks how many connections are open at once.
type countingDialer struct {
	mu                sync.Mutex
	open, peak, dials int
	d                 net.Dialer
}

func (c *countingDialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.dials++
	c.open++
	c.peak = max(c.peak, c.open)
	c.mu.Unlock()
	return &countedConn{Conn: conn, c: c}, nil
}

type countedConn struct {
	net.Conn
	c    *countingDialer
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() {
		cc.c.mu.Lock()
		cc.c.open--
		cc.c.mu.Unlock()
	})
	return cc.Conn.Close()
}
