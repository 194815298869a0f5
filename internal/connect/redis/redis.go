// Package redis provides the Redis connector: it runs one command, such as
// ["GET", "k"], on a pooled go-redis connection to one datasource, and
// hands the reply, converted to the values of package connect, to a
// connect.Sink.
//
// # Replies
//
// A reply is one result with the usual columns, rows and done framing.
// The column type is the reply's RESP type:
//
//	scalar   one column "value" typed string, binary, integer, double,
//	         boolean, bignum or nil, and one row: GET, INCR, SET's "OK",
//	         a missing key's nil
//	array    one column "value" typed array, one row per element: LRANGE,
//	         SMEMBERS, KEYS, MGET (an empty array has no rows)
//	map      two columns "field" and "value" typed map, one row per entry,
//	         in the order of the fields' text: HGETALL, CONFIG GET
//	         (RESP3 maps; RESP2 servers send them as flat arrays)
//
// Text that is valid UTF-8 is a JSON string; other bytes are sent as
// base64 (a scalar reply says so with the type binary; inside an array or
// a map only the value tells). A nested array is a JSON array, a nested
// map a JSON object, an error inside an array {"error": message}. The row
// limit stops the rows, not the command: the server has already run it
// and go-redis has read the whole reply, which is capped at MaxReplyBytes,
// MaxReplyElements and MaxReplyDepth levels of nesting (querygate.ETOOLARGE
// beyond, checked on the bytes as they arrive, before go-redis parses
// them).
//
// An error reply of the server (WRONGTYPE, ERR syntax, NOPERM ...) is
// connect.EQUERY with the server's message.
//
// # Commands
//
// Every command is classified before anything is sent (policy.go):
//
//   - reads (GET, HGETALL, SCAN, ...: an explicit list) run everywhere;
//   - writes (SET, DEL, LPUSH, BLPOP, ...) are refused on read-only
//     datasources (connect.EREADONLY);
//   - administrative and dangerous commands (CONFIG, FLUSHALL, SHUTDOWN,
//     DEBUG, MODULE, SCRIPT, EVAL, FUNCTION, ACL, MIGRATE, REPLICAOF,
//     CLIENT KILL, CLUSTER, SAVE, SWAPDB, WAIT, ...) and every command the
//     gateway does not know (modules, newer Redis versions) are refused
//     (querygate.EFORBIDDEN) unless the datasource sets allow_admin; the
//     ones that may change the server stay refused on read-only
//     datasources;
//   - commands that would change or take over a pooled connection (AUTH,
//     HELLO, SELECT, MULTI, EXEC, WATCH, SUBSCRIBE, MONITOR, SYNC, QUIT,
//     RESET, CLIENT SETNAME, CLIENT REPLY, ...) are always refused: the
//     user, database and protocol of a connection come from the
//     datasource's settings.
//
// Redis has no read-only session, so read-only is enforced by this list;
// an ACL user limited to the commands it needs is the server's own guard.
//
// # Connections
//
// Each pooled connection is a go-redis client of its own with at most one
// connection (a slot), so that a query knows its connection: when the
// query's context ends (timeout or client gone) that connection is closed,
// which ends a blocking command (BLPOP, XREAD BLOCK, ...) on the server
// too; go-redis itself only sets deadlines. Commands are never retried
// (INCR or LPUSH must not run twice), and there is one dial attempt per
// connection.
//
// It dials only through the egress dialer it is given, adds TLS itself
// (go-redis does not for a custom dialer), builds go-redis's options field
// by field and never from a URL, and never puts a secret, an address or
// driver text in an error (messages are the package's own sentences, plus
// the server's message for a command it rejected).
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// go-redis logs dial failures with their text (which holds the address)
// through a logger of its own; the gateway logs for itself.
func init() { redis.SetLogger(discard{}) }

type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

// dialFunc is go-redis's dialer type.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Connector runs commands on one Redis datasource. It is safe for
// concurrent use.
type Connector struct {
	settings *Settings
	dial     connect.DialFunc
	readOnly bool
	maxIdle  time.Duration
	// maxBytes, maxElems and maxDepth cap one reply (MaxReplyBytes,
	// MaxReplyElements and MaxReplyDepth; tests lower them).
	maxBytes, maxElems int64
	maxDepth           int
	// sem holds a token for each slot in use: its size is the
	// datasource's connection bound.
	sem chan struct{}

	mu     sync.Mutex
	idle   []*slot // the most recently used last
	closed bool
}

var _ connect.Connector = (*Connector)(nil)

// New returns a connector for a datasource whose settings DecodeSettings
// returned (in cfg.Settings). It does not connect: slots
// connect when queries need them. Settings it cannot use are reported as
// connect.ECONFIG.
func New(cfg connect.Config) (*Connector, error) {
	if cfg.Dial == nil {
		return nil, connect.Errorf(connect.ECONFIG, "No egress dialer was given to the Redis connector.")
	}
	s, ok := cfg.Settings.(*Settings)
	switch {
	case cfg.Settings == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is missing.")
	case !ok || s == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is not a Redis datasource.")
	}
	maxConns, maxIdle := cfg.MaxConns, cfg.MaxIdle
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	if maxIdle <= 0 {
		maxIdle = defaultMaxIdle
	}
	return &Connector{settings: s, dial: cfg.Dial, readOnly: cfg.ReadOnly, maxIdle: maxIdle,
		maxBytes: MaxReplyBytes, maxElems: MaxReplyElements, maxDepth: MaxReplyDepth, sem: make(chan struct{}, maxConns)}, nil
}

// Query runs req.Command, once its class is allowed (see the package
// documentation), and streams the reply into sink.
func (c *Connector) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	if req.Query != "" || len(req.Params) != 0 || req.HTTP != nil {
		return connect.Result{}, querygate.FieldErrorf("command", "command: a Redis datasource takes a command, not a query")
	}
	p := policy{readOnly: req.ReadOnly || c.readOnly, allowAdmin: c.settings.allowAdmin}
	if err := p.check(req.Command); err != nil {
		return connect.Result{}, err
	}
	args := make([]any, len(req.Command))
	for i, a := range req.Command {
		args[i] = a
	}
	v, err := c.do(ctx, args)
	if err != nil {
		return connect.Result{}, err
	}
	return render(v, sink)
}

// Ping connects (or takes an idle connection), which authenticates, and
// sends PING.
func (c *Connector) Ping(ctx context.Context) error {
	_, err := c.do(ctx, []any{"PING"})
	return err
}

// Close closes the idle slots; slots in use are closed when their query
// ends.
func (c *Connector) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, s := range idle {
		s.timer.Stop()
		s.close()
	}
	return nil
}

// onSlot runs fn on a slot of the pool. go-redis only turns a deadline
// into socket deadlines; closing the connection is what ends a command
// when the client goes away, so the slot's connection is cut when ctx
// ends meanwhile. The slot is kept only when its connection is known to
// be in step: fn says the server answered (inStep), and it was not cut.
func (c *Connector) onSlot(ctx context.Context, fn func(s *slot) (inStep bool, err error)) error {
	s, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		s.end()
		c.release(s, keep)
	}()
	s.begin()
	stop := context.AfterFunc(ctx, s.cut)
	inStep, err := fn(s)
	keep = stop() && inStep
	return err
}

// do runs one command on a slot. A nil reply is (nil, nil).
func (c *Connector) do(ctx context.Context, args []any) (any, error) {
	var v any
	err := c.onSlot(ctx, func(s *slot) (bool, error) {
		var err error
		v, err = s.client.Do(ctx, args...).Result()
		if err == nil || errors.Is(err, redis.Nil) {
			return true, nil
		}
		_, answered := errors.AsType[redis.Error](err)
		if merr := s.meterError(); merr != nil {
			// go-redis may report the closed connection rather than
			// the meter's error that closed it.
			err = merr
		}
		return answered, mapError(ctx, err, c.settings.password)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// acquire takes an idle slot, or makes one, within the connection bound.
func (c *Connector) acquire(ctx context.Context) (*slot, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, mapError(ctx, ctx.Err(), "")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.sem
		return nil, errClosed
	}
	var s *slot
	if n := len(c.idle); n > 0 {
		s = c.idle[n-1]
		c.idle = c.idle[:n-1]
		s.timer.Stop()
	}
	c.mu.Unlock()
	if s == nil {
		s = c.newSlot()
	}
	return s, nil
}

// release puts a slot back, or closes it when it is not to be kept. An
// idle slot is closed after maxIdle.
func (c *Connector) release(s *slot, keep bool) {
	defer func() { <-c.sem }()
	c.mu.Lock()
	if !keep || c.closed {
		c.mu.Unlock()
		s.close()
		return
	}
	c.idle = append(c.idle, s)
	s.timer = time.AfterFunc(c.maxIdle, func() { c.expire(s) })
	c.mu.Unlock()
}

// expire closes s if it is still idle.
func (c *Connector) expire(s *slot) {
	c.mu.Lock()
	i := slices.Index(c.idle, s)
	if i >= 0 {
		c.idle = slices.Delete(c.idle, i, i+1)
	}
	c.mu.Unlock()
	if i >= 0 {
		s.close()
	}
}

// slot is one pooled connection: a go-redis client that holds at most one
// connection, which the slot knows, so that it can cut it.
type slot struct {
	c      *Connector
	client *redis.Client
	timer  *time.Timer // the idle timer, guarded by c.mu

	mu     sync.Mutex
	conn   *conn // the last connection dialled
	closed bool
	// dials is how many dials the command under way may still make:
	// one. go-redis would also dial from a goroutine of its own, every
	// second, after a dial failed; the slot dials only for a command.
	dials int
}

func (c *Connector) newSlot() *slot {
	s := &slot{c: c}
	s.client = redis.NewClient(clientOptions(c.settings, c.maxIdle, s.dial))
	return s
}

// dial connects through the egress dialer and, when the datasource uses
// TLS, makes the TLS handshake. go-redis calls it apart from the query's
// context, with its own dial timeout.
func (s *slot) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	if s.closed || s.dials <= 0 {
		s.mu.Unlock()
		return nil, redis.ErrClosed
	}
	s.dials--
	s.mu.Unlock()
	raw, err := s.c.dial(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	var nc net.Conn = raw
	if cfg := s.c.settings.tls; cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &tlsError{err}
		}
		nc = tc
	}
	cn := &conn{Conn: nc, raw: raw, meter: newMeter(s.c.maxBytes, s.c.maxElems, s.c.maxDepth)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		raw.Close()
		return nil, redis.ErrClosed
	}
	s.conn = cn
	if sc, ok := raw.(syscall.Conn); ok && s.c.settings.tls == nil {
		// go-redis checks an idle plaintext connection with a peek before
		// reusing it, so that a connection the server has closed is not
		// handed to a command (which is never retried).
		return &sysConn{conn: cn, sc: sc}, nil
	}
	return cn, nil
}

// begin starts a command: one dial, if it needs a connection, and a fresh
// reply budget.
func (s *slot) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dials = 1
	if s.conn != nil {
		s.conn.resetMeter()
	}
}

// end ends a command: no more dials.
func (s *slot) end() {
	s.mu.Lock()
	s.dials = 0
	s.mu.Unlock()
}

// meterError returns the error of the meter of the slot's connection, if
// the last reply went over the caps.
func (s *slot) meterError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	s.conn.mu.Lock()
	defer s.conn.mu.Unlock()
	return s.conn.meter.err
}

// cut closes the slot's connection, which ends the command on it.
func (s *slot) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.raw.Close()
	}
}

// close closes the client and its connection.
func (s *slot) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.client.Close()
}

// conn is a connection as go-redis sees it: reads are metered.
type conn struct {
	net.Conn          // TLS or plain: what go-redis reads and writes
	raw      net.Conn // the TCP connection, closed to cut
	mu       sync.Mutex
	meter    *meter
}

// Read reads and meters. A reply over the caps fails the read and closes
// the connection: the rest of the reply is never read.
func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	merr := c.meter.err
	c.mu.Unlock()
	if merr != nil {
		return 0, merr
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		merr = c.meter.feed(p[:n])
		c.mu.Unlock()
		if merr != nil {
			c.raw.Close()
			return 0, merr
		}
	}
	return n, err
}

func (c *conn) resetMeter() {
	c.mu.Lock()
	c.meter.reset()
	c.mu.Unlock()
}

// sysConn is a plaintext conn that lets go-redis peek at its socket.
type sysConn struct {
	*conn
	sc syscall.Conn
}

func (c *sysConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }
