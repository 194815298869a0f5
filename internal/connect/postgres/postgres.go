// Package postgres provides the PostgreSQL connector: a pool of pgx
// connections to one datasource that runs one statement at a time per
// connection and streams its rows, converted to the values of package
// connect, into a connect.Sink.
//
// It dials only through the egress dialer it is given (cancel requests
// too), builds its connection settings from the datasource's fields,
// never from user text pasted into a connection string, nor from the
// environment (PG* variables), a password file or a service file, and
// negotiates TLS itself so that no sslmode ever falls back to plaintext. Read-only datasources run every
// statement in a read-only transaction that the server enforces.
//
// It must never put a secret, a connection string or driver text in an
// error (messages are the package's own sentences, plus the server's
// message for a statement it rejected), never buffer a result, and never
// keep a prepared statement per user statement on the server.
package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// rollbackTimeout bounds the rollback of a read-only transaction, which
// runs even when the query's context has ended.
const rollbackTimeout = 5 * time.Second

// Connector runs statements on one PostgreSQL datasource. It is safe for
// concurrent use.
type Connector struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
	bounds connect.Bounds // of one value and one row (bounds.go)
}

var _ connect.Connector = (*Connector)(nil)

// New returns a connector for a datasource whose settings DecodeSettings
// returned (in cfg.Settings). It does not connect: the
// pool opens connections when queries need them. Settings it cannot use
// are reported as connect.ECONFIG.
func New(cfg connect.Config) (*Connector, error) {
	if cfg.Dial == nil {
		return nil, connect.Errorf(connect.ECONFIG, "No egress dialer was given to the PostgreSQL connector.")
	}
	decoded, ok := cfg.Settings.(*Settings)
	switch {
	case cfg.Settings == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is missing.")
	case !ok || decoded == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is not a PostgreSQL datasource.")
	}
	s := *decoded // New sets its own fields; cfg.Settings is left as it is
	s.readOnly = cfg.ReadOnly
	s.checkRole = cfg.ReadOnly && !s.allowPrivileged
	pc, err := poolConfig(&s, cfg.Dial, cfg.MaxConns, cfg.MaxIdle)
	if err != nil {
		return nil, err
	}
	pc.ConnConfig.MaxProtocolMessageBodyLen = maxMessage(cfg.Bounds) // bounds.go
	c, err := newConnector(pc)
	if err != nil {
		return nil, err
	}
	c.bounds = cfg.Bounds
	return c, nil
}

func newConnector(pc *pgxpool.Config) (*Connector, error) {
	// With MinConns 0 this starts only the health check, no connection.
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, connect.Errorf(connect.ECONFIG, "The PostgreSQL connection pool cannot be set up.")
	}
	return &Connector{pool: pool}, nil
}

// acquire takes a connection from the pool, connecting when needed.
func (c *Connector) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	pc, err := c.pool.Acquire(ctx)
	if err == nil {
		return pc, nil
	}
	if c.closed.Load() && ctx.Err() == nil {
		return nil, querygate.Errorf(querygate.EUNAVAILABLE, "The connections to this datasource were closed; try again.")
	}
	return nil, mapError(ctx, err, phaseConnect, false)
}

// Ping connects (or takes an idle connection) and checks that the server
// answers.
func (c *Connector) Ping(ctx context.Context) error {
	pc, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	defer pc.Release()
	if err := pc.Ping(ctx); err != nil {
		return mapError(ctx, err, phaseQuery, pc.Conn().IsClosed())
	}
	return nil
}

// Close closes the pool. It waits for the connections in use to be
// released.
func (c *Connector) Close() error {
	c.closed.Store(true)
	c.pool.Close()
	return nil
}

// Query runs req and streams its rows into sink. A read-only request runs
// in a read-only transaction that is rolled back afterwards; any other
// runs on its own (autocommit). Cancelling ctx sends a cancel request to
// the server.
//
// The statement is parsed and described as the unnamed statement (for a
// read-only request in the same round trip as its BEGIN READ ONLY), then
// bound and executed, with the rollback and the session's reset in the
// same write: two round trips, nothing kept on the server or in a
// cache (see poolConfig), every parameter bound by the type the server
// described for it (see encodeParams), and each result column asked in
// the format its decoder reads (see resultFormat). One round trip is not
// possible without giving up one of these: the formats are chosen in the
// Bind message, per column type, so the types must be known before it;
// knowing them beforehand needs a cache of descriptions by statement text
// (which keeps request text and goes stale when a table changes), and
// asking text for every column would make values depend on session
// settings a statement can change as it runs (extra_float_digits rounds
// float8 text, DateStyle and TimeZone shape timestamps, bytea_output
// bytea), where the binary forms do not.
func (c *Connector) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	pc, err := c.acquire(ctx)
	if err != nil {
		return connect.Result{}, err
	}
	// qctx is cancelled to stop a statement whose rows are no longer
	// wanted, or whose caller's context ended while it ran: pgconn then
	// sends the server a cancel request. Once the statement's result is
	// complete (finish), the caller's context no longer reaches it: the
	// rollback and the reset that follow it on the connection are read
	// in the background, and a cancel request sent then (the caller's
	// request ending) could reach the server after the connection went
	// back to the pool, and cancel the next request's statement.
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unlink := context.AfterFunc(ctx, cancel)
	r := &run{ctx: ctx, conn: pc, cancel: cancel, unlink: unlink, meter: c.bounds.Meter()}
	pg := pc.Conn().PgConn()
	var sd *pgconn.StatementDescription
	if req.ReadOnly {
		r.inTx = true
		sd, err = beginAndDescribe(qctx, pg, req.Query)
	} else {
		sd, err = pg.Prepare(qctx, "", req.Query, nil)
	}
	if err != nil {
		return connect.Result{}, r.fail(err)
	}
	params, err := encodeParams(sd.ParamOIDs, req.Params)
	if err != nil {
		r.finish()
		return connect.Result{}, err
	}
	formats := make([]int16, len(sd.Fields))
	for i, f := range sd.Fields {
		formats[i] = resultFormat(f.DataTypeOID)
	}
	// The statement, then the rollback of the read-only transaction and
	// the session's reset (see resetSession), each after a Sync of its
	// own so that it runs whether or not what came before failed: one
	// write, and the server runs them right after the statement. The
	// connection then needs no more round trips before it goes back to
	// the pool; release reads their answers, off the request's path.
	r.pl = pg.StartPipeline(qctx)
	r.pl.SendQueryStatement(sd, params, nil, formats)
	r.pl.SendPipelineSync()
	if r.inTx {
		r.pl.SendQueryParams("ROLLBACK", nil, nil, nil, nil)
		r.pl.SendPipelineSync()
	}
	r.pl.SendQueryParams("DISCARD ALL", nil, nil, nil, nil)
	r.pl.SendPipelineSync()
	if err := r.pl.Flush(); err != nil {
		return connect.Result{}, r.fail(err)
	}
	res, err := r.pl.GetResults()
	if err != nil {
		return connect.Result{}, r.fail(err)
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return connect.Result{}, r.fail(errors.New("postgres: the statement's result is missing"))
	}
	return r.stream(rr, sink)
}

// beginAndDescribe starts a read-only transaction and parses and
// describes query as the unnamed statement, in one round trip (a
// pipeline: BEGIN READ ONLY, Parse, Describe, Sync). The transaction is
// open afterwards, also when the statement is refused (then aborted);
// the run's finish rolls it back.
func beginAndDescribe(ctx context.Context, pg *pgconn.PgConn, query string) (*pgconn.StatementDescription, error) {
	pl := pg.StartPipeline(ctx)
	pl.SendQueryParams("BEGIN READ ONLY", nil, nil, nil, nil)
	pl.SendPrepare("", query, nil)
	if err := pl.Sync(); err != nil {
		pl.Close()
		return nil, err
	}
	var sd *pgconn.StatementDescription
	var first error
	for {
		res, err := pl.GetResults()
		if err != nil {
			if first == nil {
				first = err
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				break // the connection broke: Close says so
			}
			continue
		}
		switch res := res.(type) {
		case *pgconn.ResultReader:
			if _, err := res.Close(); err != nil && first == nil {
				first = err
			}
			continue
		case *pgconn.StatementDescription:
			sd = res
			continue
		}
		break // the sync, or nothing more
	}
	if err := pl.Close(); err != nil && first == nil {
		first = err
	}
	if first == nil && sd == nil {
		first = errors.New("postgres: the statement was not described")
	}
	return sd, first
}

// run is one statement on one pooled connection.
type run struct {
	ctx    context.Context // the caller's
	conn   *pgxpool.Conn
	inTx   bool // a read-only transaction was begun: finish rolls it back
	cancel context.CancelFunc
	unlink func() bool      // stops the caller's context from cancelling the run
	meter  connect.RowMeter // the bounds of a row (bounds.go)
	// pl carries the statement, the rollback and the reset (Query);
	// nil when the run ended before it was sent.
	pl *pgconn.Pipeline
	// syncs counts the pipeline's Syncs already read (synced).
	syncs int
}

// synced reads the Sync that follows a complete statement. A statement
// that runs on its own (autocommit) commits there, and an error of its
// commit (a deferred constraint, a serialization failure) comes after its
// CommandComplete: the statement failed. The server sends that Sync's
// answer in the same write as the CommandComplete, so this costs no wait.
func (r *run) synced() error {
	res, err := r.pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := res.(*pgconn.PipelineSync); !ok {
		return errors.New("postgres: the statement's sync is missing")
	}
	r.syncs = 1
	return nil
}

// fail maps an error of the statement and finishes the run.
func (r *run) fail(err error) error {
	if strings.Contains(err.Error(), "unexpected message type *pgproto3.Copy") {
		// COPY to or from the client: pgconn's pipeline takes the
		// server's CopyOutResponse or CopyInResponse for a protocol
		// fault and closes the connection; the statement, not the
		// connection, is what failed.
		r.finish()
		return connect.Errorf(connect.EQUERY, "COPY to or from the client (STDOUT, STDIN) cannot run in a query through the API: use a SELECT, or psql's \\copy over the PostgreSQL wire protocol.")
	}
	err = mapError(r.ctx, boundError(err, &r.meter), phaseQuery, r.conn.Conn().IsClosed())
	r.finish()
	return err
}

// finish ends the run once its result is complete, or once it failed:
// the connection goes back to the pool after the answers to what was
// sent after the statement are read (release), in the background, so the
// client does not wait for the rollback or the reset; the next request
// never sees this one's transaction or session state.
func (r *run) finish() {
	r.unlink()
	if r.pl == nil && !r.inTx {
		r.cancel()
		r.release()
		return
	}
	go r.release()
}

// release reads what remains of the run's pipeline (the rest of an
// abandoned result, the rollback, the reset), or ends the read-only
// transaction of a run that never sent one, and gives the connection back
// to the pool: marked clean when the reset succeeded, so that the pool's
// hook does not reset it again (resetSession), or closed when its session
// can no longer be trusted.
func (r *run) release() {
	defer r.cancel()
	pg := r.conn.Conn().PgConn()
	clean := false
	if r.pl != nil {
		// A server that does not answer: cancelling the context sends a
		// cancel request, and cuts the connection if that fails too.
		t := time.AfterFunc(rollbackTimeout, r.cancel)
		clean = drain(r.pl, r.inTx, r.syncs) && pg.TxStatus() == 'I'
		t.Stop()
		if !clean {
			pg.Close(context.Background()) // the pool then drops it
		}
	} else if r.inTx {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), rollbackTimeout)
		if _, err := pg.Exec(ctx, "ROLLBACK").ReadAll(); err != nil || pg.TxStatus() != 'I' {
			pg.Close(ctx) // the pool then drops it
		}
		cancel()
	}
	if pg.ParameterStatus("client_encoding") != "UTF8" {
		// The statement changed the encoding (SET client_encoding):
		// the connection's text would no longer be UTF-8, so it is
		// closed instead of going back to the pool.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), time.Second)
		pg.Close(ctx)
		cancel()
		clean = false
	}
	if clean && !pg.IsClosed() {
		resetDone.Store(r.conn.Conn(), struct{}{})
	}
	r.conn.Release()
}

// drain reads the rest of a run's pipeline: the statement's remaining
// rows, its Sync, then the rollback (inTx) and the reset, each with its
// Sync (syncs of them were read already). It reports whether both
// succeeded and the session is idle, out of any transaction.
func drain(pl *pgconn.Pipeline, inTx bool, syncs int) bool {
	want := 1 // DISCARD ALL
	if inTx {
		want++ // ROLLBACK
	}
	ok := 0
	failed := false
	for {
		res, err := pl.GetResults()
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				break // the connection broke
			}
			if syncs > 0 {
				failed = true // the rollback or the reset failed
			}
			continue
		}
		switch res := res.(type) {
		case *pgconn.ResultReader:
			_, err := res.Close()
			if syncs > 0 {
				if err != nil {
					failed = true
				} else {
					ok++
				}
			}
			continue
		case *pgconn.PipelineSync:
			syncs++
			continue
		case nil:
		default:
			continue
		}
		break // nothing more
	}
	err := pl.Close()
	return err == nil && !failed && ok == want && syncs == want+1
}

// abandon stops a statement whose remaining rows are not wanted, without
// making the caller wait: cancelling its context makes pgconn send the
// server a cancel request, and what is still in flight is read in the
// background (release) before the connection goes back to the pool.
func (r *run) abandon(rr *pgconn.ResultReader) {
	r.cancel()
	r.unlink()
	go func() {
		rr.Close()
		r.release()
	}()
}

func (r *run) stream(rr *pgconn.ResultReader, sink connect.Sink) (connect.Result, error) {
	fds := rr.FieldDescriptions()
	if len(fds) == 0 {
		// A statement without a result set (INSERT, CREATE, ...).
		tag, err := rr.Close()
		if err == nil {
			err = r.synced()
		}
		if err != nil {
			return connect.Result{}, r.fail(err)
		}
		r.finish()
		return connect.Result{RowsAffected: affected(tag)}, nil
	}
	m := r.conn.Conn().TypeMap()
	cols := make([]connect.Column, len(fds))
	decs := make([]decoder, len(fds))
	for i, fd := range fds {
		cols[i] = connect.Column{Name: fd.Name, Type: typeName(m, fd.DataTypeOID)}
		decs[i] = newDecoder(m, fd.DataTypeOID, fd.Format)
	}
	res := connect.Result{HasRows: true, RowsAffected: -1}
	if err := sink.Columns(cols); err != nil {
		r.abandon(rr)
		if errors.Is(err, connect.ErrStop) {
			return res, nil
		}
		return res, err
	}
	vals := make([]any, len(fds)) // reused for every row
	for rr.NextRow() {
		if err := checkRow(&r.meter, rr.Values(), cols); err != nil {
			r.abandon(rr)
			return res, err
		}
		for i, b := range rr.Values() {
			if b == nil {
				vals[i] = nil
				continue
			}
			v, err := decs[i].decode(b)
			if err != nil {
				r.abandon(rr)
				return res, connect.Errorf(connect.EQUERY, "A value of column %d (%s) could not be read.", i+1, cols[i].Type)
			}
			vals[i] = v
		}
		if err := sink.Row(vals); err != nil {
			r.abandon(rr)
			if errors.Is(err, connect.ErrStop) {
				return res, nil
			}
			return res, err
		}
	}
	tag, err := rr.Close()
	if err == nil {
		err = r.synced()
	}
	if err != nil {
		return res, r.fail(err)
	}
	res.RowsAffected = affected(tag)
	r.finish()
	return res, nil
}

// affected is the row count of a command tag ("INSERT 0 5", "UPDATE 3",
// "SELECT 7"), or -1 for commands that report none ("CREATE TABLE").
func affected(tag pgconn.CommandTag) int64 { return affectedText(tag.String()) }

func affectedText(s string) int64 {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
