package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/querygate/querygate/internal/testenv"
)

// The wire-protocol tests drive the real gateway (--pgwire-listen on
// loopback) with real clients: psql, pgx, JDBC (pgwire_jdbc_test.go).

// wireCanary is the datasources' stored password: it must never reach a
// wire client.
const wireCanary = "pg-canary-password"

// wireGateway is a running gateway serving the wire protocol on loopback,
// with an admin client and API token, a read-only datasource (a role that
// may write one table, so that only read-only stops it) and a read-write
// one, and a direct connection to the test server for checks.
type wireGateway struct {
	t              *testing.T
	g              *gateway
	admin          *client
	token          string
	addr           string
	roName, rwName string
	roID, rwID     string
	roUser         string
	table          string // the table the read-only role may write
	direct         *pgx.Conn
}

func startWire(t *testing.T, args ...string) *wireGateway {
	t.Helper()
	base := testenv.PostgresURL(t)
	g := MustRun(t, t.TempDir(), nil, append([]string{"--pgwire-listen", "127.0.0.1:0"}, args...)...)
	c := g.client(nil)
	if slices.Contains(args, "--tls-self-signed") {
		g.url = "https://" + g.m.Addr()
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	c.must(201, "POST", "/api/setup", map[string]string{"token": g.setupToken(), "username": "admin", "password": adminPassword})
	w := &wireGateway{t: t, g: g, admin: c, addr: g.m.PgwireAddr(), roName: "wire_ro", rwName: "wire_rw"}
	direct, err := pgx.Connect(t.Context(), base.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close(context.Background()) })
	w.direct = direct
	w.roUser = testenv.PostgresReadOnlyUser(t)
	w.table = "wire_target_" + strings.ToLower(rand.Text()[:10])
	for _, q := range []string{"CREATE TABLE " + w.table + " (v int)", "GRANT ALL ON " + w.table + " TO " + w.roUser} {
		if _, err := direct.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { direct.Exec(context.Background(), "DROP TABLE IF EXISTS "+w.table) })
	w.roID = wireSource(t, c, w.roName, w.roUser, true)
	w.rwID = wireSource(t, c, w.rwName, base.User.Username(), false)
	w.token = c.must(201, "POST", "/api/tokens", map[string]any{"name": "wire"})["token"].(string)
	return w
}

// wireSource makes a PostgreSQL datasource on the test server.
func wireSource(t *testing.T, c *client, name, user string, readOnly bool) string {
	t.Helper()
	u := testenv.PostgresURL(t)
	d := c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "postgres", "read_only": readOnly,
		"settings": map[string]any{"host": u.Hostname(), "port": portOr(t, u.Port(), 5432), "database": strings.TrimPrefix(u.Path, "/"),
			"user": user, "sslmode": "disable", "allow_privileged_role": false},
		"secrets": map[string]any{"password": wireCanary}})
	return d["id"].(string)
}

// rows counts the rows of the read-only role's table, directly.
func (w *wireGateway) rows() int {
	w.t.Helper()
	var n int
	if err := w.direct.QueryRow(w.t.Context(), "SELECT count(*) FROM "+w.table).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// dsn is a libpq connection string to the gateway's wire listener.
func (w *wireGateway) dsn(user, db string) string {
	return wireDSN(w.addr, user, db)
}

func wireDSN(addr, user, db string) string {
	host, port, _ := net.SplitHostPort(addr)
	return "host=" + host + " port=" + port + " user=" + user + " dbname=" + db + " sslmode=disable connect_timeout=10"
}

// pgxConnect connects pgx to the gateway with password.
func pgxConnect(t *testing.T, addr, user, db, password string) (*pgx.Conn, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(wireDSN(addr, user, db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

func mustPgx(t *testing.T, w *wireGateway, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgxConnect(t, w.addr, "admin", db, w.token)
	if err != nil {
		t.Fatalf("connect to %s: %v\nlogs:\n%s", db, err, w.g.logs)
	}
	return conn
}

// psql runs psql with the password (an API token) and returns its output
// (stdout and stderr) and error.
func psql(t *testing.T, dsn, password string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", append([]string{"-X", "-v", "ON_ERROR_STOP=1", dsn}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=psql-test")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// readOnlyAttacks are statements (simple queries, several statements in
// one) with which a client tries to write through a read-only datasource:
// by turning read-only off for the session or the transaction, by ending
// the gateway's transaction first, by resetting the session, by changing
// role, by calling set_config, by copying in, by notifying.
func readOnlyAttacks(table string) []string {
	ins := "INSERT INTO " + table + " VALUES (1)"
	return []string{
		ins,
		"SET default_transaction_read_only = off; " + ins,
		"SET default_transaction_read_only = off; COMMIT; " + ins,
		"COMMIT; SET default_transaction_read_only = off; COMMIT; " + ins,
		"SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT; " + ins,
		"BEGIN READ WRITE; " + ins + "; COMMIT",
		"COMMIT; BEGIN READ WRITE; " + ins + "; COMMIT",
		"START TRANSACTION READ WRITE; " + ins,
		"COMMIT; " + ins,
		"ROLLBACK; " + ins,
		"END; " + ins,
		"ABORT; SET TRANSACTION READ WRITE; " + ins,
		"SET TRANSACTION READ WRITE; " + ins,
		"COMMIT AND CHAIN; SET TRANSACTION READ WRITE; " + ins,
		"ROLLBACK AND CHAIN; SET TRANSACTION READ WRITE; " + ins,
		"SAVEPOINT s; SET TRANSACTION READ WRITE; " + ins,
		"SAVEPOINT s; ROLLBACK TO SAVEPOINT s; SET TRANSACTION READ WRITE; " + ins,
		"RESET ALL; COMMIT; " + ins,
		"SET ROLE NONE; COMMIT; " + ins,
		"RESET ROLE; RESET SESSION AUTHORIZATION; COMMIT; " + ins,
		"SET SESSION AUTHORIZATION DEFAULT; COMMIT; " + ins,
		"DISCARD ALL; " + ins,
		"COMMIT; DISCARD ALL; " + ins,
		"SELECT set_config('default_transaction_read_only', 'off', false); COMMIT; " + ins,
		"SELECT set_config('transaction_read_only', 'off', false); " + ins,
		"COMMIT; SELECT set_config('transaction_read_only', 'off', false); " + ins,
		"PREPARE TRANSACTION 'qg'; " + ins,
		"DO $$BEGIN COMMIT; INSERT INTO " + table + " VALUES (1); END$$",
		"SELECT 'quote;'; COMMIT; SET TRANSACTION READ WRITE; " + ins,
		"SELECT $x$;$x$; COMMIT; SET TRANSACTION READ WRITE; " + ins,
		"SELECT 1 /* ; */; COMMIT -- ;\n; SET TRANSACTION READ WRITE; " + ins,
		"SELECT E'\\';'; COMMIT; SET TRANSACTION READ WRITE; " + ins,
		"UPDATE " + table + " SET v = 2",
		"TRUNCATE " + table,
		"CREATE TABLE wire_escape_x (v int)",
		"CREATE TEMP TABLE wire_escape_t (v int)",
		"NOTIFY wire_escape, 'written'",
		"COMMIT; NOTIFY wire_escape, 'written'",
		"LISTEN wire_escape",
	}
}

// checkReadOnlyHeld fails the test when the table was written or a
// notification was sent.
func (w *wireGateway) checkReadOnlyHeld(t *testing.T, listener *pgx.Conn, attack string) {
	t.Helper()
	if n := w.rows(); n != 0 {
		w.direct.Exec(t.Context(), "DELETE FROM "+w.table)
		t.Errorf("%q wrote through the read-only datasource (%d rows)", attack, n)
	}
	var exists bool
	w.direct.QueryRow(t.Context(), "SELECT to_regclass('wire_escape_x') IS NOT NULL").Scan(&exists)
	if exists {
		w.direct.Exec(t.Context(), "DROP TABLE wire_escape_x")
		t.Errorf("%q created a table through the read-only datasource", attack)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if n, err := listener.WaitForNotification(ctx); err == nil {
		t.Errorf("%q sent a notification through the read-only datasource: %v", attack, n.Payload)
	}
}

func (w *wireGateway) listener(t *testing.T) *pgx.Conn {
	t.Helper()
	l, err := pgx.Connect(t.Context(), testenv.PostgresURL(t).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	if _, err := l.Exec(t.Context(), "LISTEN wire_escape"); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWireReadOnlyHolds sends every attack through psql (simple protocol)
// and pgx (simple and extended protocol, pipelined), one session for all
// of them so that a session setting left by one would help the next; the
// table stays empty and no notification leaves.
func TestWireReadOnlyHolds(t *testing.T) {
	w := startWire(t)
	listener := w.listener(t)
	attacks := readOnlyAttacks(w.table)

	t.Run("psql", func(t *testing.T) {
		var script strings.Builder
		for _, a := range attacks {
			script.WriteString(a + ";\n")
		}
		// One psql session, statement after statement, errors ignored.
		out, _ := psql(t, w.dsn("admin", w.roName), w.token, script.String(), "-v", "ON_ERROR_STOP=0")
		if !strings.Contains(out, "read-only transaction") {
			t.Errorf("psql output does not show a read-only refusal:\n%s", out)
		}
		w.checkReadOnlyHeld(t, listener, "psql script")
		for _, a := range attacks {
			psql(t, w.dsn("admin", w.roName), w.token, "", "-c", a)
			w.checkReadOnlyHeld(t, listener, a)
		}
	})

	t.Run("pgx", func(t *testing.T) {
		conn := mustPgx(t, w, w.roName)
		for _, a := range attacks {
			conn.Exec(t.Context(), a, pgx.QueryExecModeSimpleProtocol)
			w.checkReadOnlyHeld(t, listener, a)
		}
		// Extended protocol, pipelined: one Sync for all.
		ins := "INSERT INTO " + w.table + " VALUES (1)"
		for _, batch := range [][]string{
			{"COMMIT", "SET TRANSACTION READ WRITE", ins},
			{"COMMIT", "SET default_transaction_read_only = off", "COMMIT", ins},
			{"BEGIN READ WRITE", ins, "COMMIT"},
			{"COMMIT AND CHAIN", "SET TRANSACTION READ WRITE", ins},
			{"SELECT set_config('default_transaction_read_only', 'off', false)", "COMMIT", ins},
			{"ROLLBACK", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "COMMIT", ins},
		} {
			b := &pgconn.Batch{}
			for _, q := range batch {
				b.ExecParams(q, nil, nil, nil, nil)
			}
			conn.PgConn().ExecBatch(t.Context(), b).ReadAll()
			w.checkReadOnlyHeld(t, listener, strings.Join(batch, " | "))
			// And each statement in a batch of its own.
			for _, q := range batch {
				conn.Exec(t.Context(), q)
			}
			w.checkReadOnlyHeld(t, listener, strings.Join(batch, " / "))
		}
		// The session still works.
		var n int
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+w.table).Scan(&n); err != nil || n != 0 {
			t.Errorf("select after the attacks: %d, %v", n, err)
		}
	})
}

// TestWireSessionIsolation: what one wire connection leaves (settings,
// temporary tables, prepared statements, advisory locks) is invisible to
// the next, whether the first is still open or closed.
func TestWireSessionIsolation(t *testing.T) {
	w := startWire(t)
	for _, db := range []string{w.rwName, w.roName} {
		t.Run(db, func(t *testing.T) {
			a := mustPgx(t, w, db)
			for _, q := range []string{"SET search_path = leak_schema", "SELECT set_config('leak.var', 'leaked', false)",
				"PREPARE leak_p AS SELECT 1", "SELECT pg_advisory_lock(4242)"} {
				if _, err := a.Exec(t.Context(), q, pgx.QueryExecModeSimpleProtocol); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if db == w.rwName {
				if _, err := a.Exec(t.Context(), "CREATE TEMP TABLE leak_t (v int)"); err != nil {
					t.Fatal(err)
				}
			}
			check := func(name string) {
				b := mustPgx(t, w, db)
				var path, v string
				var prepared int
				var temp, locked bool
				err := b.QueryRow(t.Context(), `SELECT current_setting('search_path'), coalesce(current_setting('leak.var', true), ''),
					(SELECT count(*) FROM pg_prepared_statements WHERE name = 'leak_p'), to_regclass('pg_temp.leak_t') IS NOT NULL,
					pg_try_advisory_lock(4242)`).Scan(&path, &v, &prepared, &temp, &locked)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(path, "leak") || v != "" || prepared != 0 || temp {
					t.Errorf("%s: the next session sees search_path %q, leak.var %q, %d prepared, temp table %v", name, path, v, prepared, temp)
				}
				if name == "closed" && !locked {
					t.Errorf("%s: the advisory lock of a closed session is still held", name)
				}
				b.Close(t.Context())
			}
			check("open")
			a.Close(t.Context())
			time.Sleep(100 * time.Millisecond) // the server ends the session after the client
			check("closed")
		})
	}
}

// TestWireRefusals: a wrong token and an unknown user get the same
// answer; a run grantee, a device-custody datasource and another kind are
// refused with a message saying why; each refusal is audited.
func TestWireRefusals(t *testing.T) {
	lite := t.TempDir()
	w := startWire(t, "--sqlite-dir", lite)
	viewer := w.admin.must(201, "POST", "/api/users", map[string]any{"username": "runner", "password": "runner password 1", "role": "viewer"})
	w.admin.must(200, "PUT", "/api/datasources/"+w.rwID+"/grants", map[string]any{"grants": []any{
		map[string]any{"type": "user", "id": viewer["id"], "level": "run"}}})
	vc := w.g.client(nil)
	vc.must(200, "POST", "/api/login", map[string]any{"username": "runner", "password": "runner password 1"})
	vtoken := vc.must(201, "POST", "/api/tokens", map[string]any{"name": "wire"})["token"].(string)
	u := testenv.PostgresURL(t)
	w.admin.must(201, "POST", "/api/datasources", map[string]any{"name": "wire_device", "kind": "postgres", "custody": "device",
		"settings": map[string]any{"host": u.Hostname(), "port": portOr(t, u.Port(), 5432), "database": strings.TrimPrefix(u.Path, "/"),
			"user": u.User.Username(), "sslmode": "disable"}})
	w.admin.must(201, "POST", "/api/datasources", map[string]any{"name": "wire_lite", "kind": "sqlite",
		"settings": map[string]any{"path": lite + "/x.db"}})

	for _, tc := range []struct {
		name, user, db, password, want string
	}{
		{"wrong token", "admin", w.rwName, "qgt_wrongwrongwrongwrongwrongwrongwrongwrongwr", "The user name or API token is not valid."},
		{"unknown user", "nobody", w.rwName, w.token, "The user name or API token is not valid."},
		{"another user's token", "runner", w.rwName, w.token, "The user name or API token is not valid."},
		{"run grantee", "runner", w.rwName, vtoken, "runs its saved queries only"},
		{"not granted", "runner", w.roName, vtoken, "not found"},
		{"device custody", "admin", "wire_device", w.token, "device custody"},
		{"other kind", "admin", "wire_lite", w.token, "serves postgres datasources only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := psql(t, w.dsn(tc.user, tc.db), tc.password, "", "-c", "SELECT 1")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("psql: %v, output %q, want a refusal with %q", err, out, tc.want)
			}
			if strings.Contains(out, wireCanary) {
				t.Errorf("the refusal holds the datasource password: %s", out)
			}
			_, err = pgxConnect(t, w.addr, tc.user, tc.db, tc.password)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("pgx: %v, want a refusal with %q", err, tc.want)
			}
		})
	}
	// The refusals of sessions are audited (and the failed logins).
	testenv.WaitFor(t, 5*time.Second, "audit events", func() bool {
		ev := w.admin.must(200, "GET", "/api/audit?action=pgwire.connect", nil)
		list, _ := ev["events"].([]any)
		return len(list) >= 8 // two clients x four refused sessions
	})
	ev := w.admin.must(200, "GET", "/api/audit?action=login.failure", nil)
	if list, _ := ev["events"].([]any); len(list) < 6 {
		t.Errorf("login failures audited: %d, want 6", len(list))
	}
}

// TestWireThrottle: failed logins are throttled as on the web.
func TestWireThrottle(t *testing.T) {
	w := startWire(t)
	var out string
	for range 6 {
		out, _ = psql(t, w.dsn("admin", w.rwName), "qgt_wrong", "", "-c", "SELECT 1")
	}
	if !strings.Contains(out, "Too many failed logins") {
		t.Errorf("after 6 failures: %q, want throttled", out)
	}
	// Even the right token waits.
	if out, err := psql(t, w.dsn("admin", w.rwName), w.token, "", "-c", "SELECT 1"); err == nil || !strings.Contains(out, "Too many failed logins") {
		t.Errorf("right token while throttled: %v %q", err, out)
	}
	// The web login shares the throttle: the guessing cannot move there.
	if r := w.g.client(nil).do("POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword}); r.Status != 429 {
		t.Errorf("web login after wire failures: %d, want 429", r.Status)
	}
}

// TestWirePsql: psql's \d family, a query, \copy to, several statements
// in one query, and a cancel (SIGINT) that reaches the server.
func TestWirePsql(t *testing.T) {
	w := startWire(t)
	if _, err := w.direct.Exec(t.Context(), "INSERT INTO "+w.table+" SELECT generate_series(1, 3)"); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{w.roName, w.rwName} {
		dsn := w.dsn("admin", db)
		out, err := psql(t, dsn, w.token, "", "-c", `\d `+w.table)
		if err != nil || !strings.Contains(out, "integer") || !strings.Contains(out, "Table \"public."+w.table+"\"") {
			t.Errorf("%s \\d: %v\n%s", db, err, out)
		}
		out, err = psql(t, dsn, w.token, "", "-c", `\dt`)
		if err != nil || !strings.Contains(out, w.table) {
			t.Errorf("%s \\dt: %v\n%s", db, err, out)
		}
		out, err = psql(t, dsn, w.token, "", "-At", "-c", "SELECT sum(v) FROM "+w.table+"; SELECT 'two;' AS x")
		if err != nil || out != "6\ntwo;\n" {
			t.Errorf("%s query: %v %q", db, err, out)
		}
		file := t.TempDir() + "/out.csv"
		out, err = psql(t, dsn, w.token, "", "-c", `\copy (SELECT v FROM `+w.table+` ORDER BY v) to '`+file+`' csv`)
		got, _ := os.ReadFile(file)
		if err != nil || string(got) != "1\n2\n3\n" {
			t.Errorf("%s \\copy to: %v %s %q", db, err, out, got)
		}
	}
	// COPY FROM goes through on the read-write datasource only.
	out, err := psql(t, w.dsn("admin", w.rwName), w.token, "7\n8\n", "-c", `\copy `+w.table+` from stdin`)
	if err != nil || w.rows() != 5 {
		t.Errorf("\\copy from on the read-write datasource: %v %s (%d rows)", err, out, w.rows())
	}
	out, err = psql(t, w.dsn("admin", w.roName), w.token, "9\n", "-c", `\copy `+w.table+` from stdin`)
	if err == nil || w.rows() != 5 || !strings.Contains(out, "read-only") {
		t.Errorf("\\copy from on the read-only datasource: %v %s (%d rows)", err, out, w.rows())
	}

	t.Run("cancel", func(t *testing.T) {
		for _, db := range []string{w.roName, w.rwName} {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			cmd := exec.CommandContext(ctx, "psql", "-X", w.dsn("admin", db), "-c", "SELECT pg_sleep(30)")
			cmd.Env = append(os.Environ(), "PGPASSWORD="+w.token, "PGAPPNAME=wire-cancel")
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, 10*time.Second, "the sleep at the server", func() bool {
				var n int
				w.direct.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'").Scan(&n)
				return n == 1
			})
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			cancel()
			if el := time.Since(start); el > 15*time.Second || !strings.Contains(buf.String(), "canceling statement due to user request") {
				t.Errorf("%s: cancel took %s, psql said %q", db, el, buf.String())
			}
			testenv.WaitFor(t, 5*time.Second, "the sleep gone", func() bool {
				var n int
				w.direct.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'").Scan(&n)
				return n == 0
			})
		}
	})
}

// TestWirePgx: the extended protocol through pgx: parameters, prepared
// statements, binary formats, several result types, a pipeline.
func TestWirePgx(t *testing.T) {
	w := startWire(t)
	for _, db := range []string{w.roName, w.rwName} {
		t.Run(db, func(t *testing.T) {
			conn := mustPgx(t, w, db)
			var (
				i  int64
				f  float64
				s  string
				b  []byte
				ts time.Time
				a  []int32
				n  *int
				ok bool
			)
			err := conn.QueryRow(t.Context(), "SELECT $1::int8 * 2, $2::float8, $3::text || '!', $4::bytea, $5::timestamptz, ARRAY[1,2,3]::int4[], NULL::int, $6::bool",
				int64(21), 1.5, "hé", []byte{0, 1, 255}, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), true).Scan(&i, &f, &s, &b, &ts, &a, &n, &ok)
			if err != nil || i != 42 || f != 1.5 || s != "hé!" || !bytes.Equal(b, []byte{0, 1, 255}) || !ts.Equal(time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)) ||
				len(a) != 3 || n != nil || !ok {
				t.Errorf("values: %v %v %v %v %v %v %v %v %v", err, i, f, s, b, ts, a, n, ok)
			}
			// A named prepared statement, run several times.
			if _, err := conn.Prepare(t.Context(), "sq", "SELECT $1::int + 1"); err != nil {
				t.Fatal(err)
			}
			for k := range 3 {
				var got int
				if err := conn.QueryRow(t.Context(), "sq", k).Scan(&got); err != nil || got != k+1 {
					t.Errorf("prepared run %d: %v %d", k, err, got)
				}
			}
			// Binary results are asked for by pgx for these types: check
			// the format went through.
			rows, err := conn.Query(t.Context(), "SELECT g, g::numeric / 3, now() FROM generate_series(1, 1000) g")
			if err != nil {
				t.Fatal(err)
			}
			count := 0
			for rows.Next() {
				count++
				if rows.FieldDescriptions()[0].Format != pgx.BinaryFormatCode {
					t.Errorf("column format %d, want binary", rows.FieldDescriptions()[0].Format)
					break
				}
			}
			if rows.Err() != nil || count != 1000 {
				t.Errorf("rows: %d, %v", count, rows.Err())
			}
			// An error, then the session goes on.
			if _, err := conn.Exec(t.Context(), "SELECT 1/0"); err == nil || !strings.Contains(err.Error(), "division by zero") {
				t.Errorf("division by zero: %v", err)
			}
			// A batch (pipelined, one Sync).
			br := conn.SendBatch(t.Context(), &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{
				{SQL: "SELECT 1"}, {SQL: "SELECT $1::text", Arguments: []any{"x"}}, {SQL: "SELECT count(*) FROM " + w.table}}})
			var one int
			var x string
			var c int
			if err := br.QueryRow().Scan(&one); err != nil || one != 1 {
				t.Errorf("batch 1: %v", err)
			}
			if err := br.QueryRow().Scan(&x); err != nil || x != "x" {
				t.Errorf("batch 2: %v", err)
			}
			if err := br.QueryRow().Scan(&c); err != nil {
				t.Errorf("batch 3: %v", err)
			}
			br.Close()
			// Transactions of the client's own.
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.QueryRow(t.Context(), "SELECT 5").Scan(&one); err != nil || one != 5 {
				t.Errorf("in a transaction: %v", err)
			}
			if err := tx.Commit(t.Context()); err != nil {
				t.Errorf("commit: %v", err)
			}
			if err := conn.Ping(t.Context()); err != nil {
				t.Errorf("ping: %v", err)
			}
		})
	}
}

// TestWireLimitsAndAudit: the row limit and the gateway's time cap apply
// to wire statements, and each statement is one audit event, with its
// text only under --audit-query-text.
func TestWireLimitsAndAudit(t *testing.T) {
	for _, withText := range []bool{false, true} {
		t.Run(fmt.Sprint("text=", withText), func(t *testing.T) {
			args := []string{"--row-limit-max", "50", "--query-timeout-max", "1s"}
			if withText {
				args = append(args, "--audit-query-text")
			}
			w := startWire(t, args...)
			conn := mustPgx(t, w, w.roName)
			rows, _ := conn.Query(t.Context(), "SELECT g FROM generate_series(1, 100) g")
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err == nil || n != 50 || !strings.Contains(err.Error(), "row-limit-max") {
				t.Errorf("row limit: %d rows, %v", n, err)
			}
			// The session's statement_timeout is the operator's default;
			// a client that turns it off still meets the gateway's own cap.
			start := time.Now()
			if _, err := conn.Exec(t.Context(), "SELECT pg_sleep(20)"); err == nil || !strings.Contains(err.Error(), "57014") || time.Since(start) > 10*time.Second {
				t.Errorf("statement timeout: %v after %s", err, time.Since(start))
			}
			rw := mustPgx(t, w, w.rwName)
			start = time.Now()
			if _, err := rw.Exec(t.Context(), "SET statement_timeout = 0"); err != nil {
				t.Fatal(err)
			}
			if _, err := rw.Exec(t.Context(), "SELECT pg_sleep(20)"); err == nil || !strings.Contains(err.Error(), "query-timeout-max") || time.Since(start) > 10*time.Second {
				t.Errorf("time cap: %v after %s", err, time.Since(start))
			}
			rw.Close(t.Context())
			// Acknowledged means recorded: once the client has the
			// statement's ReadyForQuery, its event is in the trail.
			queryEvents := func() int {
				evs, _ := w.admin.must(200, "GET", "/api/audit?action=query", nil)["events"].([]any)
				return len(evs)
			}
			before := queryEvents()
			var one int
			if err := conn.QueryRow(t.Context(), "SELECT 1 AS audit_marker_stmt").Scan(&one); err != nil {
				t.Fatal(err)
			}
			if n := queryEvents(); n != before+1 {
				t.Errorf("right after the answer: %d query events, want %d (the event is written before ReadyForQuery)", n, before+1)
			}
			conn.Exec(t.Context(), "SELECT 'a' AS audit_one; SELECT 'b' AS audit_two", pgx.QueryExecModeSimpleProtocol)
			conn.Close(t.Context())
			var events []any
			testenv.WaitFor(t, 5*time.Second, "audit events", func() bool {
				ev := w.admin.must(200, "GET", "/api/audit?action=query", nil)
				events, _ = ev["events"].([]any)
				return len(events) >= 7
			})
			body := fmt.Sprint(events)
			if len(events) != 7 {
				t.Errorf("%d query events, want 5 (one per statement): %s", len(events), body)
			}
			if strings.Contains(body, "audit_marker_stmt") != withText || strings.Contains(body, "audit_two") != withText {
				t.Errorf("statement text in the audit trail: %v, want %v: %s", !withText, withText, body)
			}
			if !strings.Contains(body, "pgwire") {
				t.Errorf("audit events do not say pgwire: %s", body)
			}
		})
	}
}

// recordingProxy forwards loopback connections to addr and records every
// byte the gateway sends back to clients.
type recordingProxy struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &recordingProxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(io.MultiWriter(c, p), up)
			}()
		}
	}()
	return p
}

func (p *recordingProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen.Write(b)
}

func (p *recordingProxy) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.seen.Bytes())
}

// secretForms are the forms a secret is searched in.
func secretForms(s string) []string {
	return []string{s, hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
}

// TestWireNoPasswordLeak: whatever a client does (queries, errors,
// catalogue queries, refusals) the bytes it receives hold no datasource
// password; a hostile upstream that echoes the password in its errors,
// notices and parameters has them withheld.
func TestWireNoPasswordLeak(t *testing.T) {
	w := startWire(t)
	const hostileSecret = "Hostile-Wire-Secret-5d1e"
	hostile := hostileWirePostgres(t, hostileSecret)
	host, port := mustSplitHostPort(t, hostile)
	w.admin.must(201, "POST", "/api/datasources", map[string]any{"name": "wire_hostile", "kind": "postgres",
		"settings": map[string]any{"host": host, "port": port, "database": "x", "user": "x", "sslmode": "disable"},
		"secrets":  map[string]any{"password": hostileSecret}})
	p := newRecordingProxy(t, w.addr)
	for _, db := range []string{w.roName, w.rwName, "wire_hostile"} {
		psql(t, wireDSN(p.addr, "admin", db), w.token, "SELECT 1;\n\\d\nSELECT * FROM nowhere;\nSELECT current_user, session_user;\nSHOW ALL;\n")
		if conn, err := pgxConnect(t, p.addr, "admin", db, w.token); err == nil {
			conn.Exec(t.Context(), "SELECT 1")
			conn.Exec(t.Context(), "SELECT $1::text", "x")
			conn.Close(t.Context())
		}
	}
	psql(t, wireDSN(p.addr, "admin", w.roName), "qgt_wrong", "", "-c", "SELECT 1")
	seen := p.bytes()
	if len(seen) < 1000 {
		t.Fatalf("recorded only %d bytes", len(seen))
	}
	for _, secret := range []string{wireCanary, hostileSecret} {
		for _, f := range secretForms(secret) {
			if bytes.Contains(seen, []byte(f)) {
				t.Errorf("the client received the password as %q", f)
			}
		}
	}
	if !bytes.Contains(seen, []byte("withheld")) {
		t.Errorf("the hostile server's messages were not withheld")
	}
	// Nor does the gateway's log hold a password or the client's token.
	logs := w.g.logs.String()
	for _, secret := range []string{wireCanary, hostileSecret, w.token} {
		for _, f := range secretForms(secret) {
			if strings.Contains(logs, f) {
				t.Errorf("the log holds a secret as %q", f)
			}
		}
	}
}

// hostileWirePostgres is a loopback server that knows the datasource's
// password (a compromised server: the gateway never sends it in clear
// without verified TLS) and puts it in every parameter (name and value),
// notice and error (texts, severities, code) and command tag it sends.
func hostileWirePostgres(t *testing.T, secret string) string {
	return fakePostgres(t, func(b *pgproto3.Backend) { serveHostileWire(b, secret) })
}

func serveHostileWire(b *pgproto3.Backend, secret string) {
	executes := 0
	echo := "near " + secret + " " + hex.EncodeToString([]byte(secret)) + " " + base64.StdEncoding.EncodeToString([]byte(secret))
	b.Send(&pgproto3.AuthenticationOk{})
	b.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	b.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "16.0"})
	b.Send(&pgproto3.ParameterStatus{Name: "application_name", Value: secret})
	b.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if b.Flush() != nil {
		return
	}
	for {
		m, err := b.Receive()
		if err != nil {
			return
		}
		switch m.(type) {
		case *pgproto3.Terminate:
			return
		case *pgproto3.Query, *pgproto3.Execute:
			executes++
			b.Send(&pgproto3.ParameterStatus{Name: "search_path", Value: echo})
			b.Send(&pgproto3.ParameterStatus{Name: secret, Value: "x"})
			b.Send(&pgproto3.NoticeResponse{Severity: "NOTICE", Code: "01000", Message: echo, Detail: secret})
			b.Send(&pgproto3.NoticeResponse{Severity: secret, SeverityUnlocalized: secret, Code: "01000", Message: "notice"})
			switch executes % 3 {
			case 1:
				// A statement that succeeds, with the secret as its tag.
				b.Send(&pgproto3.CommandComplete{CommandTag: []byte(secret)})
			case 0:
				b.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: "syntax error", Hint: echo})
			default:
				// The secret in the fields that are not texts.
				b.Send(&pgproto3.ErrorResponse{Severity: secret, SeverityUnlocalized: secret, Code: secret, Message: "syntax error"})
			}
			if _, ok := m.(*pgproto3.Query); ok {
				b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			}
		case *pgproto3.Sync:
			b.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		}
		if b.Flush() != nil {
			return
		}
	}
}

// TestWireTLS: with a certificate the listener answers SSLRequest and
// psql connects over TLS; a non-loopback --pgwire-listen without a
// certificate does not start; QUERYGATE_PGWIRE_LISTEN sets the flag.
func TestWireTLS(t *testing.T) {
	w := startWire(t, "--tls-self-signed")
	dsn := strings.Replace(w.dsn("admin", w.rwName), "sslmode=disable", "sslmode=require", 1)
	out, err := psql(t, dsn, w.token, "", "-c", `\conninfo`)
	if err != nil || !strings.Contains(out, "SSL connection (protocol: TLSv1.3") {
		t.Fatalf("psql over TLS: %v %s", err, out)
	}
	conn, err := pgx.Connect(t.Context(), "postgres://127.0.0.1:"+portOf(w.addr)+"/"+w.rwName+"?sslmode=require&user=admin&password="+w.token)
	if err != nil {
		t.Fatalf("pgx over TLS: %v", err)
	}
	if !conn.PgConn().Conn().(interface{ ConnectionState() tls.ConnectionState }).ConnectionState().HandshakeComplete {
		t.Errorf("pgx: not TLS")
	}
	conn.Close(t.Context())

	for _, args := range [][]string{{"--pgwire-listen", "0.0.0.0:0"}, {"--pgwire-listen", "nonsense"}} {
		if _, err := run(t, t.TempDir(), nil, nil, args...); err == nil {
			t.Errorf("%v: started", args)
		}
	}
	g := MustRun(t, t.TempDir(), map[string]string{"QUERYGATE_PGWIRE_LISTEN": "127.0.0.1:0"})
	if g.m.PgwireAddr() == "" {
		t.Errorf("QUERYGATE_PGWIRE_LISTEN: no wire listener")
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestWireListenerDeniedAsDestination: the wire listener is one of the
// gateway's own addresses, which no datasource may reach (a datasource
// looping back into the gateway).
func TestWireListenerDeniedAsDestination(t *testing.T) {
	w := startWire(t)
	host, port := mustSplitHostPort(t, w.addr)
	r := w.admin.do("POST", "/api/datasources", map[string]any{"name": "loop", "kind": "postgres",
		"settings": map[string]any{"host": host, "port": port, "database": "x", "user": "x", "sslmode": "disable"}})
	if r.Status < 400 || !strings.Contains(string(r.Body), "egress") {
		t.Errorf("a datasource at the wire listener: %d %s", r.Status, r.Body)
	}
}

// TestWireStartupFiltered: a client's startup options, role and session
// authorization never reach the server; presentation settings do.
func TestWireStartupFiltered(t *testing.T) {
	w := startWire(t)
	dsn := w.dsn("admin", w.roName) + " options='-c default_transaction_read_only=off -c statement_timeout=0 -c role=postgres'"
	out, err := psql(t, dsn, w.token, "", "-At", "-c", "SHOW default_transaction_read_only; SHOW statement_timeout; SELECT current_user")
	if err != nil || out != "on\n30s\n"+w.roUser+"\n" {
		t.Errorf("options passed on? %v %q", err, out)
	}
	cfg, err := pgx.ParseConfig(w.dsn("admin", w.roName))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = w.token
	cfg.RuntimeParams = map[string]string{"role": "postgres", "session_authorization": "postgres", "default_transaction_read_only": "off",
		"options": "-c default_transaction_read_only=off", "replication": "database", "search_path": "pg_catalog", "application_name": "wire-app"}
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var ro, user, path, app string
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('default_transaction_read_only'), current_user, current_setting('search_path'), current_setting('application_name')").Scan(&ro, &user, &path, &app); err != nil {
		t.Fatal(err)
	}
	if ro != "on" || user != w.roUser || path != "pg_catalog" || app != "wire-app" {
		t.Errorf("startup parameters: read-only %s, user %s, search_path %s, application_name %s", ro, user, path, app)
	}
}

// TestWireRecheck: an open session ends at its next statement (within a
// second) once its token is revoked or its datasource changed.
func TestWireRecheck(t *testing.T) {
	w := startWire(t)
	conn := mustPgx(t, w, w.rwName)
	if _, err := conn.Exec(t.Context(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	tokens := w.admin.must(200, "GET", "/api/tokens", nil)
	list, _ := tokens["tokens"].([]any)
	if len(list) != 1 {
		t.Fatalf("tokens: %v", tokens)
	}
	w.admin.must(204, "DELETE", "/api/tokens/"+list[0].(map[string]any)["id"].(string), nil)
	time.Sleep(1100 * time.Millisecond)
	if _, err := conn.Exec(t.Context(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "no longer valid") {
		t.Errorf("after the token was revoked: %v", err)
	}
	w.token = w.admin.must(201, "POST", "/api/tokens", map[string]any{"name": "wire2"})["token"].(string)
	changed := mustPgx(t, w, w.roName)
	if _, err := changed.Exec(t.Context(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	w.admin.must(200, "PATCH", "/api/datasources/"+w.roID, map[string]any{"name": "wire_ro_renamed"})
	time.Sleep(1100 * time.Millisecond)
	if _, err := changed.Exec(t.Context(), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "was changed") {
		t.Errorf("after the datasource changed: %v", err)
	}
}

// TestWireEgress: the wire session's connection goes through the egress
// dialer: a datasource whose server the policy now denies is refused at
// connect time, and the refusal is audited with the policy's reason.
func TestWireEgress(t *testing.T) {
	testenv.PostgresURL(t)
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	c := g.MustSetup(nil)
	wireSource(t, c, "wire_eg", testenv.PostgresURL(t).User.Username(), false)
	token := c.must(201, "POST", "/api/tokens", map[string]any{"name": "wire"})["token"].(string)
	g.m.Close()
	host := testenv.PostgresURL(t).Hostname()
	g = MustRun(t, dir, nil, "--pgwire-listen", "127.0.0.1:0", "--egress-deny", host)
	out, err := psql(t, wireDSN(g.m.PgwireAddr(), "admin", "wire_eg"), token, "", "-c", "SELECT 1")
	if err == nil || !strings.Contains(out, "egress") {
		t.Errorf("a denied destination: %v %q", err, out)
	}
	admin := g.client(nil)
	admin.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	ev := admin.must(200, "GET", "/api/audit?action=pgwire.connect", nil)
	if body := fmt.Sprint(ev); !strings.Contains(body, "egress") {
		t.Errorf("the refusal is not audited with its reason: %s", body)
	}
}

// rawWire connects to the gateway's wire listener as admin on db with a
// raw protocol frontend, up to the first ReadyForQuery.
func rawWire(t *testing.T, w *wireGateway, db string) (*pgproto3.Frontend, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", w.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "admin", "database": db}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("startup: %v", err)
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationCleartextPassword:
			fe.Send(&pgproto3.PasswordMessage{Password: w.token})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
		case *pgproto3.ErrorResponse:
			t.Fatalf("startup: %s", m.Message)
		case *pgproto3.ReadyForQuery:
			return fe, conn
		}
	}
}

// receiveUntil reads messages until one of type T, failing on a timeout.
func receiveUntil[T pgproto3.BackendMessage](t *testing.T, fe *pgproto3.Frontend) T {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("waiting for %T: %v", *new(T), err)
		}
		if m, ok := msg.(T); ok {
			return m
		}
	}
}

// TestWireSkipUntilSync: after an extended-protocol error the server
// ignores every message until Sync; a simple query (or a function call,
// then a query) sent then is ignored by the gateway too, which must not
// wait for an answer the server will not give: once the client leaves,
// its connection slot is free (--pool-max-conns 1) for the next user.
func TestWireSkipUntilSync(t *testing.T) {
	w := startWire(t, "--pool-max-conns", "1")
	for _, db := range []string{w.roName, w.rwName} {
		for _, fn := range []bool{false, true} {
			fe, conn := rawWire(t, w, db)
			fe.Send(&pgproto3.Parse{Query: "SELEC bad"})
			fe.Send(&pgproto3.Bind{})
			fe.Send(&pgproto3.Execute{})
			fe.Send(&pgproto3.Flush{})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			receiveUntil[*pgproto3.ErrorResponse](t, fe)
			if fn {
				fe.Send(&pgproto3.FunctionCall{Function: 1})
			}
			fe.Send(&pgproto3.Query{String: "SELECT 1"})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			conn.Close()
			// The slot comes free: the same datasource answers at once
			// over HTTP and over the wire.
			id := map[string]string{w.roName: w.roID, w.rwName: w.rwID}[db]
			start := time.Now()
			r := w.admin.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT 1"})
			if r.Status != 200 || time.Since(start) > 10*time.Second {
				t.Fatalf("%s (function call %v): after the client left, a query got %d in %s: %s", db, fn, r.Status, time.Since(start), r.Body)
			}
			fe, _ = rawWire(t, w, db)
			fe.Send(&pgproto3.Query{String: "SELECT 1"})
			fe.Flush()
			receiveUntil[*pgproto3.CommandComplete](t, fe)
			receiveUntil[*pgproto3.ReadyForQuery](t, fe)
			fe.Send(&pgproto3.Terminate{})
			fe.Flush()
		}
		// A client that syncs after the ignored query gets one
		// ReadyForQuery for it, as from the server, and goes on.
		fe, _ := rawWire(t, w, db)
		fe.Send(&pgproto3.Parse{Query: "SELEC bad"})
		fe.Send(&pgproto3.Flush{})
		fe.Flush()
		receiveUntil[*pgproto3.ErrorResponse](t, fe)
		fe.Send(&pgproto3.Query{String: "SELECT 'ignored'"})
		fe.Send(&pgproto3.Sync{})
		fe.Send(&pgproto3.Query{String: "SELECT 'answered'"})
		fe.Flush()
		for _, want := range []byte{'Z', 'T', 'D', 'C', 'Z'} {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatalf("%s: after Sync: %v", db, err)
			}
			raw, _ := msg.Encode(nil)
			if raw[0] != want {
				t.Fatalf("%s: after Sync got %T, want %q", db, msg, want)
			}
			if d, ok := msg.(*pgproto3.DataRow); ok && string(d.Values[0]) != "answered" {
				t.Fatalf("%s: got the row %q", db, d.Values[0])
			}
		}
	}
}

// TestWireIdleHoldsNothing: on a read-only datasource, once a client is
// told ReadyForQuery (after a simple query, after Sync) the gateway's
// ROLLBACK is on its way to the server, which ends the read-only
// transaction as it reads it: an idle client holds no lock and no
// snapshot, so DDL on the table it read is not blocked. A client that
// began a transaction of its own keeps one, as on a real server.
func TestWireIdleHoldsNothing(t *testing.T) {
	w := startWire(t)
	ctx := t.Context()
	// idleInTx counts the read-only role's sessions idle in a
	// transaction, once the server has read what was sent to it before
	// ReadyForQuery (it may still be reading the ROLLBACK on a busy
	// machine): 0 as soon as it has, the count after a second otherwise.
	idleInTx := func() int {
		var n int
		for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
			if err := w.direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'idle in transaction'", w.roUser).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 || time.Now().After(deadline) {
				return n
			}
		}
	}
	alter := func(column string) error {
		tx, err := w.direct.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+w.table+" ADD COLUMN "+column+" int"); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	fe, _ := rawWire(t, w, w.roName)
	fe.Send(&pgproto3.Query{String: "SELECT count(*) FROM " + w.table})
	fe.Flush()
	if rfq := receiveUntil[*pgproto3.ReadyForQuery](t, fe); rfq.TxStatus != 'I' {
		t.Fatalf("status %q after a simple query", rfq.TxStatus)
	}
	if n := idleInTx(); n != 0 {
		t.Errorf("after a simple query: %d sessions of the read-only role idle in transaction", n)
	}
	if err := alter("after_simple"); err != nil {
		t.Errorf("after a simple query the idle client blocks DDL: %v", err)
	}
	fe.Send(&pgproto3.Parse{Query: "SELECT count(*) FROM " + w.table})
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	fe.Flush()
	receiveUntil[*pgproto3.CommandComplete](t, fe)
	receiveUntil[*pgproto3.ReadyForQuery](t, fe)
	if n := idleInTx(); n != 0 {
		t.Errorf("after Sync: %d sessions of the read-only role idle in transaction", n)
	}
	if err := alter("after_sync"); err != nil {
		t.Errorf("after Sync the idle client blocks DDL: %v", err)
	}
	// The client's own transaction is kept (and still read-only).
	fe.Send(&pgproto3.Query{String: "BEGIN; SELECT count(*) FROM " + w.table})
	fe.Flush()
	if rfq := receiveUntil[*pgproto3.ReadyForQuery](t, fe); rfq.TxStatus != 'T' {
		t.Fatalf("status %q in the client's transaction", rfq.TxStatus)
	}
	if n := idleInTx(); n != 1 {
		t.Errorf("in the client's own transaction: %d sessions idle in transaction, want 1", n)
	}
	fe.Send(&pgproto3.Query{String: "INSERT INTO " + w.table + " VALUES (1)"})
	fe.Flush()
	if e := receiveUntil[*pgproto3.ErrorResponse](t, fe); e.Code != "25006" {
		t.Errorf("a write in the client's transaction: %s %s", e.Code, e.Message)
	}
	fe.Send(&pgproto3.Query{String: "ROLLBACK"})
	fe.Flush()
	receiveUntil[*pgproto3.ReadyForQuery](t, fe)
	receiveUntil[*pgproto3.ReadyForQuery](t, fe)
	if n := idleInTx(); n != 0 {
		t.Errorf("after the client's ROLLBACK: %d sessions idle in transaction", n)
	}
	if w.rows() != 0 {
		t.Errorf("the read-only datasource was written")
	}
}

// TestWireClientGone: a client that leaves while its statement runs on a
// read-only datasource has the statement cancelled and its session ended
// at once: its connection slot (--pool-max-conns 1) is free for the next
// user, not held until the statement ends or --query-timeout-max. On a
// read-write datasource the statement is let finish, as PostgreSQL does
// (a client may send a write and leave).
func TestWireClientGone(t *testing.T) {
	w := startWire(t, "--pool-max-conns", "1")
	fe, conn := rawWire(t, w, w.roName)
	fe.Send(&pgproto3.Query{String: "SELECT pg_sleep(120)"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	conn.Close()
	start := time.Now()
	r := w.admin.do("POST", "/api/datasources/"+w.roID+"/query", map[string]any{"query": "SELECT 1"})
	if r.Status != 200 || time.Since(start) > 10*time.Second {
		t.Fatalf("read-only: after the client left, a query got %d in %s: %s", r.Status, time.Since(start), r.Body)
	}

	before := w.rows()
	fe, conn = rawWire(t, w, w.rwName)
	fe.Send(&pgproto3.Query{String: "INSERT INTO " + w.table + " SELECT 1 FROM pg_sleep(1)"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	testenv.WaitFor(t, 10*time.Second, "the write of a client that left", func() bool { return w.rows() == before+1 })
}
