// Package sqlite provides the SQLite connector: a database/sql pool of
// modernc.org/sqlite connections to one database file on the gateway's
// host, inside a directory the operator allows (--sqlite-dir).
//
// The file is resolved (symbolic links followed) every time a connection
// opens, and refused when it lies outside the allowed directories, is not
// a regular file, or is one of the gateway's own files (store, key file,
// data directory, and their -wal, -shm and -journal companions, hard links
// included). It is opened with mode=ro or mode=rw, never created. Every
// connection runs under an authorizer that refuses ATTACH, DETACH, most
// PRAGMAs, extension loading, transaction control and temporary objects,
// with the attached-database limit at zero so that VACUUM INTO cannot
// write a file either; so no request leaves state on a pooled connection
// for the next, and a read-write connection is not reused at all. Cancelling a query's
// context interrupts it inside SQLite.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// busyTimeout is how long a statement waits for a lock held by another
// process before it fails with "database is locked".
const busyTimeout = 5 * time.Second

// Connector runs statements on one SQLite database file. It is safe for
// concurrent use.
type Connector struct {
	rw       *sql.DB // nil for a read-only datasource
	ro       *sql.DB
	readOnly bool
	bounds   connect.Bounds // of one value and one row (bounds.go)
}

var _ connect.Connector = (*Connector)(nil)

// Settings are a SQLite datasource's settings (DecodeSettings).
type Settings struct {
	path string // as the catalogue checked it: absolute and clean
}

// DecodeSettings reads a datasource's settings. A SQLite datasource has
// no secrets, and its path is checked by New.
func DecodeSettings(settings map[string]any, _ connect.Secrets) (*Settings, error) {
	path, _ := settings["path"].(string)
	return &Settings{path: path}, nil
}

// New returns a connector for a datasource whose settings DecodeSettings
// returned (in cfg.Settings). It checks the path at once (so a refused
// path is told before any query) and again whenever a connection opens.
func New(cfg connect.Config) (*Connector, error) {
	s, ok := cfg.Settings.(*Settings)
	switch {
	case cfg.Settings == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is missing.")
	case !ok || s == nil:
		return nil, connect.Errorf(connect.ECONFIG, "The datasource is not a SQLite datasource.")
	}
	f := &file{path: s.path, dirs: cfg.SQLiteDirs, deny: cfg.SQLiteDeny}
	if _, err := f.resolve(); err != nil {
		return nil, err
	}
	maxConns, maxIdle := cfg.MaxConns, cfg.MaxIdle
	if maxConns <= 0 {
		maxConns = 4
	}
	if maxIdle <= 0 {
		maxIdle = 5 * time.Minute
	}
	open := func(mode string) *sql.DB {
		db := sql.OpenDB(&connector{file: f, mode: mode})
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		db.SetConnMaxIdleTime(maxIdle)
		return db
	}
	c := &Connector{ro: open("ro"), readOnly: cfg.ReadOnly, bounds: cfg.Bounds}
	if !c.readOnly {
		c.rw = open("rw")
	}
	return c, nil
}

// Ping opens a connection and reads the schema, which fails for a file
// that is not a SQLite database.
func (c *Connector) Ping(ctx context.Context) error {
	db := c.ro
	if c.rw != nil {
		db = c.rw
	}
	conn, err := limitedConn(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close()
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return mapError(ctx, err)
	}
	return nil
}

// limitedConn takes a connection from db with the attached-database limit
// at zero, which stops ATTACH and VACUUM INTO (VACUUM attaches its target
// internally, where the authorizer does not look).
func limitedConn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_ATTACHED, 0); err != nil {
		conn.Close()
		return nil, querygate.Errorf(querygate.EINTERNAL, "The SQLite driver cannot restrict statements.")
	}
	return conn, nil
}

// Close closes the pools.
func (c *Connector) Close() error {
	if c.rw != nil {
		c.rw.Close()
	}
	return c.ro.Close()
}

// Query runs req and streams its rows into sink. A read-only request, or
// any request on a read-only datasource, runs on a connection that opened
// the file read-only.
func (c *Connector) Query(ctx context.Context, req connect.Request, sink connect.Sink) (connect.Result, error) {
	args, err := bindParams(req.Params)
	if err != nil {
		return connect.Result{}, err
	}
	db := c.rw
	if req.ReadOnly || c.readOnly {
		db = c.ro
	}
	conn, err := limitedConn(ctx, db)
	if err != nil {
		return connect.Result{}, err
	}
	defer func() {
		if db == c.rw {
			// A connection that could write is not reused: its
			// changes() and last_insert_rowid() would tell the next
			// request about this one (P13). The authorizer keeps
			// every other kind of session state from being made.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	if err := limitLength(conn, c.bounds); err != nil { // bounds.go
		return connect.Result{}, err
	}
	var before int64
	if err := conn.QueryRowContext(ctx, "SELECT total_changes()").Scan(&before); err != nil {
		return connect.Result{}, mapError(ctx, err)
	}
	rows, err := conn.QueryContext(ctx, req.Query, args...)
	if err != nil {
		return connect.Result{}, mapError(ctx, boundError(err, c.bounds))
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return connect.Result{}, mapError(ctx, err)
	}
	if len(types) == 0 {
		// A statement without a result set runs when it is stepped.
		for rows.Next() {
		}
		if err := closeRows(rows); err != nil {
			return connect.Result{}, mapError(ctx, err)
		}
		var after int64
		if err := conn.QueryRowContext(ctx, "SELECT total_changes()").Scan(&after); err != nil {
			return connect.Result{}, mapError(ctx, err)
		}
		return connect.Result{RowsAffected: after - before}, nil
	}
	cols := make([]connect.Column, len(types))
	decl := make([]string, len(types))
	for i, t := range types {
		decl[i] = strings.ToUpper(t.DatabaseTypeName())
		cols[i] = connect.Column{Name: t.Name(), Type: strings.ToLower(decl[i])}
	}
	res := connect.Result{HasRows: true, RowsAffected: -1}
	raw := make([]any, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]any, len(cols))
	meter := c.bounds.Meter()
	// An expression has no declared type: the first row's storage
	// class names it, so the columns line is sent after that row is read.
	more := rows.Next()
	if more {
		if err := rows.Scan(dest...); err != nil {
			return res, mapError(ctx, err)
		}
		if err := checkRow(&meter, raw, cols); err != nil {
			return res, err
		}
		for i, v := range raw {
			if cols[i].Type == "" {
				cols[i].Type = storageClass(v)
			}
		}
	}
	if err := sink.Columns(cols); err != nil {
		return res, stopped(err)
	}
	for more {
		for i, v := range raw {
			vals[i] = value(v, decl[i])
		}
		if err := sink.Row(vals); err != nil {
			// Closing the rows resets the statement: SQLite stops there.
			return res, stopped(err)
		}
		if more = rows.Next(); !more {
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return res, mapError(ctx, err)
		}
		if err := checkRow(&meter, raw, cols); err != nil {
			return res, err
		}
	}
	if err := closeRows(rows); err != nil {
		return res, mapError(ctx, boundError(err, c.bounds))
	}
	return res, nil
}

// stopped turns the sink's connect.ErrStop into the end of the result.
func stopped(err error) error {
	if errors.Is(err, connect.ErrStop) {
		return nil
	}
	return err
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// value converts what the driver scanned into a connect value. decl is
// the column's declared type, upper case.
//
// The driver turns the text of a column declared DATE, DATETIME or
// TIMESTAMP into a time.Time, reading a text without offset as UTC. SQLite
// has no time zones, so such a value is handed on as the database means
// it: a DATE as a connect.Date, a DATETIME or TIMESTAMP as a
// connect.LocalDateTime (a wall clock), unless its text carried an offset
// other than UTC, in which case it is the instant it names.
func value(v any, decl string) any {
	switch v := v.(type) {
	case time.Time:
		switch {
		case decl == "DATE":
			return connect.NewDate(v)
		case v.Location() == time.UTC:
			return connect.NewLocalDateTime(v)
		}
		return v
	case nil, int64, float64, string, bool:
		return v
	case []byte:
		return v
	case int:
		return int64(v)
	}
	// The driver hands no other type; a new one is shown as text rather
	// than lost.
	return "unsupported value"
}

// storageClass names the SQLite storage class of a scanned value, the type
// of a column that has no declared type; "" for NULL.
func storageClass(v any) string {
	switch v.(type) {
	case int64, int, bool:
		return "integer"
	case float64:
		return "real"
	case string, time.Time:
		return "text"
	case []byte:
		return "blob"
	}
	return ""
}

// bindParams converts JSON-decoded params to driver values. SQLite binds
// them to ?, ?NNN, :name, @name and $name in order of appearance.
func bindParams(params []any) ([]any, error) {
	args := make([]any, len(params))
	for i, p := range params {
		switch v := p.(type) {
		case nil, bool, string:
			args[i] = v
		case float64:
			args[i] = v
		case json.Number:
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				args[i] = n
			} else if f, err := strconv.ParseFloat(string(v), 64); err == nil && !math.IsInf(f, 0) {
				args[i] = f
			} else {
				return nil, querygate.FieldErrorf("params", "params[%d]: the number is out of range for SQLite", i)
			}
		case []any, map[string]any:
			// Arrays and objects are bound as their JSON text, which the
			// json_* functions read.
			b, err := json.Marshal(v)
			if err != nil {
				return nil, querygate.FieldErrorf("params", "params[%d]: cannot be bound", i)
			}
			args[i] = string(b)
		default:
			return nil, querygate.FieldErrorf("params", "params[%d]: cannot be bound", i)
		}
	}
	return args, nil
}

// file is the database file of a datasource and the operator's rules.
type file struct {
	path string
	dirs []string
	deny []string
}

// resolve returns the real path of the file, or why it may not be opened.
func (f *file) resolve() (string, error) {
	if len(f.dirs) == 0 {
		return "", connect.Errorf(connect.ECONFIG, "SQLite datasources are disabled on this gateway: the operator allows no directory for them (--sqlite-dir).")
	}
	if f.path == "" || !filepath.IsAbs(f.path) {
		return "", connect.Errorf(connect.ECONFIG, "The database file must be an absolute path.")
	}
	p, err := filepath.EvalSymlinks(filepath.Clean(f.path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", connect.Errorf(connect.ECONFIG, "The database file does not exist; querygate never creates one.")
		}
		return "", connect.Errorf(connect.ECONFIG, "The database file cannot be read by the gateway.")
	}
	st, err := os.Stat(p)
	if err != nil {
		return "", connect.Errorf(connect.ECONFIG, "The database file cannot be read by the gateway.")
	}
	if !st.Mode().IsRegular() {
		return "", connect.Errorf(connect.ECONFIG, "The database path is not a regular file.")
	}
	// The gateway's own files are refused first, whatever the allowed
	// directories say: by path, by the path of a companion file, and by
	// identity (a hard link has another path).
	for _, d := range f.deny {
		rd := realPath(d)
		if within(p, rd) || within(companionOf(p), rd) {
			return "", ownFile()
		}
		if dst, err := os.Stat(rd); err == nil && os.SameFile(st, dst) {
			return "", ownFile()
		}
	}
	for _, d := range f.dirs {
		if within(p, realPath(d)) {
			return p, nil
		}
	}
	return "", connect.Errorf(connect.ECONFIG, "The database file is outside the directories the operator allows for SQLite (--sqlite-dir).")
}

func ownFile() error {
	return querygate.Errorf(querygate.EFORBIDDEN, "The database file is one of the gateway's own files; SQLite datasources can never open them.")
}

// realPath resolves links in p when it exists.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// companionOf returns the database a -wal, -shm or -journal file belongs to.
func companionOf(p string) string {
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if base, ok := strings.CutSuffix(p, s); ok {
			return base
		}
	}
	return p
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// connector opens connections for a database/sql pool, resolving and
// checking the file each time.
type connector struct {
	file *file
	mode string // ro or rw
}

func (c *connector) Driver() driver.Driver { return &sqlite.Driver{} }

// Connect opens the file by its resolved path in a SQLite URI built field
// by field, then installs the authorizer and limits.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	p, err := c.file.resolve()
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", c.mode)
	q.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	q.Add("_pragma", "trusted_schema(0)")
	if c.mode == "ro" {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	base, err := sqlite.NewConnector(u.String())
	if err != nil {
		return nil, connect.Errorf(connect.ECONFIG, "The database file cannot be opened.")
	}
	conn, err := base.Connect(ctx)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	if err := guard(conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// guard installs the authorizer on a new connection.
func guard(conn driver.Conn) error {
	reg, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		return querygate.Errorf(querygate.EINTERNAL, "The SQLite driver cannot restrict statements.")
	}
	if err := reg.RegisterAuthorizer(authorize); err != nil {
		return querygate.Errorf(querygate.EINTERNAL, "The SQLite driver cannot restrict statements.")
	}
	return nil
}

// namePragmas read the schema; their argument is a table or index name.
var namePragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "foreign_key_check": true, "integrity_check": true,
	"quick_check": true,
}

// readPragmas read a setting or the file's state when given no value, and
// would change it when given one.
var readPragmas = map[string]bool{
	"database_list": true, "collation_list": true, "function_list": true, "pragma_list": true,
	"module_list": true, "user_version": true, "schema_version": true, "application_id": true,
	"page_count": true, "page_size": true, "freelist_count": true, "encoding": true,
	"journal_mode": true, "compile_options": true, "data_version": true,
}

// authorize is SQLite's authorizer for every statement of a datasource.
func authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthAttach, sqlite.AuthDetach:
		return sqlite.AuthorizerDeny
	case sqlite.AuthPragma:
		// arg1 is the pragma's name, arg2 its value (empty when read).
		name := strings.ToLower(arg1)
		if namePragmas[name] || readPragmas[name] && arg2 == "" {
			return sqlite.AuthorizerOK
		}
		return sqlite.AuthorizerDeny
	case sqlite.AuthFunction:
		if strings.EqualFold(arg2, "load_extension") {
			return sqlite.AuthorizerDeny
		}
	case sqlite.AuthTransaction, sqlite.AuthSavepoint,
		sqlite.AuthCreateTempTable, sqlite.AuthCreateTempIndex, sqlite.AuthCreateTempTrigger, sqlite.AuthCreateTempView:
		// Nothing may outlive a request on a pooled connection (P13):
		// an open transaction would hold the next request's statements,
		// and a temporary table, view or trigger (which can fire on the
		// main database's tables) would be seen by the next user. Each
		// request is its own transaction.
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// mapError turns a driver error into a safe, coded one.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if qe, ok := errors.AsType[*querygate.Error](err); ok {
		return qe
	}
	if err := connect.ContextError(ctx); err != nil {
		return err
	}
	se, ok := errors.AsType[*sqlite.Error](err)
	if !ok {
		return connect.Errorf(connect.EQUERY, "The database file could not be used.")
	}
	msg := se.Error()
	// The driver appends the code in parentheses: "no such table: t (1)".
	if i := strings.LastIndex(msg, " ("); i > 0 {
		msg = msg[:i]
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY:
		return connect.Errorf(connect.EREADONLY, "This datasource is read-only: the statement tried to change data.")
	case sqlite3.SQLITE_AUTH:
		return connect.Errorf(connect.EQUERY, "The statement uses something SQLite datasources may not use through the gateway (ATTACH, DETACH, PRAGMAs that change settings, extensions, transaction control, temporary tables, views or triggers): each request runs as one transaction of its own.")
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PERM:
		return connect.Errorf(connect.ECONFIG, "The database file cannot be opened as a SQLite database.")
	case sqlite3.SQLITE_INTERRUPT:
		return connect.Errorf(connect.ECANCELED, "The query was cancelled.")
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return connect.Errorf(connect.EQUERY, "The database file is locked by another process; try again.")
	}
	if strings.Contains(msg, "too many attached databases") {
		return connect.Errorf(connect.EQUERY, "The statement uses something SQLite datasources may not use through the gateway (ATTACH, VACUUM).")
	}
	return connect.Errorf(connect.EQUERY, "%s", msg)
}
