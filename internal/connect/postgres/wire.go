package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// This file is the PostgreSQL side of the wire protocol front end: one
// dedicated server connection per wire client (never pooled, never
// shared, closed when the client leaves: a clean session by construction),
// and the relay of the client's protocol messages to it.
//
// Read-only datasources hold against a hostile client exactly as on the
// HTTP API, by construction, with what the server enforces rather than by
// reading SQL: each client statement runs alone in a read-only
// transaction of the gateway's, which is rolled back before the next one.
//
//  1. The server runs one client statement at a time: a simple query's
//     statements are sent one by one through the extended protocol, whose
//     Parse the server refuses for more than one statement (so splitting
//     the text wrongly can only produce an error, never smuggle a second
//     statement in), and each Execute is flushed and answered before the
//     next message goes on.
//  2. Before each statement (and before any message that follows one),
//     the gateway sends ROLLBACK; BEGIN READ ONLY; SELECT. Whatever the
//     previous statement did is undone: a SET of any setting (such as
//     default_transaction_read_only, transaction characteristics, role or
//     session authorization), set_config, a NOTIFY, a LISTEN. The client's
//     own COMMIT only commits the empty read-only transaction it ran in,
//     and its BEGIN READ WRITE is a no-op inside one.
//  3. The SELECT takes the transaction's first snapshot, after which the
//     server refuses to make it read-write ("transaction read-write mode
//     must be set before any query"), and the session starts with
//     default_transaction_read_only on, which no statement can turn off for
//     longer than its own rolled-back transaction.
//
// So no client statement ever runs outside a read-only transaction, and
// none of its effects outlives it, as on the HTTP path. A portal that a
// statement left suspended (a driver fetching rows in chunks) may be
// executed again in the same transaction; any other message ends it. What
// a read-only transaction does not stop (superuser, server files and
// programs, dblink...) is refused at connect time by checkPrivileges, as
// on the HTTP path.

// WireClient is the client side of a relayed session (a
// *pgproto3.Backend).
type WireClient interface {
	Receive() (pgproto3.FrontendMessage, error)
	Send(pgproto3.BackendMessage)
	// SendRaw sends a message already encoded (a row), copying it.
	SendRaw(raw []byte)
	Flush() error
	// Err is the first write error (the client went away).
	Err() error
	// Gone is closed when the client's connection ends (nil: not
	// watched): a statement running then is cancelled.
	Gone() <-chan struct{}
}

// WireHooks are the use case's rules, applied by the relay to each
// statement and to each text the server sends.
type WireHooks interface {
	// Statement is called before a statement is executed. An error
	// refuses it and ends the session (the actor may no longer use the
	// datasource); its message is sent to the client.
	Statement(text string) (WireStatement, error)
	// Safe reports whether a text the server sent (an error, a notice, a
	// parameter value) may reach the client.
	Safe(text string) bool
	// Recorded returns once every statement answered so far has its
	// audit event recorded: the ReadyForQuery that acknowledges them to
	// the client waits for it (acknowledged means recorded, as on the
	// HTTP API).
	Recorded()
}

// WireStatement is one statement's account.
type WireStatement interface {
	// Row is called for each row (or COPY data message) relayed; an error
	// stops the statement and is sent to the client instead of the rest.
	Row() error
	// Done is called once with the statement's command tag, or the error
	// (connect codes) it ended with.
	Done(tag string, err error)
}

// WireOptions configures OpenWire.
type WireOptions struct {
	// Params are the client's startup parameters; only those in
	// wireParams are passed on.
	Params map[string]string
	// KeepText keeps the texts of prepared statements for the audit trail
	// (--audit-query-text); without it Statement gets no text.
	KeepText bool
	// StatementTimeout is the session's statement_timeout (the client
	// may change it); MaxTimeout is the gateway's own cap on one
	// statement, which the client cannot change: the gateway cancels the
	// statement at the server once it has run that long.
	StatementTimeout, MaxTimeout time.Duration
}

// wireParams are the client startup parameters passed on to the server:
// presentation settings only. Everything else is dropped, among them
// options (-c anything), role, session_authorization, replication,
// default_transaction_read_only, statement_timeout, the protocol
// extensions (_pq_.*), user and database (the gateway's own).
var wireParams = map[string]string{
	"application_name": "application_name", "datestyle": "DateStyle", "timezone": "TimeZone",
	"intervalstyle": "IntervalStyle", "extra_float_digits": "extra_float_digits", "search_path": "search_path",
}

// Wire is a dedicated server connection relaying one wire client.
type Wire struct {
	pg         *pgconn.PgConn
	fe         *pgproto3.Frontend // writes to the server
	up         *wireReader        // reads from it
	readOnly   bool
	keepText   bool
	maxTimeout time.Duration

	tx txState // read-only datasources: the gateway's transaction
	// readyDue: the answers to the gateway's ROLLBACK; BEGIN are still to
	// be read (they precede everything after them).
	readyDue bool
	// idleDue: the answers to the ROLLBACK that ended the gateway's
	// transaction before the client went idle (endIdle) are still to be
	// read (before everything after them).
	idleDue bool
	// suspended is the portal the last statement left suspended, which
	// may run on in the same transaction.
	suspended *string
	clientTx  bool // the client began a transaction of its own
	skipping  bool // after an error: the client's messages until Sync are dropped
	pending   int  // answers still due for Parse, Bind, Describe and Close
	stmts     map[string]string
	portals   map[string]string
}

type txState int

const (
	txNone  txState = iota // none open, or unknown: roll back and begin
	txFresh                // the gateway's read-only transaction, snapshot taken, no client statement run yet
	txUsed                 // a client statement ran in it: roll back and begin before anything else
)

// maxTracked bounds the prepared statements and portals whose texts are
// remembered for the audit trail, and maxText the length kept of each, so
// that a session's memory stays bounded whatever the client prepares.
const (
	maxTracked = 1000
	maxText    = 8 << 10
)

// keep is the text kept of a statement.
func (w *Wire) keep(text string) string {
	if !w.keepText {
		return ""
	}
	if len(text) > maxText {
		return strings.ToValidUTF8(text[:maxText], "") + "…"
	}
	return text
}

// OpenWire connects a dedicated session to the datasource of cfg (settings
// decoded by DecodeSettings), through the egress dialer, with the same
// connection settings as the pool (poolConfig) and, for a read-only
// datasource, the same check of the role (checkPrivileges).
func OpenWire(ctx context.Context, cfg connect.Config, o WireOptions) (*Wire, error) {
	if cfg.Dial == nil {
		return nil, connect.Errorf(connect.ECONFIG, "No egress dialer was given to the PostgreSQL connector.")
	}
	decoded, ok := cfg.Settings.(*Settings)
	if !ok || decoded == nil {
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is not a PostgreSQL datasource.")
	}
	s := *decoded
	s.readOnly = cfg.ReadOnly
	s.checkRole = cfg.ReadOnly && !s.allowPrivileged
	pc, err := poolConfig(&s, cfg.Dial, 1, 0)
	if err != nil {
		return nil, err
	}
	c := &pc.ConnConfig.Config
	c.MaxProtocolMessageBodyLen = maxMessage(cfg.Bounds)
	for k, v := range o.Params {
		if name, ok := wireParams[strings.ToLower(k)]; ok && strings.IndexByte(v, 0) < 0 && len(v) <= 1024 {
			c.RuntimeParams[name] = v
		}
	}
	if o.StatementTimeout > 0 {
		c.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	pg, err := pgconn.ConnectConfig(cctx, c)
	if err != nil {
		return nil, mapError(cctx, err, phaseConnect, false)
	}
	if s.checkRole {
		if err := checkPrivileges(cctx, pg); err != nil {
			pg.Close(context.Background())
			return nil, mapError(cctx, err, phaseConnect, false)
		}
	}
	// From here on the relay reads the connection itself (pgconn is idle
	// and has nothing buffered after ReadyForQuery); pgconn still writes
	// (its Frontend), cancels and closes.
	return &Wire{pg: pg, fe: pg.Frontend(), up: newWireReader(pg.Conn(), int(c.MaxProtocolMessageBodyLen)), readOnly: cfg.ReadOnly, keepText: o.KeepText, maxTimeout: o.MaxTimeout,
		stmts: map[string]string{}, portals: map[string]string{}}, nil
}

// ParameterStatuses returns the parameters the server reported at
// startup, for the client's own startup answer.
func (w *Wire) ParameterStatuses() map[string]string {
	out := map[string]string{}
	for _, k := range []string{"server_version", "server_encoding", "client_encoding", "application_name", "DateStyle",
		"IntervalStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings", "is_superuser",
		"session_authorization", "default_transaction_read_only", "in_hot_standby"} {
		if v := w.pg.ParameterStatus(k); v != "" {
			out[k] = v
		}
	}
	return out
}

// Cancel asks the server to cancel the running statement, through the
// egress dialer (and TLS, as the connection).
func (w *Wire) Cancel(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return w.pg.CancelRequest(ctx)
}

// Close ends the session: the server connection is closed, so nothing of
// it survives for anyone.
func (w *Wire) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return w.pg.Close(ctx)
}

// recv reads and decodes the server's next message.
func (w *Wire) recv() (pgproto3.BackendMessage, error) {
	typ, raw, err := w.up.next()
	if err != nil {
		return nil, err
	}
	return decodeBackend(typ, raw[5:])
}

// errProtocol ends a relay whose client broke the protocol.
var errProtocol = errors.New("wire: protocol violation")

// errorResponse builds an error message of the gateway's own for a wire
// client: a severity, a SQLSTATE and a message safe to show.
func errorResponse(severity, sqlstate, message string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: sqlstate, Message: message}
}

// Relay serves the client until it ends the session (Terminate, nil) or
// the connection fails. It never returns with a statement running.
func (w *Wire) Relay(ctx context.Context, c WireClient, h WireHooks) error {
	// When ctx ends (the gateway shuts down) the running statement is
	// cancelled and the connection closed, which ends the relay.
	stop := context.AfterFunc(ctx, func() {
		w.Cancel(context.WithoutCancel(ctx))
		w.pg.Conn().Close()
	})
	defer stop()
	for {
		msg, err := c.Receive()
		if err != nil {
			return err
		}
		if err := w.handle(ctx, c, h, msg); err != nil {
			if errors.Is(err, errTerminate) {
				return nil
			}
			return err
		}
	}
}

var errTerminate = errors.New("terminate")

func (w *Wire) handle(ctx context.Context, c WireClient, h WireHooks, msg pgproto3.FrontendMessage) error {
	switch m := msg.(type) {
	case *pgproto3.Terminate:
		return errTerminate
	case *pgproto3.Sync:
		w.skipping = false
		w.fe.Send(m)
		return w.sync(c, h)
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
		return nil // outside a COPY the server ignores them too
	}
	if w.skipping {
		// After an error the server ignores every message until Sync, a
		// simple query and a function call too: so does the relay, which
		// would otherwise wait for the server's answer to a message the
		// server dropped. The error is already on its way to the client
		// (the server flushes errors at once): a Flush sends it.
		if _, ok := msg.(*pgproto3.Flush); ok {
			return c.Flush()
		}
		return nil
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		return w.query(ctx, c, h, m.String)
	case *pgproto3.FunctionCall:
		// The fast-path call runs a function by its number, outside
		// every statement the gateway accounts for: not served.
		c.Send(errorResponse("ERROR", "0A000", "The fast-path function call is not available through querygate; call the function in a statement."))
		c.Send(&pgproto3.ReadyForQuery{TxStatus: w.clientStatus('I')})
		return c.Flush()
	case *pgproto3.Parse:
		if err := w.ready(c, h); err != nil {
			return err
		}
		if len(w.stmts) < maxTracked || m.Name == "" {
			w.stmts[m.Name] = w.keep(m.Query)
		}
		w.fe.Send(m)
		w.pending++
	case *pgproto3.Bind:
		if err := w.ready(c, h); err != nil {
			return err
		}
		if len(w.portals) < maxTracked || m.DestinationPortal == "" {
			w.portals[m.DestinationPortal] = w.stmts[m.PreparedStatement]
		}
		w.fe.Send(m)
		w.pending++
	case *pgproto3.Describe:
		if err := w.ready(c, h); err != nil {
			return err
		}
		w.fe.Send(m)
		w.pending++
		if m.ObjectType == 'S' {
			w.pending++ // ParameterDescription, then RowDescription or NoData
		}
	case *pgproto3.Close:
		if err := w.ready(c, h); err != nil {
			return err
		}
		if m.ObjectType == 'S' {
			delete(w.stmts, m.Name)
		} else {
			delete(w.portals, m.Name)
		}
		w.fe.Send(m)
		w.pending++
	case *pgproto3.Flush:
		w.fe.Send(m)
		if err := w.fe.Flush(); err != nil {
			return err
		}
		if err := w.drain(c, h); err != nil {
			return err
		}
		return c.Flush()
	case *pgproto3.Execute:
		if w.suspended == nil || *w.suspended != m.Portal {
			if err := w.ready(c, h); err != nil {
				return err
			}
		}
		return w.execute(ctx, c, h, w.portals[m.Portal], m, false)
	default:
		c.Send(errorResponse("FATAL", "08P01", fmt.Sprintf("querygate does not relay the message %T.", msg)))
		c.Flush()
		return errProtocol
	}
	return nil
}

// ready makes sure that, on a read-only datasource, a fresh read-only
// transaction of the gateway's is open before the next message is
// relayed: unless one is open in which no client statement ran yet, it
// sends ROLLBACK (which ends whatever is left: the last statement's
// transaction, an aborted one, one the client chained), BEGIN READ ONLY,
// and SELECT, which takes the transaction's first snapshot. The answers
// are read (and checked) by the next read from the server: the client's
// messages can follow in the same write, and nothing else is buffered for
// the server at this point (every Execute and Sync is answered before the
// next message is relayed). A simple query discards the unnamed statement
// and portal: a client that executes the unnamed statement again after
// another statement must parse it again.
func (w *Wire) ready(c WireClient, h WireHooks) error {
	if !w.readOnly || w.tx == txFresh {
		return nil
	}
	w.fe.Send(&pgproto3.Query{String: "ROLLBACK; BEGIN TRANSACTION READ ONLY; SELECT"})
	w.readyDue = true
	w.tx = txFresh
	w.suspended = nil
	return nil
}

// receive reads the server's next message for the client, after the
// answers to the gateway's own ROLLBACK; BEGIN, which it checks: a session
// whose read-only transaction did not open ends at once (fail closed).
func (w *Wire) receive(c WireClient, h WireHooks) (pgproto3.BackendMessage, error) {
	if err := w.consumeReady(c, h); err != nil {
		return nil, err
	}
	return w.recv()
}

// consumeReady reads the answers to the gateway's ROLLBACK; BEGIN when
// they are due.
func (w *Wire) consumeReady(c WireClient, h WireHooks) error {
	if err := w.consumeIdle(c, h); err != nil {
		return err
	}
	if w.readyDue {
		w.readyDue = false
		failed := false
		for {
			msg, err := w.recv()
			if err != nil {
				return err
			}
			switch m := msg.(type) {
			case *pgproto3.ErrorResponse:
				failed = true
			case *pgproto3.ReadyForQuery:
				if failed || m.TxStatus != 'T' {
					c.Send(errorResponse("FATAL", "25006", "querygate could not open the read-only transaction this datasource requires; the session ends."))
					c.Flush()
					w.pg.Conn().Close()
					return errProtocol
				}
			case *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
				w.relay(c, h, msg)
				continue
			default:
				// The answers of the three statements (and the warning
				// that there was no transaction to roll back) are the
				// gateway's.
				continue
			}
			break
		}
	}
	return nil
}

// clientStatus is the transaction status the client is told: on a
// read-only datasource the gateway's own transaction is hidden, and the
// client sees one only after its own BEGIN.
func (w *Wire) clientStatus(server byte) byte {
	if !w.readOnly {
		return server
	}
	switch {
	case !w.clientTx:
		return 'I'
	case server == 'E':
		return 'E'
	}
	return 'T'
}

// ended notes a command tag that may have ended the transaction.
func (w *Wire) ended(tag string) {
	if !w.readOnly {
		return
	}
	switch {
	case tag == "BEGIN" || tag == "START TRANSACTION":
		w.clientTx = true
	case tag == "COMMIT" || tag == "ROLLBACK" || tag == "PREPARE TRANSACTION":
		w.clientTx = false
	}
}

// sync reads the server's answers up to ReadyForQuery and relays them.
func (w *Wire) sync(c WireClient, h WireHooks) error {
	if err := w.fe.Flush(); err != nil {
		return err
	}
	for {
		msg, err := w.receive(c, h)
		if err != nil {
			return err
		}
		if rfq, ok := msg.(*pgproto3.ReadyForQuery); ok {
			w.pending = 0
			w.skipping = false // an error before the Sync is behind it
			w.afterReady(rfq.TxStatus)
			if err := w.endIdle(c, h); err != nil {
				return err
			}
			h.Recorded()
			c.Send(&pgproto3.ReadyForQuery{TxStatus: w.clientStatus(rfq.TxStatus)})
			return c.Flush()
		}
		w.relay(c, h, msg)
	}
}

// endIdle ends the gateway's read-only transaction before the client is
// told ReadyForQuery, unless the client began a transaction of its own
// (which a real server keeps open too, with the portals a driver may
// still fetch from): an idle client holds no locks and no snapshot on the
// server, as an autocommit client of a real server. The next statement
// begins a new transaction (ready), as after any other.
func (w *Wire) endIdle(c WireClient, h WireHooks) error {
	if !w.readOnly || w.clientTx || w.tx == txNone {
		return nil
	}
	// The ROLLBACK goes out before the client is told ReadyForQuery, so
	// the server ends the transaction at once; its answers are read (and
	// checked) by the next read from the server, which keeps the round
	// trip off the client's path.
	w.fe.Send(&pgproto3.Query{String: "ROLLBACK"})
	if err := w.fe.Flush(); err != nil {
		return err
	}
	w.tx = txNone
	w.suspended = nil
	w.idleDue = true
	return nil
}

// consumeIdle reads the answers to endIdle's ROLLBACK when they are due:
// a session whose transaction did not end ends at once (fail closed).
func (w *Wire) consumeIdle(c WireClient, h WireHooks) error {
	if !w.idleDue {
		return nil
	}
	w.idleDue = false
	for {
		msg, err := w.recv()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			if m.TxStatus != 'I' {
				c.Send(errorResponse("FATAL", "25006", "querygate could not end the read-only transaction this datasource requires; the session ends."))
				c.Flush()
				w.pg.Conn().Close()
				return errProtocol
			}
			return nil
		case *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
			w.relay(c, h, msg)
		}
		// The ROLLBACK's own answers are the gateway's.
	}
}

// afterReady notes the server's transaction status at ReadyForQuery.
func (w *Wire) afterReady(status byte) {
	if !w.readOnly {
		return
	}
	switch status {
	case 'I':
		w.tx = txNone
		w.clientTx = false
	case 'E':
		w.tx = txUsed
	}
}

// drain relays the answers still due for Parse, Bind, Describe and Close.
func (w *Wire) drain(c WireClient, h WireHooks) error {
	if err := w.consumeReady(c, h); err != nil {
		return err
	}
	for w.pending > 0 {
		msg, err := w.recv()
		if err != nil {
			return err
		}
		w.relay(c, h, msg)
	}
	return nil
}

// relay passes one server message on, counting the answers due and
// withholding texts that hold a secret.
func (w *Wire) relay(c WireClient, h WireHooks, msg pgproto3.BackendMessage) {
	switch m := msg.(type) {
	case *pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.CloseComplete, *pgproto3.ParameterDescription,
		*pgproto3.RowDescription, *pgproto3.NoData:
		if w.pending > 0 {
			w.pending--
		}
	case *pgproto3.ErrorResponse:
		w.pending = 0
		w.skipping = true
		c.Send(w.safeError(h, m, "ERROR"))
		return
	case *pgproto3.NoticeResponse:
		if w.readOnly && m.Code == "25001" {
			return // "there is already a transaction in progress": the gateway's
		}
		e := (*pgproto3.ErrorResponse)(m)
		c.Send((*pgproto3.NoticeResponse)(w.safeError(h, e, "NOTICE")))
		return
	case *pgproto3.ParameterStatus:
		if !h.Safe(m.Name) || !h.Safe(m.Value) {
			return
		}
	case *pgproto3.NotificationResponse:
		if !h.Safe(m.Channel) || !h.Safe(m.Payload) {
			return
		}
	}
	c.Send(msg)
}

// safeError returns e, or e with its texts replaced when one of them holds
// a secret of the datasource. Severities and the SQLSTATE are not texts:
// only the fixed severities and a well-formed code pass, others are
// replaced by generic ones (fallback is the severity for a notice or an
// error), so that no field carries anything else.
func (w *Wire) safeError(h WireHooks, e *pgproto3.ErrorResponse, fallback string) *pgproto3.ErrorResponse {
	severity, unlocalized, code := e.Severity, e.SeverityUnlocalized, e.Code
	if !severities[severity] {
		severity = fallback
	}
	if unlocalized != "" && !severities[unlocalized] {
		unlocalized = fallback
	}
	if !validSQLState(code) {
		code = "XX000"
	}
	withheld := func() *pgproto3.ErrorResponse {
		return &pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: unlocalized, Code: code,
			Message: "The datasource's message was withheld: it held one of this datasource's secrets."}
	}
	for _, s := range []string{e.Message, e.Detail, e.Hint, e.Where, e.InternalQuery, e.SchemaName, e.TableName,
		e.ColumnName, e.DataTypeName, e.ConstraintName, e.File, e.Routine} {
		if !h.Safe(s) {
			return withheld()
		}
	}
	for _, v := range e.UnknownFields {
		if !h.Safe(v) {
			return withheld()
		}
	}
	if severity == e.Severity && unlocalized == e.SeverityUnlocalized && code == e.Code {
		return e
	}
	out := *e
	out.Severity, out.SeverityUnlocalized, out.Code = severity, unlocalized, code
	return &out
}

// severities are the severities PostgreSQL sends (unlocalized; a server
// with localized messages has its severities replaced).
var severities = map[string]bool{"ERROR": true, "FATAL": true, "PANIC": true, "WARNING": true, "NOTICE": true,
	"DEBUG": true, "INFO": true, "LOG": true}

// validSQLState reports whether code is a SQLSTATE: five digits or
// upper-case letters.
func validSQLState(code string) bool {
	if len(code) != 5 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// execute runs one Execute: it is sent with a Flush and answered before
// the client's next message is relayed. simple marks a statement of a
// simple query, whose extended-protocol answers the client did not ask
// for.
func (w *Wire) execute(ctx context.Context, c WireClient, h WireHooks, text string, m0 *pgproto3.Execute, simple bool) error {
	st, err := h.Statement(text)
	if err != nil {
		c.Send(errorResponse("FATAL", "28000", querygate.ErrorMessage(err)))
		c.Flush()
		return errTerminate
	}
	w.fe.Send(m0)
	w.fe.Send(&pgproto3.Flush{})
	if err := w.fe.Flush(); err != nil {
		st.Done("", connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost."))
		return err
	}
	// The gateway's own cap on the statement's time, and the row limit,
	// cancel it at the server; a cancel is always waited for before the
	// next message goes to the server, so it can only hit this statement
	// (a cancel that reaches an idle session is ignored by the server).
	var cancelled sync.WaitGroup
	var timedOut atomic.Bool
	var timer *time.Timer
	if w.maxTimeout > 0 {
		cancelled.Add(1)
		timer = time.AfterFunc(w.maxTimeout, func() {
			defer cancelled.Done()
			timedOut.Store(true)
			w.cancelBounded(ctx)
		})
	}
	done := make(chan struct{})
	closeDone := sync.OnceFunc(func() { close(done) })
	if gone := c.Gone(); gone != nil && w.readOnly {
		// On a read-only datasource a client that leaves has its
		// statement cancelled (a statement with no rows to send would
		// otherwise run on until its end or --query-timeout-max, holding
		// the connection slot). On a read-write one the statement is let
		// finish, as PostgreSQL does: a client may send a write and leave;
		// --query-timeout-max still bounds it.
		cancelled.Go(func() {
			select {
			case <-gone:
				w.cancelBounded(ctx)
			case <-done:
			}
		})
	}
	stop := func() bool {
		if timer != nil && timer.Stop() {
			cancelled.Done()
		}
		closeDone()
		cancelled.Wait()
		w.pg.Conn().SetReadDeadline(time.Time{})
		return timedOut.Load()
	}
	var limit error // the statement's own error (row limit): rows are no longer relayed
	if w.readOnly {
		// Whatever happens, the next statement gets a new transaction.
		w.tx = txUsed
		w.suspended = nil
	}
	if err := w.consumeReady(c, h); err != nil {
		stop()
		st.Done("", connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost."))
		return err
	}
	for {
		typ, raw, err := w.up.next()
		if err != nil {
			stop()
			if _, ok := errors.AsType[*tooLargeError](err); ok {
				// The rest of the message cannot be skipped safely: the
				// session ends, telling the client why.
				e := querygate.Errorf(querygate.ETOOLARGE, "A row of the result is larger than the gateway allows; the session ends.")
				st.Done("", e)
				c.Send(errorResponse("FATAL", "54000", querygate.ErrorMessage(e)))
				c.Flush()
				return err
			}
			st.Done("", connect.Errorf(connect.EUNREACHABLE, "The connection to the server was lost."))
			return err
		}
		if typ == 'D' || typ == 'd' {
			// A row or COPY data: counted, and copied on as it came.
			if limit != nil {
				continue
			}
			if limit = st.Row(); limit != nil {
				cancelled.Go(func() { w.cancelBounded(ctx) })
				continue
			}
			c.SendRaw(raw)
			if err := c.Err(); err != nil {
				// The client went away: the session ends, and closing
				// the server connection stops the statement.
				stop()
				st.Done("", connect.Errorf(connect.ECANCELED, "The client went away."))
				return err
			}
			continue
		}
		msg, err := decodeBackend(typ, raw[5:])
		if err != nil {
			stop()
			st.Done("", connect.Errorf(connect.EUNREACHABLE, "The server sent a message the gateway cannot read."))
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.NoData:
			if simple {
				continue
			}
		case *pgproto3.CopyInResponse:
			c.Send(m)
			if err := c.Flush(); err != nil {
				stop()
				st.Done("", connect.Errorf(connect.ECANCELED, "The client went away."))
				return err
			}
			if err := w.copyIn(c); err != nil {
				stop()
				st.Done("", connect.Errorf(connect.ECANCELED, "The client went away."))
				return err
			}
			continue
		case *pgproto3.CommandComplete:
			stop()
			tag := string(m.CommandTag)
			if !h.Safe(tag) {
				// A tag is the server's text too.
				tag = ""
				m = &pgproto3.CommandComplete{}
			}
			w.ended(tag)
			if limit != nil {
				return w.refuse(c, st, limit)
			}
			st.Done(tag, nil)
			c.Send(m)
			return nil
		case *pgproto3.EmptyQueryResponse:
			stop()
			st.Done("", nil)
			c.Send(m)
			return nil
		case *pgproto3.PortalSuspended:
			stop()
			if limit != nil {
				return w.refuse(c, st, limit)
			}
			st.Done("SUSPENDED", nil)
			if w.readOnly {
				portal := m0.Portal
				w.suspended = &portal
			}
			c.Send(m)
			return nil
		case *pgproto3.ErrorResponse:
			timeout := stop()
			w.pending = 0
			w.skipping = true
			if limit != nil {
				return w.refuse(c, st, limit)
			}
			if timeout && m.Code == "57014" {
				msg := fmt.Sprintf("The statement ran longer than the gateway allows (%s, --query-timeout-max) and was cancelled.", w.maxTimeout)
				st.Done("", connect.Errorf(connect.ETIMEOUT, "%s", msg))
				c.Send(errorResponse("ERROR", "57014", msg))
				return nil
			}
			safe := w.safeError(h, m, "ERROR")
			st.Done("", connect.Errorf(connect.EQUERY, "%s", safe.Message))
			c.Send(safe)
			return nil
		}
		w.relay(c, h, msg)
	}
}

// cancelGrace is how long the server has to answer once the gateway
// cancelled a statement: a server that does not (one that ignores the
// cancel, or a connection that hangs) has its session ended, rather than
// holding the client's connection slot forever.
const cancelGrace = 10 * time.Second

// cancelBounded cancels the running statement and bounds the wait for
// the server's answer by cancelGrace.
func (w *Wire) cancelBounded(ctx context.Context) {
	w.Cancel(context.WithoutCancel(ctx))
	w.pg.Conn().SetReadDeadline(time.Now().Add(cancelGrace))
}

// refuse ends a statement that broke a limit of the use case: the client
// gets the limit's error and, as after any error, the rest of its batch
// up to Sync is dropped.
func (w *Wire) refuse(c WireClient, st WireStatement, err error) error {
	st.Done("", err)
	w.skipping = true
	w.pending = 0
	c.Send(errorResponse("ERROR", "54000", querygate.ErrorMessage(err)))
	return nil
}

// copyIn relays the client's COPY data until it ends the copy.
func (w *Wire) copyIn(c WireClient) error {
	for {
		msg, err := c.Receive()
		if err != nil {
			return err
		}
		switch msg.(type) {
		case *pgproto3.CopyData:
			w.fe.Send(msg)
			if err := w.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.CopyDone, *pgproto3.CopyFail:
			w.fe.Send(msg)
			w.fe.Send(&pgproto3.Flush{})
			return w.fe.Flush()
		case *pgproto3.Flush, *pgproto3.Sync:
			// ignored during COPY, as by the server
		default:
			w.fe.Send(&pgproto3.CopyFail{Message: "the client sent another message during COPY"})
			w.fe.Send(&pgproto3.Flush{})
			return w.fe.Flush()
		}
	}
}

// query runs a simple query: its statements one at a time, each through
// the extended protocol as the unnamed statement and portal (which a
// simple query discards anyway), results in text, then one ReadyForQuery.
func (w *Wire) query(ctx context.Context, c WireClient, h WireHooks, text string) error {
	w.skipping = false
	stmts := SplitStatements(text)
	if len(stmts) == 0 {
		c.Send(&pgproto3.EmptyQueryResponse{})
	}
	for _, s := range stmts {
		if err := w.ready(c, h); err != nil {
			return err
		}
		w.stmts[""], w.portals[""] = "", ""
		w.fe.Send(&pgproto3.Parse{Query: s})
		w.fe.Send(&pgproto3.Bind{})
		w.fe.Send(&pgproto3.Describe{ObjectType: 'P'})
		w.pending = 3
		if err := w.execute(ctx, c, h, w.keep(s), &pgproto3.Execute{}, true); err != nil {
			return err
		}
		if w.skipping {
			break
		}
	}
	w.skipping = false
	w.fe.Send(&pgproto3.Sync{})
	return w.sync(c, h)
}
