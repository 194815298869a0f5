package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/datasource"
)

// TestCancelReachesServer cancels, or lets expire, the context of a
// statement that sleeps 30 s: the query must end at once with the right
// code, and the backend must stop running it, because the cancel request
// went to the server (through the egress dialer).
func TestCancelReachesServer(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	tests := []struct {
		name     string
		readOnly bool
		ctx      func(context.Context) (context.Context, context.CancelFunc)
		code     string
	}{
		{"cancel", false, func(p context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(p)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, connect.ECANCELED},
		{"deadline", false, func(p context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(p, 200*time.Millisecond)
		}, connect.ETIMEOUT},
		{"cancel read-only", true, func(p context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(p)
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, connect.ECANCELED},
		{"deadline read-only", true, func(p context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(p, 200*time.Millisecond)
		}, connect.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, dc := MustConnector(t, s, options{maxConns: 1})
			// Connect first, so that the only dial below is the cancel
			// request.
			MustQuery(t, c, connect.Request{Query: "SELECT 1", ReadOnly: tt.readOnly})
			dials := dc.n.Load()
			marker := uniqueName(t)
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			start := time.Now()
			_, err := c.Query(ctx, connect.Request{Query: "SELECT pg_sleep(30) /* " + marker + " */", ReadOnly: tt.readOnly}, &sink{})
			took := time.Since(start)
			if code(err) != tt.code {
				t.Fatalf("error = %v, want %s", err, tt.code)
			}
			assertNoSecret(t, err)
			if took > 2*time.Second {
				t.Errorf("Query returned after %v, want about 200 ms", took)
			}
			waitNoActive(t, plain, marker)
			if n := dc.n.Load() - dials; n < 1 {
				t.Errorf("the cancel request did not dial through the given dialer (%d dials)", n)
			}
			// The connection survived the cancel and is reused.
			got, _ := MustQuery(t, c, connect.Request{Query: "SELECT 2", ReadOnly: tt.readOnly})
			if !equal(got.rows, [][]any{{int64(2)}}) {
				t.Errorf("next query = %v", got.rows)
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int64 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return int64(port)
}

// TestErrors forces each kind of error, with the canary as password, and
// checks the code and that no secret shows in the error.
func TestErrors(t *testing.T) {
	s := MustServer(t)
	suffix := strings.TrimPrefix(uniqueName(t), "qg_")
	secrets := MustSecrets(t, map[string]string{"password": canary})
	egressDenied := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, querygate.Errorf(connect.EEGRESS, "The egress policy does not allow connections to %s.", addr)
	}
	notTCP := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("no route to host")}
	}
	tests := []struct {
		name     string
		settings map[string]any
		dial     connect.DialFunc
		query    string
		code     string
		message  string // part of the message, when it must say something
	}{
		// The test server has no TLS, or a self-signed certificate:
		// verify-full fails either way (TestTLSModes covers each case).
		{name: "verify-full", settings: map[string]any{"sslmode": "verify-full"}, code: connect.ETLS},
		{name: "database missing", settings: map[string]any{"database": "qg_missing_" + suffix}, code: connect.ENODATABASE},
		{name: "role missing", settings: map[string]any{"user": "qg_nobody_" + suffix}, code: connect.EAUTH},
		{name: "port closed", settings: map[string]any{"port": closedPort(t)}, code: connect.EUNREACHABLE},
		{name: "dial fails", dial: notTCP, code: connect.EUNREACHABLE},
		{name: "egress denied passes through", dial: egressDenied, code: connect.EEGRESS, message: "egress policy"},
		{name: "syntax error", query: "SELEC 1", code: connect.EQUERY, message: `syntax error at or near "SELEC"`},
		{name: "division by zero", query: "SELECT 1/0", code: connect.EQUERY, message: "division by zero"},
		{name: "undefined table", query: "SELECT * FROM qg_missing_" + suffix, code: connect.EQUERY, message: "does not exist"},
		{name: "two statements", query: "SELECT 1; SELECT 2", code: connect.EQUERY, message: "multiple commands"},
		{name: "error mid-stream", query: "SELECT 1/(3 - g) FROM generate_series(1, 5) g", code: connect.EQUERY, message: "division by zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := newConnector(t, s, options{settings: tt.settings, secrets: &secrets, dial: tt.dial})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			query := tt.query
			if query == "" {
				query = "SELECT 1"
				// Ping reports connection errors the same way.
				perr := c.Ping(t.Context())
				if code(perr) != tt.code {
					t.Errorf("Ping error = %v, want code %s", perr, tt.code)
				}
				assertNoSecret(t, perr)
			}
			_, err = c.Query(t.Context(), connect.Request{Query: query}, &sink{})
			if code(err) != tt.code {
				t.Fatalf("Query error = %v, want code %s", err, tt.code)
			}
			if !strings.Contains(querygate.ErrorMessage(err), tt.message) {
				t.Errorf("message %q does not contain %q", querygate.ErrorMessage(err), tt.message)
			}
			assertNoSecret(t, err)
		})
	}
}

// TestServerTimeout: a statement the server cancels by its own
// statement_timeout (not by our context) reports the server's message.
// The timeout is the role's own setting: a SET would not outlive the
// request that made it (P13).
func TestServerTimeout(t *testing.T) {
	s := MustServer(t)
	admin := plainConn(t, s)
	role := mustRole(t, admin)
	MustExec(t, admin, "ALTER ROLE "+role+" SET statement_timeout = '50ms'")
	c, _ := MustConnector(t, s, options{maxConns: 1, settings: map[string]any{"user": role}})
	_, err := c.Query(t.Context(), connect.Request{Query: "SELECT pg_sleep(2)"}, &sink{})
	if code(err) != connect.EQUERY || !strings.Contains(querygate.ErrorMessage(err), "statement timeout") {
		t.Errorf("error = %v, want %s with the server's message", err, connect.EQUERY)
	}
}

// assertNoSecret fails if err shows the canary anywhere.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, text := range []string{err.Error(), querygate.ErrorMessage(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(text, canary) {
			t.Errorf("error shows the secret: %s", text)
		}
	}
}

// TestConfigErrors checks settings New refuses, without dialling.
func TestConfigErrors(t *testing.T) {
	s := MustServer(t)
	keyOnly := MustSecrets(t, map[string]string{"password": canary, "client_key": "-----BEGIN PRIVATE KEY-----\n" + canary + "\n-----END PRIVATE KEY-----\n"})
	pemCert := "-----BEGIN CERTIFICATE-----\nMIIB" + canary + "\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name     string
		settings map[string]any
		secrets  *datasource.Secrets
	}{
		{name: "no host", settings: map[string]any{"host": nil}},
		{name: "unix socket path", settings: map[string]any{"host": "/var/run/postgresql"}},
		{name: "host list", settings: map[string]any{"host": "a,b"}},
		{name: "port zero", settings: map[string]any{"port": int64(0)}},
		{name: "port too big", settings: map[string]any{"port": int64(70000)}},
		{name: "port as text", settings: map[string]any{"port": "5432"}},
		{name: "no database", settings: map[string]any{"database": nil}},
		{name: "no user", settings: map[string]any{"user": ""}},
		{name: "user not text", settings: map[string]any{"user": int64(1)}},
		{name: "database with NUL", settings: map[string]any{"database": "a\x00b"}},
		{name: "sslmode prefer", settings: map[string]any{"sslmode": "prefer"}},
		{name: "sslmode allow", settings: map[string]any{"sslmode": "allow"}},
		{name: "ca not PEM", settings: map[string]any{"sslmode": "verify-full", "ca_cert": "not pem " + canary}},
		{name: "client cert without key", settings: map[string]any{"sslmode": "verify-full", "client_cert": pemCert}},
		{name: "client key without cert", settings: map[string]any{"sslmode": "verify-full"}, secrets: &keyOnly},
		{name: "client cert and key do not parse", settings: map[string]any{"sslmode": "verify-full", "client_cert": pemCert}, secrets: &keyOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := newConnector(t, s, options{settings: tt.settings, secrets: tt.secrets})
			if code(err) != connect.ECONFIG {
				t.Fatalf("New error = %v, want %s", err, connect.ECONFIG)
			}
			assertNoSecret(t, err)
		})
	}

	t.Run("wrong kind", func(t *testing.T) {
		// Settings New was not made for: undecoded ones, or none.
		for _, settings := range []any{s.settings(), nil, (*postgres.Settings)(nil)} {
			_, err := postgres.New(connect.Config{Settings: settings, Dial: (&dialCounter{}).Dial})
			if code(err) != connect.ECONFIG {
				t.Errorf("New(%T) error = %v, want %s", settings, err, connect.ECONFIG)
			}
		}
	})
	t.Run("does not connect", func(t *testing.T) {
		c, dc := MustConnector(t, s, options{settings: map[string]any{"port": closedPort(t)}})
		if n := dc.n.Load(); n != 0 {
			t.Errorf("New dialled %d times, want 0", n)
		}
		c.Close()
		if _, err := c.Query(t.Context(), connect.Request{Query: "SELECT 1"}, &sink{}); err == nil {
			t.Error("Query after Close succeeded")
		}
	})
	t.Run("default port and sslmode", func(t *testing.T) {
		// Without sslmode the default is verify-full: against the
		// plaintext test server that must fail with ETLS, not connect.
		c, _ := MustConnector(t, s, options{settings: map[string]any{"sslmode": nil}})
		if err := c.Ping(t.Context()); code(err) != connect.ETLS {
			t.Errorf("Ping error = %v, want %s", err, connect.ETLS)
		}
	})
}

// TestBrokenConnection kills the connector's backend: at most one query
// may fail, then the pool has replaced the connection.
func TestBrokenConnection(t *testing.T) {
	s := MustServer(t)
	plain := plainConn(t, s)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT pg_backend_pid()"})
	pid := got.rows[0][0].(int64)
	MustExec(t, plain, "SELECT pg_terminate_backend($1::int4)", pid)
	failures := 0
	var newPID int64
	for range 2 {
		s := &sink{}
		_, err := c.Query(t.Context(), connect.Request{Query: "SELECT pg_backend_pid()"}, s)
		if err != nil {
			failures++
			if code := code(err); code != connect.EUNREACHABLE {
				t.Errorf("failed query: %v, want code %s", err, connect.EUNREACHABLE)
			}
			continue
		}
		newPID = s.rows[0][0].(int64)
	}
	if failures > 1 || newPID == 0 || newPID == pid {
		t.Errorf("after killing the backend: %d failed queries, then backend %d (killed %d); want at most one failure, then a new backend", failures, newPID, pid)
	}
}

// TestNoPreparedStatementsKept runs many distinct statements on one
// connection: none may stay prepared on the server.
func TestNoPreparedStatementsKept(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	for i := range 50 {
		MustQuery(t, c, connect.Request{Query: fmt.Sprintf("SELECT %d, $1::text", i), Params: []any{"x"}})
	}
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT count(*) FROM pg_prepared_statements"})
	if !equal(got.rows[0][0], int64(0)) {
		t.Errorf("%v statements stay prepared on the server, want 0", got.rows[0][0])
	}
}

// TestConcurrent runs queries from many goroutines on a small pool, which
// never opens more connections than its bound.
func TestConcurrent(t *testing.T) {
	s := MustServer(t)
	c, dc := MustConnector(t, s, options{maxConns: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				sk := &sink{}
				_, err := c.Query(t.Context(), connect.Request{Query: "SELECT $1::int8 * 2", Params: []any{fmt.Sprint(g*100 + i)}, ReadOnly: i%2 == 0}, sk)
				if err != nil {
					errs <- err
					continue
				}
				if want := int64((g*100 + i) * 2); !equal(sk.rows, [][]any{{want}}) {
					errs <- fmt.Errorf("got %v, want %d", sk.rows, want)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := dc.n.Load(); n > 2 {
		t.Errorf("the pool dialled %d connections, bound is 2", n)
	}
}

// TestClientEncoding: text comes as UTF-8, and a connection whose encoding
// a statement changed does not go back to the pool.
func TestClientEncoding(t *testing.T) {
	s := MustServer(t)
	c, _ := MustConnector(t, s, options{maxConns: 1})
	MustQuery(t, c, connect.Request{Query: "SET client_encoding = 'LATIN1'"})
	got, _ := MustQuery(t, c, connect.Request{Query: "SELECT 'é'::text, current_setting('client_encoding')"})
	if !equal(got.rows, [][]any{{"é", "UTF8"}}) {
		t.Errorf("after SET client_encoding: %q, want [[é UTF8]]", got.rows)
	}
}

// TestErrorFacts: the server's position, hint and detail of a rejected
// statement reach the error, for the editor to mark and show.
func TestErrorFacts(t *testing.T) {
	s := MustServer(t)
	c, _, err := newConnector(t, s, options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []struct {
		query    string
		position int
		hint     string // part of the hint
		detail   string // part of the detail
	}{
		{query: "SELECT 1,\n  2 FRM x", position: 19}, // at or near "x"
		{query: "SELECT no_such_column_qg", position: 8},
		{query: "SELECT now() + 1", position: 14, hint: "explicit type casts"},
		{query: "SELECT '{1,2'::int[]", position: 8, detail: "Unexpected end of input"},
	}
	for _, tt := range tests {
		_, err := c.Query(t.Context(), connect.Request{Query: tt.query}, &sink{})
		qe, ok := errors.AsType[*querygate.Error](err)
		if !ok {
			t.Fatalf("%q: error %v", tt.query, err)
		}
		if qe.Position != tt.position || !strings.Contains(qe.Hint, tt.hint) || !strings.Contains(qe.Detail, tt.detail) {
			t.Errorf("%q: position %d hint %q detail %q, want %d, %q, %q", tt.query, qe.Position, qe.Hint, qe.Detail, tt.position, tt.hint, tt.detail)
		}
	}
}
