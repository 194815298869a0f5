package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/seal"
)

// fakeConn is a hand-written connector that streams fixed rows.
type fakeConn struct {
	cols     []connect.Column
	rows     [][]any
	errAt    int // fail before row errAt (-1: never); 0 with noCols fails before columns
	err      error
	block    bool // wait for ctx
	stopped  bool
	closed   bool
	affected int64
	mu       sync.Mutex
}

var _ connect.Connector = (*fakeConn)(nil)

func (f *fakeConn) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	if f.block {
		<-ctx.Done()
		return connect.Result{}, ctx.Err()
	}
	if f.errAt == -2 {
		return connect.Result{}, f.err
	}
	if f.cols == nil {
		return connect.Result{RowsAffected: f.affected}, nil
	}
	if err := sink.Columns(f.cols); err != nil {
		return connect.Result{}, err
	}
	for i, r := range f.rows {
		if i == f.errAt {
			return connect.Result{HasRows: true}, f.err
		}
		if err := sink.Row(r); err == connect.ErrStop {
			f.stopped = true
			return connect.Result{HasRows: true}, nil
		} else if err != nil {
			return connect.Result{}, err
		}
	}
	return connect.Result{HasRows: true}, nil
}

func (f *fakeConn) Ping(ctx context.Context) error { return nil }
func (f *fakeConn) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}
func (f *fakeConn) isClosed() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.closed }

type fixture struct {
	svc    *Service
	ds     *datasource.Service
	d      *datasource.Datasource
	opened []*fakeConn
	next   func() *fakeConn
	mu     sync.Mutex
}

func newFixture(t *testing.T, limits Limits) *fixture {
	t.Helper()
	st, inst := mustStore(t)
	f := &fixture{ds: datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: st, Envelope: inst.Envelope})}
	f.next = func() *fakeConn { return &fakeConn{errAt: -1} }
	f.svc = NewService(Options{Datasources: f.ds, Limits: limits, Kinds: fakePostgres(
		func(c connect.Config) (connect.Connector, error) {
			if p, _ := c.Settings.(seal.Secret); p.Reveal() != "pw-secret" {
				t.Errorf("connector got the wrong secret")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			fc := f.next()
			f.opened = append(f.opened, fc)
			return fc, nil
		},
	)})
	t.Cleanup(f.svc.Close)
	var err error
	f.d, err = f.ds.Create(t.Context(), "u1", datasource.CreateInput{Name: "r", Kind: "postgres",
		Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)},
		Secrets:  map[string]json.RawMessage{"password": json.RawMessage(`"pw-secret"`)}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) run(t *testing.T, conn *fakeConn, req Request, format Format) (string, Summary, error) {
	t.Helper()
	f.next = func() *fakeConn { return conn }
	f.svc.Forget(f.d.ID)
	var buf bytes.Buffer
	started := false
	sum, err := f.svc.run(t.Context(), f.d, req, Output{Format: format, W: &buf, Start: func() { started = true }})
	if buf.Len() > 0 && !started {
		t.Fatal("bytes written before Start")
	}
	return buf.String(), sum, err
}

func lines(t *testing.T, s string) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestNDJSONValues(t *testing.T) {
	f := newFixture(t, Limits{})
	ts := time.Date(2026, 11, 22, 10, 30, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"null", nil, `null`},
		{"bool", true, `true`},
		{"int", int64(-9007199254740993), `-9007199254740993`},
		{"uint", uint64(math.MaxUint64), `18446744073709551615`},
		{"float", 1.5, `1.5`},
		{"nan", math.NaN(), `"NaN"`},
		{"inf", math.Inf(-1), `"-Inf"`},
		{"string", "a\"b\\c\n\t\x01<>&\u2028é", `"a\"b\\c\n\t\u0001\u003c\u003e\u0026\u2028é"`},
		{"invalid utf8", "a\xffb", `"a\ufffdb"`},
		{"bytes", []byte{0, 1, 255}, `"AAH/"`},
		{"time", ts, `"2026-11-22T10:30:00.123456Z"`},
		{"time with offset", ts.In(time.FixedZone("", 2*3600)), `"2026-11-22T12:30:00.123456+02:00"`},
		{"date", connect.NewDate(ts), `"2026-11-22"`},
		{"local date time", connect.NewLocalDateTime(ts), `"2026-11-22T10:30:00.123456"`},
		{"local date time, whole seconds", connect.NewLocalDateTime(ts.Truncate(time.Second)), `"2026-11-22T10:30:00"`},
		{"numeric", connect.Numeric("12345678901234567890.000000001"), `"12345678901234567890.000000001"`},
		{"json", connect.JSON(`{"a":[1,2]}`), `{"a":[1,2]}`},
		{"bad json", connect.JSON(`{"a":`), `"{\"a\":"`},
		{"array", []any{int64(1), nil, []any{"x"}}, `[1,null,["x"]]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := f.run(t, &fakeConn{cols: []connect.Column{{Name: "v", Type: "t"}}, rows: [][]any{{tc.v}}, errAt: -1}, Request{Query: "q"}, NDJSON)
			if err != nil {
				t.Fatal(err)
			}
			l := lines(t, out)
			if len(l) != 3 {
				t.Fatalf("got %d lines, want 3: %s", len(l), out)
			}
			if got := string(l[1]["row"]); got != "["+tc.want+"]" {
				t.Fatalf("got %s, want [%s]", got, tc.want)
			}
		})
	}
}

func TestLimitAndDone(t *testing.T) {
	f := newFixture(t, Limits{DefaultRows: 5, MaxRows: 10})
	rows := make([][]any, 8)
	for i := range rows {
		rows[i] = []any{int64(i)}
	}
	cols := []connect.Column{{Name: "n", Type: "int8"}}
	for _, tc := range []struct {
		name      string
		limit     int64
		wantRows  int
		truncated bool
	}{
		{"default limit", 0, 5, true},
		{"smaller", 3, 3, true},
		{"exactly all", 8, 8, false},
		{"more than all", 10, 8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &fakeConn{cols: cols, rows: rows, errAt: -1}
			out, sum, err := f.run(t, conn, Request{Query: "q", Limit: tc.limit}, NDJSON)
			if err != nil {
				t.Fatal(err)
			}
			l := lines(t, out)
			if got := len(l) - 2; got != tc.wantRows {
				t.Fatalf("got %d rows, want %d", got, tc.wantRows)
			}
			var done struct {
				Rows      int  `json:"rows"`
				Truncated bool `json:"truncated"`
			}
			json.Unmarshal(l[len(l)-1]["done"], &done)
			if done.Rows != tc.wantRows || done.Truncated != tc.truncated || sum.Truncated != tc.truncated {
				t.Fatalf("done: got %+v, want rows %d truncated %v", done, tc.wantRows, tc.truncated)
			}
			if conn.stopped != tc.truncated {
				t.Fatalf("connector stopped: got %v, want %v", conn.stopped, tc.truncated)
			}
		})
	}
	_, _, err := f.run(t, &fakeConn{cols: cols, rows: rows, errAt: -1}, Request{Query: "q", Limit: 11}, NDJSON)
	if e, ok := err.(interface{ Unwrap() error }); !ok || querygate.ErrorCode(e.Unwrap()) != querygate.EINVALID || Started(err) {
		t.Fatalf("limit over cap: got %v", err)
	}
}

func TestNoRowsStatement(t *testing.T) {
	f := newFixture(t, Limits{})
	out, _, err := f.run(t, &fakeConn{affected: 7, errAt: -1}, Request{Query: "update"}, NDJSON)
	if err != nil {
		t.Fatal(err)
	}
	l := lines(t, out)
	if len(l) != 1 || !strings.Contains(string(l[0]["done"]), `"rows_affected":7`) {
		t.Fatalf("got %s", out)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, Limits{MaxTimeout: 2 * time.Second})
	cols := []connect.Column{{Name: "n", Type: "int8"}}
	queryErr := connect.Errorf(connect.EQUERY, "relation does not exist")

	// Before the stream starts: nothing written, error for a status.
	out, _, err := f.run(t, &fakeConn{errAt: -2, err: queryErr}, Request{Query: "q"}, NDJSON)
	if out != "" || Started(err) || querygate.ErrorCode(err) != connect.EQUERY {
		t.Fatalf("early error: out %q err %v started %v", out, err, Started(err))
	}
	// Mid-stream: rows, then an error line, no done line.
	out, _, err = f.run(t, &fakeConn{cols: cols, rows: [][]any{{int64(1)}, {int64(2)}}, errAt: 1, err: queryErr}, Request{Query: "q"}, NDJSON)
	l := lines(t, out)
	if !Started(err) || len(l) != 3 || l[2]["error"] == nil || !strings.Contains(string(l[2]["error"]), `"code":"query_failed"`) {
		t.Fatalf("mid-stream error: %s / %v", out, err)
	}
	// Timeout: the deadline ends a blocked query with code timeout.
	start := time.Now()
	_, _, err = f.run(t, &fakeConn{block: true}, Request{Query: "q", Timeout: 100 * time.Millisecond}, NDJSON)
	if querygate.ErrorCode(err) != connect.ETIMEOUT || time.Since(start) > 2*time.Second {
		t.Fatalf("timeout: got %v after %v", err, time.Since(start))
	}
	// Over the operator's cap.
	_, _, err = f.run(t, &fakeConn{errAt: -1}, Request{Query: "q", Timeout: time.Hour}, NDJSON)
	if querygate.ErrorCode(err) != querygate.EINVALID {
		t.Fatalf("timeout over cap: got %v", err)
	}
	_, _, err = f.run(t, &fakeConn{errAt: -1}, Request{}, NDJSON)
	if querygate.ErrorCode(err) != querygate.EINVALID {
		t.Fatalf("empty query: got %v", err)
	}
}

func TestCSV(t *testing.T) {
	f := newFixture(t, Limits{})
	conn := &fakeConn{cols: []connect.Column{{Name: "a"}, {Name: "b,c"}}, errAt: -1,
		rows: [][]any{{"x,\"y\"\n", nil}, {int64(3), []any{int64(1), "z"}}}}
	out, _, err := f.run(t, conn, Request{Query: "q"}, CSV)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b,c"}, {"x,\"y\"\n", ""}, {"3", `[1,"z"]`}}
	if len(recs) != len(want) {
		t.Fatalf("got %q, want %q", recs, want)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Fatalf("row %d: got %q, want %q", i, recs[i], want[i])
		}
	}
}

func TestPoolFollowsDatasourceVersion(t *testing.T) {
	f := newFixture(t, Limits{})
	cols := []connect.Column{{Name: "n"}}
	f.next = func() *fakeConn { return &fakeConn{cols: cols, errAt: -1} }
	run := func() {
		if _, err := f.svc.run(t.Context(), f.d, Request{Query: "q"}, Output{W: &bytes.Buffer{}}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	run()
	if len(f.opened) != 1 {
		t.Fatalf("opened %d pools for one version, want 1", len(f.opened))
	}
	// An update elsewhere gives a new version: a new pool, the old one closed.
	name := "renamed"
	d, err := f.ds.Update(t.Context(), f.d.ID, datasource.UpdateInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	run()
	if len(f.opened) != 2 {
		t.Fatalf("opened %d pools after an update, want 2", len(f.opened))
	}
	deadline := time.Now().Add(2 * time.Second)
	for !f.opened[0].isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !f.opened[0].isClosed() {
		t.Fatal("the stale pool was not closed")
	}
	f.svc.Forget(f.d.ID)
	for !f.opened[1].isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !f.opened[1].isClosed() {
		t.Fatal("Forget did not close the pool")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x1f\x7f", "<script>&", "\u2028\u2029", "\xff\xfe", "é漢字🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", b, s, err)
		}
		// encoding/json is the reference: each invalid byte becomes U+FFFD.
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("round trip: got %q, want %q", got, want)
		}
	})
}

func TestDevicePools(t *testing.T) {
	f := newFixture(t, Limits{DeviceIdle: 50 * time.Millisecond})
	dev, err := f.ds.Create(t.Context(), "u1", datasource.CreateInput{Name: "dev", Kind: "postgres", Custody: "device",
		Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)}})
	if err != nil {
		t.Fatal(err)
	}
	f.next = func() *fakeConn { return &fakeConn{cols: []connect.Column{{Name: "n"}}, errAt: -1} }
	// Without a device credential nothing opens.
	if _, err := f.svc.run(t.Context(), dev, Request{Query: "q"}, Output{W: &bytes.Buffer{}}); querygate.ErrorCode(err) != querygate.EDEVICELOCKED {
		t.Fatalf("no device: got %v", err)
	}
	// The connector gets the device's password (the fixture's opener
	// checks "pw-secret"); each device has its own pool.
	for _, id := range []string{"dva", "dvb", "dva"} {
		if _, err := f.svc.run(t.Context(), dev, Request{Query: "q", Device: &Device{ID: id, Password: seal.NewSecret("pw-secret")}}, Output{W: &bytes.Buffer{}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.opened) != 2 {
		t.Fatalf("opened %d pools for two devices, want 2", len(f.opened))
	}
	// Forgetting one device closes its pool only; idle pools close by
	// themselves.
	f.svc.ForgetDevice(dev.ID, "dvb")
	deadline := time.Now().Add(5 * time.Second)
	for !f.opened[1].isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !f.opened[1].isClosed() {
		t.Fatal("the forgotten device's pool is open")
	}
	for !f.opened[0].isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !f.opened[0].isClosed() {
		t.Fatal("the idle device pool was not closed")
	}
}

func TestReconcileClosesStalePools(t *testing.T) {
	f := newFixture(t, Limits{SyncInterval: 20 * time.Millisecond})
	f.next = func() *fakeConn { return &fakeConn{cols: []connect.Column{{Name: "n"}}, errAt: -1} }
	if _, err := f.svc.run(t.Context(), f.d, Request{Query: "q"}, Output{W: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	// Another replica changes the datasource: this one runs no query, yet
	// its idle pool is closed within the sync interval.
	name := "renamed"
	if _, err := f.ds.Update(t.Context(), f.d.ID, datasource.UpdateInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.opened[0].isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !f.opened[0].isClosed() {
		t.Fatal("the stale pool was not closed")
	}
	if n := f.svc.PoolCount(); n != 0 {
		t.Fatalf("%d pools left", n)
	}
}
