package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/seal"
)

// ledger counts, per datasource, the connections the open connectors may
// hold: the sum of their MaxConns (a connector holds at most that many,
// idle ones included, until its Close returns).
type ledger struct {
	mu   sync.Mutex
	open map[string]int
	peak map[string]int
}

// countingConn is a connector whose queries take a while (or wait for
// gate) and that reports its MaxConns to the ledger until closed.
type countingConn struct {
	l      *ledger
	dsID   string
	n      int
	sleep  time.Duration
	gate   chan struct{} // nil: sleep
	mu     sync.Mutex
	closed bool
}

var _ connect.Connector = (*countingConn)(nil)

func (c *countingConn) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	wait := time.After(c.sleep)
	if c.gate != nil {
		wait = nil
	}
	select {
	case <-wait:
	case <-c.gate:
	case <-ctx.Done():
		return connect.Result{}, connect.ContextError(ctx)
	}
	return connect.Result{RowsAffected: 0}, nil
}

func (c *countingConn) Ping(ctx context.Context) error { return nil }

func (c *countingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.l.mu.Lock()
		c.l.open[c.dsID] -= c.n
		c.l.mu.Unlock()
	}
	return nil
}

// newLedgerService returns a query service whose postgres opener makes
// counting connectors, and a device-custody datasource.
func newLedgerService(t *testing.T, limits Limits, sleep time.Duration, gate chan struct{}) (*Service, *ledger, *fixture, *datasource.Datasource) {
	t.Helper()
	f := newFixture(t, Limits{})
	l := &ledger{open: map[string]int{}, peak: map[string]int{}}
	svc := NewService(Options{Datasources: f.ds, Limits: limits, Kinds: fakePostgres(
		func(c connect.Config) (connect.Connector, error) {
			n := c.MaxConns
			if n <= 0 {
				n = 4 // the connectors' default
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open[c.ID] += n
			l.peak[c.ID] = max(l.peak[c.ID], l.open[c.ID])
			return &countingConn{l: l, dsID: c.ID, n: n, sleep: sleep, gate: gate}, nil
		},
	)})
	t.Cleanup(svc.Close)
	dev, err := f.ds.Create(t.Context(), "u1", datasource.CreateInput{Name: "dev", Kind: "postgres", Custody: "device",
		Settings: map[string]json.RawMessage{"host": json.RawMessage(`"127.0.0.1"`), "database": json.RawMessage(`"d"`), "user": json.RawMessage(`"u"`)}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, l, f, dev
}

func testDevice(id string) *Device { return &Device{ID: id, Password: seal.NewSecret("pw-secret")} }

// TestConnectionBudget: whatever the number of devices, parallel queries
// and connection tests, the connectors of one datasource never hold more
// than MaxConns connections together, and every query gets its turn.
func TestConnectionBudget(t *testing.T) {
	const maxConns = 3
	svc, l, f, dev := newLedgerService(t, Limits{MaxConns: maxConns}, 5*time.Millisecond, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for d := range 8 {
		for range 4 {
			wg.Go(func() {
				for range 3 {
					_, err := svc.run(t.Context(), dev, Request{Query: "q", Device: testDevice(fmt.Sprintf("dv%d", d))}, Output{W: &bytes.Buffer{}})
					errs <- err
				}
			})
		}
	}
	// Connection tests (and unlocks, which are tests without a device id)
	// of both datasources, and queries on the shared pool of the other.
	for range 6 {
		wg.Go(func() { errs <- svc.test(t.Context(), dev, &Device{Password: seal.NewSecret("pw-secret")}) })
		wg.Go(func() { errs <- svc.test(t.Context(), f.d, nil) })
		wg.Go(func() {
			_, err := svc.run(t.Context(), f.d, Request{Query: "q"}, Output{W: &bytes.Buffer{}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a query or test failed: %v", err)
		}
	}
	l.mu.Lock()
	peakDev, peakShared := l.peak[dev.ID], l.peak[f.d.ID]
	l.mu.Unlock()
	if peakDev > maxConns || peakShared > maxConns {
		t.Errorf("connections held at once: %d (device custody), %d (shared), want at most MaxConns %d", peakDev, peakShared, maxConns)
	}
	svc.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[dev.ID] != 0 || l.open[f.d.ID] != 0 {
		t.Errorf("after Close: %v connections still held", l.open)
	}
}

// TestConnectionBudgetTimeout: a query or test that finds every connection
// of its datasource in use waits for one until its own timeout, then fails
// with a timeout that says why; once the connections are free it runs.
func TestConnectionBudgetTimeout(t *testing.T) {
	gate := make(chan struct{})
	svc, l, _, dev := newLedgerService(t, Limits{MaxConns: 1}, 0, gate)
	busy := make(chan error, 1)
	go func() {
		_, err := svc.run(t.Context(), dev, Request{Query: "q", Device: testDevice("dva"), Timeout: time.Minute}, Output{W: &bytes.Buffer{}})
		busy <- err
	}()
	// Wait until the first query holds the connection.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		n := l.open[dev.ID]
		l.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first query never connected")
		}
	}
	start := time.Now()
	_, err := svc.run(t.Context(), dev, Request{Query: "q", Device: testDevice("dvb"), Timeout: 100 * time.Millisecond}, Output{W: &bytes.Buffer{}})
	if querygate.ErrorCode(err) != connect.ETIMEOUT || !strings.Contains(querygate.ErrorMessage(err), "--pool-max-conns") {
		t.Fatalf("second device while the connection is in use: got %v, want a timeout naming --pool-max-conns", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the wait took %v, want about the query's timeout", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := svc.test(ctx, dev, testDevice("")); querygate.ErrorCode(err) != connect.ETIMEOUT {
		t.Fatalf("test while the connection is in use: got %v, want a timeout", err)
	}
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := svc.run(cancelled, dev, Request{Query: "q", Device: testDevice("dvc")}, Output{W: &bytes.Buffer{}}); querygate.ErrorCode(err) != connect.ECANCELED {
		t.Fatalf("cancelled while waiting: got %v, want canceled", err)
	}
	close(gate)
	if err := <-busy; err != nil {
		t.Fatalf("first query: %v", err)
	}
	if _, err := svc.run(t.Context(), dev, Request{Query: "q", Device: testDevice("dvb")}, Output{W: &bytes.Buffer{}}); err != nil {
		t.Fatalf("second device once the connection is free: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peak[dev.ID] > 1 {
		t.Errorf("connections held at once: %d, want at most 1", l.peak[dev.ID])
	}
}
