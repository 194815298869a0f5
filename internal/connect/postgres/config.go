package postgres

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/querygate/querygate/internal/connect"
)

// Pool and connection defaults.
const (
	defaultMaxConns = 4
	defaultMaxIdle  = 5 * time.Minute
	// connectTimeout bounds one connection attempt (dial, TLS, startup),
	// also when it runs in the pool's background after the caller gave up.
	connectTimeout = 20 * time.Second
	// cancelDeadlineDelay is how long a cancelled statement may take to
	// stop after the cancel request was sent before the connection is cut
	// (and the pool replaces it).
	cancelDeadlineDelay = 3 * time.Second
	applicationName     = "querygate"
)

// Settings are a PostgreSQL datasource's settings and secrets, checked
// (DecodeSettings). They print and log as REDACTED.
type Settings struct {
	connect.Redacted
	host     string
	port     uint16
	database string
	user     string
	password string
	tls      *tls.Config // nil: sslmode=disable
	// allowPrivileged is the allow_privileged_role setting.
	allowPrivileged bool
	// readOnly sessions start with default_transaction_read_only on (set
	// by New from connect.Config.ReadOnly).
	readOnly bool
	// checkRole refuses connections whose role can escape read-only
	// (a read-only datasource without allow_privileged_role; set by New).
	checkRole bool
}

// baseConnString is the only connection string this package ever parses.
// pgxpool.NewWithConfig accepts only configs made by ParseConfig, and
// ParseConfig also reads the PG* environment variables, ~/.pgpass, the
// service file and the ~/.postgresql certificates. This constant holds no
// user text; it names every key the environment or those files could set
// that would otherwise make ParseConfig read a file (passfile, sslrootcert,
// sslcert, sslkey) or fail, and parseConfig then overwrites every field of
// the result anyway. (PGSERVICE cannot be neutralised this way: pgconn
// always reads the service it names, so an invalid one fails New.)
const baseConnString = "host=127.0.0.1 port=5432 dbname=querygate user=querygate password=unused " +
	"passfile='' sslmode=disable sslrootcert='' sslcert='' sslkey='' sslpassword='' sslcertmode=allow " +
	"sslnegotiation=postgres sslsni=1 target_session_attrs=any channel_binding=prefer require_auth='' " +
	"connect_timeout=0 min_protocol_version=3.0 max_protocol_version=3.0"

// DecodeSettings reads and checks a datasource's settings and secrets.
// Its messages name settings, never their values.
func DecodeSettings(settings map[string]any, secrets connect.Secrets) (*Settings, error) {
	if secrets == nil {
		secrets = connect.NoSecrets{}
	}
	str := func(name string) (string, error) {
		switch v := settings[name].(type) {
		case nil:
			return "", nil
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				// The protocol ends strings with NUL.
				return "", connect.Errorf(connect.ECONFIG, "The setting %s must not contain a NUL character.", name)
			}
			return v, nil
		}
		return "", connect.Errorf(connect.ECONFIG, "The setting %s must be text.", name)
	}
	s := &Settings{port: 5432}
	s.allowPrivileged, _ = settings[connect.AllowPrivilegedRole].(bool)
	var err error
	if s.host, err = str("host"); err != nil {
		return nil, err
	}
	// An absolute path would make pgconn use a Unix socket, which the
	// egress dialer cannot check; host names never start with these.
	if s.host == "" || strings.HasPrefix(s.host, "/") || strings.HasPrefix(s.host, "@") || strings.ContainsAny(s.host, ", \t\r\n") {
		return nil, connect.Errorf(connect.ECONFIG, "The setting host must be a host name or an IP address.")
	}
	switch p := settings["port"].(type) {
	case nil:
	case int64:
		if p < 1 || p > 65535 {
			return nil, connect.Errorf(connect.ECONFIG, "The setting port must be between 1 and 65535.")
		}
		s.port = uint16(p)
	default:
		return nil, connect.Errorf(connect.ECONFIG, "The setting port must be a whole number.")
	}
	if s.database, err = str("database"); err != nil {
		return nil, err
	}
	if s.database == "" {
		return nil, connect.Errorf(connect.ECONFIG, "The setting database is required.")
	}
	if s.user, err = str("user"); err != nil {
		return nil, err
	}
	if s.user == "" {
		return nil, connect.Errorf(connect.ECONFIG, "The setting user is required.")
	}
	mode, err := str("sslmode")
	if err != nil {
		return nil, err
	}
	if mode == "" {
		mode = "verify-full"
	}
	caPEM, err := str("ca_cert")
	if err != nil {
		return nil, err
	}
	certPEM, err := str("client_cert")
	if err != nil {
		return nil, err
	}
	if pw, ok := secrets.Get("password"); ok {
		s.password = pw.Reveal()
		if strings.IndexByte(s.password, 0) >= 0 {
			return nil, connect.Errorf(connect.ECONFIG, "The password must not contain a NUL character.")
		}
	}
	var keyPEM string
	if k, ok := secrets.Get("client_key"); ok {
		keyPEM = k.Reveal()
	}
	if s.tls, err = tlsConfig(s.host, mode, caPEM, certPEM, keyPEM); err != nil {
		return nil, err
	}
	return s, nil
}

// cleartextAllowed reports whether the password may be sent in clear when
// the server asks for it (the password authentication method): only over
// TLS that verified the server's certificate and name (verify-full).
// Otherwise whoever sits between the gateway and the server could ask for
// it; md5 and SCRAM never reveal it.
func cleartextAllowed(t *tls.Config) bool { return t != nil && !t.InsecureSkipVerify }

// tlsConfig builds the TLS configuration (see connect.TLSConfig).
func tlsConfig(host, mode, caPEM, certPEM, keyPEM string) (*tls.Config, error) {
	return connect.TLSConfig("sslmode", mode, tlsModes, host, caPEM, certPEM, keyPEM)
}

var tlsModes = []string{"disable", "require", "verify-ca", "verify-full"}

// poolConfig builds the pool configuration from checked settings. Every
// field that ParseConfig may have taken from the environment is set here.
func poolConfig(s *Settings, dial connect.DialFunc, maxConns int, maxIdle time.Duration) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(baseConnString)
	if err != nil {
		// Only the environment (PGSERVICE) can make the constant fail.
		return nil, connect.Errorf(connect.ECONFIG, "The PostgreSQL driver cannot be set up: check the PG* environment variables of the gateway (PGSERVICE is not supported).")
	}
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	if maxIdle <= 0 {
		maxIdle = defaultMaxIdle
	}
	pc.MaxConns = int32(min(maxConns, 1<<20))
	pc.MinConns = 0 // lazy: New never connects
	pc.MinIdleConns = 0
	pc.MaxConnIdleTime = maxIdle
	pc.MaxConnLifetime = time.Hour
	pc.MaxConnLifetimeJitter = 5 * time.Minute
	pc.HealthCheckPeriod = time.Minute
	pc.PingTimeout = 10 * time.Second
	// BeforeAcquire (deprecated) is left as ParseConfig leaves it: nil.
	pc.BeforeConnect, pc.AfterConnect, pc.PrepareConn = nil, nil, nil
	// ShouldPing nil: pgxpool pings a connection idle for a second or more
	// before handing it out, and drops a connection that broke in use
	// (closed, or released inside a transaction), so a killed backend
	// costs at most the one query that was using it.
	pc.AfterRelease, pc.BeforeClose, pc.ShouldPing = nil, nil, nil
	// Every request starts from a clean session (P13): a released
	// connection is reset in the pool's background before anyone else
	// gets it (see resetSession).
	pc.AfterRelease = resetSession
	pc.BeforeClose = forgetConnection
	// Every new connection is checked before its first statement: a
	// read-only datasource's role (see checkPrivileges), and whether the
	// database keeps connections of its own that no reset closes.
	pc.AfterConnect = afterConnect(s.checkRole)

	cc := pc.ConnConfig
	cc.Tracer = nil
	// No per-connection statement cache. User statements are arbitrary
	// text, rarely repeated verbatim: the statement cache would keep a
	// named prepared statement on the server for each (backend memory,
	// up to its capacity per connection), and the description cache
	// assumes result types never change (after an ALTER TABLE a binary
	// value could be read as another type). Query therefore parses and
	// describes each statement as the unnamed statement and then executes
	// it (what DescribeExec does), so the result types are known and the
	// fixed-size ones come in binary, at the cost of one round trip. The
	// mode and zero capacities below make pgx's own statements (BEGIN,
	// ping) follow the same rule.
	cc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cc.StatementCacheCapacity = 0
	cc.DescriptionCacheCapacity = 0

	c := &cc.Config
	c.Host = s.host
	c.Port = s.port
	c.Database = s.database
	c.User = s.user
	c.Password = s.password
	// TLS is done by the dialer (see dialer), so pgconn sees a connection
	// that is already encrypted, or plaintext for sslmode=disable.
	c.TLSConfig = nil
	c.Fallbacks = nil
	c.SSLNegotiation = "postgres"
	c.SSLCertMode = "allow"
	c.ChannelBinding = "prefer"
	c.RequireAuth = ""
	if !cleartextAllowed(s.tls) {
		c.RequireAuth = "!password"
	}
	c.KerberosSrvName, c.KerberosSpn = "", ""
	c.OAuthTokenProvider = nil
	c.MinProtocolVersion, c.MaxProtocolVersion = "3.0", "3.0"
	c.ConnectTimeout = connectTimeout
	// Text must come as UTF-8 whatever the database's encoding (the
	// server converts); nothing else of the session comes from here.
	c.RuntimeParams = map[string]string{"application_name": applicationName, "client_encoding": "UTF8"}
	if s.readOnly {
		// Defence in depth: besides the read-only transaction each
		// statement runs in, every transaction of a read-only
		// datasource's session starts read-only, also one that a
		// statement opens after ending ours (COMMIT; ...). DISCARD ALL
		// resets it to this startup value.
		c.RuntimeParams["default_transaction_read_only"] = "on"
	}
	c.ValidateConnect = nil
	c.AfterConnect = nil
	c.AfterNetConnect = nil
	c.OnNotice = nil
	c.OnNotification = nil
	d := &dialer{dial: dial, tls: s.tls}
	c.DialFunc = d.DialContext
	// pgconn would otherwise resolve the host itself and dial the address,
	// so the egress dialer would check an address it did not resolve.
	// Handing the name on unchanged lets the dialer resolve and check it.
	c.LookupFunc = func(_ context.Context, host string) ([]string, error) {
		return []string{host}, nil
	}
	// A cancelled or expired context sends a cancel request to the server
	// (dialled through DialFunc, so through the egress dialer and TLS), so
	// the statement stops there too; if the server has not answered within
	// cancelDeadlineDelay the connection is cut.
	c.BuildContextWatcherHandler = func(pgConn *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{
			Conn:               pgConn,
			CancelRequestDelay: 0,
			DeadlineDelay:      cancelDeadlineDelay,
		}
	}
	return pc, nil
}

// dialer dials through the egress dialer and, unless sslmode=disable,
// negotiates TLS itself before pgconn sees the connection. Doing TLS here
// rather than in pgconn makes every failure of that step a typed error
// (tlsError), including a server that refuses TLS, and there is no code
// path that continues in plaintext. Cancel requests dial through here too,
// so they are encrypted and verified like the connection they cancel.
type dialer struct {
	dial connect.DialFunc
	tls  *tls.Config
}

// dialError marks a failure of the egress dialer.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// tlsError marks a failure of the TLS negotiation or handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "tls: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// errTLSRefused is the server answering an SSLRequest with anything but 'S'.
var errTLSRefused = errors.New("the server does not accept TLS connections")

// sslRequest is the SSLRequest message: length 8, code 80877103.
var sslRequest = [8]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if d.tls == nil {
		return conn, nil
	}
	tc, err := startTLS(ctx, conn, d.tls)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// startTLS asks the server for TLS and does the handshake, within ctx.
func startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	tc, err := negotiateTLS(ctx, conn, cfg)
	if !stop() {
		// ctx ended meanwhile and the deadline may have been cut.
		return nil, ctx.Err()
	}
	return tc, err
}

func negotiateTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	if _, err := conn.Write(sslRequest[:]); err != nil {
		return nil, &tlsError{err}
	}
	// Read exactly one byte: anything the server sends after 'S' must be
	// part of the TLS handshake, never plaintext taken as a reply.
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return nil, &tlsError{err}
	}
	if b[0] != 'S' {
		return nil, &tlsError{errTLSRefused}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &tlsError{err}
	}
	return tc, nil
}
