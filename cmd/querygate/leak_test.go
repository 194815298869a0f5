package main

import (
	"bytes"
	"fmt"
	"github.com/querygate/querygate/internal/audit"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLeakSweep creates one datasource of every kind with canary secrets,
// exercises every API endpoint (including error paths that carry a secret),
// runs the key commands, and then proves that no canary appears in any
// response body or header, in the logs, or in any file of the data
// directory (the store with its -wal and -shm files, and the key file).
func TestLeakSweep(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil, "--sqlite-dir", "/srv")
	rec := &recorder{}
	admin := g.MustSetup(rec)

	canary := func(name string) string { return "CANARY-" + name + "-7f3a9c" }
	var canaries []string
	secret := func(name string) string { c := canary(name); canaries = append(canaries, c); return c }
	pem := func(name string) string {
		return "-----BEGIN PRIVATE KEY-----\n" + secret(name) + "\n-----END PRIVATE KEY-----\n"
	}

	up := newHTTPUpstream(t) // echoes every request header back, in headers and body
	kinds := []map[string]any{
		{"name": "pg", "kind": "postgres", "settings": map[string]any{"host": "db.internal", "database": "app", "user": "app"},
			"secrets": map[string]any{"password": secret("pg-password"), "client_key": pem("pg-client-key")}},
		{"name": "my", "kind": "mysql", "settings": map[string]any{"host": "10.0.0.5", "port": 3307, "database": "shop", "user": "ro"},
			"secrets": map[string]any{"password": secret("mysql-password")}},
		{"name": "cache", "kind": "redis", "settings": map[string]any{"host": "cache.internal", "username": "app"},
			"secrets": map[string]any{"password": secret("redis-password")}},
		{"name": "api", "kind": "http", "settings": map[string]any{"base_url": "https://api.example.com/v1/", "basic_user": "svc",
			"api_key_name": "X-Key", "headers": map[string]string{"Accept": "application/json"}},
			"secrets": map[string]any{"bearer_token": secret("http-bearer"), "basic_password": secret("http-basic"),
				"api_key": secret("http-apikey"), "secret_headers": map[string]string{"X-Secret": secret("http-secret-header")}}},
		{"name": "api-live", "kind": "http", "settings": map[string]any{"base_url": up.URL + "/v1/", "api_key_name": "X-Key"},
			"secrets": map[string]any{"bearer_token": secret("http-live-bearer"), "api_key": secret("http-live-apikey"),
				"secret_headers": map[string]string{"X-Secret": secret("http-live-secret-header")}}},
		{"name": "api-live-basic", "kind": "http", "settings": map[string]any{"base_url": up.URL + "/v1/", "basic_user": "svc",
			"api_key_name": "key", "api_key_in": "query"},
			"secrets": map[string]any{"basic_password": secret("http-live-basic"), "api_key": secret("http-live-query-key")}},
		{"name": "pg-ssh", "kind": "postgres", "settings": map[string]any{"host": "db.internal", "database": "app", "user": "app",
			"ssh_host": "127.0.0.1", "ssh_port": 1, "ssh_user": "tunnel", "ssh_host_key": "SHA256:" + strings.Repeat("A", 43)},
			"secrets": map[string]any{"password": secret("pg-ssh-password"), "ssh_private_key": pem("ssh-private-key"),
				"ssh_passphrase": secret("ssh-passphrase"), "ssh_password": secret("ssh-password")}},
		{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": "/srv/app.db"}},
		{"name": "dev-pg", "kind": "postgres", "custody": "device", "settings": map[string]any{"host": "db2", "database": "d", "user": "u"}},
	}
	ids := map[string]string{}
	for _, k := range kinds {
		d := admin.must(201, "POST", "/api/datasources", k)
		ids[k["name"].(string)] = d["id"].(string)
		for name, s := range d["secrets"].(map[string]any) {
			if st, ok := s.(map[string]any); !ok || len(st) != 1 {
				t.Fatalf("%s: secret %s is shown as %v, want only {configured}", k["name"], name, s)
			}
		}
	}
	if got := admin.must(200, "GET", "/api/datasources/"+ids["pg"], nil)["secrets"].(map[string]any)["password"]; fmt.Sprint(got) != "map[configured:true]" {
		t.Fatalf("password shown as %v", got)
	}

	// Every endpoint, good and bad paths.
	admin.must(200, "GET", "/api/me", nil)
	admin.must(200, "GET", "/api/kinds", nil)
	admin.must(200, "GET", "/api/datasources", nil)
	for _, id := range ids {
		admin.must(200, "GET", "/api/datasources/"+id, nil)
	}
	// HTTP datasources against an upstream that echoes the credentials:
	// answers, redirects, refusals and the connection test.
	for _, name := range []string{"api-live", "api-live-basic"} {
		q := "/api/datasources/" + ids[name] + "/query"
		for _, body := range []map[string]any{{"method": "POST", "path": "echo", "body": "text"},
			{"path": "redirect", "query": map[string]any{"to": "/v1/echo"}}} {
			if r := admin.do("POST", q, body); r.Status != 200 {
				t.Fatalf("%s: got %d %s", name, r.Status, r.Body)
			}
		}
		admin.do("POST", q, map[string]any{"path": "echo"}, "Accept", "text/csv")
		admin.do("POST", q, map[string]any{"path": "redirect", "query": map[string]any{"to": g.url + "/api/me"}})
		admin.do("POST", q, map[string]any{"path": "../x"})
		admin.do("POST", q, map[string]any{"path": "echo", "headers": map[string]string{"authorization": "x", "x-key": "x"}})
		admin.do("POST", q, map[string]any{"path": "echo", "query": map[string]any{"key": "x"}})
		admin.do("POST", q, map[string]any{"path": "big", "query": map[string]any{"n": 11 << 20}})
		admin.must(200, "POST", "/api/datasources/"+ids[name]+"/test", nil)
	}
	if up.lastHeader().Get("Authorization") == "" {
		t.Fatal("the HTTP upstream never received the credentials")
	}
	// Redis datasources on the real server, when it is up: its default
	// user takes any password, so the canary goes with every connection;
	// an unknown user makes the server refuse it.
	if host, port, ok := liveRedis(t); ok {
		for _, k := range []struct {
			settings map[string]any
			status   int
		}{
			{map[string]any{}, 200},
			{map[string]any{"allow_admin": true}, 200},
			{map[string]any{"username": "qgtest-nobody"}, 502},
		} {
			k.settings["host"], k.settings["port"] = host, port
			id := admin.must(201, "POST", "/api/datasources", map[string]any{"name": fmt.Sprint("cache-live-", len(canaries)), "kind": "redis",
				"settings": k.settings, "secrets": map[string]any{"password": secret(fmt.Sprint("redis-live-", len(canaries)))}})["id"].(string)
			q := "/api/datasources/" + id + "/query"
			if r := admin.do("POST", q, map[string]any{"command": []string{"PING"}}); r.Status != k.status {
				t.Fatalf("redis PING: got %d %s", r.Status, r.Body)
			}
			admin.do("POST", q, map[string]any{"command": []string{"CLIENT", "INFO"}}, "Accept", "text/csv")
			admin.do("POST", q, map[string]any{"command": []string{"CONFIG", "GET", "*pass*"}})
			admin.do("POST", q, map[string]any{"command": []string{"AUTH", "default", "x"}})
			admin.do("POST", q, map[string]any{"command": []string{"HELLO", "3"}})
			admin.do("POST", "/api/datasources/"+id+"/test", nil)
		}
	}
	// A tunnelled datasource: its test and queries fail at the bastion
	// (the key cannot be read), and moving the bastion needs the secrets.
	admin.do("POST", "/api/datasources/"+ids["pg-ssh"]+"/test", nil)
	admin.do("POST", "/api/datasources/"+ids["pg-ssh"]+"/query", map[string]any{"query": "SELECT 1"})
	if r := admin.do("PATCH", "/api/datasources/"+ids["pg-ssh"], map[string]any{"settings": map[string]any{"ssh_host": "evil.example"}}); r.Status != 400 {
		t.Fatalf("bastion change without secrets: got %d %s", r.Status, r.Body)
	}
	admin.must(200, "PATCH", "/api/datasources/"+ids["pg"], map[string]any{"name": "pg-main", "read_only": true})
	admin.must(200, "PATCH", "/api/datasources/"+ids["my"], map[string]any{"secrets": map[string]any{"password": secret("mysql-password-2")}})
	admin.must(200, "PATCH", "/api/datasources/"+ids["api"], map[string]any{"secrets": map[string]any{"basic_password": nil}, "settings": map[string]any{"basic_user": nil}})
	// Pointing stored secrets elsewhere needs them sent again.
	if r := admin.do("PATCH", "/api/datasources/"+ids["cache"], map[string]any{"settings": map[string]any{"host": "evil.example"}}); r.Status != 400 {
		t.Fatalf("host change without secrets: got %d %s", r.Status, r.Body)
	}
	admin.must(200, "PATCH", "/api/datasources/"+ids["cache"], map[string]any{"settings": map[string]any{"port": 6380},
		"secrets": map[string]any{"password": secret("redis-password-2")}})
	// Bad input that carries a secret: the error must not echo it.
	for _, body := range []map[string]any{
		{"secrets": map[string]any{"password": secret("too-long") + strings.Repeat("x", 70<<10)}},
		{"secrets": map[string]any{"password": 12345}},
		{"settings": map[string]any{"password": secret("in-settings")}},
		{"secrets": map[string]any{"nonsense": secret("unknown-secret")}},
		{"secrets": map[string]any{"client_key": secret("not-pem")}},
		{"secrets": map[string]any{"password": secret("ctl") + "\x00\n"}},
	} {
		if r := admin.do("PATCH", "/api/datasources/"+ids["pg"], body); r.Status != 400 {
			t.Fatalf("bad secret accepted: %d %s", r.Status, r.Body)
		}
	}
	if r := admin.do("POST", "/api/datasources", map[string]any{"name": "dev2", "kind": "mysql", "custody": "device",
		"settings": map[string]any{"host": "h", "database": "d", "user": "u"}, "secrets": map[string]any{"password": secret("device-pw")}}); r.Status != 400 {
		t.Fatalf("device custody password stored: %d %s", r.Status, r.Body)
	}
	admin.must(204, "DELETE", "/api/datasources/"+ids["lite"], nil)
	admin.do("GET", "/api/datasources/"+ids["lite"], nil)

	u := admin.must(201, "POST", "/api/users", map[string]string{"username": "ed", "password": secret("ed-password"), "role": "editor"})
	admin.must(200, "GET", "/api/users", nil)
	admin.must(200, "PATCH", "/api/users/"+u["id"].(string), map[string]any{"role": "viewer", "password": secret("ed-password-2")})
	ed := g.client(rec)
	ed.must(200, "POST", "/api/login", map[string]string{"username": "ed", "password": canary("ed-password-2")})
	ed.do("POST", "/api/login", map[string]string{"username": "ed", "password": secret("wrong-password")})
	ed.do("POST", "/api/login", map[string]string{"username": "nobody", "password": secret("unknown-user-password")})
	ed.must(200, "GET", "/api/datasources", nil)
	tok := admin.must(201, "POST", "/api/tokens", map[string]any{"name": "script", "expires_in_days": 30})
	tokenValue := tok["token"].(string)
	admin.must(200, "GET", "/api/tokens", nil)
	bot := g.client(rec)
	bot.bearer = tokenValue
	bot.must(200, "GET", "/api/datasources/"+ids["api"], nil)
	admin.must(204, "DELETE", "/api/tokens/"+tok["id"].(string), nil)
	bot.do("GET", "/api/me", nil)
	admin.must(204, "DELETE", "/api/users/"+u["id"].(string), nil)
	admin.do("GET", "/healthz", nil)
	admin.do("GET", "/readyz", nil)
	admin.do("GET", "/nothing-here", nil)
	admin.must(204, "POST", "/api/logout", nil)

	// Key commands beside the running gateway, then one more read.
	verify := MustRun(t, dir, nil, "keys", "verify")
	rotate := MustRun(t, dir, nil, "keys", "rotate")
	admin2 := g.client(rec)
	admin2.must(200, "POST", "/api/login", map[string]string{"username": "admin", "password": adminPassword})
	admin2.must(200, "PATCH", "/api/datasources/"+ids["cache"], map[string]any{"secrets": map[string]any{"password": secret("redis-after-rotation")}})
	// The audit journal as the running gateway holds it (it is emptied
	// when the gateway stops).
	journal, _ := os.ReadFile(filepath.Join(dir, audit.JournalFile))
	if len(strings.TrimRight(string(journal), "\x00")) <= 24 {
		t.Fatal("the audit journal held no record while serving: the sweep would not look at one")
	}
	g.m.Close()

	seen := map[string]string{
		"audit journal while serving": string(journal),
		"responses":                   rec.String(),
		"logs":                        g.logs.String() + verify.logs.String() + rotate.logs.String(),
		"token-logs":                  g.logs.String(),
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		seen["file "+f.Name()] = string(b)
	}
	for _, want := range []string{"file querygate.db", "file master.key"} {
		if _, ok := seen[want]; !ok {
			t.Fatalf("%s missing from the sweep", want)
		}
	}
	if len(canaries) < 15 {
		t.Fatalf("only %d canaries", len(canaries))
	}
	for where, text := range seen {
		for _, c := range canaries {
			// The bare canary and its distinctive middle, to catch
			// partial or re-encoded copies.
			for _, needle := range []string{c, strings.TrimSuffix(strings.TrimPrefix(c, "CANARY-"), "-7f3a9c")} {
				if len(needle) > 5 && strings.Contains(text, needle) {
					t.Errorf("%s contains secret %q", where, needle)
				}
			}
		}
		if where != "responses" && strings.Contains(text, tokenValue) {
			t.Errorf("%s contains the API token", where)
		}
		if where != "responses" && bytes.Contains([]byte(text), []byte(strings.TrimPrefix(tokenValue, "qgt_"))) {
			t.Errorf("%s contains the API token body", where)
		}
	}
}
