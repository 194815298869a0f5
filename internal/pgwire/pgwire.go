// Package pgwire provides the PostgreSQL wire-protocol front end: psql,
// DBeaver, JDBC and BI tools connect to the gateway as to a PostgreSQL
// server, with the querygate user name, one of that user's API tokens as
// the password, and a datasource's name as the database.
//
// It is an adapter and holds no rule of its own (P14): it answers the
// startup (TLS, authentication through accounts.WireLogin, throttled like
// web logins), opens the session through the query use case
// (query.OpenWire: grants, kind, custody, egress, read-only, audit) and
// hands the client's messages to the session's relay, which applies the
// use case's rules to each statement. It maps a client's cancel key to its
// session.
//
// It must never write a datasource secret to a client (the session's
// relay withholds server texts that hold one), never accept a password
// outside TLS except from a loopback listener, and never pass the client's
// startup options, role or session authorization on.
package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web/kit"
)

// Limits of the startup.
const (
	// startupTimeout bounds the time from accepting a connection to the
	// session being ready (TLS, authentication, connecting upstream).
	startupTimeout = 30 * time.Second
	// maxMessage bounds one client message (a statement text, a Bind, a
	// COPY data chunk) held in memory.
	maxMessage = 16 << 20
	// maxLoginMessage bounds a client message before login (the password:
	// a token is short), so that a client that is not logged in cannot
	// make the gateway hold much memory. The startup packet has its own
	// bound (10000 bytes, pgproto3's, as PostgreSQL's).
	maxLoginMessage = 8 << 10
	// flushAt is how many bytes of answers are buffered before they are
	// written to the client.
	flushAt = 64 << 10
)

// Options configures New.
type Options struct {
	Logger   *slog.Logger
	Accounts *accounts.Service
	Queries  *query.Service
	// TLS is the server's certificate configuration; nil serves no TLS
	// (allowed only when RequireTLS is false).
	TLS *tls.Config
	// RequireTLS refuses clients that do not ask for TLS (every listener
	// but a loopback one).
	RequireTLS bool
	// Throttle slows token guessing down, as for web logins (shared with
	// them when the same one is given).
	Throttle *kit.Throttle
	// AllowClient is the ingress policy (nil: every client address).
	AllowClient func(netip.Addr) bool
}

// Server serves the wire protocol on a listener.
type Server struct {
	o      Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	sessions map[uint32]*session // by the process id given to the client
}

// session is a client's session, as its cancel key names it.
type session struct {
	secret []byte
	ws     *query.WireSession
}

// New returns a server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Throttle == nil {
		o.Throttle = kit.NewThrottle()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{o: o, log: o.Logger, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}, sessions: map[uint32]*session{}}
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			conn.Close()
			return nil
		}
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			s.serveConn(conn)
		})
	}
}

// Close stops accepting, cancels the running statements, closes every
// client connection and waits for their sessions to end.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// remoteHost is the client's address without its port.
func remoteHost(conn net.Conn) string {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		return conn.RemoteAddr().String()
	}
	return host
}

func (s *Server) serveConn(conn net.Conn) {
	remote := remoteHost(conn)
	if s.o.AllowClient != nil {
		addr, err := netip.ParseAddr(remote)
		if err != nil || !s.o.AllowClient(addr.Unmap()) {
			return // as the HTTP front end: refused before a byte is read
		}
	}
	conn.SetDeadline(time.Now().Add(startupTimeout))
	c, startup, err := s.startup(conn)
	if err != nil || startup == nil {
		return
	}
	id := newID()
	log := s.log.With("request_id", id, "remote", remote)
	user, database := startup.Parameters["user"], startup.Parameters["database"]
	if database == "" {
		database = user // as libpq and the server do
	}
	if wait := s.o.Throttle.Wait(user, remote); wait > 0 {
		fatal(c, "28000", fmt.Sprintf("Too many failed logins: try again in %d seconds.", int(math.Ceil(wait.Seconds()))))
		return
	}
	c.Send(&pgproto3.AuthenticationCleartextPassword{})
	if c.Flush() != nil {
		return
	}
	if c.b.SetAuthType(pgproto3.AuthTypeCleartextPassword) != nil {
		return
	}
	msg, err := c.b.Receive()
	if err != nil {
		if _, ok := errors.AsType[*pgproto3.ExceededMaxBodyLenErr](err); ok {
			fatal(c, "08P01", "The message is larger than querygate accepts before login.")
		}
		return
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		fatal(c, "08P01", "Expected a password message.")
		return
	}
	u, err := s.o.Accounts.WireLogin(s.ctx, remote, user, pw.Password)
	if err != nil {
		if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
			s.o.Throttle.Failed(user, remote)
		}
		log.InfoContext(s.ctx, "wire login refused", "outcome", querygate.ErrorCode(err))
		fatal(c, "28P01", querygate.ErrorMessage(err))
		return
	}
	s.o.Throttle.Succeeded(user)
	actor := accounts.Actor{User: u, Via: accounts.ViaToken, Remote: remote, RequestID: id}
	octx, cancel := context.WithTimeout(s.ctx, startupTimeout)
	token := pw.Password
	prove := func(ctx context.Context) (*accounts.User, error) {
		return s.o.Accounts.WireLogin(ctx, remote, user, token)
	}
	ws, err := s.o.Queries.OpenWire(octx, actor, database, startup.Parameters, prove)
	cancel()
	if err != nil {
		fatal(c, sqlstate(err), querygate.ErrorMessage(err))
		return
	}
	defer ws.Close()
	pid, secret := s.register(ws)
	defer s.unregister(pid)
	c.Send(&pgproto3.AuthenticationOk{})
	for k, v := range ws.ParameterStatuses() {
		c.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	c.Send(&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: secret})
	c.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if c.Flush() != nil {
		return
	}
	conn.SetDeadline(time.Time{})
	c.b.SetMaxBodyLen(maxMessage)
	defer c.watch()()
	log.InfoContext(s.ctx, "wire session", "user_id", u.ID)
	err = ws.Serve(s.ctx, c)
	if err != nil && s.ctx.Err() == nil {
		log.InfoContext(s.ctx, "wire session ended", "error_type", fmt.Sprintf("%T", err))
	}
}

// startup reads the startup packets: TLS is negotiated, GSS encryption
// refused, a cancel request handled (nil startup message). Without TLS,
// a client is refused when TLS is required.
func (s *Server) startup(conn net.Conn) (*client, *pgproto3.StartupMessage, error) {
	c := newClient(conn)
	secure := false
	for {
		msg, err := c.b.ReceiveStartupMessage()
		if err != nil {
			return nil, nil, err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if secure || s.o.TLS == nil {
				if _, err := conn.Write([]byte{'N'}); err != nil {
					return nil, nil, err
				}
				continue
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				return nil, nil, err
			}
			tc := tls.Server(conn, s.o.TLS)
			if err := tc.Handshake(); err != nil {
				return nil, nil, err
			}
			// Nothing the client sent before the handshake is kept:
			// the new reader starts on the encrypted stream.
			c = newClient(tc)
			secure = true
		case *pgproto3.GSSEncRequest:
			// Refused: the client goes on with TLS or in the clear.
			if _, err := conn.Write([]byte{'N'}); err != nil {
				return nil, nil, err
			}
		case *pgproto3.CancelRequest:
			s.cancelRequest(m)
			return nil, nil, nil
		case *pgproto3.StartupMessage:
			if !secure && s.o.RequireTLS {
				fatal(c, "28000", "querygate accepts PostgreSQL clients over TLS only: connect with sslmode=require (or verify-full).")
				return nil, nil, errors.New("pgwire: TLS required")
			}
			if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
				c.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
			}
			return c, m, nil
		}
	}
}

// sqlstate maps a use case's refusal to the SQLSTATE a client expects.
func sqlstate(err error) string {
	switch querygate.ErrorCode(err) {
	case querygate.ENOTFOUND:
		return "3D000" // invalid_catalog_name
	case querygate.EFORBIDDEN:
		return "42501" // insufficient_privilege
	case querygate.EUNAUTHORIZED, querygate.EDEVICELOCKED:
		return "28000" // invalid_authorization_specification
	case querygate.EINVALID:
		return "08004" // the server rejected the connection
	case querygate.EUNAVAILABLE, querygate.ETIMEOUT:
		return "53300" // too_many_connections
	}
	return "08001" // sqlclient_unable_to_establish_sqlconnection
}

// fatal ends the startup with an error.
func fatal(c *client, code, message string) {
	c.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: message})
	c.Flush()
}

// register gives a session its cancel key.
func (s *Server) register(ws *query.WireSession) (uint32, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		if _, taken := s.sessions[pid]; pid == 0 || taken {
			continue
		}
		s.sessions[pid] = &session{secret: b[4:], ws: ws}
		return pid, b[4:]
	}
}

func (s *Server) unregister(pid uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, pid)
}

// cancelRequest cancels the session's running statement at its server, if
// the key is right (compared in constant time, as the secret is the only
// proof a cancel request carries).
func (s *Server) cancelRequest(m *pgproto3.CancelRequest) {
	s.mu.Lock()
	sess, ok := s.sessions[m.ProcessID]
	s.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(sess.secret, m.SecretKey) != 1 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	sess.ws.Cancel(ctx)
}

// newID returns a session id for logs and the audit trail.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "pgw_" + hex.EncodeToString(b[:])
}

// client is the client connection's protocol end: messages are read by a
// pgproto3.Backend and answers encoded into one buffer, written to the
// connection once flushAt bytes are buffered, and at every Flush.
type client struct {
	b    *pgproto3.Backend
	conn net.Conn
	in   *switchReader
	buf  []byte
	err  error
	gone chan struct{} // closed when the client's connection ends (watch)
}

// switchReader is the reader the Backend reads from: the connection, or
// after watch the pipe from the watching goroutine.
type switchReader struct{ r io.Reader }

func (s *switchReader) Read(p []byte) (int, error) { return s.r.Read(p) }

func newClient(conn net.Conn) *client {
	in := &switchReader{r: conn}
	b := pgproto3.NewBackend(in, conn)
	b.SetMaxBodyLen(maxLoginMessage) // until login: see serveConn
	return &client{b: b, conn: conn, in: in, buf: make([]byte, 0, flushAt+4096)}
}

// watch reads the connection from a goroutine from now on (one chunk
// ahead of the relay at most), so that the client's going away is
// noticed (Gone) while the relay waits for the server. The returned stop
// ends the goroutine once the connection is closed.
func (c *client) watch() (stop func()) {
	pr, pw := io.Pipe()
	c.gone = make(chan struct{})
	c.in.r = pr
	go func() {
		defer close(c.gone)
		buf := make([]byte, 16<<10)
		for {
			n, err := c.conn.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return func() { pr.Close() }
}

// Gone implements postgres.WireClient.
func (c *client) Gone() <-chan struct{} { return c.gone }

func (c *client) Receive() (pgproto3.FrontendMessage, error) {
	if c.err != nil {
		return nil, c.err
	}
	return c.b.Receive()
}

func (c *client) Send(msg pgproto3.BackendMessage) {
	buf, err := msg.Encode(c.buf)
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return
	}
	c.buf = buf
	c.spill()
}

func (c *client) SendRaw(raw []byte) {
	c.buf = append(c.buf, raw...)
	c.spill()
}

// spill writes the buffer once it holds flushAt bytes.
func (c *client) spill() {
	if len(c.buf) >= flushAt && c.err == nil {
		c.Flush()
	}
}

func (c *client) Err() error { return c.err }

func (c *client) Flush() error {
	if c.err != nil {
		c.buf = c.buf[:0]
		return c.err
	}
	_, err := c.conn.Write(c.buf)
	if cap(c.buf) > 4*flushAt {
		c.buf = make([]byte, 0, flushAt+4096) // a huge row's buffer is not kept
	} else {
		c.buf = c.buf[:0]
	}
	if err != nil {
		c.err = err
	}
	return err
}
