// Package testenv gives tests the real services of the development machine
// (PostgreSQL, MariaDB/MySQL, Redis) through QG_TEST_* environment
// variables. A test that needs a service it cannot reach is skipped with a
// message, except under CI=true, where it fails: CI must test for real.
package testenv

import (
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
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
