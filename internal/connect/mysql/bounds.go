package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/querygate/querygate/internal/connect"
)

// The driver bounds only what it writes (maxAllowedPacket): it reads a
// row as one packet, joining as many 16 MiB pieces as the server sends,
// before it returns it. So the connector bounds what a connection may
// read between two rows, on the bytes from the network (under TLS, which
// the driver adds on top), and refuses a row the moment it would pass the
// bound: a server can make the gateway hold one row's bound and no more.
// A row within it is then counted value by value (checkRow), which names
// the column of a value over the value bound.

// readBudget is what a connection may read between two rows (or after a
// command it sent, up to the first row) for bounds b: the row, plus what
// the protocol adds to it (a length per value, packet headers, TLS
// records), plus what the driver and TLS read ahead of the row they need.
func readBudget(b connect.Bounds) int64 {
	return b.Row() + b.Row()/64 + 1<<20
}

// budgetConn is a connection whose reads are bounded between resets: by
// each write (a new command) and by the connector before each row.
type budgetConn struct {
	net.Conn
	budget int64
	left   atomic.Int64
	over   atomic.Bool // a read was refused: the connection is done
	// mu guards forget and closed: the driver may close the connection
	// (a cancelled connect's watcher) while Connect registers it.
	mu     sync.Mutex
	closed bool
	// forget removes the connection from its connector's map on close.
	forget func()
}

func (c *budgetConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left <= 0 {
		c.over.Store(true)
		return 0, errOverBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

func (c *budgetConn) Write(p []byte) (int, error) {
	c.reset()
	return c.Conn.Write(p)
}

func (c *budgetConn) Close() error {
	c.mu.Lock()
	forget := c.forget
	c.closed, c.forget = true, nil
	c.mu.Unlock()
	if forget != nil {
		forget()
	}
	return c.Conn.Close()
}

// reset gives the connection a new budget.
func (c *budgetConn) reset() { c.left.Store(c.budget) }

// errOverBudget fails the driver's read; the driver then closes the
// connection, and the run reports the row as too large (overBudget).
var errOverBudget = errors.New("mysql: row over the read budget")

// budgets dials budgetConns and knows which driver connection each one
// belongs to, so that a run can reset the budget of its own connection.
// The association is made in the gateway (the driver connection the
// dialled connection was made for), never from what the server says.
type budgets struct {
	driver.Connector // the driver's
	budget           int64
	mu               sync.Mutex
	conns            map[driver.Conn]*budgetConn
}

func newBudgets(b connect.Bounds) *budgets {
	return &budgets{budget: readBudget(b), conns: make(map[driver.Conn]*budgetConn)}
}

// dialKey marks the context of a Connect: the connection dialled for it
// is put in the *budgetConn it holds.
type dialKey struct{}

// dial wraps the driver's dialer: every connection it makes is a
// budgetConn, the ones of the kill pool included.
func (b *budgets) dial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &budgetConn{Conn: nc, budget: b.budget}
		c.reset()
		if slot, ok := ctx.Value(dialKey{}).(**budgetConn); ok {
			*slot = c
		}
		return c, nil
	}
}

// Connect makes a driver connection and notes its budgetConn.
func (b *budgets) Connect(ctx context.Context) (driver.Conn, error) {
	var c *budgetConn
	dc, err := b.Connector.Connect(context.WithValue(ctx, dialKey{}, &c))
	if err != nil || c == nil {
		return dc, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Closed already (its connect was cancelled): nothing to note.
		return dc, nil
	}
	b.mu.Lock()
	b.conns[dc] = c
	b.mu.Unlock()
	c.forget = func() {
		b.mu.Lock()
		delete(b.conns, dc)
		b.mu.Unlock()
	}
	return dc, nil
}

// of returns the budgetConn of conn, or nil.
func (b *budgets) of(conn *sql.Conn) *budgetConn {
	var c *budgetConn
	conn.Raw(func(dc any) error {
		if d, ok := dc.(driver.Conn); ok {
			b.mu.Lock()
			c = b.conns[d]
			b.mu.Unlock()
		}
		return nil
	})
	return c
}

// next moves rows to the next row with a new read budget.
func (r *run) next(rows *sql.Rows) bool {
	if r.budget != nil {
		r.budget.reset()
	}
	return rows.Next()
}

// overBudget returns the error of a row the connection refused to read,
// or nil.
func (r *run) overBudget() error {
	if r.budget != nil && r.budget.over.Load() {
		return r.meter.TooLarge()
	}
	return nil
}

// checkRow counts the values of one row against the bounds of m.
func checkRow(m *connect.RowMeter, raw []sql.RawBytes, cols []column) error {
	m.Reset()
	for i, b := range raw {
		if err := m.Add(i, cols[i].Name, len(b)); err != nil {
			return err
		}
	}
	return nil
}
