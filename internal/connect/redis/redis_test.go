package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/redis"
)

func TestReplies(t *testing.T) {
	srv := MustServer(t)
	c, dc := MustConnector(t, options{settings: srv.settings()})
	k := srv.key
	MustRun(t, c, "HSET", k("h"), "b", "2", "a", "1", "c", "\xff\xfe")
	MustRun(t, c, "RPUSH", k("l"), "x", "", "\x00\x9f")
	MustRun(t, c, "ZADD", k("z"), "1.5", "m1", "2", "m2")
	MustRun(t, c, "XADD", k("s"), "1-1", "f", "v")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", k("s1"), "héllo"}, `value:string | ["OK"]`},
		{[]string{"get", k("s1")}, `value:string | ["héllo"]`},
		{[]string{"GET", k("missing")}, `value:nil | [nil]`},
		{[]string{"SET", k("bin"), "\xff\x00\x01"}, `value:string | ["OK"]`},
		{[]string{"GET", k("bin")}, `value:binary | [bytes:ff0001]`},
		{[]string{"INCR", k("n")}, `value:integer | [1]`},
		{[]string{"INCRBY", k("n"), "41"}, `value:integer | [42]`},
		{[]string{"ZSCORE", k("z"), "m1"}, `value:double | [float:1.5]`},
		{[]string{"EXISTS", k("n"), k("missing")}, `value:integer | [1]`},
		// A hash is a RESP3 map: one row per field, in field order, bytes
		// that are not UTF-8 as []byte.
		{[]string{"HGETALL", k("h")}, `field:map value:map | ["a" "1"] ["b" "2"] ["c" bytes:fffe]`},
		{[]string{"HGETALL", k("missing")}, `field:map value:map |`},
		{[]string{"LRANGE", k("l"), "0", "-1"}, `value:array | ["x"] [""] [bytes:009f]`},
		{[]string{"LRANGE", k("missing"), "0", "-1"}, `value:array |`},
		{[]string{"MGET", k("s1"), k("missing")}, `value:array | ["héllo"] [nil]`},
		// Nested arrays stay arrays.
		{[]string{"ZRANGE", k("z"), "0", "-1", "WITHSCORES"}, `value:array | [["m1" float:1.5]] [["m2" float:2]]`},
		{[]string{"XRANGE", k("s"), "-", "+"}, `value:array | [["1-1" ["f" "v"]]]`},
		{[]string{"TYPE", k("h")}, `value:string | ["hash"]`},
		{[]string{"PING"}, `value:string | ["PONG"]`},
		{[]string{"ECHO", "a\nb"}, `value:string | ["a\nb"]`},
	} {
		r, err := run(t.Context(), c, tc.args...)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got := r.String(); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.args, got, tc.want)
		}
	}
	// A nested map (XINFO STREAM is a map with one) is a JSON object.
	r := MustRun(t, c, "XINFO", "STREAM", k("s"))
	var first string
	for _, row := range r.rows {
		if row[0] == "first-entry" {
			first = show(row[1])
		}
	}
	if first != `["1-1" ["f" "v"]]` {
		t.Errorf("XINFO STREAM first-entry: %s (%s)", first, r)
	}
	if n := dc.n.Load(); n != 1 {
		t.Errorf("dials: %d, want 1 (one pooled connection, reused)", n)
	}
}

func TestServerErrors(t *testing.T) {
	srv := MustServer(t)
	c, _ := MustConnector(t, options{settings: srv.settings()})
	MustRun(t, c, "SET", srv.key("s"), "v")
	_, err := run(t.Context(), c, "LPUSH", srv.key("s"), "x")
	if e := mustCode(t, err, connect.EQUERY); !strings.HasPrefix(e.Message, "WRONGTYPE") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = run(t.Context(), c, "GET")
	mustCode(t, err, connect.EQUERY)
	// The connection stays usable after error replies.
	if r := MustRun(t, c, "GET", srv.key("s")); r.String() != `value:string | ["v"]` {
		t.Fatalf("got %s", r)
	}
}

func TestRefusedCommands(t *testing.T) {
	srv := MustServer(t)
	for _, tc := range []struct {
		name       string
		args       []string
		readOnly   bool
		allowAdmin bool
		want       string // error code, or "" when allowed
	}{
		{"admin", []string{"CONFIG", "GET", "maxmemory"}, false, false, querygate.EFORBIDDEN},
		{"admin lower case", []string{"config", "get", "maxmemory"}, false, false, querygate.EFORBIDDEN},
		{"dangerous", []string{"FLUSHALL"}, false, false, querygate.EFORBIDDEN},
		{"script", []string{"EVAL", "return 1", "0"}, false, false, querygate.EFORBIDDEN},
		{"client kill", []string{"CLIENT", "KILL", "ID", "1"}, false, false, querygate.EFORBIDDEN},
		{"unknown", []string{"JSON.SET", "k", "$", "1"}, false, false, querygate.EFORBIDDEN},
		{"pool state", []string{"SELECT", "2"}, false, true, querygate.EFORBIDDEN},
		{"credentials", []string{"AUTH", "default", "x"}, false, true, querygate.EFORBIDDEN},
		{"hello", []string{"HELLO", "2"}, false, true, querygate.EFORBIDDEN},
		{"transaction", []string{"MULTI"}, false, true, querygate.EFORBIDDEN},
		{"subscribe", []string{"SUBSCRIBE", "ch"}, false, true, querygate.EFORBIDDEN},
		{"monitor", []string{"MONITOR"}, false, true, querygate.EFORBIDDEN},
		{"client reply", []string{"CLIENT", "REPLY", "OFF"}, false, true, querygate.EFORBIDDEN},
		{"reset", []string{"RESET"}, false, true, querygate.EFORBIDDEN},
		{"write on read-only", []string{"SET", srv.key("x"), "1"}, true, false, connect.EREADONLY},
		{"blocking write on read-only", []string{"BLPOP", srv.key("x"), "1"}, true, true, connect.EREADONLY},
		{"touch on read-only", []string{"TOUCH", srv.key("x")}, true, false, connect.EREADONLY},
		{"admin write on read-only", []string{"CONFIG", "SET", "maxmemory", "0"}, true, true, connect.EREADONLY},
		{"unknown on read-only", []string{"JSON.SET", "k", "$", "1"}, true, true, connect.EREADONLY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settings := srv.settings()
			settings["allow_admin"] = tc.allowAdmin
			c, dc := MustConnector(t, options{settings: settings, readOnly: tc.readOnly})
			_, err := run(t.Context(), c, tc.args...)
			e := mustCode(t, err, tc.want)
			if strings.Contains(e.Message, "maxmemory") || strings.Contains(e.Message, srv.prefix) {
				t.Errorf("message echoes the arguments: %s", e.Message)
			}
			// Refused before anything was sent.
			if n := dc.n.Load(); n != 0 {
				t.Errorf("dials: %d, want 0", n)
			}
		})
	}
	t.Run("message names the command", func(t *testing.T) {
		_, err := run(t.Context(), MustConnector2(t, srv, false, false), "config", "set", "x", "y")
		if e := mustCode(t, err, querygate.EFORBIDDEN); !strings.Contains(e.Message, "CONFIG SET") || !strings.Contains(e.Message, "allow_admin") {
			t.Fatalf("message %q", e.Message)
		}
	})
}

// MustConnector2 returns a connector to srv with the given flags.
func MustConnector2(tb testing.TB, srv *server, readOnly, allowAdmin bool) *redis.Connector {
	tb.Helper()
	settings := srv.settings()
	settings["allow_admin"] = allowAdmin
	c, _ := MustConnector(tb, options{settings: settings, readOnly: readOnly})
	return c
}

func TestReadOnly(t *testing.T) {
	srv := MustServer(t)
	rw := MustConnector2(t, srv, false, false)
	MustRun(t, rw, "SET", srv.key("k"), "v")
	ro := MustConnector2(t, srv, true, false)
	if r := MustRun(t, ro, "GET", srv.key("k")); r.String() != `value:string | ["v"]` {
		t.Fatalf("GET: %s", r)
	}
	for _, args := range [][]string{{"SET", srv.key("k"), "w"}, {"DEL", srv.key("k")}, {"EXPIRE", srv.key("k"), "1"}} {
		_, err := run(t.Context(), ro, args...)
		mustCode(t, err, connect.EREADONLY)
	}
	// A read-only request on a datasource that is not read-only.
	_, err := rw.Query(t.Context(), connect.Request{Command: []string{"SET", srv.key("k"), "w"}, ReadOnly: true}, &sink{})
	mustCode(t, err, connect.EREADONLY)
	if v, _ := srv.admin.Get(t.Context(), srv.key("k")).Result(); v != "v" {
		t.Fatalf("the value changed to %q", v)
	}
}

func TestAllowAdmin(t *testing.T) {
	srv := MustServer(t)
	c := MustConnector2(t, srv, false, true)
	r := MustRun(t, c, "CONFIG", "GET", "maxmemory-policy")
	if len(r.rows) != 1 || r.rows[0][0] != "maxmemory-policy" || r.cols[0].Type != "map" {
		t.Fatalf("CONFIG GET: %s", r)
	}
	// Read-only with allow_admin: administrative reads run, changes do not.
	ro := MustConnector2(t, srv, true, true)
	MustRun(t, ro, "CONFIG", "GET", "maxmemory-policy")
	_, err := run(t.Context(), ro, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	mustCode(t, err, connect.EREADONLY)
}

func TestLimit(t *testing.T) {
	srv := MustServer(t)
	c, dc := MustConnector(t, options{settings: srv.settings()})
	args := []string{"RPUSH", srv.key("l")}
	for i := range 10 {
		args = append(args, strconv.Itoa(i))
	}
	MustRun(t, c, args...)
	s := &sink{limit: 3}
	res, err := c.Query(t.Context(), connect.Request{Command: []string{"LRANGE", srv.key("l"), "0", "-1"}}, s)
	if err != nil || len(s.rows) != 3 || !res.HasRows {
		t.Fatalf("got %v, %s, %+v", err, s.result, res)
	}
	MustRun(t, c, "HSET", srv.key("h"), "a", "1", "b", "2", "c", "3")
	s = &sink{limit: 2}
	if _, err := c.Query(t.Context(), connect.Request{Command: []string{"HGETALL", srv.key("h")}}, s); err != nil || s.result.String() != `field:map value:map | ["a" "1"] ["b" "2"]` {
		t.Fatalf("got %v, %s", err, s.result)
	}
	// The connection is still in step.
	if r := MustRun(t, c, "LLEN", srv.key("l")); r.String() != `value:integer | [10]` {
		t.Fatalf("got %s", r)
	}
	if n := dc.n.Load(); n != 1 {
		t.Errorf("dials: %d, want 1", n)
	}
}

func TestBlockingCommandEnds(t *testing.T) {
	srv := MustServer(t)
	c, dc := MustConnector(t, options{settings: srv.settings(), maxConns: 1})
	// The server's id of the one pooled connection.
	id, ok := MustRun(t, c, "CLIENT", "ID").rows[0][0].(int64)
	if !ok {
		t.Fatal("CLIENT ID is not a number")
	}
	gone := func() bool {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			list, err := srv.admin.Do(t.Context(), "CLIENT", "LIST", "ID", strconv.FormatInt(id, 10)).Text()
			if err != nil {
				t.Fatalf("CLIENT LIST: %v", err)
			}
			if strings.TrimSpace(list) == "" {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := run(ctx, c, "BLPOP", srv.key("never"), "0")
		mustCode(t, err, connect.ETIMEOUT)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		if !gone() {
			t.Fatal("the blocked connection is still open on the server")
		}
	})
	// A cancel without a deadline: go-redis alone would wait for the
	// server; the connector closes the connection.
	id, _ = MustRun(t, c, "CLIENT", "ID").rows[0][0].(int64)
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := run(ctx, c, "BLPOP", srv.key("never"), "0")
		mustCode(t, err, connect.ECANCELED)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		if !gone() {
			t.Fatal("the blocked connection is still open on the server")
		}
	})
	// The next command gets a new connection, through the egress dialer.
	if r := MustRun(t, c, "PING"); r.String() != `value:string | ["PONG"]` {
		t.Fatalf("got %s", r)
	}
	if n := dc.n.Load(); n != 3 {
		t.Errorf("dials: %d, want 3", n)
	}
}

func TestIdleConnectionsClose(t *testing.T) {
	srv := MustServer(t)
	c, dc := MustConnector(t, options{settings: srv.settings(), maxIdle: 100 * time.Millisecond})
	id, _ := MustRun(t, c, "CLIENT", "ID").rows[0][0].(int64)
	deadline := time.Now().Add(3 * time.Second)
	for {
		list, err := srv.admin.Do(t.Context(), "CLIENT", "LIST", "ID", strconv.FormatInt(id, 10)).Text()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(list) == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle connection is still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	MustRun(t, c, "PING")
	if n := dc.n.Load(); n != 2 {
		t.Fatalf("dials: %d, want 2", n)
	}
}

func TestConnectionBound(t *testing.T) {
	srv := MustServer(t)
	c, dc := MustConnector(t, options{settings: srv.settings(), maxConns: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := run(t.Context(), c, "BLPOP", srv.key("q"), "0.05")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := dc.n.Load(); n < 1 || n > 2 {
		t.Fatalf("dials: %d, want 1 or 2", n)
	}
}

func TestAuthentication(t *testing.T) {
	srv := MustServer(t)
	const good = "good-password-31f0"
	user := srv.MustUser(t, good, "~"+srv.prefix+"*", "+@all")
	settings := srv.settings()
	settings["username"] = user

	c, _ := MustConnector(t, options{settings: settings, secrets: map[string]any{"password": good}})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	MustRun(t, c, "SET", srv.key("k"), "v")

	bad, dc := MustConnector(t, options{settings: settings, secrets: map[string]any{"password": canary}})
	for _, err := range []error{bad.Ping(t.Context()), func() error { _, err := run(t.Context(), bad, "GET", srv.key("k")); return err }()} {
		e := mustCode(t, err, connect.EAUTH)
		for _, s := range []string{canary, srv.host, strconv.FormatInt(srv.port, 10), user} {
			if strings.Contains(e.Message, s) || strings.Contains(err.Error(), s) {
				t.Errorf("error holds %q: %s", s, e.Message)
			}
		}
	}
	if dc.n.Load() == 0 {
		t.Fatal("no dial went through the egress dialer")
	}

	// The server's refusal of a command (NOPERM) is the command's error.
	limited := srv.MustUser(t, good, "~"+srv.prefix+"*", "+get")
	settings["username"] = limited
	lc, _ := MustConnector(t, options{settings: settings, secrets: map[string]any{"password": good}})
	_, err := run(t.Context(), lc, "SET", srv.key("k"), "w")
	if e := mustCode(t, err, connect.EQUERY); !strings.HasPrefix(e.Message, "NOPERM") {
		t.Fatalf("message %q", e.Message)
	}
}

func TestDatabaseSetting(t *testing.T) {
	srv := MustServer(t)
	settings := srv.settings()
	settings["db"] = 3
	c, _ := MustConnector(t, options{settings: settings})
	MustRun(t, c, "SET", srv.key("db3"), "x")
	t.Cleanup(func() {
		c3 := srv.admin.Conn()
		defer c3.Close()
		c3.Do(context.Background(), "SELECT", "3")
		c3.Do(context.Background(), "DEL", srv.key("db3"))
	})
	if n, _ := srv.admin.Exists(t.Context(), srv.key("db3")).Result(); n != 0 {
		t.Fatal("the key landed in database 0")
	}
	if r := MustRun(t, c, "GET", srv.key("db3")); r.String() != `value:string | ["x"]` {
		t.Fatalf("got %s", r)
	}
}

func TestDialer(t *testing.T) {
	srv := MustServer(t)
	t.Run("every connection goes through it", func(t *testing.T) {
		dc := &dialCounter{fail: errors.New("no")}
		c, _ := MustConnector(t, options{settings: srv.settings(), dial: dc.Dial})
		err := c.Ping(t.Context())
		mustCode(t, err, connect.EUNREACHABLE)
		// go-redis would probe a failing address every second from a
		// goroutine of its own; the connector lets it dial only for a
		// query.
		time.Sleep(1500 * time.Millisecond)
		if n := dc.n.Load(); n != 1 {
			t.Fatalf("dials: %d, want 1", n)
		}
		_, err = run(t.Context(), c, "GET", "k")
		mustCode(t, err, connect.EUNREACHABLE)
		if n := dc.n.Load(); n != 2 {
			t.Fatalf("dials: %d, want 2", n)
		}
	})
	t.Run("egress refusal passes through", func(t *testing.T) {
		dc := &dialCounter{fail: connect.Errorf(connect.EEGRESS, "The destination is denied by the egress policy.")}
		c, _ := MustConnector(t, options{settings: srv.settings(), dial: dc.Dial})
		_, err := run(t.Context(), c, "GET", "k")
		mustCode(t, err, connect.EEGRESS)
	})
	t.Run("closed port", func(t *testing.T) {
		settings := srv.settings()
		settings["host"], settings["port"] = "127.0.0.1", 1
		c, _ := MustConnector(t, options{settings: settings})
		e := mustCode(t, c.Ping(t.Context()), connect.EUNREACHABLE)
		if strings.Contains(e.Message, "127.0.0.1") {
			t.Fatalf("message holds the address: %s", e.Message)
		}
	})
}

func TestReplyCaps(t *testing.T) {
	srv := MustServer(t)
	c, _ := MustConnector(t, options{settings: srv.settings()})
	redis.SetReplyCaps(c, 4096, 50)
	args := []string{"RPUSH", srv.key("l")}
	for i := range 100 {
		args = append(args, strconv.Itoa(i))
	}
	MustRun(t, c, args...)
	MustRun(t, c, "SET", srv.key("big"), strings.Repeat("x", 5000))
	MustRun(t, c, "LRANGE", srv.key("l"), "0", "48")
	for _, args := range [][]string{{"LRANGE", srv.key("l"), "0", "-1"}, {"GET", srv.key("big")}} {
		_, err := run(t.Context(), c, args...)
		mustCode(t, err, querygate.ETOOLARGE)
	}
	// The next command runs on a new connection.
	if r := MustRun(t, c, "STRLEN", srv.key("big")); r.String() != `value:integer | [5000]` {
		t.Fatalf("got %s", r)
	}
}

func TestClose(t *testing.T) {
	srv := MustServer(t)
	c, _ := MustConnector(t, options{settings: srv.settings()})
	MustRun(t, c, "PING")
	c.Close()
	_, err := run(t.Context(), c, "PING")
	mustCode(t, err, querygate.EUNAVAILABLE)
}

func TestSettings(t *testing.T) {
	srv := MustServer(t)
	for _, tc := range []struct {
		name     string
		settings map[string]any
		secrets  map[string]any
	}{
		{"ca_cert without tls", map[string]any{"ca_cert": mustCA(t).certPEM}, nil},
		{"client cert without key", map[string]any{"tls": "require", "client_cert": mustCA(t).certPEM}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settings := srv.settings()
			for k, v := range tc.settings {
				settings[k] = v
			}
			_, _, err := newConnector(t, options{settings: settings, secrets: tc.secrets})
			mustCode(t, err, connect.ECONFIG)
		})
	}
}
