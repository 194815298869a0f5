package main

import (
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

	"github.com/querygate/querygate/internal/egress"
)

// Config is every setting of querygate, from flags and QUERYGATE_*
// environment variables (flags win). Validated once in ParseFlags.
type Config struct {
	Listen        string
	DataDir       string
	MasterKeyFile string
	// DatabaseURL, when set, puts the metadata store in PostgreSQL; it may
	// hold a password, so it is never logged.
	DatabaseURL string
	// MasterKey comes only from QUERYGATE_MASTER_KEY (never a flag, so it
	// does not show in the process list).
	MasterKey      string
	EncryptionSalt string
	LogFormat      string
	TLSCert        string
	TLSKey         string
	SessionTTL     time.Duration
	SessionIdle    time.Duration
	LocalLogin     bool
	// StoreSync is "full" or "normal" (the embedded SQLite store only).
	StoreSync string

	// query limits and datasources
	RowLimitMax     int64
	QueryTimeoutMax time.Duration
	PoolMaxConns    int
	SQLiteDirs      stringList
	HTTPResponseMax int64

	ShutdownGrace time.Duration
	MetricsListen string
	AllowedHosts  hostList

	// network policy and TLS
	EgressAllow          stringList
	EgressDeny           stringList
	EgressProfile        string
	EgressSourceIP       string
	AllowClients         stringList
	TrustedProxies       stringList
	TLSSelfSigned        bool
	InsecureHTTP         bool
	RequireDatasourceTLS bool

	// audit
	AuditQueryText bool
	AuditSince     string
	AuditHeads     stringList // audit verify --head

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

var errHelp = errors.New("help requested")

// commonFlags are the settings every store-touching subcommand shares, so a
// subcommand can run beside a serving gateway on the same data directory.
func (c *Config) commonFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "querygate-data", "directory of the embedded store and the master key file")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "master key ring file (default <data-dir>/master.key); QUERYGATE_MASTER_KEY holds a key directly instead")
	fs.StringVar(&c.EncryptionSalt, "encryption-salt", "", "per-instance salt for key derivation, at least 16 characters (default: random, kept in the store)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL of the metadata store (postgres://user:password@host/db); default: the embedded SQLite file in --data-dir. Prefer QUERYGATE_DATABASE_URL or its _FILE variant: a flag shows in the process list")
}

// secretFlags may be given as QUERYGATE_<FLAG>_FILE, a file holding the value.
var secretFlags = map[string]bool{"encryption-salt": true, "database-url": true}

func (c *Config) serveFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file: serve HTTPS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 12*time.Hour, "absolute lifetime of a login session")
	fs.BoolVar(&c.LocalLogin, "local-login", false, "keep password sign-in on even when the single sign-on setting turns it off (the way back in when the identity provider fails)")
	fs.DurationVar(&c.SessionIdle, "session-idle", 2*time.Hour, "a login session unused for this long ends (at most --session-ttl)")
	fs.StringVar(&c.StoreSync, "store-sync", "full", "embedded store only: full waits for the disk at every commit; normal does not, so the changes and audit events of the last moments before a crash of the machine or a power loss (not of querygate) may be lost")
	fs.Int64Var(&c.RowLimitMax, "row-limit-max", 1_000_000, "the most rows any query may return (callers ask with limit; default limit 1000)")
	fs.DurationVar(&c.QueryTimeoutMax, "query-timeout-max", 5*time.Minute, "the longest any query may run (callers ask with timeout_ms; default 30s)")
	fs.IntVar(&c.PoolMaxConns, "pool-max-conns", 4, "connections the gateway holds to one datasource at most, its device-custody pools, tests and unlocks included")
	fs.Int64Var(&c.HTTPResponseMax, "http-response-max", 10<<20, "the largest response body an HTTP datasource may return, in bytes (larger ones fail with too_large)")
	fs.Var(&c.SQLiteDirs, "sqlite-dir", "directory SQLite datasources may open files from (repeatable; none: SQLite datasources are refused)")
	fs.DurationVar(&c.DeviceRememberMax, "device-remember-max", 60*24*time.Hour, "how long a device unlocked with \"remember\" stays unlocked (at most 1440h, 60 days)")
	fs.Var(&c.EgressAllow, "egress-allow", "destination datasources may reach: CIDR, address, host name or *.domain, each with an optional :port or :port-range (repeatable); with any, only those")
	fs.Var(&c.EgressDeny, "egress-deny", "destination datasources may never reach, same forms as --egress-allow (repeatable); deny wins over allow")
	fs.StringVar(&c.EgressProfile, "egress-profile", "open", "egress profile: open (all but the denials), private (only private networks and loopback, plus --egress-allow) or allowlist (only --egress-allow)")
	fs.StringVar(&c.EgressSourceIP, "egress-source-ip", "", "local address every datasource connection is made from, so that datasource firewalls can allow-list the gateway")
	fs.Var(&c.AllowClients, "allow-clients", "CIDR or address of clients that may reach the gateway (repeatable); others get 403 before any handler runs; default: everyone")
	fs.Var(&c.TrustedProxies, "trusted-proxies", "CIDR or address of reverse proxies whose X-Forwarded-For / Forwarded headers name the client (repeatable); from anyone else those headers are ignored")
	fs.BoolVar(&c.TLSSelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made and kept in <data-dir>/tls/ (for local use)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback --listen address (behind a TLS-terminating proxy); logged as a warning")
	fs.BoolVar(&c.RequireDatasourceTLS, "require-datasource-tls", false, "refuse datasources that would connect without verified TLS (SQLite files excepted)")
	fs.Var(&c.AllowedHosts, "allowed-hosts", "host names the gateway answers for, against DNS rebinding (repeatable or comma-separated; localhost, 127.0.0.1, ::1 and the --listen host always); default: those only when --listen is a loopback address, else any")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "also serve /metrics, without authentication, on this address (such as 127.0.0.1:9090); /metrics on --listen needs an admin")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long running queries may finish before they are cancelled at their datasources")
	fs.BoolVar(&c.AuditQueryText, "audit-query-text", false, "record each query's text in its audit event (off: only metadata)")
	fs.DurationVar(&c.DevicePoolIdle, "device-pool-idle", time.Minute, "close the connection pool of a device-custody unlock after this long unused")
}

func (c *Config) userFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Username, "username", "", "user name (required)")
	fs.StringVar(&c.Role, "role", "viewer", "role: admin, editor or viewer")
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
					err = fmt.Errorf("%s_FILE: %w", name, rerr)
					return
				}
				v = strings.TrimRight(string(b), "\r\n")
			}
		}
		if v == "" {
			return
		}
		values := []string{v}
		if _, ok := f.Value.(*stringList); ok {
			values = filepath.SplitList(v) // QUERYGATE_SQLITE_DIR=/a:/b
		}
		for _, v := range values {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
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

// validate checks the settings once and fills derived defaults.
func (c *Config) validate(cmd string) error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if c.MasterKeyFile == "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return errors.New("--log-format must be text or json")
	}
	switch {
	case c.StoreSync != "" && c.StoreSync != "full" && c.StoreSync != "normal":
		return errors.New("--store-sync must be full or normal")
	case c.StoreSync == "normal" && c.DatabaseURL != "":
		return errors.New("--store-sync normal is for the embedded store only; a PostgreSQL store keeps its own synchronous_commit")
	}
	if c.EncryptionSalt != "" && len(c.EncryptionSalt) < 16 {
		return errors.New("--encryption-salt must be at least 16 characters")
	}
	if cmd == "serve" {
		if (c.TLSCert == "") != (c.TLSKey == "") {
			return errors.New("--tls-cert and --tls-key go together")
		}
		if c.TLSSelfSigned && c.TLSCert != "" {
			return errors.New("--tls-self-signed and --tls-cert exclude each other")
		}
		if _, err := egress.ProfileRules(c.EgressProfile); err != nil {
			return errors.New("--egress-profile must be open, private or allowlist")
		}
		for _, l := range []struct {
			name  string
			rules stringList
		}{{"--egress-allow", c.EgressAllow}, {"--egress-deny", c.EgressDeny}} {
			for _, r := range l.rules {
				if _, err := egress.ParseRule(r); err != nil {
					return fmt.Errorf("%s %s: %v", l.name, r, strings.TrimPrefix(err.Error(), "egress: rule: "))
				}
			}
		}
		if c.EgressSourceIP != "" {
			if _, err := netip.ParseAddr(c.EgressSourceIP); err != nil {
				return fmt.Errorf("--egress-source-ip %s: not an IP address", c.EgressSourceIP)
			}
		}
		for _, l := range []struct {
			name string
			list stringList
		}{{"--allow-clients", c.AllowClients}, {"--trusted-proxies", c.TrustedProxies}} {
			for _, p := range l.list {
				if _, err := parsePrefix(p); err != nil {
					return fmt.Errorf("%s %s: not an address or CIDR prefix", l.name, p)
				}
			}
		}
		if !c.InsecureHTTP && c.TLSCert == "" && !c.TLSSelfSigned && !loopbackListen(c.Listen) {
			return errors.New("plain HTTP is served only on a loopback --listen address: give --tls-cert/--tls-key or --tls-self-signed, or --insecure-http behind a TLS-terminating proxy")
		}
		if c.RowLimitMax < 1 {
			return errors.New("--row-limit-max must be at least 1")
		}
		if c.QueryTimeoutMax < time.Second {
			return errors.New("--query-timeout-max must be at least 1s")
		}
		if c.HTTPResponseMax < 1<<10 || c.HTTPResponseMax > 1<<30 {
			return errors.New("--http-response-max must be between 1024 and 1073741824 bytes (1 GiB)")
		}
		if c.PoolMaxConns < 1 || c.PoolMaxConns > 1000 {
			return errors.New("--pool-max-conns must be between 1 and 1000")
		}
		for i, d := range c.SQLiteDirs {
			if !filepath.IsAbs(d) {
				abs, err := filepath.Abs(d)
				if err != nil {
					return fmt.Errorf("--sqlite-dir %s: %w", d, err)
				}
				c.SQLiteDirs[i] = abs
			}
		}
		if c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour {
			return errors.New("--session-ttl must be between 1m and 720h")
		}
		if c.SessionIdle < time.Minute {
			return errors.New("--session-idle must be at least 1m")
		}
		c.SessionIdle = min(c.SessionIdle, c.SessionTTL)
		if c.DeviceRememberMax < time.Minute || c.DeviceRememberMax > 60*24*time.Hour {
			return errors.New("--device-remember-max must be between 1m and 1440h (60 days)")
		}
		if c.ShutdownGrace < 0 || c.ShutdownGrace > time.Hour {
			return errors.New("--shutdown-grace must be between 0s and 1h")
		}
		if c.DevicePoolIdle < time.Second || c.DevicePoolIdle > time.Hour {
			return errors.New("--device-pool-idle must be between 1s and 1h")
		}
	}
	return nil
}

// hostList is a repeatable flag of host names, each value comma-separated
// (QUERYGATE_ALLOWED_HOSTS=a.example,b.example). Names go without scheme,
// path or port; IPv6 addresses may be bracketed.
type hostList []string

func (l *hostList) String() string { return strings.Join(*l, ",") }

func (l *hostList) Set(v string) error {
	for h := range strings.SplitSeq(v, ",") {
		h = strings.TrimSpace(h)
		if _, _, err := net.SplitHostPort(h); err == nil {
			return fmt.Errorf("%q: give host names without a port", h)
		}
		if h == "" || strings.ContainsAny(h, "/ @") {
			return fmt.Errorf("%q: not a host name", h)
		}
		*l = append(*l, h)
	}
	return nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

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
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// loopbackListen reports whether a --listen address is on loopback only.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
