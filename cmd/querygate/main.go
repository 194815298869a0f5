// Command querygate is a self-hosted gateway that lets people query their
// databases and HTTP APIs from a browser or a script while it keeps nothing
// but sealed connection settings.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/instance"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		if err == errHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "querygate:", err)
		os.Exit(2)
	}
	err := m.Run(ctx)
	if err == nil && m.Serving() {
		<-ctx.Done()
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "querygate:", describe(err))
		os.Exit(1)
	}
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

	cmd     command
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

// command is a subcommand: what it opens before it runs. Each runs in a
// file of its own.
type command struct {
	name string // "serve", "user add", ...
	// open is how much of the instance the command needs: nothing, the
	// store only, or the store and the keys (creating a key when
	// createKey).
	open      opening
	createKey bool
	run       func(m *Main, ctx context.Context) error
}

type opening int

const (
	openNothing opening = iota
	openStore
	openInstance
)

// commands are the subcommands, by name.
var commands = map[string]command{
	"serve":        {name: "serve", open: openInstance, createKey: true, run: (*Main).serve},
	"user add":     {name: "user add", open: openInstance, createKey: true, run: (*Main).userAdd},
	"keys verify":  {name: "keys verify", open: openInstance, run: (*Main).keysVerify},
	"keys rotate":  {name: "keys rotate", open: openInstance, run: (*Main).keysRotate},
	"audit export": {name: "audit export", open: openInstance, run: (*Main).auditExport},
	"audit verify": {name: "audit verify", open: openInstance, run: (*Main).auditVerify},
	"migrate":      {name: "migrate", open: openStore, run: (*Main).migrate},
	"store copy":   {name: "store copy", run: (*Main).storeCopy},
	"version":      {name: "version", run: (*Main).version},
}

// groups are the commands that take a second word.
var groups = map[string]bool{"user": true, "keys": true, "audit": true, "store": true}

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

// ParseFlags reads the subcommand, then its flags and the environment into
// m.Config, parsed and validated once.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch {
	case name == "help":
		fmt.Fprint(m.Stdout, usage)
		return errHelp
	case groups[name]:
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return fmt.Errorf("%s needs a command (see querygate help)", name)
		}
		name, args = name+" "+args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		return fmt.Errorf("unknown command %q (see querygate help)", name)
	}
	m.cmd = cmd
	if name == "version" {
		return nil
	}
	return parseFlags(name, args, getenv, m.Stderr, &m.Config)
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
	if m.cmd.run == nil {
		return errors.New("no command: call ParseFlags first")
	}
	if m.cmd.name != "version" {
		m.log = m.newLogger()
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	return m.cmd.run(m, ctx)
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

func (m *Main) newLogger() *slog.Logger {
	if m.Config.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, nil))
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
