// Package mysql provides the MySQL and MariaDB connector: a database/sql
// pool of go-sql-driver/mysql connections to one datasource that runs one
// statement at a time per connection and streams its rows, converted to
// the values of package connect, into a connect.Sink.
//
// It dials only through the egress dialer it is given (the connections
// that send KILL too), builds the driver's configuration field by
// field and never from a DSN string, refuses LOAD DATA LOCAL INFILE,
// clear-text and old passwords, and never falls back from TLS to
// plaintext. Cancelling a query's context kills the statement on the
// server (KILL CONNECTION), not only in the gateway. Read-only requests run in
// a read-only session and transaction that the server enforces, and a
// read-only datasource whose account could get around them (FILE, SUPER,
// the privileges that set global variables) is refused. Every request
// gets a connection no other request has used (session.go).
//
// It must never put a secret, a connection setting or driver text in an
// error (messages are the package's own sentences, plus the server's
// message for a statement it rejected), and never buffer a result.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

const (
	// killTimeout bounds sending one KILL, connecting included.
	killTimeout = 5 * time.Second
)

// Connector runs statements on one MySQL or MariaDB datasource. It is safe
// for concurrent use.
type Connector struct {
	// db runs the statements. Its size is the datasource's connection
	// bound.
	db *sql.DB
	// killDB sends KILL for statements whose context ended. It is a
	// pool of its own (one connection, closed once the KILL is sent) so
	// that a cancel never waits for a connection of db, which may all be
	// busy with the very statements to kill.
	killDB   *sql.DB
	readOnly bool
	closed   atomic.Bool
	// warming is set while replenish opens a connection.
	warming atomic.Bool
	// bounds and budgets bound one value and one row (bounds.go).
	bounds  connect.Bounds
	budgets *budgets
}

var _ connect.Connector = (*Connector)(nil)

// New returns a connector for a datasource whose settings DecodeSettings
// returned (in cfg.Settings). It does not connect: the
// pool opens connections when queries need them. Settings it cannot use
// are reported as connect.ECONFIG.
func New(cfg connect.Config) (*Connector, error) {
	if cfg.Dial == nil {
		return nil, connect.Errorf(connect.ECONFIG, "No egress dialer was given to the MySQL connector.")
	}
	s, ok := cfg.Settings.(*Settings)
	switch {
	case cfg.Settings == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is missing.")
	case !ok || s == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is not a MySQL datasource.")
	}
	budgets := newBudgets(cfg.Bounds) // bounds.go
	mcfg := driverConfig(s, cfg.Dial)
	mcfg.DialFunc = budgets.dial(mcfg.DialFunc)
	dc, err := mysql.NewConnector(mcfg)
	if err != nil {
		// Only a driver change could make the configuration invalid; the
		// driver's message might hold a setting, so it is not shown.
		return nil, connect.Errorf(connect.ECONFIG, "The MySQL connection settings cannot be used.")
	}
	maxConns, maxIdle := cfg.MaxConns, cfg.MaxIdle
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	if maxIdle <= 0 {
		maxIdle = defaultMaxIdle
	}
	budgets.Connector = dc
	var statements driver.Connector = budgets
	if cfg.ReadOnly && !s.allowPrivileged {
		statements = &checkedConnector{Connector: budgets}
	}
	db := sql.OpenDB(statements)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(maxIdle)
	db.SetConnMaxLifetime(maxLifetime)
	killDB := sql.OpenDB(dc)
	// A KILL connection is opened for the KILL and closed right after:
	// it is rare (a cancelled statement), and an idle one would be a
	// connection beyond the pool's bound.
	killDB.SetMaxOpenConns(1)
	killDB.SetMaxIdleConns(0)
	return &Connector{db: db, killDB: killDB, readOnly: cfg.ReadOnly, bounds: cfg.Bounds, budgets: budgets}, nil
}

// Ping connects (or takes an idle connection) and checks that the server
// answers.
func (c *Connector) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return c.connError(ctx, err)
	}
	return nil
}

// Close closes the pools. Connections in use are closed when released.
func (c *Connector) Close() error {
	c.closed.Store(true)
	c.killDB.Close()
	return c.db.Close()
}

// connError maps a failure to get a connection.
func (c *Connector) connError(ctx context.Context, err error) error {
	if c.closed.Load() && ctx.Err() == nil {
		return querygate.Errorf(querygate.EUNAVAILABLE, "The connections to this datasource were closed; try again.")
	}
	return mapError(ctx, err, phaseConnect)
}

// kill ends connection id on the server, over a connection of killDB,
// when a statement's context ends. It kills the whole connection, not only
// the query: the driver drops that connection anyway, and KILL QUERY would
// miss a statement that reaches the server just after it (the server does
// not stop a SLEEP or a long scan because the client went away). Failures
// are ignored: the server ends the thread when it next notices.
func (c *Connector) kill(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	// id is a number the server gave; it is formatted, never user text.
	c.killDB.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatUint(id, 10))
}

// Query runs req and streams its rows into sink.
//
// Each statement runs on a connection of its own for its whole life: the
// connection's server-side id is read first, and if ctx ends before the
// statement is done a KILL CONNECTION for that id is sent over another
// connection, so that the server stops working (the driver only closes
// its socket). A read-only request sets the session and then a
// transaction read-only (START TRANSACTION READ ONLY alone lets DDL
// through on MariaDB, which commits implicitly and runs outside it). The
// connection is closed afterwards, which rolls back what is open and
// forgets the session (see session.go).
//
// Without params the statement is sent as text and results come in the
// text protocol; with params it is prepared on the server and its
// parameters are bound there. A statement without a result set is
// followed by SELECT ROW_COUNT() on the same connection, so that it runs
// once and its affected-row count is still known.
func (c *Connector) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	args, err := bindParams(req.Params)
	if err != nil {
		return connect.Result{}, err
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return connect.Result{}, c.connError(ctx, err)
	}
	// qctx can cut the statement's connection without ending ctx: the
	// driver closes a connection whose statement's context ends.
	qctx, cut := context.WithCancel(ctx)
	defer cut()
	r := &run{c: c, ctx: ctx, conn: conn, cut: cut, readOnly: req.ReadOnly || c.readOnly,
		meter: c.bounds.Meter(), budget: c.budgets.of(conn)}
	defer r.finish()
	if err := r.start(); err != nil {
		return connect.Result{}, err
	}
	rows, err := conn.QueryContext(qctx, req.Query, args...)
	if err != nil {
		return connect.Result{}, r.fail(err)
	}
	return r.stream(rows, sink)
}

// run is one statement on one connection.
type run struct {
	c        *Connector
	ctx      context.Context // the caller's
	conn     *sql.Conn
	cut      context.CancelFunc // ends the user statement's context
	readOnly bool
	id       uint64 // the connection's id on the server
	// stopKill unregisters the KILL sent when ctx ends.
	stopKill func() bool
	// meter and budget bound a row (bounds.go).
	meter  connect.RowMeter
	budget *budgetConn
}

// start reads the connection's id, arms the KILL, and makes the
// session and a transaction read-only when asked.
func (r *run) start() error {
	if err := r.conn.QueryRowContext(r.ctx, "SELECT CONNECTION_ID()").Scan(&r.id); err != nil {
		return r.fail(err)
	}
	id := r.id
	r.stopKill = context.AfterFunc(r.ctx, func() { r.c.kill(id) })
	if !r.readOnly {
		return nil
	}
	// The session setting makes every transaction read-only, also the one
	// a DDL statement runs in after committing the explicit one.
	if _, err := r.conn.ExecContext(r.ctx, "SET SESSION TRANSACTION READ ONLY"); err != nil {
		return r.fail(err)
	}
	if _, err := r.conn.ExecContext(r.ctx, "START TRANSACTION READ ONLY"); err != nil {
		return r.fail(err)
	}
	return nil
}

// fail maps an error of a statement on the connection (which finish
// closes, as after every request).
func (r *run) fail(err error) error {
	if err := r.overBudget(); err != nil {
		return err
	}
	return mapError(r.ctx, err, phaseQuery)
}

// finish disarms the KILL and closes the connection: whatever the
// request left in its session (variables, temporary tables, prepared
// statements, locks, an open transaction) goes with it, and a fresh
// connection is opened in the background to take its place (see
// session.go). The server rolls back what was not committed.
func (r *run) finish() {
	if r.stopKill != nil {
		r.stopKill()
	}
	// database/sql closes a connection whose Raw callback reports
	// ErrBadConn instead of returning it to the pool.
	r.conn.Raw(func(any) error { return driver.ErrBadConn })
	r.conn.Close()
	r.c.replenish()
}

// stream sends the columns and rows of rows to sink.
func (r *run) stream(rows *sql.Rows, sink connect.Sink) (connect.Result, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return connect.Result{}, r.fail(err)
	}
	if len(types) == 0 {
		// A statement without a result set (INSERT, CREATE, ...): it ran
		// to its end when QueryContext returned.
		if err := closeRows(rows); err != nil {
			return connect.Result{}, r.fail(err)
		}
		return r.affected()
	}
	cols := make([]column, len(types))
	out := make([]connect.Column, len(types))
	for i, t := range types {
		cols[i] = newColumn(t.Name(), t.DatabaseTypeName())
		out[i] = cols[i].Column
	}
	res := connect.Result{HasRows: true, RowsAffected: -1}
	if err := sink.Columns(out); err != nil {
		return res, r.stop(rows, err)
	}
	raw := make([]sql.RawBytes, len(cols)) // reused for every row
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]any, len(cols)) // reused for every row
	for r.next(rows) {
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return res, r.fail(err)
		}
		if err := checkRow(&r.meter, raw, cols); err != nil {
			return res, r.stop(rows, err)
		}
		for i, b := range raw {
			if b == nil {
				vals[i] = nil
			} else {
				vals[i] = cols[i].decode(b)
			}
		}
		if err := sink.Row(vals); err != nil {
			return res, r.stop(rows, err)
		}
	}
	if err := closeRows(rows); err != nil {
		return res, r.fail(err)
	}
	return res, nil
}

// closeRows closes rows and reports the error that ended them.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// affected returns the affected-row count of the statement that just ran.
func (r *run) affected() (connect.Result, error) {
	var n int64
	if err := r.conn.QueryRowContext(r.ctx, "SELECT ROW_COUNT()").Scan(&n); err != nil {
		return connect.Result{}, r.fail(err)
	}
	if n < 0 {
		n = -1
	}
	return connect.Result{RowsAffected: n}, nil
}

// stop ends a result whose remaining rows are not wanted: the sink
// returned err (connect.ErrStop for the row limit). Closing the rows would
// read them all, and the connection is not reused anyway (finish), so it
// is cut: the server stops the statement at its next write to the closed
// connection. No KILL is needed, so no connection beyond the pool's.
func (r *run) stop(rows *sql.Rows, err error) error {
	r.cut()
	rows.Close()
	if errors.Is(err, connect.ErrStop) {
		return nil
	}
	return err
}
