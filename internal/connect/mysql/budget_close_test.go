package mysql

import (
	"context"
	"database/sql/driver"
	"net"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// closingConnector is a driver connector that dials through dial and, as
// the driver does when a connect's context ends, closes the connection
// before Connect returns.
type closingConnector struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// closed, when set, makes the close run in a goroutine of its own
	// (the driver's watcher), closed once done.
	closed chan struct{}
}

func (c closingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	nc, err := c.dial(ctx, "tcp", "db:3306")
	if err != nil {
		return nil, err
	}
	if c.closed == nil {
		nc.Close()
		return fakeDriverConn{}, nil
	}
	go func() {
		nc.Close()
		close(c.closed)
	}()
	return fakeDriverConn{}, nil
}

func (closingConnector) Driver() driver.Driver { return nil }

type fakeDriverConn struct{ driver.Conn }

// TestBudgetsForgetClosedDuringConnect: a connection the driver closes
// while Connect is still running is not kept in the connector's map.
func TestBudgetsForgetClosedDuringConnect(t *testing.T) {
	b := newBudgets(connect.Bounds{})
	pipe := func(context.Context, string, string) (net.Conn, error) {
		a, z := net.Pipe()
		z.Close()
		return a, nil
	}
	b.Connector = closingConnector{dial: b.dial(pipe)}
	if _, err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.conns); n != 0 {
		t.Errorf("%d closed connections kept, want 0", n)
	}
}

// TestBudgetsCloseWhileConnecting: the driver's watcher may close the
// connection while Connect notes it (the race detector watches).
func TestBudgetsCloseWhileConnecting(t *testing.T) {
	b := newBudgets(connect.Bounds{})
	pipe := func(context.Context, string, string) (net.Conn, error) {
		a, z := net.Pipe()
		z.Close()
		return a, nil
	}
	done := make(chan struct{})
	b.Connector = closingConnector{dial: b.dial(pipe), closed: done}
	if _, err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.conns); n != 0 {
		t.Errorf("%d closed connections kept, want 0", n)
	}
}
