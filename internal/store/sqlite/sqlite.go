// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo) in WAL mode. It is the default store.
//
// It never stores plaintext secrets or query results: it only keeps what the
// layers above hand it, which are hashes and sealed blobs.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlstore"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite store. Writes go through one connection in IMMEDIATE
// transactions, so they are serialised and never fail half-way with a busy
// upgrade; reads use a separate pool.
type DB struct {
	path string
	w    *sql.DB
	r    *sql.DB
	// The hot statements, prepared once on each pool, and the change
	// sequence's reader.
	wStmts, rStmts *sqlstore.Stmts
	changes        *sqlstore.Changes
	// The WAL index header, read by the change sequence's reader to
	// skip its query while nothing was committed (nil when it cannot
	// be read: the query is then run every time).
	wal *walIndex
}

var _ store.Store = (*DB)(nil)

// Sync says when a commit waits for the disk.
type Sync string

const (
	// SyncFull (the default) makes every commit wait for the write-ahead
	// log to reach the disk (one fsync per commit): a committed change
	// survives a crash of querygate, of the operating system and a loss
	// of power.
	SyncFull Sync = "full"
	// SyncNormal leaves the write-ahead log to the operating system and
	// syncs only at checkpoints: a committed change survives a crash of
	// querygate, but the changes committed since the last checkpoint (at
	// most about a thousand pages of log) may be lost to a crash of the
	// operating system or a loss of power. Commits no longer pay an fsync.
	SyncNormal Sync = "normal"
)

// Options are the settings of OpenWith.
type Options struct {
	// Sync is SyncFull (also when empty) or SyncNormal.
	Sync Sync
}

// Open opens (creating if needed, with mode 0600) the database at path and
// runs pending migrations, with the default options.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	sync := "FULL"
	switch o.Sync {
	case "", SyncFull:
	case SyncNormal:
		sync = "NORMAL"
	default:
		return nil, fmt.Errorf("sqlite: sync must be %s or %s", SyncFull, SyncNormal)
	}
	if path == "" {
		return nil, errors.New("sqlite: no path")
	}
	// Create the file ourselves so that it, and the -wal and -shm files
	// SQLite derives from it, are readable by the owner only.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f.Close()

	// secure_delete overwrites deleted and replaced content with zeros, so
	// that a sealed blob replaced at key rotation (or a deleted session or
	// token hash) does not linger in free space of the file.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" +
		"_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")" +
		"&_pragma=secure_delete(1)"
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	db := &DB{path: path, w: w, r: r}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// prepare prepares the hot statements and the change sequence's reader
// (after migrating: they name the tables).
func (db *DB) prepare(ctx context.Context) error {
	var err error
	if db.wStmts, err = sqlstore.Prepare(ctx, db.w, dialect, true); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if db.rStmts, err = sqlstore.Prepare(ctx, db.r, dialect, false); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if db.changes, err = sqlstore.NewChanges(ctx, db.r, dialect); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// Without the WAL index (an unusual file system or VFS), every
	// ChangeSeq queries, as it always may.
	if db.wal, err = openWALIndex(db.path); err == nil {
		db.changes.SetProbe(db.wal.Mark)
	}
	return nil
}

// ChangeSeq returns the store's change sequence (see store.Store).
func (db *DB) ChangeSeq(ctx context.Context) (int64, error) {
	seq, err := db.changes.Seq(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("sqlite: %w", err))
	}
	return seq, nil
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Files returns the database file and the WAL and shared-memory files next to
// it (they may not exist).
func (db *DB) Files() []string {
	return []string{db.path, db.path + "-wal", db.path + "-shm"}
}

// Checkpoint copies every page of the write-ahead log into the database file
// and truncates the log to zero bytes, so that earlier versions of rewritten
// rows do not stay in the -wal file. It fails with EUNAVAILABLE when readers
// keep the log busy past the busy timeout.
func (db *DB) Checkpoint(ctx context.Context) error {
	var busy, logFrames, done int
	if err := db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return translate(fmt.Errorf("sqlite: checkpoint: %w", err))
	}
	if busy != 0 {
		return &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store's write-ahead log is in use; try again."}
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.changes != nil {
		errs = append(errs, db.changes.Close())
	}
	errs = append(errs, db.wal.Close())
	errs = append(errs, db.wStmts.Close(), db.rStmts.Close())
	return errors.Join(append(errs, db.r.Close(), db.w.Close())...)
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store is not reachable."}
	}
	return nil
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() int {
	ms, _ := sqlstore.Migrations(migrations)
	return len(ms)
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := sqlstore.Migrations(migrations)
	if err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("sqlite: the store is at schema version %d, newer than this build knows (%d); run a newer querygate", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, strftime('%s','now'))`, m.Version); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return tx.Commit()
}

// Update runs fn in an IMMEDIATE (write-locked) transaction.
// A write that changes what gateways keep copies of also raises the
// change sequence, in the same transaction.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.w, db.wStmts, fn)
}

// View runs fn in a read transaction on the read pool.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.r, db.rStmts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, stmts *sqlstore.Stmts, fn func(store.Tx) error) error {
	sqlTx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return translate(fmt.Errorf("sqlite: begin: %w", err))
	}
	defer sqlTx.Rollback()
	tx := sqlstore.NewPreparedTx(sqlTx, dialect, stmts)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Finish(ctx); err != nil {
		return err
	}
	err = sqlTx.Commit()
	if tx.Changed() && db.changes != nil {
		// Even after a failed commit: whether it happened is not known.
		db.changes.Invalidate()
	}
	if err != nil {
		return translate(fmt.Errorf("sqlite: commit: %w", err))
	}
	return nil
}

// dialect is what the shared statements need to know of SQLite.
var dialect = &sqlstore.Dialect{Translate: translate}

// translate maps driver errors to domain errors by their code, never by text.
func translate(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &querygate.Error{Code: querygate.ECONFLICT, Message: "That name is already taken."}
		case sqlite3lib.SQLITE_BUSY, sqlite3lib.SQLITE_LOCKED:
			return &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store is busy; try again."}
		}
	}
	return err
}

// CopySide is this store as one side of a store copy: reads go through
// the read-only pool, writes through the writer.
func (db *DB) CopySide(write bool) sqlstore.Side {
	pool := db.r
	if write {
		pool = db.w
	}
	return sqlstore.Side{DB: pool, Dialect: dialect, Schema: func(ctx context.Context) (map[string][]string, error) {
		return sqlstore.Schema(ctx, pool, `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	}}
}
