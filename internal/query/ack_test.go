package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/seal"
	"github.com/querygate/querygate/internal/store"
)

// gatedStore is a real store whose write transactions, once armed, wait
// until the test releases them (or fail, with fail set): the audit log's
// appends go through it.
type gatedStore struct {
	store.Store
	armed   atomic.Bool
	fail    atomic.Bool
	entered chan struct{}
	release chan struct{}
	open    func() // disarms and releases, once
}

func (g *gatedStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if g.armed.Load() {
		if g.fail.Load() {
			return errors.New("disk full")
		}
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Store.Update(ctx, fn)
}

// syncBuffer is a result's output as the client would receive it: each
// Write is one write to the connection.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ackFixture is the query service with a real audit log on a gated store,
// one datasource whose connector is conn, and an admin.
type ackFixture struct {
	svc   *Service
	log   *audit.Log
	gate  *gatedStore
	d     *datasource.Datasource
	admin accounts.Actor
}

func newAckFixture(t *testing.T, conn connect.Connector) *ackFixture {
	t.Helper()
	st, inst := mustStore(t)
	gate := &gatedStore{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	var once sync.Once
	gate.open = func() { once.Do(func() { gate.armed.Store(false); close(gate.release) }) }
	ds := datasource.NewService(datasource.ServiceOptions{Kinds: allKinds, Store: st, Envelope: inst.Envelope})
	log := audit.New(audit.Options{Store: gate, Key: seal.GenerateKey()})
	t.Cleanup(log.Close)
	t.Cleanup(gate.open) // first: a failed test leaves no write waiting
	svc := NewService(Options{Datasources: ds, Audit: log, Kinds: fakePostgres(func(connect.Config) (connect.Connector, error) { return conn, nil })})
	t.Cleanup(svc.Close)
	d, err := ds.Create(t.Context(), "admin", datasource.CreateInput{Name: "r", Kind: "postgres",
		Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)},
		Secrets:  map[string]json.RawMessage{"password": json.RawMessage(`"pw"`)}})
	if err != nil {
		t.Fatal(err)
	}
	return &ackFixture{svc: svc, log: log, gate: gate, d: d, admin: actor("admin", accounts.RoleAdmin)}
}

func (f *ackFixture) run(ctx context.Context, out *syncBuffer) chan error {
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Run(ctx, f.admin, f.d.ID, Input{Query: json.RawMessage(`"SELECT 1"`)}, nil, Output{Format: NDJSON, W: out})
		done <- err
	}()
	return done
}

// The done line acknowledges a query, so the client gets it only once
// the query's audit event is durable: while the event's transaction
// waits, the client has not seen the end of the result (a crash then
// loses an event nobody was told was recorded).
func TestDoneLineWaitsForAuditEvent(t *testing.T) {
	conn := &fakeConn{errAt: -1, cols: []connect.Column{{Name: "n", Type: "int4"}}, rows: [][]any{{int64(1)}, {int64(2)}}}
	f := newAckFixture(t, conn)
	f.gate.armed.Store(true)
	var out syncBuffer
	done := f.run(t.Context(), &out)
	select {
	case <-f.gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the audit event was never written")
	}
	time.Sleep(3 * firstFlush) // time for any timed flush
	if s := out.String(); strings.Contains(s, `"done"`) {
		t.Fatalf("the done line reached the client before the audit event was durable:\n%s", s)
	}
	f.gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, `{"done":{"rows":2,`) {
		t.Fatalf("no done line after the event was written:\n%s", s)
	}
	evs, err := f.log.List(t.Context(), store.AuditFilter{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].Action != audit.Query || evs[0].Outcome != audit.OK {
		t.Fatalf("events %v, %v", evs, err)
	}
	// The event's byte count is the whole answer's, its last line
	// included, although that line was written after the event.
	var details map[string]any
	json.Unmarshal([]byte(evs[0].Details), &details)
	if got, want := details["bytes"], float64(len(out.String())); got != want {
		t.Fatalf("bytes in the event: %v, the answer has %v", got, want)
	}
}

// A small result goes out whole, in one write: no line is flushed on its
// own (only the timer, ruled out here, pushes lines early).
func TestSmallResultOneWrite(t *testing.T) {
	saved := firstFlush
	firstFlush = time.Hour
	t.Cleanup(func() { firstFlush = saved })
	conn := &fakeConn{errAt: -1, cols: []connect.Column{{Name: "n", Type: "int4"}}, rows: [][]any{{int64(1)}, {int64(2)}}}
	f := newAckFixture(t, conn)
	var out syncBuffer
	flushes := 0
	if _, err := f.svc.Run(t.Context(), f.admin, f.d.ID, Input{Query: json.RawMessage(`"SELECT 1"`)}, nil,
		Output{Format: NDJSON, W: &out, Flush: func() { flushes++ }}); err != nil {
		t.Fatal(err)
	}
	if out.writes != 1 || flushes != 0 || !strings.Contains(out.String(), `"done"`) {
		t.Fatalf("%d writes and %d flushes for a two-row result, want 1 and 0:\n%s", out.writes, flushes, out.String())
	}
}

// A query whose audit event cannot be written is not acknowledged: the
// stream ends with an error line, not with done.
func TestNoDoneLineWithoutAuditEvent(t *testing.T) {
	conn := &fakeConn{errAt: -1, cols: []connect.Column{{Name: "n", Type: "int4"}}, rows: [][]any{{int64(1)}}}
	f := newAckFixture(t, conn)
	f.gate.armed.Store(true)
	f.gate.fail.Store(true)
	var out syncBuffer
	err := <-f.run(t.Context(), &out)
	s := out.String()
	if err == nil || strings.Contains(s, `"done"`) || !strings.Contains(s, `{"error":{"code":"unavailable"`) {
		t.Fatalf("err %v, answer:\n%s", err, s)
	}
}

// stallConn sends its columns and one row, then waits until released:
// a slow query whose first row must still reach the client at once.
type stallConn struct {
	fakeConn
	release chan struct{}
}

func (c *stallConn) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	if err := sink.Columns([]connect.Column{{Name: "n", Type: "int4"}}); err != nil {
		return connect.Result{}, err
	}
	if err := sink.Row([]any{int64(1)}); err != nil {
		return connect.Result{}, err
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return connect.Result{}, ctx.Err()
	}
	return connect.Result{HasRows: true}, sink.Row([]any{int64(2)})
}

// Lines are held back only briefly: the columns and first row of a result
// whose next row is slow reach the client while the query still runs.
func TestFirstRowNotHeldBack(t *testing.T) {
	conn := &stallConn{fakeConn: fakeConn{errAt: -1}, release: make(chan struct{})}
	f := newAckFixture(t, conn)
	var out syncBuffer
	flushes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		_, err := f.svc.Run(t.Context(), f.admin, f.d.ID, Input{Query: json.RawMessage(`"SELECT 1"`)}, nil,
			Output{Format: NDJSON, W: &out, Flush: func() { flushes <- struct{}{} }})
		done <- err
	}()
	select {
	case <-flushes:
	case <-time.After(5 * time.Second):
		t.Fatal("the first row was never pushed to the client")
	}
	if s := out.String(); !strings.Contains(s, `{"row":[1]}`) || strings.Contains(s, `"done"`) {
		t.Fatalf("pushed while the query runs:\n%s", s)
	}
	close(conn.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, `{"row":[2]}`) || !strings.Contains(s, `"done"`) {
		t.Fatalf("answer:\n%s", s)
	}
}

// A result larger than the encoder's first buffer arrives whole and in
// order, and the byte count its event records is the answer's length.
func TestLargeResultBytes(t *testing.T) {
	rows := make([][]any, 20000)
	for i := range rows {
		rows[i] = []any{int64(i), strings.Repeat("x", i%300)}
	}
	conn := &fakeConn{errAt: -1, cols: []connect.Column{{Name: "n", Type: "int8"}, {Name: "s", Type: "text"}}, rows: rows}
	f := newAckFixture(t, conn)
	var out syncBuffer
	done := make(chan error, 1)
	var sum Summary
	go func() {
		var err error
		sum, err = f.svc.Run(t.Context(), f.admin, f.d.ID, Input{Query: json.RawMessage(`"SELECT 1"`), Limit: 100000}, nil, Output{Format: NDJSON, W: &out})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ls := lines(t, out.String())
	if len(ls) != len(rows)+2 {
		t.Fatalf("%d lines, want %d", len(ls), len(rows)+2)
	}
	for i, l := range ls[1 : len(ls)-1] {
		var row []any
		json.Unmarshal(l["row"], &row)
		if len(row) != 2 || row[0] != float64(i) || row[1] != strings.Repeat("x", i%300) {
			t.Fatalf("row %d: %s", i, l["row"])
		}
	}
	if sum.Bytes != int64(len(out.String())) {
		t.Fatalf("summary bytes %d, answer %d", sum.Bytes, len(out.String()))
	}
}
