// Package query runs statements against datasources and streams their
// results: it owns the per-datasource connection pools and the connection
// budget they share (budget.go), the row and time limits, cancellation,
// and the result encoders (NDJSON and CSV).
//
// It must never keep a result: rows pass from the connector to the client
// through one bounded buffer and are forgotten. It never logs a query text,
// a parameter or a value.
package query

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/schema"
	"github.com/querygate/querygate/internal/seal"
)

// Limits are the operator's bounds.
type Limits struct {
	DefaultRows    int64         // rows when the caller names no limit (default 1000)
	MaxRows        int64         // the cap on any limit (default 1,000,000)
	DefaultTimeout time.Duration // when the caller names no timeout (default 30 s)
	MaxTimeout     time.Duration // the cap on any timeout (default 5 min)
	// MaxConns bounds the connections to one datasource, all its pools
	// (shared and per device) and connection tests together (default 4).
	MaxConns int
	// DeviceConns is the pool size of one device-custody credential
	// (default 2, at most MaxConns): small, so that several devices fit
	// in MaxConns.
	DeviceConns int
	MaxIdle     time.Duration // idle connection lifetime (default 5 min)
	// DeviceIdle is how long the pool of a device-custody credential
	// lives unused before it is closed (default 60 s), so that an opened
	// password does not linger.
	DeviceIdle time.Duration
	// SyncInterval is how often pools are checked against the store, so
	// that a datasource changed or deleted on another replica has its
	// stale pool closed here within that time (default 5 s).
	SyncInterval time.Duration
}

// Options configures NewService.
type Options struct {
	Logger      *slog.Logger
	Datasources *datasource.Service
	// Kinds are the datasource kinds the gateway serves: how each
	// decodes its settings and opens a connector.
	Kinds *kind.Registry
	Dial  connect.DialFunc
	// Egress is the policy the final destination of a datasource reached
	// through an SSH bastion is checked against, as named, before the
	// bastion is asked to connect (the bastion itself is dialled through
	// Dial); nil means egress.DefaultPolicy().
	Egress *egress.Policy
	Limits Limits
	// SchemaLimits bound one schema read (zero fields: the defaults).
	SchemaLimits schema.Limits
	SQLiteDirs   []string
	SQLiteDeny   []string
	// RequireTLS refuses datasources that would connect without verified
	// TLS (--require-datasource-tls).
	RequireTLS bool
	// HTTPResponseMax caps an HTTP datasource's response body (bytes).
	HTTPResponseMax int64
	// Devices opens device-custody credentials; Audit records one event
	// per use case; Metrics counts queries (each may be nil in tests).
	Devices      *device.Service
	SavedQueries *savedquery.Service
	Audit        *audit.Log
	Metrics      *metrics.Metrics
	// AuditQueryText records the query text in audit events
	// (--audit-query-text).
	AuditQueryText bool
}

// Service runs queries.
type Service struct {
	log          *slog.Logger
	datasources  *datasource.Service
	kinds        *kind.Registry
	dial         connect.DialFunc
	egress       *egress.Policy
	limits       Limits
	schemaLimits schema.Limits
	sqliteDirs   []string
	sqliteDeny   []string
	requireTLS   bool
	httpMax      int64
	devices      *device.Service
	savedQueries *savedquery.Service
	audit        *audit.Log
	metrics      *metrics.Metrics
	auditText    bool
	// tests are the slots of connection tests and unlocks (testSlot).
	tests chan struct{}

	mu      sync.Mutex
	pools   map[string]*pool   // the pools in use, by poolKey
	live    map[*pool]struct{} // every built pool not yet closing, retired ones included
	budgets map[string]*budget // by datasource id (see budget.go)
	closing sync.WaitGroup     // pools being closed
	shut    bool               // Close has begun: closeLocked no longer joins closing
	stop    chan struct{}
	done    chan struct{}
}

// pool is the connector of one version of one datasource (and, for device
// custody, one device credential). A datasource updated anywhere (on any
// replica) gets a new UpdatedAt, so the next query builds a new pool and
// the stale one is retired. A pool holds slots of its datasource's
// connection budget from before it is built until it is closed.
type pool struct {
	key, dsID string
	conn      connect.Connector // nil while being built
	built     chan struct{}     // closed once the builder is done (conn set, or failed)
	version   time.Time
	device    bool
	slots     int       // its MaxConns, held from the budget
	active    int       // queries running on it
	lastUsed  time.Time // when the last query ended or began
	retired   bool      // out of s.pools: closed once active is 0
	closed    bool
}

// Device is a device-custody credential opened for one request: the
// password is used to connect and dropped with the request.
type Device struct {
	ID       string
	Password seal.Secret
}

// poolKey names the pool of a datasource, or of one device of it.
func poolKey(dsID string, dev *Device) string {
	if dev == nil {
		return dsID
	}
	return dsID + "/" + dev.ID
}

// NewService returns a query service.
func NewService(o Options) *Service {
	l := &o.Limits
	if l.DefaultRows <= 0 {
		l.DefaultRows = 1000
	}
	if l.MaxRows <= 0 {
		l.MaxRows = 1_000_000
	}
	if l.DefaultRows > l.MaxRows {
		l.DefaultRows = l.MaxRows
	}
	if l.DefaultTimeout <= 0 {
		l.DefaultTimeout = 30 * time.Second
	}
	if l.MaxTimeout <= 0 {
		l.MaxTimeout = 5 * time.Minute
	}
	if l.DefaultTimeout > l.MaxTimeout {
		l.DefaultTimeout = l.MaxTimeout
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 4
	}
	if l.DeviceConns <= 0 {
		l.DeviceConns = 2
	}
	l.DeviceConns = min(l.DeviceConns, l.MaxConns)
	if l.MaxIdle <= 0 {
		l.MaxIdle = 5 * time.Minute
	}
	if l.DeviceIdle <= 0 {
		l.DeviceIdle = time.Minute
	}
	if l.SyncInterval <= 0 {
		l.SyncInterval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Egress == nil {
		o.Egress = egress.DefaultPolicy()
	}
	s := &Service{log: o.Logger, datasources: o.Datasources, kinds: o.Kinds, dial: o.Dial, egress: o.Egress, limits: o.Limits,
		sqliteDirs: o.SQLiteDirs, sqliteDeny: o.SQLiteDeny, httpMax: o.HTTPResponseMax, requireTLS: o.RequireTLS, pools: map[string]*pool{},
		live: map[*pool]struct{}{}, budgets: map[string]*budget{}, stop: make(chan struct{}), done: make(chan struct{}),
		devices: o.Devices, savedQueries: o.SavedQueries, audit: o.Audit, metrics: o.Metrics, auditText: o.AuditQueryText, tests: make(chan struct{}, maxConcurrentTests),
		schemaLimits: o.SchemaLimits.WithDefaults()}
	go s.janitor()
	return s
}

// janitor closes device pools that have been idle for DeviceIdle.
func (s *Service) janitor() {
	defer close(s.done)
	t := time.NewTicker(max(s.limits.DeviceIdle/4, 10*time.Millisecond))
	defer t.Stop()
	sync := time.NewTicker(s.limits.SyncInterval)
	defer sync.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-sync.C:
			s.reconcile()
		case now := <-t.C:
			s.mu.Lock()
			for _, p := range s.pools {
				if p.device && p.conn != nil && p.active == 0 && now.Sub(p.lastUsed) >= s.limits.DeviceIdle {
					s.retireLocked(p)
				}
			}
			s.mu.Unlock()
		}
	}
}

// reconcile closes the pools of datasources that were changed or deleted
// elsewhere (another replica): every pool whose datasource is gone or has
// another version. A query notices a change at once; this bounds how long
// an idle stale pool (and the secrets it connected with) lingers to
// SyncInterval.
func (s *Service) reconcile() {
	ctx, cancel := context.WithTimeout(context.Background(), s.limits.SyncInterval)
	defer cancel()
	list, err := s.datasources.List(ctx)
	if err != nil {
		return // the store is away: try again next time
	}
	current := make(map[string]time.Time, len(list))
	for _, d := range list {
		current[d.ID] = d.UpdatedAt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		if v, ok := current[p.dsID]; !ok || !v.Equal(p.version) {
			s.retireLocked(p)
		}
	}
}

// Limits returns the effective limits.
func (s *Service) Limits() Limits { return s.limits }

// Request is one query from a client: Query and Params for the SQL kinds,
// Command for Redis, HTTP for HTTP datasources.
type Request struct {
	Query   string
	Params  []any
	Command []string
	HTTP    *connect.HTTPRequest
	Limit   int64 // 0: the default
	Timeout time.Duration
	// Device is the opened device credential, for device-custody
	// datasources.
	Device *Device
}

// shape is the request shape of the kind named (SQL for a kind the
// gateway does not serve: the connector is refused later, by config).
func (s *Service) shape(name string) kind.Shape { return s.language(name).Shape }

// language is how the saved queries of a datasource of kind name are
// written: its registered shape and dialect.
func (s *Service) language(name string) savedquery.Language {
	if s.kinds != nil {
		if k, ok := s.kinds.Find(name); ok {
			return savedquery.Language{Shape: k.Shape, Dialect: k.Dialect}
		}
	}
	return savedquery.Language{Shape: kind.SQL}
}

func (s *Service) validate(kindName string, req *Request) error {
	switch s.shape(kindName) {
	case kind.Command:
		if len(req.Command) == 0 {
			return querygate.FieldErrorf("command", "command: a Redis datasource runs a command such as [\"GET\", \"key\"]")
		}
		if req.Query != "" || req.HTTP != nil {
			return querygate.FieldErrorf("command", "command: a Redis datasource takes a command, not a query")
		}
	case kind.HTTP:
		if req.HTTP == nil {
			return querygate.FieldErrorf("path", "path: an HTTP datasource takes a request: method, path, query, headers, body")
		}
		if len(req.Command) != 0 || len(req.Params) != 0 {
			return querygate.FieldErrorf("path", "path: an HTTP datasource takes a request, not a command or parameters")
		}
	default:
		if req.Query == "" {
			return querygate.FieldErrorf("query", "query: must not be empty")
		}
		if len(req.Command) != 0 || req.HTTP != nil {
			return querygate.FieldErrorf("query", "query: a SQL datasource takes a query")
		}
	}
	if len(req.Query) > 1<<20 {
		return querygate.FieldErrorf("query", "query: is longer than 1 MiB")
	}
	if len(req.Params) > 10000 {
		return querygate.FieldErrorf("params", "params: at most 10000")
	}
	if len(req.Command) > 10000 {
		return querygate.FieldErrorf("command", "command: at most 10000 arguments")
	}
	switch {
	case req.Limit < 0:
		return querygate.FieldErrorf("limit", "limit: must not be negative")
	case req.Limit == 0:
		req.Limit = s.limits.DefaultRows
	case req.Limit > s.limits.MaxRows:
		return querygate.FieldErrorf("limit", "limit: the operator allows at most %d rows (--row-limit-max)", s.limits.MaxRows)
	}
	switch {
	case req.Timeout < 0:
		return querygate.FieldErrorf("timeout_ms", "timeout_ms: must not be negative")
	case req.Timeout == 0:
		req.Timeout = s.limits.DefaultTimeout
	case req.Timeout > s.limits.MaxTimeout:
		return querygate.FieldErrorf("timeout_ms", "timeout_ms: the operator allows at most %d ms (--query-timeout-max)", s.limits.MaxTimeout.Milliseconds())
	}
	return nil
}

// connector returns the pooled connector for the datasource's current
// version (and device), building it (and opening its secrets) when needed,
// and marks it in use until release is called. Building a pool waits for
// its slots of the datasource's connection budget (see budget.go) until
// ctx ends; requests for a pool being built wait for that one.
func (s *Service) connector(ctx context.Context, ds *datasource.Datasource, dev *Device) (connect.Connector, func(), error) {
	key := poolKey(ds.ID, dev)
	for {
		s.mu.Lock()
		p, ok := s.pools[key]
		if ok && !p.version.Equal(ds.UpdatedAt) {
			s.retireLocked(p) // closes once the queries running on it end
			ok = false
		}
		if ok && p.conn != nil {
			conn, release := s.useLocked(p)
			s.mu.Unlock()
			return conn, release, nil
		}
		if ok {
			built := p.built
			s.mu.Unlock()
			select {
			case <-built:
				continue
			case <-ctx.Done():
				return nil, nil, s.busyError(ctx)
			}
		}
		p = &pool{key: key, dsID: ds.ID, built: make(chan struct{}), version: ds.UpdatedAt, device: dev != nil,
			slots: s.poolSlots(dev), lastUsed: time.Now()}
		s.pools[key] = p
		s.mu.Unlock()

		conn, err := s.build(ctx, ds, dev, p.slots)
		s.mu.Lock()
		defer s.mu.Unlock()
		close(p.built)
		if err != nil {
			if cur, ok := s.pools[key]; ok && cur == p {
				delete(s.pools, key)
			}
			return nil, nil, err
		}
		p.conn = conn
		s.live[p] = struct{}{}
		if p.retired {
			// Retired while it was built (the datasource changed, the
			// device was forgotten): this query uses it, then it closes.
			s.budgetLocked(p.dsID).pending += p.slots
		}
		conn, release := s.useLocked(p)
		return conn, release, nil
	}
}

// useLocked marks a built pool in use; release ends that use, closes the
// pool if it was retired meanwhile, and lets waiting connectors of the
// datasource reclaim it once it is idle.
func (s *Service) useLocked(p *pool) (connect.Connector, func()) {
	p.active++
	p.lastUsed = time.Now()
	return p.conn, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		p.active--
		p.lastUsed = time.Now()
		if p.retired {
			if p.active == 0 {
				s.closeLocked(p)
			}
			return
		}
		if b, ok := s.budgets[p.dsID]; ok && len(b.waiters) > 0 {
			s.reclaimLocked(p.dsID, b)
		}
	}
}

// build makes a connector of maxConns connections once it holds as many
// slots of the datasource's budget; the slots go with the connector.
func (s *Service) build(ctx context.Context, ds *datasource.Datasource, dev *Device, maxConns int) (connect.Connector, error) {
	cfg, k, secrets, err := s.config(ctx, ds, dev)
	if err != nil {
		return nil, err
	}
	if err := s.acquireSlots(ctx, ds.ID, maxConns); err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	conn, err := s.open(k, cfg)
	if err != nil {
		s.releaseSlots(ds.ID, maxConns)
		return nil, err
	}
	return shield(conn, secrets), nil
}

// open opens k's connector for cfg. With an SSH tunnel, every connection
// of the connector goes through one SSH connection to the bastion, whose
// final destinations the egress policy checks as named, with at most
// two channels per pooled connection (its cancel requests) and one more;
// the tunnel closes with the connector.
func (s *Service) open(k *kind.Kind, cfg connect.Config) (connect.Connector, error) {
	if cfg.Tunnel == nil {
		return k.Open(cfg)
	}
	t, err := egress.NewTunnel(cfg.Tunnel, cfg.Dial, s.egress.CheckNamed, 2*max(cfg.MaxConns, 1)+1)
	if err != nil {
		return nil, err
	}
	cfg.Dial = t.Dial
	conn, err := k.Open(cfg)
	if err != nil {
		t.Close()
		return nil, err
	}
	return connect.WithClose(conn, t.Close), nil
}

// config checks that the datasource can be connected to and returns its
// connector's configuration (settings decoded once, by its kind, with the
// secrets opened; MaxConns not set), its kind, and the secrets (which
// the connector's errors are checked against, see shield).
func (s *Service) config(ctx context.Context, ds *datasource.Datasource, dev *Device) (connect.Config, *kind.Kind, datasource.Secrets, error) {
	var none datasource.Secrets
	var k *kind.Kind
	ok := false
	if s.kinds != nil {
		k, ok = s.kinds.Find(ds.Kind)
	}
	if !ok || k.Open == nil || k.Decode == nil {
		return connect.Config{}, nil, none, querygate.Errorf(querygate.ENOTIMPLEMENTED, "Queries on %s datasources are not available in this version of querygate.", ds.Kind)
	}
	if s.requireTLS && k.VerifiedTLS != nil {
		if err := k.VerifiedTLS(ds.Settings); err != nil {
			return connect.Config{}, nil, none, connect.Errorf(connect.ECONFIG, "%s", querygate.ErrorMessage(err))
		}
	}
	secrets, err := s.datasources.OpenSecrets(ctx, ds.ID)
	if err != nil {
		return connect.Config{}, nil, none, err
	}
	if ds.Custody == datasource.CustodyDevice {
		if dev == nil || k.DevicePassword == "" {
			return connect.Config{}, nil, none, querygate.Errorf(querygate.EDEVICELOCKED, "This datasource's password is kept on your devices only: enter it on this device to unlock the datasource.")
		}
		secrets = secrets.With(k.DevicePassword, dev.Password)
	}
	settings, err := k.Decode(ds.Settings, secrets)
	if err != nil {
		return connect.Config{}, nil, none, err
	}
	var tunnel *egress.SSH
	if _, ok := k.Field(egress.SSHHost); ok {
		if tunnel, err = egress.DecodeSSH(ds.Settings, secrets); err != nil {
			return connect.Config{}, nil, none, err
		}
	}
	return connect.Config{ID: ds.ID, Settings: settings, Tunnel: tunnel, ReadOnly: ds.ReadOnly, Dial: s.dial, MaxIdle: s.limits.MaxIdle,
		SQLiteDirs: s.sqliteDirs, SQLiteDeny: s.sqliteDeny, HTTPResponseMax: s.httpMax}, k, secrets, nil
}

// PoolCount returns the number of open pools (retired ones still running
// queries included).
func (s *Service) PoolCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Forget closes the pools of a datasource, its device pools included
// (after an update or delete), once the queries running on them end.
func (s *Service) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		if p.dsID == id {
			s.retireLocked(p)
		}
	}
}

// ForgetDevice closes the pool of one device credential (forget, logout),
// once the queries running on it end.
func (s *Service) ForgetDevice(dsID, deviceID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pools[poolKey(dsID, &Device{ID: deviceID})]; ok {
		s.retireLocked(p)
	}
}

// Close stops the janitor and closes every pool.
func (s *Service) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	s.shut = true
	for _, p := range s.pools {
		p.retired = true // one being built is closed after its one use
	}
	s.pools = map[string]*pool{}
	live := s.live
	s.live = map[*pool]struct{}{}
	for p := range live {
		p.retired, p.closed = true, true
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for p := range live {
		wg.Go(func() { p.conn.Close() })
	}
	wg.Wait()
	s.closing.Wait()
}

// test opens a fresh connector of one connection with the datasource's
// settings (not a pooled one, so that it proves the current settings),
// pings, and closes it. That connection counts toward the datasource's
// budget: the test waits for a slot.
func (s *Service) test(ctx context.Context, ds *datasource.Datasource, dev *Device) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg, k, secrets, err := s.config(ctx, ds, dev)
	if err != nil {
		return err
	}
	if err := s.acquireSlots(ctx, ds.ID, 1); err != nil {
		return err
	}
	defer s.releaseSlots(ds.ID, 1) // after Close, below, has returned
	cfg.MaxConns = 1
	conn, err := s.open(k, cfg)
	if err != nil {
		return err
	}
	conn = shield(conn, secrets)
	defer conn.Close()
	return timeoutError(ctx, conn.Ping(ctx))
}

// Output is where a result goes.
//
// W, Flush and Start may be called from a goroutine other than the use
// case's caller (the encoder's flush timer), never two at once and never
// after the use case has returned. The last lines are written to W without
// a Flush: the caller ends its answer (an HTTP response's end flushes
// them), so that a small result leaves in one write.
type Output struct {
	Format Format
	W      io.Writer
	// Flush pushes written bytes to the client (http.Flusher).
	Flush func()
	// Start is called once, right before the first byte is written.
	Start func()
}

// ErrNotStarted wraps an error that happened before any byte of the result
// was written: the caller may still answer with an error status.
type notStarted struct{ err error }

func (e *notStarted) Error() string { return e.err.Error() }
func (e *notStarted) Unwrap() error { return e.err }

// Started reports whether err came after the result began streaming (the
// error line is then already written).
func Started(err error) bool {
	var ns *notStarted
	return !errors.As(err, &ns)
}

// run runs req on ds (the use cases have authorized it), streams the
// result to out and ends it. The use cases use execute instead, and end
// the stream only once the audit event is durable (see stream).
func (s *Service) run(ctx context.Context, ds *datasource.Datasource, req Request, out Output) (Summary, error) {
	sum, enc, err := s.execute(ctx, ds, req, out)
	if enc == nil {
		return sum, err
	}
	last := enc.last(sum, err)
	if endErr := enc.end(last, err != nil); err == nil {
		err = endErr
	}
	return sum, err
}

// execute runs req on ds (the use cases have authorized it) and streams
// the result to out, all but its last line: for a result that began
// streaming it returns the encoder, on which the caller writes the done
// (or error) line with end, and until which nothing more reaches the
// client. Closing the client's connection (cancelling ctx) cancels the
// statement at the datasource. An error before the first byte is
// notStarted, with no encoder.
func (s *Service) execute(ctx context.Context, ds *datasource.Datasource, req Request, out Output) (Summary, *encoder, error) {
	start := time.Now()
	if err := s.validate(ds.Kind, &req); err != nil {
		return Summary{}, nil, &notStarted{err}
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	conn, release, err := s.connector(ctx, ds, req.Device)
	if err != nil {
		return Summary{}, nil, &notStarted{timeoutError(ctx, err)}
	}
	defer release()
	enc := newEncoder(out.Format, out.W, out.Flush, out.Start, req.Limit)
	res, err := conn.Query(ctx, connect.Request{Query: req.Query, Params: req.Params,
		Command: req.Command, HTTP: req.HTTP, ReadOnly: ds.ReadOnly}, enc)
	enc.stop()
	sum := Summary{Rows: enc.rows, Truncated: enc.trunc, RowsAffected: res.RowsAffected, HasRows: res.HasRows, Elapsed: time.Since(start)}
	if err != nil {
		err = timeoutError(ctx, err)
		if !enc.started {
			return sum, nil, &notStarted{err}
		}
	} else if enc.err != nil {
		err = enc.err // a timed flush failed: the client is gone
	}
	sum.Bytes = enc.size(enc.last(sum, err))
	return sum, enc, err
}

// timeoutError makes sure a query stopped by its deadline or by the client
// reports so, whatever the connector said.
func timeoutError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if querygate.ErrorCode(err) != querygate.EINTERNAL {
		return err
	}
	if cerr := connect.ContextError(ctx); cerr != nil {
		return cerr
	}
	return err
}
