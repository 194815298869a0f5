package mysql

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/querygate/querygate/internal/connect"
)

// Pool and connection defaults.
const (
	defaultMaxConns = 4
	defaultMaxIdle  = 5 * time.Minute
	// connectTimeout bounds one dial (the driver's Config.Timeout); the
	// caller's context bounds the whole handshake.
	connectTimeout = 20 * time.Second
	// maxLifetime retires connections now and then, so that server-side
	// session state and memory do not live forever.
	maxLifetime = time.Hour
)

// Settings are a MySQL datasource's settings and secrets, checked
// (DecodeSettings). They print and log as REDACTED.
type Settings struct {
	connect.Redacted
	host     string
	port     string
	database string
	user     string
	password string
	tls      *tls.Config // nil: tls=disable
	// allowPrivileged is the allow_privileged_role setting.
	allowPrivileged bool
}

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
			return v, nil
		}
		return "", connect.Errorf(connect.ECONFIG, "The setting %s must be text.", name)
	}
	s := &Settings{port: "3306"}
	s.allowPrivileged, _ = settings[connect.AllowPrivilegedRole].(bool)
	var err error
	if s.host, err = str("host"); err != nil {
		return nil, err
	}
	// Only TCP is ever dialled (through the egress dialer); a path or a
	// list of hosts is not a host.
	if s.host == "" || strings.HasPrefix(s.host, "/") || strings.ContainsAny(s.host, "()/@,? \t\r\n") {
		return nil, connect.Errorf(connect.ECONFIG, "The setting host must be a host name or an IP address.")
	}
	switch p := settings["port"].(type) {
	case nil:
	case int64:
		if p < 1 || p > 65535 {
			return nil, connect.Errorf(connect.ECONFIG, "The setting port must be between 1 and 65535.")
		}
		s.port = strconv.FormatInt(p, 10)
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
	mode, err := str("tls")
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

// tlsConfig builds the TLS configuration (see connect.TLSConfig).
func tlsConfig(host, mode, caPEM, certPEM, keyPEM string) (*tls.Config, error) {
	return connect.TLSConfig("tls", mode, tlsModes, host, caPEM, certPEM, keyPEM)
}

var tlsModes = []string{"disable", "require", "verify-ca", "verify-full"}

// driverConfig builds the driver's configuration from checked settings,
// field by field: no DSN string is ever formatted or parsed, so no user
// text can add a parameter.
func driverConfig(s *Settings, dial connect.DialFunc) *mysql.Config {
	mc := mysql.NewConfig()
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(s.host, s.port)
	mc.User = s.user
	mc.Passwd = s.password
	mc.DBName = s.database
	mc.TLS = s.tls
	mc.TLSConfig = ""
	mc.AllowFallbackToPlaintext = false
	// Every connection, including the ones that send KILL QUERY, goes
	// through the egress dialer.
	mc.DialFunc = (&dialer{dial: dial}).DialContext
	mc.Timeout = connectTimeout
	// No read or write timeout: a statement may run as long as its
	// context allows, and the context cuts the connection when it ends.
	mc.ReadTimeout, mc.WriteTimeout = 0, 0
	// LOAD DATA LOCAL INFILE would let the server (or a statement) read
	// files of the gateway's host: no file is allowed and this package
	// registers no reader.
	mc.AllowAllFiles = false
	// Never send the password in clear or with the broken old hash.
	mc.AllowCleartextPasswords = false
	mc.AllowOldPasswords = false
	mc.AllowNativePasswords = true
	// One statement per request; parameters are bound by the server, never
	// pasted into the statement text.
	mc.MultiStatements = false
	mc.InterpolateParams = false
	// Dates and times arrive as text and are converted by column type
	// (decode.go), so zero dates survive as text.
	mc.ParseTime = false
	mc.Loc = time.UTC
	mc.CheckConnLiveness = true
	mc.ClientFoundRows = false
	mc.ColumnsWithAlias = false
	mc.RejectReadOnly = false
	mc.ServerPubKey = ""
	// TIMESTAMP values are sent in the session time zone: make it UTC, so
	// that they can be handed on as UTC instants. The value is a constant.
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	mc.ConnectionAttributes = "program_name:querygate"
	// The driver would print some failures to stderr; they are returned
	// as errors anyway, and logging is the gateway's business.
	mc.Logger = &mysql.NopLogger{}
	return mc
}

// dialer dials through the egress dialer and marks its failures, so that
// they can be told apart from the server's.
type dialer struct {
	dial connect.DialFunc
}

// dialError marks a failure of the egress dialer.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return conn, nil
}
