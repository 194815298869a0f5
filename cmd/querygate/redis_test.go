package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
)

// liveRedis returns the test Redis server's host and port when it can be
// reached (always under CI=true, where an unreachable one fails the test),
// for tests that cover Redis among other kinds and must not be skipped
// without it.
func liveRedis(t testing.TB) (host string, port int, ok bool) {
	t.Helper()
	addr := os.Getenv("QG_TEST_REDIS_ADDR")
	if addr == "" {
		addr = testenv.DefaultRedisAddr
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is not reachable at %s under CI=true", addr)
		}
		return "", 0, false
	}
	c.Close()
	host, port = mustSplitHostPort(t, addr)
	return host, port, true
}

// redisSource creates a Redis datasource on the test server.
func redisSource(t testing.TB, c *client, name string, readOnly bool, settings, secrets map[string]any) string {
	t.Helper()
	addr := testenv.RedisAddr(t)
	host, port := mustSplitHostPort(t, addr)
	s := map[string]any{"host": host, "port": port}
	for k, v := range settings {
		s[k] = v
	}
	body := map[string]any{"name": name, "kind": "redis", "read_only": readOnly, "settings": s}
	if secrets != nil {
		body["secrets"] = secrets
	}
	return c.must(201, "POST", "/api/datasources", body)["id"].(string)
}

func TestRedisEndToEnd(t *testing.T) {
	testenv.RedisAddr(t)
	dataDir := t.TempDir()
	g := MustRun(t, dataDir, nil)
	rec := &recorder{}
	c := g.MustSetup(rec)
	// The default user of the test server takes any password; the gateway
	// sends this one with every connection.
	const password = "CANARY-e2e-redis-pw-84c2"
	const value = "RESULT-CANARY-redis-e61f"
	pw := map[string]any{"password": password}
	id := redisSource(t, c, "cache", false, nil, pw)
	roID := redisSource(t, c, "cache-ro", true, nil, pw)
	adminID := redisSource(t, c, "cache-admin", false, map[string]any{"allow_admin": true}, pw)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "qgtest:" + hex.EncodeToString(b) + ":"
	key := func(name string) string { return prefix + name }
	query := func(id string, body map[string]any, hdr ...string) response {
		return c.do("POST", "/api/datasources/"+id+"/query", body, hdr...)
	}
	lines := func(t *testing.T, r response) []string {
		t.Helper()
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		var out []string
		for _, l := range ndjson(t, r.Body) {
			for k, v := range l {
				if k == "done" {
					var d map[string]any
					json.Unmarshal(v, &d)
					delete(d, "elapsed_ms")
					v, _ = json.Marshal(d)
				}
				out = append(out, k+" "+string(v))
			}
		}
		return out
	}

	t.Run("set and get", func(t *testing.T) {
		got := lines(t, query(id, map[string]any{"command": []string{"SET", key("s"), value}}))
		want := []string{`columns [{"name":"value","type":"string"}]`, `row ["OK"]`, `done {"rows":1,"truncated":false}`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("SET:\n%s", strings.Join(got, "\n"))
		}
		got = lines(t, query(id, map[string]any{"command": []string{"get", key("s")}}))
		if len(got) != 3 || got[1] != `row ["`+value+`"]` {
			t.Fatalf("GET:\n%s", strings.Join(got, "\n"))
		}
		got = lines(t, query(id, map[string]any{"command": []string{"GET", key("missing")}}))
		if strings.Join(got[:2], "\n") != "columns [{\"name\":\"value\",\"type\":\"nil\"}]\nrow [null]" {
			t.Fatalf("GET missing:\n%s", strings.Join(got, "\n"))
		}
	})
	t.Run("map and array", func(t *testing.T) {
		lines(t, query(id, map[string]any{"command": []string{"HSET", key("h"), "b", "2", "a", "1"}}))
		got := lines(t, query(id, map[string]any{"command": []string{"HGETALL", key("h")}}))
		want := []string{`columns [{"name":"field","type":"map"},{"name":"value","type":"map"}]`, `row ["a","1"]`, `row ["b","2"]`, `done {"rows":2,"truncated":false}`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("HGETALL:\n%s", strings.Join(got, "\n"))
		}
		lines(t, query(id, map[string]any{"command": []string{"RPUSH", key("l"), "a", "b", "c", "d"}}))
		got = lines(t, query(id, map[string]any{"command": []string{"LRANGE", key("l"), "0", "-1"}, "limit": 2}))
		want = []string{`columns [{"name":"value","type":"array"}]`, `row ["a"]`, `row ["b"]`, `done {"rows":2,"truncated":true}`}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("LRANGE:\n%s", strings.Join(got, "\n"))
		}
	})
	t.Run("csv", func(t *testing.T) {
		r := query(id, map[string]any{"command": []string{"LRANGE", key("l"), "0", "1"}}, "Accept", "text/csv")
		if r.Status != 200 || string(r.Body) != "value\na\nb\n" {
			t.Fatalf("got %d %q", r.Status, r.Body)
		}
	})
	t.Run("server error", func(t *testing.T) {
		r := query(id, map[string]any{"command": []string{"LPUSH", key("s"), "x"}})
		if r.Status != 400 || r.errorCode() != "query_failed" || !strings.Contains(string(r.Body), "WRONGTYPE") {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("refused commands", func(t *testing.T) {
		for _, tc := range []struct {
			id     string
			cmd    []string
			status int
			code   string
		}{
			{id, []string{"CONFIG", "GET", "maxmemory"}, 403, "forbidden"},
			{id, []string{"FLUSHALL"}, 403, "forbidden"},
			{id, []string{"SUBSCRIBE", "ch"}, 403, "forbidden"},
			{adminID, []string{"SELECT", "1"}, 403, "forbidden"},
			{adminID, []string{"MONITOR"}, 403, "forbidden"},
			{roID, []string{"SET", key("s"), "x"}, 403, "read_only"},
			{roID, []string{"DEL", key("s")}, 403, "read_only"},
		} {
			if r := query(tc.id, map[string]any{"command": tc.cmd}); r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("%q: got %d %s", tc.cmd, r.Status, r.Body)
			}
		}
		if got := lines(t, query(roID, map[string]any{"command": []string{"GET", key("s")}})); got[1] != `row ["`+value+`"]` {
			t.Fatalf("read-only GET: %v", got)
		}
		if got := lines(t, query(adminID, map[string]any{"command": []string{"CONFIG", "GET", "maxmemory"}})); !strings.HasPrefix(got[1], `row ["maxmemory",`) {
			t.Fatalf("allow_admin CONFIG GET: %v", got)
		}
		d := c.must(200, "GET", "/api/datasources/"+adminID, nil)
		// tls=disable is insecure too (the test server has no TLS).
		if ins, _ := json.Marshal(d["insecure"]); string(ins) != `["tls","allow_admin"]` {
			t.Fatalf("insecure: %s", ins)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, body := range []map[string]any{{"query": "GET k"}, {"command": []string{}}, {"command": []string{"GET"}, "path": "/x"}} {
			if r := query(id, body); r.Status != 400 || r.errorCode() != "invalid" {
				t.Errorf("%v: got %d %s", body, r.Status, r.Body)
			}
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		r := query(id, map[string]any{"command": []string{"BLPOP", key("never"), "0"}, "timeout_ms": 300})
		if r.Status != 504 || r.errorCode() != "timeout" || time.Since(start) > 5*time.Second {
			t.Fatalf("got %d %s after %v", r.Status, r.Body, time.Since(start))
		}
	})
	t.Run("test endpoint", func(t *testing.T) {
		c.must(200, "POST", "/api/datasources/"+id+"/test", nil)
		bad := redisSource(t, c, "cache-bad-user", false, map[string]any{"username": "qgtest-nobody"}, map[string]any{"password": password})
		if r := c.do("POST", "/api/datasources/"+bad+"/test", nil); r.Status != 502 || r.errorCode() != "auth_failed" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		if r := query(bad, map[string]any{"command": []string{"PING"}}); r.Status != 502 || r.errorCode() != "auth_failed" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	query(id, map[string]any{"command": []string{"DEL", key("s"), key("h"), key("l")}})
	g.m.Close()
	if strings.Contains(rec.String(), password) || strings.Contains(g.logs.String(), password) {
		t.Error("the password reached a response or a log line")
	}
	// Results are never kept (P1): the value read back is in no log line
	// and no file of the data directory.
	if strings.Contains(g.logs.String(), value) {
		t.Error("a log line holds a result value")
	}
	filepath.Walk(dataDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), value) || strings.Contains(string(b), password) {
				t.Errorf("%s holds a result value or the password", p)
			}
		}
		return nil
	})
}
