package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/device"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/sso"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/postgres"
	"github.com/querygate/querygate/internal/store/sqlite"
	"github.com/querygate/querygate/internal/store/sqlstore"
	"github.com/querygate/querygate/internal/web"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Main is the program: ParseFlags, then Run, then Close. Tests run it on
// port 0 exactly as the binary does.
type Main struct {
	Config Config
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// HashParams overrides the password hashing cost (tests only).
	HashParams accounts.HashParams

	cmd     string
	sub     string
	log     *slog.Logger
	db      storeDB
	inst    *instance.Instance
	ln      net.Listener
	srv     *http.Server
	serving bool
	queries *query.Service
	audit   *audit.Log
	web     *web.Server
	// metricsSrv serves /metrics on --metrics-listen, on metricsLn.
	metricsSrv *http.Server
	metricsLn  net.Listener
	done       chan error
	// cancelRequests cancels the context of every request.
	cancelRequests context.CancelFunc
}

// NewMain returns a Main wired to the process's standard streams.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

const usage = `querygate: a gateway that queries databases and HTTP APIs for you, keeping only sealed settings.

Usage:
  querygate [serve] [flags]                       run the gateway (the default)
  querygate user add --username NAME --role ROLE  create a user; the password is read from stdin
  querygate keys verify                           open every sealed secret; exit 1 if any fails
  querygate keys rotate                           add a new master key, re-seal under it, retire the old
  querygate audit export [--since TIME]           write the audit trail as JSON lines, oldest first
  querygate audit verify                          check the audit trail's hash chain; exit 1 if broken
  querygate migrate                               bring the store's schema up to date, then exit
  querygate store copy --from sqlite:PATH --to postgres://...
                                                  copy an instance to an empty PostgreSQL store, sealed, and verify
  querygate version                               print the version

Every flag can also be set as QUERYGATE_<FLAG> (for example QUERYGATE_DATA_DIR).
Run 'querygate <command> -h' for the flags of a command.
`

// ParseFlags reads the subcommand, flags and environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	m.cmd = "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		m.cmd, args = args[0], args[1:]
	}
	switch m.cmd {
	case "help":
		fmt.Fprint(m.Stdout, usage)
		return errHelp
	case "version":
		return nil
	case "user", "keys", "audit", "store":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("%s needs a command (see querygate help)", m.cmd)
		}
		m.sub, args = args[0], args[1:]
		valid := map[string]bool{"user add": true, "keys verify": true, "keys rotate": true, "audit export": true, "audit verify": true, "store copy": true}
		if !valid[m.cmd+" "+m.sub] {
			return fmt.Errorf("unknown command %q (see querygate help)", m.cmd+" "+m.sub)
		}
	case "serve", "migrate":
	default:
		return fmt.Errorf("unknown command %q (see querygate help)", m.cmd)
	}
	fs := newFlagSet(strings.TrimSpace(m.cmd+" "+m.sub), m.Stderr)
	m.Config.commonFlags(fs)
	switch m.cmd {
	case "serve":
		m.Config.serveFlags(fs)
	case "user":
		m.Config.userFlags(fs)
	case "audit":
		if m.sub == "export" {
			fs.StringVar(&m.Config.AuditSince, "since", "", "export events at or after this RFC 3339 time")
		} else {
			fs.Var(&m.Config.AuditHeads, "head", "a head record file to check the trail against (repeatable, e.g. one per replica; default <data-dir>/"+audit.HeadFile+")")
		}
	case "store":
		fs.StringVar(&m.Config.CopyFrom, "from", "", "the store to copy: sqlite:PATH (the querygate.db file) or a postgres:// URL")
		fs.StringVar(&m.Config.CopyTo, "to", "", "the empty store to copy into: a postgres:// URL or sqlite:PATH")
	}
	if err := applyEnv(fs, getenv); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	m.Config.MasterKey = getenv("QUERYGATE_MASTER_KEY")
	return m.Config.validate(m.cmd)
}

// Serving reports whether Run started a server that runs until Close.
func (m *Main) Serving() bool { return m.serving }

// Addr returns the address the server listens on.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// MetricsAddr returns the address --metrics-listen serves on, or "".
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Run runs the command. For serve it returns once the server is listening;
// Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if m.cmd == "version" {
		fmt.Fprintln(m.Stdout, "querygate", version())
		return nil
	}
	m.log = m.newLogger()
	if m.cmd == "store" {
		return m.storeCopy(ctx)
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if m.cmd == "migrate" {
		return m.migrated()
	}
	switch m.cmd + " " + m.sub {
	case "serve ":
		return m.serve(ctx)
	case "user add":
		return m.userAdd(ctx)
	case "keys verify":
		return m.keysVerify(ctx)
	case "keys rotate":
		return m.keysRotate(ctx)
	case "audit export":
		return m.auditExport(ctx)
	case "audit verify":
		return m.auditVerify(ctx)
	}
	return fmt.Errorf("unknown command")
}

func (m *Main) newLogger() *slog.Logger {
	if m.Config.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, nil))
}

// openStore opens a store named as --database-url is, or the embedded
// SQLite file of the data directory when url is empty. Opening migrates.
func (m *Main) openStore(ctx context.Context, url string) (storeDB, error) {
	if url == "" {
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return sqlite.OpenWith(ctx, filepath.Join(m.Config.DataDir, "querygate.db"), sqlite.Options{Sync: sqlite.Sync(m.Config.StoreSync)})
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sqlite.Open(ctx, path)
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("the store URL must start with postgres:// (or, for store copy, sqlite:PATH)")
	}
	return postgres.Open(ctx, url)
}

// storeDB is a store that store copy can read and write.
type storeDB interface {
	store.Store
	CopySide(write bool) sqlstore.Side
}

// open opens the store and the instance keys.
func (m *Main) open(ctx context.Context) error {
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := m.openStore(ctx, m.Config.DatabaseURL)
	if err != nil {
		return err
	}
	m.db = db
	if m.cmd == "migrate" {
		return nil
	}
	m.inst, err = instance.Open(ctx, db, instance.Options{
		KeyFile: m.Config.MasterKeyFile, MasterKey: m.Config.MasterKey, Salt: m.Config.EncryptionSalt,
		CreateKey: m.cmd == "serve" || m.cmd == "user", Logger: m.log,
	})
	if err != nil {
		return err
	}
	m.audit = audit.New(audit.Options{Store: db, Key: m.inst.AuditKey, Logger: m.log, Head: m.auditHead()})
	return nil
}

func (m *Main) auditExport(ctx context.Context) error {
	var f store.AuditFilter
	if m.Config.AuditSince != "" {
		t, err := time.Parse(time.RFC3339, m.Config.AuditSince)
		if err != nil {
			return errors.New("--since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		f.Since = t
	}
	_, err := m.audit.Export(ctx, m.Stdout, f)
	return err
}

// auditHead is this instance's audit head record: in the data directory,
// beside the master key and outside the store (see package audit).
func (m *Main) auditHead() string { return filepath.Join(m.Config.DataDir, audit.HeadFile) }

// auditVerify checks the chain, and checks it against the head records
// (--head, by default this data directory's): with several replicas, pass
// each replica's record to detect the deletion of the newest events
// whichever replica wrote them.
func (m *Main) auditVerify(ctx context.Context) error {
	heads := []string(m.Config.AuditHeads)
	if len(heads) == 0 {
		heads = []string{m.auditHead()}
	}
	rep, err := m.audit.Verify(ctx, heads...)
	if err != nil {
		return err
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(m.Stdout, n)
	}
	for _, p := range rep.Problems {
		if p.Seq > 0 {
			fmt.Fprintf(m.Stdout, "FAIL event %d: %s\n", p.Seq, p.Reason)
		} else {
			fmt.Fprintf(m.Stdout, "FAIL %s\n", p.Reason)
		}
	}
	fmt.Fprintf(m.Stdout, "checked %d audit events: %d problems\n", rep.Events, len(rep.Problems))
	if len(rep.Problems) > 0 {
		return fmt.Errorf("the audit trail was altered (%d problems)", len(rep.Problems))
	}
	return nil
}

func (m *Main) accounts() *accounts.Service {
	return accounts.NewService(accounts.Options{Store: m.db, HashParams: m.HashParams, SessionTTL: m.Config.SessionTTL, SessionIdle: m.Config.SessionIdle})
}

func (m *Main) serve(ctx context.Context) error {
	acc := m.accounts()
	token, needed, err := acc.PrepareSetup(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.ln = ln
	secure := m.Config.TLSCert != "" || m.Config.TLSSelfSigned
	certFile, keyFile := m.Config.TLSCert, m.Config.TLSKey
	if m.Config.TLSSelfSigned {
		if certFile, keyFile, err = m.selfSignedCert(); err != nil {
			return err
		}
	}
	if !secure && !loopbackListen(m.Config.Listen) {
		m.log.Warn("serving plain HTTP on a non-loopback address (--insecure-http): only do this behind a TLS-terminating proxy")
	}
	// Every listener is open before the dialer is made, so that the egress
	// policy denies each of their bound addresses.
	listeners := []net.Listener{ln}
	var mln net.Listener
	if m.Config.MetricsListen != "" {
		if mln, err = net.Listen("tcp", m.Config.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		listeners = append(listeners, mln)
		m.metricsLn = mln
	}
	dialer := newDialer(&m.Config, listeners...)
	datasources := datasource.NewService(datasource.ServiceOptions{Store: m.db, Envelope: m.inst.Envelope,
		Preflight: preflight(dialer, m.Config.RequireDatasourceTLS)})
	// The pool gauge reads m.queries, set just below.
	met := metrics.New(func() int {
		if q := m.queries; q != nil {
			return q.PoolCount()
		}
		return 0
	})
	devices := device.NewService(device.Options{Store: m.db, Cookies: m.inst.Cookies, Secure: secure,
		Remember: m.Config.DeviceRememberMax, Session: min(m.Config.SessionTTL, m.Config.DeviceRememberMax)})
	savedQueries := savedquery.NewService(m.db)
	m.queries = query.NewService(query.Options{
		Logger: m.log, Datasources: datasources, Openers: openers(), Dial: countDenials(dialer.DialContext, met),
		Limits: query.Limits{MaxRows: m.Config.RowLimitMax, MaxTimeout: m.Config.QueryTimeoutMax, MaxConns: m.Config.PoolMaxConns,
			DeviceIdle: m.Config.DevicePoolIdle},
		SQLiteDirs: m.Config.SQLiteDirs, SQLiteDeny: m.ownFiles(), HTTPResponseMax: m.Config.HTTPResponseMax,
		RequireTLS: m.Config.RequireDatasourceTLS,
		Devices:    devices, SavedQueries: savedQueries, Audit: m.audit, Metrics: met, AuditQueryText: m.Config.AuditQueryText,
	})
	srv := web.New(web.Options{
		Logger: m.log, Ready: m.db, Accounts: acc, Dashboards: dashboard.NewService(m.db), Cookies: m.inst.Cookies, Devices: devices,
		Audit: m.audit, AuditQueryText: m.Config.AuditQueryText, Metrics: met,
		Datasources: datasources, Queries: m.queries, SavedQueries: savedQueries,
		Secure: secure, Version: version(),
		Ingress:         web.Ingress{AllowClients: prefixes(m.Config.AllowClients), TrustedProxies: prefixes(m.Config.TrustedProxies)},
		Egress:          describeEgress(dialer, &m.Config),
		SSO:             sso.NewService(m.db, m.inst.Envelope, dialer),
		ForceLocalLogin: m.Config.LocalLogin,
		AllowedHosts:    allowedHosts(m.Config.Listen, ln.Addr(), m.Config.AllowedHosts),
	})
	if len(m.Config.AllowedHosts) == 0 && !isLoopback(ln.Addr()) {
		m.log.WarnContext(ctx, "listening on a non-loopback address without --allowed-hosts: requests for any host name are answered; "+
			"set --allowed-hosts to the names clients use, against DNS rebinding", "listen", ln.Addr().String())
	}
	m.web = srv
	// Every request's context descends from base, so that cancelling it
	// after the shutdown grace cancels the running queries at their
	// datasources.
	base, cancelRequests := context.WithCancel(context.Background())
	m.cancelRequests = cancelRequests
	m.srv = &http.Server{
		BaseContext: func(net.Listener) context.Context { return base },
		Handler:     srv.Handler(),
		TLSConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
		// Slow clients cannot hold connections open: the headers must come
		// within 10s and the whole request (bodies are at most 1 MiB)
		// within 60s. ReadTimeout covers reading the request only: Go
		// clears the deadline once the body is read, so long result
		// streams are not cut. There is no WriteTimeout for that reason;
		// queries have their own timeouts.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
	}
	m.done = make(chan error, 1)
	scheme := "http"
	go func() {
		var err error
		if secure {
			err = m.srv.ServeTLS(ln, certFile, keyFile)
		} else {
			err = m.srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	if secure {
		scheme = "https"
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", met.Handler())
		m.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go m.metricsSrv.Serve(mln)
		m.log.InfoContext(ctx, "metrics serving", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	m.serving = true
	m.log.InfoContext(ctx, "querygate serving", "version", version(), "url", scheme+"://"+ln.Addr().String(), "data_dir", m.Config.DataDir)
	if needed {
		fmt.Fprintf(m.Stderr, "\n  No user exists yet. Create the first admin with this one-time setup token:\n\n"+
			"    curl -X POST %s://%s/api/setup -H 'Content-Type: application/json' \\\n"+
			"      -d '{\"token\":\"%s\",\"username\":\"admin\",\"password\":\"...\"}'\n\n"+
			"  or run: querygate user add --username admin --role admin\n"+
			"  The token works once, only until the first user exists, and changes at each start.\n\n", scheme, ln.Addr(), token)
	}
	return nil
}

// Close stops the server: it stops accepting, lets running requests (and
// their queries) finish for up to --shutdown-grace, then cancels the rest
// at their datasources and closes the pools and the store. Running out of
// grace is part of a normal shutdown, not an error.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		grace := m.Config.ShutdownGrace
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		err := m.srv.Shutdown(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			m.log.Warn("shutdown grace is over: cancelling the queries still running", "grace", grace.String())
			m.cancelRequests()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := m.srv.Shutdown(ctx); err != nil {
				m.srv.Close()
			}
			cancel()
		} else {
			errs = append(errs, err)
		}
		m.cancelRequests()
		errs = append(errs, <-m.done)
		m.srv = nil
		m.log.Info("querygate stopped")
	}
	if m.metricsSrv != nil {
		m.metricsSrv.Close()
		m.metricsSrv = nil
	}
	if m.queries != nil {
		m.queries.Close()
		m.queries = nil
	}
	if m.audit != nil {
		m.audit.Close()
		m.audit = nil
	}
	if m.db != nil {
		errs = append(errs, m.db.Close())
		m.db = nil
	}
	return errors.Join(errs...)
}

func (m *Main) userAdd(ctx context.Context) error {
	if m.Config.Username == "" {
		return errors.New("--username is required")
	}
	pw, err := m.readPassword()
	if err != nil {
		return err
	}
	u, err := m.accounts().CreateUser(ctx, accounts.CreateUserInput{Username: m.Config.Username, Password: pw, Role: m.Config.Role})
	if err != nil {
		return err
	}
	m.audit.Record(ctx, audit.Event{ActorName: "cli", Action: audit.UserCreate, Target: u.ID, Details: map[string]any{"role": u.Role}})
	fmt.Fprintf(m.Stdout, "created user %s (%s) with id %s\n", u.Username, u.Role, u.ID)
	return nil
}

// readPassword prompts without echo on a terminal, and otherwise reads the
// first line of standard input.
func (m *Main) readPassword() (string, error) {
	if f, ok := m.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(m.Stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(m.Stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(m.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

func (m *Main) keysVerify(ctx context.Context) error {
	checked, failures, err := m.inst.Verify(ctx, m.db)
	if err != nil {
		return err
	}
	for _, f := range failures {
		fmt.Fprintf(m.Stdout, "FAIL %s: %s\n", f.Place, f.Err)
	}
	fmt.Fprintf(m.Stdout, "checked %d sealed values under key ring %s: %d failed\n", checked, m.inst.Envelope.Ring(), len(failures))
	if len(failures) > 0 {
		return fmt.Errorf("%d sealed values cannot be opened", len(failures))
	}
	return nil
}

func (m *Main) keysRotate(ctx context.Context) error {
	id, n, err := m.inst.Rotate(ctx, m.db, instance.RotateOptions{Logger: m.log})
	ev := audit.Event{ActorName: "cli", Action: audit.KeysRotate, Target: id, Details: map[string]any{"resealed": n}}
	if err != nil {
		ev.Outcome = querygate.ErrorCode(err)
	}
	m.audit.Record(ctx, ev)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "rotated to master key %s: re-sealed %d values; the old key is retired. Back up %s now.\n", id, n, m.Config.MasterKeyFile)
	return nil
}

// describe turns an error into a sentence for the terminal: the safe
// message of a domain error, or the error text for operator-side failures.
func describe(err error) string {
	var e *querygate.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// allowedHosts returns the host names the gateway answers for (web
// AllowedHosts): with an operator list, or when listening on loopback only,
// that list plus the loopback names and the --listen host; otherwise nil,
// which answers any host name.
func allowedHosts(listen string, addr net.Addr, list []string) []string {
	if len(list) == 0 && !isLoopback(addr) {
		return nil
	}
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, list...)
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
		hosts = append(hosts, h)
	}
	if a, ok := addr.(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		hosts = append(hosts, a.IP.String())
	}
	return hosts
}

// isLoopback reports whether the gateway listens on a loopback address only.
func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// migrated reports the schema version the store is now at (opening it
// applied the pending migrations).
func (m *Main) migrated() error {
	switch db := m.db.(type) {
	case *postgres.DB:
		before, after := db.Migrated()
		if before == after {
			fmt.Fprintf(m.Stdout, "The PostgreSQL store is up to date (schema version %d).\n", after)
		} else {
			fmt.Fprintf(m.Stdout, "The PostgreSQL store was migrated from schema version %d to %d.\n", before, after)
		}
	default:
		fmt.Fprintf(m.Stdout, "The SQLite store is up to date (schema version %d).\n", sqlite.SchemaVersion())
	}
	return nil
}

// storeCopy copies an instance's store into a new, empty one, sealed
// blobs as they are, and verifies the copy table by table. It opens no
// secret and needs no master key.
func (m *Main) storeCopy(ctx context.Context) error {
	if m.Config.CopyFrom == "" || m.Config.CopyTo == "" {
		return errors.New("store copy needs --from and --to (sqlite:PATH or a postgres:// URL)")
	}
	if m.Config.CopyFrom == m.Config.CopyTo {
		return errors.New("store copy: --from and --to name the same store")
	}
	// Opening a store migrates it, so both are looked at first: a wrong
	// name must change nothing.
	if err := checkCopySide(ctx, m.Config.CopyFrom, true); err != nil {
		return err
	}
	if err := checkCopySide(ctx, m.Config.CopyTo, false); err != nil {
		return err
	}
	src, err := m.openStore(ctx, m.Config.CopyFrom)
	if err != nil {
		return fmt.Errorf("source store: %w", err)
	}
	defer src.Close()
	dst, err := m.openStore(ctx, m.Config.CopyTo)
	if err != nil {
		return fmt.Errorf("target store: %w", err)
	}
	defer dst.Close()
	report, err := sqlstore.Copy(ctx, src.CopySide(false), dst.CopySide(true))
	if err != nil {
		return err
	}
	var total int64
	for _, r := range report {
		fmt.Fprintf(m.Stdout, "%-22s %8d rows  sha256 %s\n", r.Table, r.Rows, r.Digest)
		total += r.Rows
	}
	fmt.Fprintf(m.Stdout, "Copied and verified %d rows in %d tables; secrets stay sealed. Start the gateway with --database-url and the same master key.\n", total, len(report))
	return nil
}

// checkCopySide refuses a source that is not a querygate store (a missing
// SQLite file, a database without querygate's tables) and a target that
// holds anything but querygate's tables, before either is opened.
func checkCopySide(ctx context.Context, url string, source bool) error {
	which := "--to"
	if source {
		which = "--from"
	}
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		st, err := os.Stat(path)
		switch {
		case source && err != nil:
			return fmt.Errorf("store copy: %s: no SQLite store at %s", which, path)
		case !source && err == nil && st.Size() > 0:
			return fmt.Errorf("store copy: %s: %s exists; copy into a new file", which, path)
		}
		return nil
	}
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return fmt.Errorf("store copy: %s must be sqlite:PATH or a postgres:// URL", which)
	}
	have, err := postgres.Tables(ctx, url)
	if err != nil {
		return fmt.Errorf("store copy: %s: %w", which, err)
	}
	ours := sqlstore.Tables()
	if source && !slices.Contains(have, "schema_migrations") {
		return fmt.Errorf("store copy: %s: that database holds no querygate store", which)
	}
	for _, t := range have {
		if !slices.Contains(ours, t) {
			return fmt.Errorf("store copy: %s: that database holds a table %q that is not querygate's; copy into a new, empty database", which, t)
		}
	}
	return nil
}
