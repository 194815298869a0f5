package mysql_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"math"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	drv "github.com/go-sql-driver/mysql"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/mysql"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/testenv"
)

// canary is the password (and part of every other secret) in these tests;
// it must never appear in an error.
const canary = "CANARY-my-7d2a91"

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

// server is the test MySQL or MariaDB server.
type server struct {
	testenv.MySQL
	port int64
}

// MustServer returns the test server, or skips (fails under CI=true).
func MustServer(tb testing.TB) server {
	tb.Helper()
	m := testenv.MySQLDSN(tb)
	port := int64(3306)
	if m.Port != "" {
		n, err := strconv.ParseInt(m.Port, 10, 64)
		if err != nil {
			tb.Fatalf("test MySQL port: %v", err)
		}
		port = n
	}
	return server{MySQL: m, port: port}
}

// settings returns datasource settings for the test server, tls=disable.
func (s server) settings() map[string]any {
	return map[string]any{"host": s.Host, "port": s.port, "database": s.Database, "user": s.User, "tls": "disable"}
}

// secrets returns the secrets for the test server: its password, if any.
func (s server) secrets(tb testing.TB) datasource.Secrets {
	tb.Helper()
	if s.Password == "" {
		return MustSecrets(tb, map[string]string{})
	}
	return MustSecrets(tb, map[string]string{"password": s.Password})
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
	svc := datasource.NewService(datasource.ServiceOptions{Kinds: kind.NewRegistry(mysql.Kind()), Store: db, Envelope: inst.Envelope})
	raw := func(v any) json.RawMessage {
		b, _ := json.Marshal(v)
		return b
	}
	in := datasource.CreateInput{Name: "my", Kind: datasource.KindMySQL, Settings: map[string]json.RawMessage{
		"host": raw("127.0.0.1"), "database": raw("x"), "user": raw("x"), "tls": raw("disable"),
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
	settings map[string]any // merged over the server's; nil values delete
	secrets  *datasource.Secrets
	maxConns int
	readOnly bool
	dial     connect.DialFunc
	bounds   connect.Bounds
}

// MustConnector returns a connector to the test server and its dial
// counter; it is closed when the test ends.
func MustConnector(tb testing.TB, s server, o options) (*mysql.Connector, *dialCounter) {
	tb.Helper()
	c, dc, err := newConnector(tb, s, o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, dc
}

func newConnector(tb testing.TB, s server, o options) (*mysql.Connector, *dialCounter, error) {
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
	decoded, err := mysql.DecodeSettings(settings, secrets)
	if err != nil {
		return nil, nil, err
	}
	c, err := mysql.New(connect.Config{
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

// plainDB is a separate database/sql pool to the test server, for setting
// up and observing (PROCESSLIST) beside the connector under test.
func plainDB(tb testing.TB, s server) *sql.DB {
	tb.Helper()
	mc := drv.NewConfig()
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(s.Host, s.Port)
	mc.User = s.User
	mc.Passwd = s.Password
	mc.DBName = s.Database
	// As the connector's sessions, so that TIMESTAMP values agree.
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := drv.NewConnector(mc)
	if err != nil {
		tb.Fatalf("NewConnector: %v", err)
	}
	db := sql.OpenDB(conn)
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustExec runs query on db or fails the test.
func MustExec(tb testing.TB, db *sql.DB, query string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		tb.Fatalf("Exec(%q): %v", query, err)
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
func MustTable(tb testing.TB, db *sql.DB, columns string) string {
	tb.Helper()
	name := uniqueName(tb)
	MustExec(tb, db, "CREATE TABLE "+name+" ("+columns+")")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP TABLE IF EXISTS "+name)
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
	}
	return v
}

// MustQuery runs req and returns the collected result.
func MustQuery(tb testing.TB, c *mysql.Connector, req connect.Request) (*sink, connect.Result) {
	tb.Helper()
	s := &sink{}
	res, err := c.Query(tb.Context(), req, s)
	if err != nil {
		tb.Fatalf("Query(%q): %v", req.Query, err)
	}
	return s, res
}

// equal compares converted values: times by Equal and location, NaN
// equal to NaN, the rest deeply.
func equal(a, b any) bool {
	switch a := a.(type) {
	case time.Time:
		bt, ok := b.(time.Time)
		return ok && a.Equal(bt) && a.Location() == bt.Location()
	case float64:
		bf, ok := b.(float64)
		return ok && (a == bf || math.IsNaN(a) && math.IsNaN(bf))
	}
	return reflect.DeepEqual(a, b)
}

// code returns the querygate code of err.
func code(err error) string { return querygate.ErrorCode(err) }
