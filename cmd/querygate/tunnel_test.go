package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/querygate/querygate/internal/testenv"
)

// TestTunnelEndToEnd: datasources reached through a real OpenSSH bastion
// (sshd on a loopback port, forwarding to the local PostgreSQL, MariaDB and
// Redis) answer queries through the gateway; a wrong host key is refused
// naming the fingerprint the bastion offered; the tunnel's secrets reach
// no answer.
func TestTunnelEndToEnd(t *testing.T) {
	b := testenv.SSHD(t)
	sshHost, sshPort, err := net.SplitHostPort(b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	tunnel := func(hostKey string) map[string]any {
		return map[string]any{"ssh_host": sshHost, "ssh_port": portOr(t, sshPort, 22), "ssh_user": b.User, "ssh_host_key": hostKey}
	}
	with := func(base, extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	g, c := queryGateway(t, t.TempDir())
	pg := testenv.PostgresURL(t)
	my := testenv.MySQLDSN(t)
	redisHost, redisPort, err := net.SplitHostPort(testenv.RedisAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	keySecrets := func(extra map[string]any) map[string]any {
		return with(map[string]any{"ssh_private_key": b.KeyPass, "ssh_passphrase": b.Passphrase}, extra)
	}
	cases := []struct {
		kind     string
		settings map[string]any
		secrets  map[string]any
		query    map[string]any
	}{
		{"postgres", map[string]any{"host": pg.Hostname(), "port": portOr(t, pg.Port(), 5432), "database": strings.TrimPrefix(pg.Path, "/"),
			"user": pg.User.Username(), "sslmode": "disable"}, keySecrets(map[string]any{"password": "unused-with-trust"}), map[string]any{"query": "SELECT 41 + 1 AS n"}},
		{"mysql", map[string]any{"host": my.Host, "port": portOr(t, my.Port, 3306), "database": my.Database, "user": my.User, "tls": "disable"},
			map[string]any{"ssh_private_key": b.Key}, map[string]any{"query": "SELECT 41 + 1 AS n"}},
		{"redis", map[string]any{"host": redisHost, "port": portOr(t, redisPort, 6379)}, map[string]any{"ssh_private_key": b.Key},
			map[string]any{"command": []string{"ECHO", "42"}}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			id := c.must(201, "POST", "/api/datasources", map[string]any{"name": tc.kind + "-tunnel", "kind": tc.kind,
				"settings": with(tc.settings, tunnel(b.HostKey)), "secrets": tc.secrets})["id"].(string)
			if got := c.must(200, "POST", "/api/datasources/"+id+"/test", nil); got["ok"] != true {
				t.Fatalf("test: %v", got)
			}
			r := c.do("POST", "/api/datasources/"+id+"/query", tc.query)
			if r.Status != 200 || !strings.Contains(string(r.Body), "42") {
				t.Fatalf("query through the tunnel: %d %s", r.Status, r.Body)
			}
			for _, secret := range []string{b.Key, b.KeyPass, b.Passphrase} {
				if strings.Contains(string(r.Body), secret) {
					t.Fatal("the answer holds a tunnel secret")
				}
			}
			// The tunnel is in the path: with the bastion away, the same
			// datasource cannot connect, though its target is up.
			closed, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closedPort := closed.Addr().(*net.TCPAddr).Port
			closed.Close()
			away := with(tunnel(b.HostKey), map[string]any{"ssh_port": closedPort})
			id2 := c.must(201, "POST", "/api/datasources", map[string]any{"name": tc.kind + "-no-bastion", "kind": tc.kind,
				"settings": with(tc.settings, away), "secrets": tc.secrets})["id"].(string)
			if r := c.do("POST", "/api/datasources/"+id2+"/test", nil); r.errorCode() != "unreachable" || !strings.Contains(string(r.Body), "bastion") {
				t.Errorf("bastion away: got %d %s, want unreachable naming the bastion", r.Status, r.Body)
			}
		})
	}
	t.Run("http", func(t *testing.T) {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"answer":42,"via":%q}`, r.URL.Path)
		}))
		t.Cleanup(up.Close)
		id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "http-tunnel", "kind": "http",
			"settings": with(map[string]any{"base_url": up.URL + "/api/"}, tunnel(b.HostKey)), "secrets": map[string]any{"ssh_private_key": b.Key}})["id"].(string)
		r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"method": "GET", "path": "items"})
		if r.Status != 200 || !strings.Contains(string(r.Body), "42") {
			t.Fatalf("HTTP through the tunnel: %d %s", r.Status, r.Body)
		}
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedPort := closed.Addr().(*net.TCPAddr).Port
		closed.Close()
		id2 := c.must(201, "POST", "/api/datasources", map[string]any{"name": "http-no-bastion", "kind": "http",
			"settings": with(map[string]any{"base_url": up.URL + "/api/"}, with(tunnel(b.HostKey), map[string]any{"ssh_port": closedPort})),
			"secrets":  map[string]any{"ssh_private_key": b.Key}})["id"].(string)
		if r := c.do("POST", "/api/datasources/"+id2+"/query", map[string]any{"method": "GET", "path": "items"}); !strings.Contains(string(r.Body), "bastion") {
			t.Errorf("bastion away: got %d %s, want an error naming the bastion", r.Status, r.Body)
		}
	})
	t.Run("wrong host key", func(t *testing.T) {
		_, wrong := testenv.NewSSHKey(t, "")
		wrongLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(wrong)))
		id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "wrong-key", "kind": "redis",
			"settings": with(cases[2].settings, tunnel(wrongLine)), "secrets": map[string]any{"ssh_private_key": b.Key}})["id"].(string)
		r := c.do("POST", "/api/datasources/"+id+"/test", nil)
		if r.Status < 400 || !strings.Contains(string(r.Body), "SHA256:") {
			t.Fatalf("wrong host key: %d %s, want a refusal naming the offered fingerprint", r.Status, r.Body)
		}
	})
	for _, secret := range []string{b.Key, b.KeyPass, b.Passphrase} {
		if strings.Contains(g.logs.String(), secret) {
			t.Error("the logs hold a tunnel secret")
		}
	}
}
