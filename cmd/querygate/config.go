package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/egress"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// Config is every setting of querygate, from flags and QUERYGATE_*
// environment variables (flags win), parsed into typed values and validated
// once, in ParseFlags: a bad value is an error there, naming the flag and its
// variable, before anything is opened or created.
type Config struct {
	// Listen is the host:port to serve on; ListenHost its host part.
	Listen        string
	ListenHost    string
	DataDir       string
	MasterKeyFile string
	// DatabaseURL, when set, puts the metadata store in PostgreSQL; it may
	// hold a password, so it is never logged nor put in an error.
	DatabaseURL string
	// MasterKey comes only from QUERYGATE_MASTER_KEY (never a flag, so it
	// does not show in the process list).
	MasterKey      string
	EncryptionSalt string
	// LogFormat is "text" or "json".
	LogFormat string
	TLSCert   string
	TLSKey    string
	// Certificate is the key pair of TLSCert and TLSKey, loaded at start.
	Certificate *tls.Certificate
	SessionTTL  time.Duration
	// SessionIdle is at most SessionTTL.
	SessionIdle time.Duration
	LocalLogin  bool
	// StoreSync is the embedded SQLite store's commit mode.
	StoreSync sqlite.Sync
	// AuditQueued acknowledges requests once their audit events are
	// queued, not committed (--audit-ack queued).
	AuditQueued bool

	// query limits and datasources
	RowLimitMax     int64
	QueryTimeoutMax time.Duration
	PoolMaxConns    int
	// SQLiteDirs are absolute.
	SQLiteDirs      []string
	HTTPResponseMax int64

	ShutdownGrace time.Duration
	MetricsListen string
	AllowedHosts  []string
	// PgwireListen serves the PostgreSQL wire protocol there ("": off).
	PgwireListen string

	// network policy and TLS
	EgressAllow   []egress.Rule
	EgressDeny    []egress.Rule
	EgressProfile string
	// EgressProfileRules are the allow rules EgressProfile adds.
	EgressProfileRules   []egress.Rule
	EgressSourceIP       netip.Addr // the zero Addr: chosen by the system
	AllowClients         []netip.Prefix
	TrustedProxies       []netip.Prefix
	TLSSelfSigned        bool
	InsecureHTTP         bool
	RequireDatasourceTLS bool

	// MCP endpoint (--mcp)
	MCP            bool
	MCPMaxRows     int64
	MCPMaxBytes    int
	MCPSQLWritable []string

	// audit
	AuditQueryText bool
	AuditSince     time.Time // audit export --since; zero: from the start
	AuditHeads     []string  // audit verify --head

	// device custody
	DeviceRememberMax time.Duration
	DevicePoolIdle    time.Duration

	// user add
	Username string
	Role     string

	// store copy
	CopyFrom string
	CopyTo   string
}

// settings holds the flags that are given as text and parsed by validate
// into their Config field.
type settings struct {
	storeSync      string
	auditAck       string
	egressSourceIP string
	since          string
}

var errHelp = errors.New("help requested")

// flagRef names a flag and its environment variable, for errors.
func flagRef(name string) string { return "--" + name + " (" + envName(name) + ")" }

// badFlag is the error of a bad value: it names the flag and its variable.
func badFlag(name, format string, args ...any) error {
	return fmt.Errorf("%s "+format, append([]any{flagRef(name)}, args...)...)
}

// registerFlags defines the flags of a command on fs, bound to c and s.
func registerFlags(fs *flag.FlagSet, cmd string, c *Config, s *settings) {
	if cmd != "store copy" {
		// store copy names both its stores and opens no key: it has only
		// --from and --to.
		c.commonFlags(fs)
	}
	switch cmd {
	case "serve":
		c.serveFlags(fs, s)
	case "user add":
		fs.StringVar(&c.Username, "username", "", "user name (required)")
		fs.StringVar(&c.Role, "role", "viewer", "role: admin, editor or viewer")
	case "audit export":
		fs.StringVar(&s.since, "since", "", "export events at or after this RFC 3339 time")
	case "audit verify":
		fs.Var((*stringList)(&c.AuditHeads), "head", "a head record file to check the trail against (repeatable, e.g. one per replica; default <data-dir>/"+audit.HeadFile+")")
	case "store copy":
		fs.StringVar(&c.CopyFrom, "from", "", "the store to copy: sqlite:PATH (the querygate.db file) or a postgres:// URL")
		fs.StringVar(&c.CopyTo, "to", "", "the empty store to copy into: a postgres:// URL or sqlite:PATH")
	}
}

// commonFlags are the settings every store-touching subcommand shares, so a
// subcommand can run beside a serving gateway on the same data directory.
func (c *Config) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "querygate-data", "directory of the embedded store and the master key file")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "master key ring file (default <data-dir>/master.key); QUERYGATE_MASTER_KEY holds a key directly instead")
	fs.StringVar(&c.EncryptionSalt, "encryption-salt", "", "per-instance salt for key derivation, at least 16 characters (default: random, kept in the store)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL of the metadata store (postgres://user:password@host/db); default: the embedded SQLite file in --data-dir. Prefer QUERYGATE_DATABASE_URL or its _FILE variant: a flag shows in the process list")
}

// secretFlags may be given as QUERYGATE_<FLAG>_FILE, a file holding the
// value; their values never appear in an error.
var secretFlags = map[string]bool{"encryption-salt": true, "database-url": true}

func (c *Config) serveFlags(fs *flag.FlagSet, s *settings) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file: serve HTTPS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 12*time.Hour, "absolute lifetime of a login session")
	fs.BoolVar(&c.LocalLogin, "local-login", false, "keep password sign-in on even when the single sign-on setting turns it off (the way back in when the identity provider fails)")
	fs.DurationVar(&c.SessionIdle, "session-idle", 2*time.Hour, "a login session unused for this long ends (at most --session-ttl)")
	fs.StringVar(&s.auditAck, "audit-ack", "recorded", "recorded: a request is answered (a result's done line, a wire client's ReadyForQuery) only once its audit event is committed; queued: once it is queued, so the events of the requests answered in the last moments before querygate dies (at most 512) may be lost")
	fs.StringVar(&s.storeSync, "store-sync", "full", "embedded store only: full waits for the disk at every commit; normal does not, so the changes and audit events of the last moments before a crash of the machine or a power loss (not of querygate) may be lost")
	fs.Int64Var(&c.RowLimitMax, "row-limit-max", 1_000_000, "the most rows any query may return (callers ask with limit; default limit 1000)")
	fs.DurationVar(&c.QueryTimeoutMax, "query-timeout-max", 5*time.Minute, "the longest any query may run (callers ask with timeout_ms; default 30s)")
	fs.IntVar(&c.PoolMaxConns, "pool-max-conns", 4, "connections the gateway holds to one datasource at most, its device-custody pools, tests and unlocks included")
	fs.Int64Var(&c.HTTPResponseMax, "http-response-max", 10<<20, "the largest response body an HTTP datasource may return, in bytes (larger ones fail with too_large)")
	fs.Var((*stringList)(&c.SQLiteDirs), "sqlite-dir", "directory SQLite datasources may open files from (repeatable; none: SQLite datasources are refused)")
	fs.DurationVar(&c.DeviceRememberMax, "device-remember-max", 60*24*time.Hour, "how long a device unlocked with \"remember\" stays unlocked (at most 1440h, 60 days)")
	fs.Var(&listValue[egress.Rule]{&c.EgressAllow, parseRule}, "egress-allow", "destination datasources may reach: CIDR, address, host name or *.domain, each with an optional :port or :port-range (repeatable); with any, only those")
	fs.Var(&listValue[egress.Rule]{&c.EgressDeny, parseRule}, "egress-deny", "destination datasources may never reach, same forms as --egress-allow (repeatable); deny wins over allow")
	fs.StringVar(&c.EgressProfile, "egress-profile", "open", "egress profile: open (all but the denials), private (only private networks and loopback, plus --egress-allow) or allowlist (only --egress-allow)")
	fs.StringVar(&s.egressSourceIP, "egress-source-ip", "", "local address every datasource connection is made from, so that datasource firewalls can allow-list the gateway")
	fs.Var(&listValue[netip.Prefix]{&c.AllowClients, parsePrefixFlag}, "allow-clients", "CIDR or address of clients that may reach the gateway (repeatable); others get 403 before any handler runs; default: everyone")
	fs.Var(&listValue[netip.Prefix]{&c.TrustedProxies, parsePrefixFlag}, "trusted-proxies", "CIDR or address of reverse proxies whose X-Forwarded-For / Forwarded headers name the client (repeatable); from anyone else those headers are ignored")
	fs.BoolVar(&c.TLSSelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made and kept in <data-dir>/tls/ (for local use)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback --listen address (behind a TLS-terminating proxy); logged as a warning")
	fs.BoolVar(&c.RequireDatasourceTLS, "require-datasource-tls", false, "refuse datasources that would connect without verified TLS (SQLite files excepted)")
	fs.Var((*hostList)(&c.AllowedHosts), "allowed-hosts", "host names the gateway answers for, against DNS rebinding (repeatable or comma-separated; localhost, 127.0.0.1, ::1 and the --listen host always); default: those only when --listen is a loopback address, else any")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "also serve /metrics, without authentication, on this address (such as 127.0.0.1:9090); /metrics on --listen needs an admin")
	fs.StringVar(&c.PgwireListen, "pgwire-listen", "", "also serve the PostgreSQL wire protocol on this address (such as 127.0.0.1:5433): user = querygate user, password = an API token, database = datasource name; TLS (the HTTPS certificate) is required except on a loopback address")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long running queries may finish before they are cancelled at their datasources")
	fs.BoolVar(&c.AuditQueryText, "audit-query-text", false, "record each query's text in its audit event (off: only metadata)")
	fs.BoolVar(&c.MCP, "mcp", false, "serve the Model Context Protocol for AI agents at /mcp (API tokens only)")
	fs.Int64Var(&c.MCPMaxRows, "mcp-max-rows", 200, "the most rows one MCP tool call answers (capped at --row-limit-max)")
	fs.IntVar(&c.MCPMaxBytes, "mcp-max-bytes", 128<<10, "the most bytes of JSON one MCP tool call answers; rows past it are left out, and the answer says so")
	fs.Var((*stringList)(&c.MCPSQLWritable), "mcp-sql-writable", "id of a datasource that is not read-only on which MCP's run_sql may still run statements, writes included (repeatable); without it run_sql runs only on read-only datasources")
	fs.DurationVar(&c.DevicePoolIdle, "device-pool-idle", time.Minute, "close the connection pool of a device-custody unlock after this long unused")
}

// envName maps a flag name to its environment variable.
func envName(flagName string) string {
	return "QUERYGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fs that has a QUERYGATE_* variable (or its
// _FILE variant, for secrets). Flags given on the command line override
// these afterwards.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		name := envName(f.Name)
		v := getenv(name)
		if v == "" && secretFlags[f.Name] {
			if path := getenv(name + "_FILE"); path != "" {
				b, rerr := os.ReadFile(path)
				if rerr != nil {
					err = fmt.Errorf("%s_FILE (the file of --%s): %w", name, f.Name, rerr)
					return
				}
				v = strings.TrimRight(string(b), "\r\n")
			}
		}
		if v == "" {
			return
		}
		values := []string{v}
		value := f.Value
		if c, ok := value.(*checkedValue); ok {
			value = c.Value
		}
		if _, ok := value.(*stringList); ok {
			values = filepath.SplitList(v) // QUERYGATE_SQLITE_DIR=/a:/b
		}
		for _, v := range values {
			if err = fs.Set(f.Name, v); err != nil {
				return
			}
		}
	})
	return err
}

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("querygate "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseFlags defines the flags of cmd, sets them from the environment and
// then args, and validates them into c. The flag set's usage is printed
// from a plain copy, so that -h reads as the flag package writes it.
func parseFlags(cmd string, args []string, getenv func(string) string, out io.Writer, c *Config) error {
	var s settings
	fs := newFlagSet(cmd, out)
	registerFlags(fs, cmd, c, &s)
	// Every value goes through checkedValue, so that a bad one, from a flag
	// or a variable, is an error naming both.
	var bad error
	fs.VisitAll(func(f *flag.Flag) { f.Value = &checkedValue{Value: f.Value, name: f.Name, bad: &bad} })
	fs.Usage = func() {
		plain := newFlagSet(cmd, out)
		registerFlags(plain, cmd, &Config{}, &settings{})
		fmt.Fprintf(out, "Usage of %s:\n", plain.Name())
		plain.PrintDefaults()
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		if bad != nil {
			return bad
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.MasterKey = getenv("QUERYGATE_MASTER_KEY")
	return c.validate(cmd, &s)
}

// checkedValue wraps a flag's value so that a value it refuses is reported
// naming the flag and its variable, never echoing a secret.
type checkedValue struct {
	flag.Value
	name string
	bad  *error // the first refusal
}

func (v *checkedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err == nil {
		return nil
	}
	reason := err.Error()
	if g, ok := v.Value.(flag.Getter); ok {
		// The flag package's own values say only "parse error".
		switch g.Get().(type) {
		case time.Duration:
			reason = "must be a duration such as 90s, 30m or 12h"
		case bool:
			reason = "must be true or false"
		case int, int64:
			reason = "must be a whole number"
		}
	}
	if secretFlags[v.name] {
		err = badFlag(v.name, "%s", reason)
	} else {
		err = badFlag(v.name, "%q: %s", s, reason)
	}
	if *v.bad == nil {
		*v.bad = err
	}
	return err
}

// IsBoolFlag keeps a bool flag usable without a value.
func (v *checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// validate checks the settings once, turns those given as text into typed
// values and fills derived defaults.
func (c *Config) validate(cmd string, s *settings) error {
	if cmd == "store copy" {
		return c.validateCopy()
	}
	if c.DataDir == "" {
		return badFlag("data-dir", "must not be empty")
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return badFlag("log-format", "must be text or json")
	}
	if c.EncryptionSalt != "" && len(c.EncryptionSalt) < 16 {
		return badFlag("encryption-salt", "must be at least 16 characters")
	}
	if c.DatabaseURL != "" && !storeURL(c.DatabaseURL) {
		return badFlag("database-url", "must be a postgres:// URL")
	}
	switch cmd {
	case "serve":
		return c.validateServe(s)
	case "user add":
		if c.Username == "" {
			return badFlag("username", "is required")
		}
		if !accounts.ValidRole(c.Role) {
			return badFlag("role", "must be admin, editor or viewer")
		}
	case "audit export":
		if s.since != "" {
			t, err := time.Parse(time.RFC3339, s.since)
			if err != nil {
				return badFlag("since", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			c.AuditSince = t
		}
	}
	return nil
}

// validateCopy checks the settings of store copy.
func (c *Config) validateCopy() error {
	if c.CopyFrom == "" || c.CopyTo == "" {
		return errors.New("store copy needs --from and --to (sqlite:PATH or a postgres:// URL)")
	}
	if c.CopyFrom == c.CopyTo {
		return errors.New("store copy: --from and --to name the same store")
	}
	if !storeURL(c.CopyFrom) {
		return fmt.Errorf("store copy: %s must be sqlite:PATH or a postgres:// URL", flagRef("from"))
	}
	if !storeURL(c.CopyTo) {
		return fmt.Errorf("store copy: %s must be sqlite:PATH or a postgres:// URL", flagRef("to"))
	}
	return nil
}

// validateServe checks the settings of serve.
func (c *Config) validateServe(s *settings) error {
	switch s.storeSync {
	case string(sqlite.SyncFull), string(sqlite.SyncNormal):
		c.StoreSync = sqlite.Sync(s.storeSync)
	default:
		return badFlag("store-sync", "must be full or normal")
	}
	switch s.auditAck {
	case "recorded", "queued":
		c.AuditQueued = s.auditAck == "queued"
	default:
		return badFlag("audit-ack", "must be recorded or queued")
	}
	if c.StoreSync == sqlite.SyncNormal && c.DatabaseURL != "" {
		return errors.New("--store-sync normal is for the embedded store only; a PostgreSQL store keeps its own synchronous_commit")
	}
	host, err := parseListen(c.Listen)
	if err != nil {
		return badFlag("listen", "%q: %v", c.Listen, err)
	}
	c.ListenHost = host
	if c.MetricsListen != "" {
		if _, err := parseListen(c.MetricsListen); err != nil {
			return badFlag("metrics-listen", "%q: %v", c.MetricsListen, err)
		}
	}
	if c.PgwireListen != "" {
		host, err := parseListen(c.PgwireListen)
		if err != nil {
			return badFlag("pgwire-listen", "%q: %v", c.PgwireListen, err)
		}
		if !loopbackHost(host) && c.TLSCert == "" && !c.TLSSelfSigned {
			return errors.New("the PostgreSQL wire protocol is served without TLS only on a loopback --pgwire-listen address: give --tls-cert/--tls-key or --tls-self-signed")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return errors.New("--tls-self-signed and --tls-cert exclude each other")
	}
	if c.TLSCert != "" {
		// Loaded once, here: a file that is missing or not a key pair stops
		// the start instead of a server that never answers.
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("%s and %s: not a PEM certificate and its private key: %v", flagRef("tls-cert"), flagRef("tls-key"), err)
		}
		c.Certificate = &pair
	}
	rules, err := egress.ProfileRules(c.EgressProfile)
	if err != nil || c.EgressProfile == "" {
		return badFlag("egress-profile", "must be open, private or allowlist")
	}
	c.EgressProfileRules = rules
	if s.egressSourceIP != "" {
		a, err := netip.ParseAddr(s.egressSourceIP)
		if err != nil {
			return badFlag("egress-source-ip", "%q: not an IP address", s.egressSourceIP)
		}
		c.EgressSourceIP = a
	}
	if !c.InsecureHTTP && c.TLSCert == "" && !c.TLSSelfSigned && !loopbackHost(c.ListenHost) {
		return errors.New("plain HTTP is served only on a loopback --listen address: give --tls-cert/--tls-key or --tls-self-signed, or --insecure-http behind a TLS-terminating proxy")
	}
	if c.RowLimitMax < 1 {
		return badFlag("row-limit-max", "must be at least 1")
	}
	if c.QueryTimeoutMax < time.Second {
		return badFlag("query-timeout-max", "must be at least 1s")
	}
	if c.HTTPResponseMax < 1<<10 || c.HTTPResponseMax > 1<<30 {
		return badFlag("http-response-max", "must be between 1024 and 1073741824 bytes (1 GiB)")
	}
	if c.PoolMaxConns < 1 || c.PoolMaxConns > 1000 {
		return badFlag("pool-max-conns", "must be between 1 and 1000")
	}
	for i, d := range c.SQLiteDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return badFlag("sqlite-dir", "%q: %v", d, err)
		}
		c.SQLiteDirs[i] = abs
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
		return badFlag("session-ttl", "must be between 1m and 720h")
	}
	if c.SessionIdle < time.Minute {
		return badFlag("session-idle", "must be at least 1m")
	}
	c.SessionIdle = min(c.SessionIdle, c.SessionTTL)
	if c.DeviceRememberMax < time.Minute || c.DeviceRememberMax > 60*24*time.Hour {
		return badFlag("device-remember-max", "must be between 1m and 1440h (60 days)")
	}
	if c.ShutdownGrace < 0 || c.ShutdownGrace > time.Hour {
		return badFlag("shutdown-grace", "must be between 0s and 1h")
	}
	if c.MCPMaxRows < 1 {
		return badFlag("mcp-max-rows", "must be at least 1")
	}
	// An answer never asks for more rows than any query may.
	c.MCPMaxRows = min(c.MCPMaxRows, c.RowLimitMax)
	if c.MCPMaxBytes < 4<<10 || c.MCPMaxBytes > 64<<20 {
		return badFlag("mcp-max-bytes", "must be between 4096 and 67108864 bytes (64 MiB)")
	}
	if c.DevicePoolIdle < time.Second || c.DevicePoolIdle > time.Hour {
		return badFlag("device-pool-idle", "must be between 1s and 1h")
	}
	return nil
}

// storeURL reports whether s names a store: a postgres:// (or
// postgresql://) URL, or sqlite:PATH.
func storeURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.HasPrefix(s, "sqlite:")
}

// parseListen checks a host:port listening address (the host may be empty,
// a name or an address; the port a number or a service name) and returns
// its host.
func parseListen(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errors.New("not a host:port address")
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return "", errors.New("not a port number or service name")
	}
	return host, nil
}

// listValue is a repeatable flag whose every value is parsed into a T.
type listValue[T fmt.Stringer] struct {
	list  *[]T
	parse func(string) (T, error)
}

func (l *listValue[T]) String() string {
	if l == nil || l.list == nil {
		return ""
	}
	s := make([]string, len(*l.list))
	for i, v := range *l.list {
		s[i] = v.String()
	}
	return strings.Join(s, ",")
}

func (l *listValue[T]) Set(v string) error {
	x, err := l.parse(v)
	if err != nil {
		return err
	}
	*l.list = append(*l.list, x)
	return nil
}

// parseRule reads an egress rule, for --egress-allow and --egress-deny.
func parseRule(s string) (egress.Rule, error) {
	r, err := egress.ParseRule(s)
	if err != nil {
		return egress.Rule{}, errors.New(strings.TrimPrefix(err.Error(), "egress: rule: "))
	}
	return r, nil
}

// parsePrefixFlag reads an address or CIDR prefix, for --allow-clients and
// --trusted-proxies.
func parsePrefixFlag(s string) (netip.Prefix, error) {
	p, err := parsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or CIDR prefix")
	}
	return p, nil
}

// hostList is a repeatable flag of host names, each value comma-separated
// (QUERYGATE_ALLOWED_HOSTS=a.example,b.example). Names go without scheme,
// path or port; IPv6 addresses may be bracketed.
type hostList []string

func (l *hostList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *hostList) Set(v string) error {
	var hosts []string
	for h := range strings.SplitSeq(v, ",") {
		h = strings.TrimSpace(h)
		if _, _, err := net.SplitHostPort(h); err == nil {
			return fmt.Errorf("%q: give host names without a port", h)
		}
		if h == "" || strings.ContainsAny(h, "/ @") {
			return fmt.Errorf("%q: not a host name", h)
		}
		hosts = append(hosts, h)
	}
	*l = append(*l, hosts...)
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *stringList) Set(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	*l = append(*l, v)
	return nil
}

// parsePrefix reads an address or CIDR prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// loopbackHost reports whether the host of a --listen address is on
// loopback only.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
