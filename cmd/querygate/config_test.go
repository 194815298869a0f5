package main

import (
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBadValues gives each flag a bad value, on the command line and in
// its environment variable: ParseFlags must refuse it with an error naming
// both the flag and the variable, never echo a secret, and create nothing.
func TestBadValues(t *testing.T) {
	const secret, salt = "SECRET-in-value", "qzx9w-salt"
	tests := []struct {
		cmd   []string // the command and the flags it needs besides
		flag  string
		value string
		// also names flags the error must name besides flag.
		also []string
		// other sets companion flags (flag name to value).
		other map[string]string
	}{
		{flag: "data-dir", value: ""},
		{flag: "log-format", value: "xml"},
		{flag: "encryption-salt", value: salt},
		{flag: "database-url", value: "mysql://u:" + secret + "@db/x"},
		{flag: "listen", value: "nope"},
		{flag: "listen", value: "127.0.0.1:99999"},
		{flag: "listen", value: "", other: map[string]string{"insecure-http": "true"}},
		{flag: "metrics-listen", value: "nope"},
		{flag: "metrics-listen", value: "127.0.0.1:-1"},
		{flag: "tls-cert", value: "/nonexistent/cert.pem", also: []string{"tls-key"}, other: map[string]string{"tls-key": "/nonexistent/key.pem"}},
		{flag: "session-ttl", value: "twelve hours"},
		{flag: "session-ttl", value: "10s"},
		{flag: "session-idle", value: "2"},
		{flag: "session-idle", value: "10s"},
		{flag: "local-login", value: "maybe"},
		{flag: "audit-ack", value: "later"},
		{flag: "audit-ack", value: ""},
		{flag: "store-sync", value: "sometimes"},
		{flag: "store-sync", value: ""},
		{flag: "row-limit-max", value: "ten"},
		{flag: "row-limit-max", value: "0"},
		{flag: "query-timeout-max", value: "5"},
		{flag: "query-timeout-max", value: "10ms"},
		{flag: "pool-max-conns", value: "1e3"},
		{flag: "pool-max-conns", value: "1001"},
		{flag: "http-response-max", value: "10MiB"},
		{flag: "http-response-max", value: "100"},
		{flag: "sqlite-dir", value: ""},
		{flag: "device-remember-max", value: "60d"},
		{flag: "device-remember-max", value: "2000h"},
		{flag: "device-pool-idle", value: "1 minute"},
		{flag: "device-pool-idle", value: "2h"},
		{flag: "mcp", value: "yes"},
		{flag: "mcp-max-rows", value: "0"},
		{flag: "mcp-max-rows", value: "many"},
		{flag: "mcp-max-bytes", value: "100"},
		{flag: "mcp-max-bytes", value: "1MiB"},
		{flag: "mcp-sql-writable", value: ""},
		{flag: "egress-allow", value: "db"},
		{flag: "egress-deny", value: "10.0.0.0/33"},
		{flag: "egress-profile", value: "everything"},
		{flag: "egress-profile", value: ""},
		{flag: "egress-source-ip", value: "not-an-ip"},
		{flag: "allow-clients", value: "10.0.0.0/99"},
		{flag: "trusted-proxies", value: "proxy.example"},
		{flag: "tls-self-signed", value: "maybe"},
		{flag: "insecure-http", value: "maybe"},
		{flag: "require-datasource-tls", value: "maybe"},
		{flag: "allowed-hosts", value: "qg.example:443"},
		{flag: "allowed-hosts", value: "https://qg.example"},
		{flag: "shutdown-grace", value: "soon"},
		{flag: "shutdown-grace", value: "2h"},
		{flag: "audit-query-text", value: "maybe"},
		{cmd: []string{"user", "add"}, flag: "username", value: ""},
		{cmd: []string{"user", "add", "--username", "ann"}, flag: "role", value: "root"},
		{cmd: []string{"audit", "export"}, flag: "since", value: "yesterday"},
		{cmd: []string{"audit", "verify"}, flag: "head", value: ""},
		{cmd: []string{"store", "copy", "--to", "sqlite:/nonexistent/new.db"}, flag: "from", value: "mysql://u:" + secret + "@db/x"},
		{cmd: []string{"store", "copy", "--from", "sqlite:/nonexistent/old.db"}, flag: "to", value: "mysql://u:" + secret + "@db/x"},
		{cmd: []string{"keys", "verify"}, flag: "log-format", value: "yaml"},
		{cmd: []string{"migrate"}, flag: "database-url", value: "postgress://u:" + secret + "@db/x"},
	}
	for _, tc := range tests {
		cmd := tc.cmd
		if cmd == nil {
			cmd = []string{"serve"}
		}
		for _, via := range []string{"flag", "env"} {
			if via == "env" && tc.value == "" {
				continue // an empty variable is an unset one
			}
			t.Run(strings.Join(cmd[:min(2, len(cmd))], " ")+" --"+tc.flag+"="+tc.value+" via "+via, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "data")
				env := map[string]string{}
				args := append(slices.Clone(cmd), "--data-dir", dir)
				if tc.flag == "data-dir" || cmd[0] == "store" { // store copy has no --data-dir
					args = slices.Clone(cmd)
				}
				set := map[string]string{tc.flag: tc.value}
				for k, v := range tc.other {
					set[k] = v
				}
				for k, v := range set {
					if via == "env" {
						env[envName(k)] = v
					} else {
						args = append(args, "--"+k+"="+v)
					}
				}
				m := NewMain()
				m.Stdout, m.Stderr = io.Discard, io.Discard
				err := m.ParseFlags(args, func(k string) string { return env[k] })
				if err == nil {
					t.Fatalf("--%s=%q via %s was accepted", tc.flag, tc.value, via)
				}
				for _, name := range append([]string{tc.flag}, tc.also...) {
					if !strings.Contains(err.Error(), "--"+name) || !strings.Contains(err.Error(), envName(name)) {
						t.Errorf("got %q, want it to name --%s and %s", err, name, envName(name))
					}
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), salt) {
					t.Errorf("got %q: a secret is in the error", err)
				}
				if _, serr := os.Stat(dir); serr == nil {
					t.Errorf("a refused command line created %s", dir)
				}
			})
		}
	}
}

// TestConfigValues checks that good values, from flags and variables, are
// parsed once into typed settings, and that a flag wins over its variable.
func TestConfigValues(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"QUERYGATE_ALLOW_CLIENTS":    "10.1.2.3/8",
		"QUERYGATE_TRUSTED_PROXIES":  "::ffff:192.0.2.1",
		"QUERYGATE_EGRESS_SOURCE_IP": "127.0.0.1",
		"QUERYGATE_EGRESS_PROFILE":   "private",
		"QUERYGATE_EGRESS_ALLOW":     "*.corp.example:5432",
		"QUERYGATE_SQLITE_DIR":       "/a" + string(os.PathListSeparator) + "rel",
		"QUERYGATE_SESSION_TTL":      "1h",
		"QUERYGATE_SESSION_IDLE":     "3h",
		"QUERYGATE_STORE_SYNC":       "normal",
		"QUERYGATE_AUDIT_ACK":        "queued",
		"QUERYGATE_ALLOWED_HOSTS":    "a.example, b.example",
		"QUERYGATE_LISTEN":           "127.0.0.1:9",
	}
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	if err := m.ParseFlags([]string{"--data-dir", dir, "--egress-deny", "10.9.0.0/16:1-1024", "--listen", "localhost:http"},
		func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	abs, err := filepath.Abs("rel")
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []struct {
		name      string
		got, want any
	}{
		{"allow clients", c.AllowClients, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{"trusted proxies", c.TrustedProxies, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}},
		{"source", c.EgressSourceIP, netip.MustParseAddr("127.0.0.1")},
		{"profile", c.EgressProfile, "private"},
		{"profile rules", len(c.EgressProfileRules) > 0, true},
		{"allow", len(c.EgressAllow) == 1 && c.EgressAllow[0].Host == "*.corp.example", true},
		{"deny", len(c.EgressDeny) == 1 && c.EgressDeny[0].Prefix == netip.MustParsePrefix("10.9.0.0/16"), true},
		{"sqlite dirs", strings.Join(c.SQLiteDirs, " "), "/a " + abs},
		{"session ttl", c.SessionTTL, time.Hour},
		{"session idle, at most the ttl", c.SessionIdle, time.Hour},
		{"store sync", string(c.StoreSync), "normal"},
		{"audit ack", c.AuditQueued, true},
		{"allowed hosts", strings.Join(c.AllowedHosts, " "), "a.example b.example"},
		{"listen: the flag wins", c.Listen, "localhost:http"},
		{"listen host", c.ListenHost, "localhost"},
		{"key file", c.MasterKeyFile, filepath.Join(dir, "master.key")},
	} {
		if !equal(check.got, check.want) {
			t.Errorf("%s: got %v, want %v", check.name, check.got, check.want)
		}
	}

	m = NewMain()
	if err := m.ParseFlags([]string{"audit", "export", "--data-dir", dir}, func(k string) string {
		return map[string]string{"QUERYGATE_SINCE": "2026-01-02T15:04:05Z"}[k]
	}); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC); !m.Config.AuditSince.Equal(want) {
		t.Errorf("--since: got %v, want %v", m.Config.AuditSince, want)
	}
}

func equal(a, b any) bool {
	if pa, ok := a.([]netip.Prefix); ok {
		return slices.Equal(pa, b.([]netip.Prefix))
	}
	return a == b
}

// portOr parses a port of a test fixture (a URL's or DSN's), def when it
// is empty; a bad one fails the test rather than being taken as def.
func portOr(tb testing.TB, s string, def int) int {
	tb.Helper()
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		tb.Fatalf("port %q: not a port number", s)
	}
	return n
}

// mustSplitHostPort splits a test fixture's host:port and its port number.
func mustSplitHostPort(tb testing.TB, addr string) (string, int) {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("%q: %v", addr, err)
	}
	return host, portOr(tb, port, 0)
}
