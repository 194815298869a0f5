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
	"github.com/querygate/querygate/internal/pgwire"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	code := NewMain().Exec(ctx, os.Args[1:], os.Getenv)
	stopProfile()
	stop()
	os.Exit(code)
}

// Exec is the whole program as the binary runs it: ParseFlags, Run, and
// for serve waiting until ctx is done, then Close. It returns the exit
// code: 0, 1 when the command failed, 2 for a bad command line. Help
// (-h, --help, help) is printed on Stdout and exits 0.
func (m *Main) Exec(ctx context.Context, args []string, getenv func(string) string) int {
	if err := m.ParseFlags(args, getenv); err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(m.Stderr, "querygate:", err)
		return 2
	}
	err := m.Run(ctx)
	if err == nil && m.Serving() {
		<-ctx.Done()
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, "querygate:", describe(err))
		return 1
	}
	return 0
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
	// pgwire serves --pgwire-listen, on pgwireLn.
	pgwire   *pgwire.Server
	pgwireLn net.Listener
	done     chan error
	// cancelRequests cancels the context of every request.
	cancelRequests context.CancelFunc
}

// command is a subcommand: what it opens before it runs, and its line in
// the usage. Each runs in a file of its own.
type command struct {
	name string // "serve", "user add", ...
	// open is how much of the instance the command needs: nothing, the
	// store only, or the store and the keys (creating a key when
	// createKey).
	open      opening
	createKey bool
	run       func(m *Main, ctx context.Context) error
	// args and what are its usage line: the arguments after its name, and
	// what it does.
	args, what string
}

type opening int

const (
	openNothing opening = iota
	openStore
	openInstance
)

// commandList is every subcommand, in the order of the usage.
var commandList = []command{
	{name: "serve", open: openInstance, createKey: true, run: (*Main).serve,
		args: "[flags]", what: "run the gateway (the default command)"},
	{name: "user add", open: openInstance, createKey: true, run: (*Main).userAdd,
		args: "--username NAME [--role ROLE]", what: "create a user; the password is read from standard input"},
	{name: "keys verify", open: openInstance, run: (*Main).keysVerify,
		what: "open every sealed secret; exit 1 if any fails"},
	{name: "keys rotate", open: openInstance, run: (*Main).keysRotate,
		what: "add a new master key, re-seal under it, retire the old"},
	{name: "audit export", open: openInstance, run: (*Main).auditExport,
		args: "[--since TIME]", what: "write the audit trail as JSON lines, oldest first"},
	{name: "audit verify", open: openInstance, run: (*Main).auditVerify,
		args: "[--head FILE ...]", what: "check the audit trail's hash chain; exit 1 if broken"},
	{name: "migrate", open: openStore, run: (*Main).migrate,
		what: "bring the store's schema up to date, then exit"},
	{name: "store copy", run: (*Main).storeCopy,
		args: "--from STORE --to STORE", what: "copy a store into a new, empty one, and verify"},
	{name: "version", run: (*Main).version, what: "print the version"},
}

// commands are the subcommands, by name.
var commands = func() map[string]command {
	m := make(map[string]command, len(commandList))
	for _, c := range commandList {
		m[c.name] = c
	}
	return m
}()

// groups are the commands that take a second word: user, keys, audit, store.
var groups = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range commandList {
		if g, _, ok := strings.Cut(c.name, " "); ok {
			m[g] = true
		}
	}
	return m
}()

// NewMain returns a Main wired to the process's standard streams.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// usage writes the usage lines of the commands whose name starts with
// prefix ("" for all).
func usage(w io.Writer, prefix string) {
	for _, c := range commandList {
		if !strings.HasPrefix(c.name, prefix) {
			continue
		}
		line := "querygate " + c.name
		if c.name == "serve" {
			line = "querygate [serve]"
		}
		if c.args != "" {
			line += " " + c.args
		}
		if len(line) > 46 {
			fmt.Fprintf(w, "  %s\n  %-46s %s\n", line, "", c.what)
			continue
		}
		fmt.Fprintf(w, "  %-46s %s\n", line, c.what)
	}
}

// printHelp writes the usage of every command, or of one group's.
func (m *Main) printHelp(group string) {
	if group != "" {
		fmt.Fprintf(m.Stdout, "Usage of querygate %s:\n", group)
		usage(m.Stdout, group+" ")
		fmt.Fprintf(m.Stdout, "\nRun 'querygate %s <command> -h' for the flags of a command.\n", group)
		return
	}
	fmt.Fprint(m.Stdout, "querygate: a gateway that queries databases and HTTP APIs for you, keeping only sealed settings.\n\nUsage:\n")
	usage(m.Stdout, "")
	fmt.Fprint(m.Stdout, "\nEvery flag can also be set as QUERYGATE_<FLAG> (for example QUERYGATE_DATA_DIR).\n"+
		"Run 'querygate <command> -h' for the flags of a command (for example 'querygate serve -h').\n")
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// ParseFlags reads the subcommand, then its flags and the environment into
// m.Config, parsed and validated once.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	if len(args) > 0 && isHelp(args[0]) {
		if args[0] == "help" && len(args) > 1 {
			// help user, help store copy: the help of that command.
			return m.ParseFlags(append(args[1:len(args):len(args)], "-h"), getenv)
		}
		m.printHelp("")
		return errHelp
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if groups[name] {
		switch {
		case len(args) > 0 && isHelp(args[0]):
			m.printHelp(name)
			return errHelp
		case len(args) == 0 || strings.HasPrefix(args[0], "-"):
			return fmt.Errorf("%s needs a command: %s (see querygate %s help)", name, m.subcommands(name), name)
		}
		name, args = name+" "+args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		if g, _, ok := strings.Cut(name, " "); ok {
			return fmt.Errorf("unknown command %q: %s has %s (see querygate %s help)", name, g, m.subcommands(g), g)
		}
		return fmt.Errorf("unknown command %q (see querygate help)", name)
	}
	m.cmd = cmd
	if name == "version" {
		return nil
	}
	return parseFlags(name, args, getenv, m.Stderr, &m.Config)
}

// subcommands lists the second words of a group: "add", "verify or rotate".
func (m *Main) subcommands(group string) string {
	var subs []string
	for _, c := range commandList {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			subs = append(subs, sub)
		}
	}
	if len(subs) < 2 {
		return strings.Join(subs, "")
	}
	return strings.Join(subs[:len(subs)-1], ", ") + " or " + subs[len(subs)-1]
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

// PgwireAddr returns the address --pgwire-listen serves on, or "".
func (m *Main) PgwireAddr() string {
	if m.pgwireLn == nil {
		return ""
	}
	return m.pgwireLn.Addr().String()
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
	if m.pgwireLn != nil {
		// No new wire sessions; the open ones run until the HTTP grace
		// is over, then their statements are cancelled (m.pgwire.Close).
		m.pgwireLn.Close()
	}
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
	if m.pgwire != nil {
		m.pgwire.Close()
		m.pgwire = nil
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
