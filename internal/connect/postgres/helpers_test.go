package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/postgres"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/testenv"
)

// canary is the password (and part of every other secret) in these tests;
// it must never appear in an error.
const canary = "CANARY-pg-5e1f0c"

// dialCounter is the egress dialer of the tests: a plain net.Dialer that
// counts its calls, so tests can assert every connection went through it.
type dialCounter struct {
	n atomic.Int64
	d net.Dialer
}

func (c *dialCounter) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.n.Add(1)
	return c.d.DialContext(ctx, network, addr)
}

// server is the test PostgreSQL server.
type server struct {
	url      *url.URL
	host     string
	port     int64
	user     string
	password string
	database string
}

// MustServer returns the test server, or skips (fails under CI=true).
func MustServer(tb testing.TB) server {
	tb.Helper()
	u := testenv.PostgresURL(tb)
	port := int64(5432)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			tb.Fatalf("test PostgreSQL URL port: %v", err)
		}
		port = n
	}
	pw, _ := u.User.Password()
	return server{url: u, host: u.Hostname(), port: port, user: u.User.Username(),
		password: pw, database: strings.TrimPrefix(u.Path, "/")}
}

// settings returns datasource settings for the test server, sslmode=disable.
func (s server) settings() map[string]any {
	return map[string]any{"host": s.host, "port": s.port, "database": s.database, "user": s.user, "sslmode": "disable"}
}

// secrets returns the secrets for the test server: its password, or the
// canary when it has none (trust authentication ignores it).
func (s server) secrets(tb testing.TB) datasource.Secrets {
	tb.Helper()
	pw := s.password
	if pw == "" {
		pw = canary
	}
	return MustSecrets(tb, map[string]string{"password": pw})
}

// MustSecrets returns opened datasource secrets holding values, made the
// only way the gateway makes them: sealed by a real catalogue, then opened.
func MustSecrets(tb testing.TB, values map[string]string) datasource.Secrets {
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
	svc := datasource.NewService(datasource.ServiceOptions{Kinds: kind.NewRegistry(postgres.Kind()), Store: db, Envelope: inst.Envelope})
	raw := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	in := datasource.CreateInput{Name: "pg", Kind: datasource.KindPostgres, Settings: map[string]json.RawMessage{
		"host": raw("127.0.0.1"), "database": raw("x"), "user": raw("x"), "sslmode": raw("disable"),
	}, Secrets: map[string]json.RawMessage{}}
	for k, v := range values {
		in.Secrets[k] = raw(v)
	}
	d, err := svc.Create(ctx, "u1", in)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	s, err := svc.OpenSecrets(ctx, d.ID)
	if err != nil {
		tb.Fatalf("OpenSecrets: %v", err)
	}
	return s
}

// options change the connector a test builds.
type options struct {
	settings map[string]any // merged over the server's
	secrets  *datasource.Secrets
	maxConns int
	dial     connect.DialFunc
	readOnly bool // the datasource is read-only
	bounds   connect.Bounds
}

// MustConnector returns a connector to the test server and its dial
// counter; it is closed when the test ends.
func MustConnector(tb testing.TB, s server, o options) (*postgres.Connector, *dialCounter) {
	tb.Helper()
	c, dc, err := newConnector(tb, s, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, dc
}

func newConnector(tb testing.TB, s server, o options) (*postgres.Connector, *dialCounter, error) {
	tb.Helper()
	settings := s.settings()
	for k, v := range o.settings {
		if v == nil {
			delete(settings, k)
		} else {
			settings[k] = v
		}
	}
	var secrets datasource.Secrets
	if o.secrets != nil {
		secrets = *o.secrets
	} else {
		secrets = s.secrets(tb)
	}
	dc := &dialCounter{}
	dial := o.dial
	if dial == nil {
		dial = dc.Dial
	}
	decoded, err := postgres.DecodeSettings(settings, secrets)
	if err != nil {
		return nil, nil, err
	}
	c, err := postgres.New(connect.Config{
		ID:       "ds1",
		Settings: decoded,
		ReadOnly: o.readOnly,
		Dial:     dial,
		MaxConns: o.maxConns,
		Bounds:   o.bounds,
	})
	if err != nil {
		return nil, nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c, dc, nil
}

// plainConn is a separate pgx connection to the test server, for setting up
// and observing (pg_stat_activity) beside the connector under test.
func plainConn(tb testing.TB, s server) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.url.String())
	if err != nil {
		tb.Fatalf("pgx.Connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// MustExec runs sql on conn or fails the test.
func MustExec(tb testing.TB, conn *pgx.Conn, sql string, args ...any) {
	tb.Helper()
	if _, err := conn.Exec(tb.Context(), sql, args...); err != nil {
		tb.Fatalf("Exec(%q): %v", sql, err)
	}
}

// uniqueName returns a table name unique to the test.
func uniqueName(tb testing.TB) string {
	var b [4]byte
	rand.Read(b[:])
	name := strings.ToLower(tb.Name())
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	if len(name) > 40 {
		name = name[:40]
	}
	return "qg_" + name + "_" + hex.EncodeToString(b[:])
}

// MustTable creates a table for the test (dropped when it ends) and
// returns its name.
func MustTable(tb testing.TB, conn *pgx.Conn, columns string) string {
	tb.Helper()
	name := uniqueName(tb)
	MustExec(tb, conn, "CREATE TABLE "+name+" ("+columns+")")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn.Exec(ctx, "DROP TABLE IF EXISTS "+name)
	})
	return name
}

// sink collects a result, copying each row; stopAfter > 0 returns ErrStop
// after that many rows.
type sink struct {
	cols      []connect.Column
	rows      [][]any
	columns   int
	stopAfter int
}

var _ connect.Sink = (*sink)(nil)

func (s *sink) Columns(cols []connect.Column) error {
	s.columns++
	s.cols = cols
	return nil
}

func (s *sink) Row(values []any) error {
	row := make([]any, len(values))
	for i, v := range values {
		row[i] = deepCopy(v)
	}
	s.rows = append(s.rows, row)
	if s.stopAfter > 0 && len(s.rows) >= s.stopAfter {
		return connect.ErrStop
	}
	return nil
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case []byte:
		return bytes.Clone(v)
	case connect.JSON:
		return connect.JSON(bytes.Clone(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// MustQuery runs sql and returns the collected result.
func MustQuery(tb testing.TB, c *postgres.Connector, req connect.Request) (*sink, connect.Result) {
	tb.Helper()
	s := &sink{}
	res, err := c.Query(tb.Context(), req, s)
	if err != nil {
		tb.Fatalf("Query(%q): %v", req.Query, err)
	}
	return s, res
}

// equal compares converted values: times by Equal, NaN equal to NaN, the
// rest deeply.
func equal(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		bt, ok := b.(time.Time)
		return ok && a.Equal(bt) && a.Location() == bt.Location()
	case float64:
		bf, ok := b.(float64)
		return ok && (a == bf || math.IsNaN(a) && math.IsNaN(bf))
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !equal(a[i], bs[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// code returns the querygate code of err.
func code(err error) string { return querygate.ErrorCode(err) }
