// Package testenv gives tests the real services of the development machine
// (PostgreSQL, MariaDB/MySQL, Redis) through QG_TEST_* environment
// variables. A test that needs a service it cannot reach is skipped with a
// message, except under CI=true, where it fails: CI must test for real.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Defaults match the services of the development machine.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test"
	DefaultMySQLDSN    = "root@tcp(127.0.0.1:3306)/test"
	DefaultRedisAddr   = "127.0.0.1:6379"
)

func get(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// reachable dials addr or skips (fails under CI=true).
func reachable(tb testing.TB, service, envName, addr string) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	msg := service + " is not reachable at " + addr + " (set " + envName + "): " + err.Error()
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + "; under CI=true every service must be up")
	}
	tb.Skip(msg)
}

// PostgresURL returns the test PostgreSQL URL, or skips.
func PostgresURL(tb testing.TB) *url.URL {
	tb.Helper()
	raw := get("QG_TEST_POSTGRES_URL", DefaultPostgresURL)
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("QG_TEST_POSTGRES_URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	reachable(tb, "PostgreSQL", "QG_TEST_POSTGRES_URL", host)
	return u
}

// PostgresDatabase creates an empty database (named prefix_<random>) on
// the test PostgreSQL, drops it when the test ends, and returns its URL.
func PostgresDatabase(tb testing.TB, prefix string) *url.URL {
	tb.Helper()
	base := PostgresURL(tb)
	conn, err := pgx.Connect(tb.Context(), base.String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	name := prefix + "_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(tb.Context(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base.String())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	u := *base
	u.Path = "/" + name
	return &u
}

// MySQL holds the parts of the test MySQL DSN user@tcp(host:port)/db.
type MySQL struct {
	User, Password, Host, Port, Database string
}

// MySQLDSN returns the test MySQL settings, or skips.
func MySQLDSN(tb testing.TB) MySQL {
	tb.Helper()
	raw := get("QG_TEST_MYSQL_DSN", DefaultMySQLDSN)
	var m MySQL
	cred, rest, ok := strings.Cut(raw, "@tcp(")
	if !ok {
		tb.Fatalf("QG_TEST_MYSQL_DSN: want user[:password]@tcp(host:port)/database")
	}
	m.User, m.Password, _ = strings.Cut(cred, ":")
	addr, db, _ := strings.Cut(rest, ")/")
	m.Host, m.Port, _ = net.SplitHostPort(addr)
	m.Database, _, _ = strings.Cut(db, "?")
	reachable(tb, "MySQL/MariaDB", "QG_TEST_MYSQL_DSN", addr)
	return m
}

// RedisAddr returns the test Redis address, or skips.
func RedisAddr(tb testing.TB) string {
	tb.Helper()
	addr := get("QG_TEST_REDIS_ADDR", DefaultRedisAddr)
	reachable(tb, "Redis", "QG_TEST_REDIS_ADDR", addr)
	return addr
}

// PostgresReadOnlyUser creates a login role on the test PostgreSQL that
// may read every table (pg_read_all_data) and holds none of the
// privileges with which a statement gets around a read-only transaction,
// so a read-only datasource may use it; it is dropped when the test ends.
// It logs in without a password (the test server trusts local
// connections).
func PostgresReadOnlyUser(tb testing.TB) string {
	tb.Helper()
	base := PostgresURL(tb)
	conn, err := pgx.Connect(tb.Context(), base.String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	name := "qg_ro_" + strings.ToLower(rand.Text()[:12])
	for _, q := range []string{"CREATE ROLE " + name + " LOGIN", "GRANT pg_read_all_data TO " + name} {
		if _, err := conn.Exec(tb.Context(), q); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base.String())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		// Its sessions may still be open in a gateway's pool.
		c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
		c.Exec(ctx, "DROP OWNED BY "+name)
		c.Exec(ctx, "DROP ROLE IF EXISTS "+name)
	})
	return name
}

// MySQLReadOnlyUser creates an account on the test MySQL/MariaDB with every
// privilege on the test database and no global one (so none with which a
// statement gets around a read-only session), for read-only datasources;
// it is dropped when the test ends. It has no password.
func MySQLReadOnlyUser(tb testing.TB) string {
	tb.Helper()
	m := MySQLDSN(tb)
	mc := mysql.NewConfig()
	mc.Net, mc.Addr, mc.User, mc.Passwd, mc.DBName = "tcp", net.JoinHostPort(m.Host, m.Port), m.User, m.Password, m.Database
	dc, err := mysql.NewConnector(mc)
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(dc)
	name := "qg_ro_" + strings.ToLower(rand.Text()[:10])
	account := "'" + name + "'@'%'"
	for _, q := range []string{"CREATE USER " + account,
		"GRANT ALL ON `" + strings.ReplaceAll(m.Database, "`", "``") + "`.* TO " + account} {
		if _, err := db.ExecContext(tb.Context(), q); err != nil {
			db.Close()
			tb.Fatalf("%s: %v", q, err)
		}
	}
	tb.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP USER IF EXISTS "+account)
	})
	return name
}

// Skipf skips the test with the message, except under CI=true, where it
// fails: CI must test for real, so what a test needs must be there.
func Skipf(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format+" (under CI=true this fails instead of skipping)", args...)
		return
	}
	tb.Skipf(format, args...)
}

// WaitFor polls cond until it holds, and fails the test with what (the
// condition waited for) if it does not within timeout. Tests wait on the
// condition they need rather than sleep a fixed time.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
