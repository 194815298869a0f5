package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/redis"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/testenv"
)

// canary is the password of these tests' datasources; it must never appear
// in an error.
const canary = "CANARY-redis-5e8b20"

// dialCounter is the egress dialer of the tests: a plain net.Dialer that
// counts its calls, so tests can assert every connection went through it.
type dialCounter struct {
	n    atomic.Int64
	d    net.Dialer
	fail error // when set, every dial fails with it
}

func (c *dialCounter) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	if c.fail != nil {
		return nil, c.fail
	}
	return c.d.DialContext(ctx, network, addr)
}

// server is the test Redis server.
type server struct {
	host   string
	port   int64
	admin  *goredis.Client // for setup and checks, outside the connector
	prefix string          // every key of the test starts with it
}

// MustServer returns the test server with a fresh key prefix whose keys
// are deleted when the test ends, or skips (fails under CI=true).
func MustServer(tb testing.TB) *server {
	tb.Helper()
	addr := testenv.RedisAddr(tb)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("QG_TEST_REDIS_ADDR: %v", err)
	}
	p, err := strconv.ParseInt(port, 10, 64)
	if err != nil {
		tb.Fatalf("QG_TEST_REDIS_ADDR: %v", err)
	}
	s := &server{host: host, port: p, prefix: "qgtest:" + randomHex(tb) + ":",
		admin: goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 3})}
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := s.admin.Scan(ctx, 0, s.prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			s.admin.Del(ctx, iter.Val())
		}
		s.admin.Close()
	})
	return s
}

// key returns a key under the test's prefix.
func (s *server) key(name string) string { return s.prefix + name }

// settings returns datasource settings for the test server, tls=disable.
func (s *server) settings() map[string]any {
	return map[string]any{"host": s.host, "port": s.port}
}

// MustUser creates an ACL user with password and rules (such as "~*",
// "+@all"), deleted when the test ends, and returns its name.
func (s *server) MustUser(tb testing.TB, password string, rules ...string) string {
	tb.Helper()
	name := "qgtest-" + randomHex(tb)
	args := []any{"ACL", "SETUSER", name, "reset", "on", ">" + password}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := s.admin.Do(tb.Context(), args...).Err(); err != nil {
		tb.Fatalf("ACL SETUSER: %v", err)
	}
	tb.Cleanup(func() { s.admin.Do(context.Background(), "ACL", "DELUSER", name) })
	return name
}

func randomHex(tb testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// options describe the datasource a test builds.
type options struct {
	settings map[string]any // host is required
	secrets  map[string]any
	readOnly bool
	dial     connect.DialFunc
	maxConns int
	maxIdle  time.Duration
}

// MustConnector creates the datasource through a real catalogue (so that
// settings and secrets are validated, sealed, stored and read back as the
// gateway does) and returns a connector for it, closed when the test ends.
func MustConnector(tb testing.TB, o options) (*redis.Connector, *dialCounter) {
	tb.Helper()
	c, dc, err := newConnector(tb, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, dc
}

func newConnector(tb testing.TB, o options) (*redis.Connector, *dialCounter, error) {
	tb.Helper()
	ds, secrets := mustDatasource(tb, o)
	dc := &dialCounter{}
	dial := o.dial
	if dial == nil {
		dial = dc.Dial
	}
	settings, err := redis.DecodeSettings(ds.Settings, secrets)
	if err != nil {
		return nil, nil, err
	}
	c, err := redis.New(connect.Config{ID: ds.ID, Settings: settings, ReadOnly: ds.ReadOnly, Dial: dial, MaxConns: o.maxConns, MaxIdle: o.maxIdle})
	if err != nil {
		return nil, nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c, dc, nil
}

func mustDatasource(tb testing.TB, o options) (*datasource.Datasource, datasource.Secrets) {
	tb.Helper()
	ctx := tb.Context()
	dir := tb.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "querygate.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	defer db.Close()
	inst, err := instance.Open(ctx, db, instance.Options{KeyFile: filepath.Join(dir, "master.key"), CreateKey: true})
	if err != nil {
		tb.Fatalf("instance.Open: %v", err)
	}
	svc := datasource.NewService(datasource.ServiceOptions{Kinds: kind.NewRegistry(redis.Kind()), Store: db, Envelope: inst.Envelope})
	raw := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	in := datasource.CreateInput{Name: "cache", Kind: datasource.KindRedis, ReadOnly: o.readOnly,
		Settings: map[string]json.RawMessage{}, Secrets: map[string]json.RawMessage{}}
	for k, v := range o.settings {
		in.Settings[k] = raw(v)
	}
	for k, v := range o.secrets {
		in.Secrets[k] = raw(v)
	}
	d, err := svc.Create(ctx, "u1", in)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	if d, err = svc.Find(ctx, d.ID); err != nil {
		tb.Fatalf("Find: %v", err)
	}
	s, err := svc.OpenSecrets(ctx, d.ID)
	if err != nil {
		tb.Fatalf("OpenSecrets: %v", err)
	}
	return d, s
}

// result is what a sink received.
type result struct {
	cols []connect.Column
	rows [][]any
}

// sink collects a result; with limit > 0 it stops after limit rows, as the
// query encoder does.
type sink struct {
	result
	limit int
}

func (s *sink) Columns(cols []connect.Column) error {
	s.cols = append([]connect.Column(nil), cols...)
	return nil
}

func (s *sink) Row(values []any) error {
	if s.limit > 0 && len(s.rows) >= s.limit {
		return connect.ErrStop
	}
	s.rows = append(s.rows, append([]any(nil), values...))
	return nil
}

// run runs a command and returns what the sink received.
func run(ctx context.Context, c *redis.Connector, args ...string) (result, error) {
	s := &sink{}
	_, err := c.Query(ctx, connect.Request{Command: args}, s)
	return s.result, err
}

// MustRun runs a command that must succeed.
func MustRun(tb testing.TB, c *redis.Connector, args ...string) result {
	tb.Helper()
	r, err := run(tb.Context(), c, args...)
	if err != nil {
		tb.Fatalf("%q: %v", args, err)
	}
	return r
}

// mustCode fails unless err is a *querygate.Error with code.
func mustCode(tb testing.TB, err error, code string) *querygate.Error {
	tb.Helper()
	var e *querygate.Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v; want code %s", err, code)
	}
	if e.Code != code {
		tb.Fatalf("err code %s (%s); want %s", e.Code, e.Message, code)
	}
	return e
}

// show spells a connect value with its type, for comparing results:
// "text" for strings, 7 for int64, 1.5 for float64, true, nil, bytes:hex,
// json:{...}, numeric:123, and [a b] for arrays.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return "float:" + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []byte:
		return "bytes:" + hex.EncodeToString(v)
	case connect.JSON:
		return "json:" + string(v)
	case connect.Numeric:
		return "numeric:" + string(v)
	case []any:
		out := "["
		for i, e := range v {
			if i > 0 {
				out += " "
			}
			out += show(e)
		}
		return out + "]"
	}
	return fmt.Sprintf("unexpected %T", v)
}

// String spells a result: its columns, then its rows.
func (r result) String() string {
	out := ""
	for _, c := range r.cols {
		out += c.Name + ":" + c.Type + " "
	}
	out += "|"
	for _, row := range r.rows {
		out += " " + show(row)
	}
	return out
}

// serveAll accepts connections on ln until the test ends and serves each
// with handle in a goroutine of its own; handle may track more
// connections to close and spawn more goroutines to wait for. At cleanup
// the listener and every connection are closed, then every goroutine is
// waited for.
func serveAll(tb testing.TB, ln net.Listener, handle func(c net.Conn, track func(net.Conn), spawn func(func()))) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
	}
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Go(func() { handle(c, track, wg.Go) })
		}
	})
}
