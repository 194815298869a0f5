package redis

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/querygate/querygate/internal/connect"
)

// Pool and connection defaults.
const (
	defaultMaxConns = 4
	defaultMaxIdle  = 5 * time.Minute
	// dialTimeout bounds one dial with its TLS handshake. go-redis dials
	// apart from the query's context, so this is what ends a dial whose
	// query has given up.
	dialTimeout = 10 * time.Second
	// clientName is set on every connection (HELLO ... SETNAME), so that
	// CLIENT LIST on the server shows whose connections these are.
	clientName = "querygate"
)

// Settings are a Redis datasource's settings and secrets, checked
// (DecodeSettings). They print and log as REDACTED.
type Settings struct {
	connect.Redacted
	addr       string // host:port
	db         int
	username   string
	password   string
	tls        *tls.Config // nil: tls=disable
	allowAdmin bool
	// schemaScan lets a schema read summarise the keys (schema.go).
	schemaScan bool
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
	num := func(name string, def, lo, hi int64) (int64, error) {
		switch v := settings[name].(type) {
		case nil:
			return def, nil
		case int64:
			if v < lo || v > hi {
				return 0, connect.Errorf(connect.ECONFIG, "The setting %s must be between %d and %d.", name, lo, hi)
			}
			return v, nil
		}
		return 0, connect.Errorf(connect.ECONFIG, "The setting %s must be a whole number.", name)
	}
	s := &Settings{}
	host, err := str("host")
	if err != nil {
		return nil, err
	}
	// Only TCP is ever dialled (through the egress dialer): a socket path
	// or a list of hosts is not a host.
	if host == "" || strings.HasPrefix(host, "/") || strings.ContainsAny(host, "()/@,? \t\r\n") {
		return nil, connect.Errorf(connect.ECONFIG, "The setting host must be a host name or an IP address.")
	}
	port, err := num("port", 6379, 1, 65535)
	if err != nil {
		return nil, err
	}
	s.addr = net.JoinHostPort(host, strconv.FormatInt(port, 10))
	db, err := num("db", 0, 0, 15)
	if err != nil {
		return nil, err
	}
	s.db = int(db)
	if s.username, err = str("username"); err != nil {
		return nil, err
	}
	switch v := settings["allow_admin"].(type) {
	case nil:
	case bool:
		s.allowAdmin = v
	default:
		return nil, connect.Errorf(connect.ECONFIG, "The setting allow_admin must be true or false.")
	}
	switch v := settings["schema_scan"].(type) {
	case nil:
	case bool:
		s.schemaScan = v
	default:
		return nil, connect.Errorf(connect.ECONFIG, "The setting schema_scan must be true or false.")
	}
	mode, err := str("tls")
	if err != nil {
		return nil, err
	}
	if mode == "" {
		mode = "disable"
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
	if s.tls, err = tlsConfig(host, mode, caPEM, certPEM, keyPEM); err != nil {
		return nil, err
	}
	return s, nil
}

// tlsConfig refuses TLS files with tls=disable (they would be ignored
// silently), then builds the configuration with connect.TLSConfig.
func tlsConfig(host, mode, caPEM, certPEM, keyPEM string) (*tls.Config, error) {
	if mode == "disable" && (caPEM != "" || certPEM != "" || keyPEM != "") {
		return nil, connect.Errorf(connect.ECONFIG, "The settings ca_cert and client_cert and the secret client_key need the setting tls to be require or verify-full.")
	}
	return connect.TLSConfig("tls", mode, tlsModes, host, caPEM, certPEM, keyPEM)
}

var tlsModes = []string{"disable", "require", "verify-full"}

// clientOptions builds go-redis's options for one slot's client, field by
// field: no URL is ever formatted or parsed, so no user text can add an
// option. dial is the slot's dialer (egress, then TLS).
func clientOptions(s *Settings, maxIdle time.Duration, dial dialFunc) *redis.Options {
	return &redis.Options{
		Network: "tcp",
		Addr:    s.addr,
		// Every connection goes through the egress dialer; go-redis does
		// not add TLS to a custom dialer's connections, so the dialer does
		// (see slot.dial).
		Dialer:   dial,
		Username: s.username,
		Password: s.password,
		DB:       s.db,
		// RESP3, for maps, doubles and booleans; go-redis falls back to
		// RESP2 (AUTH) on servers older than Redis 6.
		Protocol:        3,
		ClientName:      clientName,
		DisableIdentity: true,
		// One connection per client: the slot is the pool's unit, so that
		// a query knows which connection to cut when its context ends.
		PoolSize:           1,
		MaxActiveConns:     1,
		MaxConcurrentDials: 1,
		PipelinePoolSize:   -1,
		ConnMaxIdleTime:    maxIdle,
		// No retries: a command that may have reached the server is never
		// sent twice (INCR, LPUSH, ... are not idempotent). One dial
		// attempt per connection.
		MaxRetries:    -1,
		DialerRetries: 1,
		DialTimeout:   dialTimeout,
		// No socket timeouts of go-redis's own: the query's deadline is the
		// read and write deadline (ContextTimeoutEnabled), so BLPOP and
		// long commands may run as long as the query may.
		ReadTimeout:           -1,
		WriteTimeout:          -1,
		ContextTimeoutEnabled: true,
		PoolTimeout:           time.Minute,
		// No maintenance notifications or client-side caching: both add
		// commands and state to the connections.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}
