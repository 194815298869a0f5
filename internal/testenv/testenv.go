// Package testenv gives tests the real services of the development machine
// (PostgreSQL, MariaDB/MySQL, Redis) through QG_TEST_* environment
// variables. A test that needs a service it cannot reach is skipped with a
// message, except under CI=true, where it fails: CI must test for real.
package testenv

import (
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

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
