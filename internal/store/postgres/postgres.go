// Package postgres implements store.Store on PostgreSQL, for several
// gateway replicas sharing one store (DESIGN section 7). The statements are
// the shared ones of store/sqlstore; this package owns the connections, the
// transactions and the migrations.
//
// Writes are serialised across every replica by a transaction-level
// advisory lock, so that two Updates never interleave, as the store
// contract promises; reads run in read-only snapshots. Migrations run under
// a session-level advisory lock, so replicas starting at once apply each
// migration exactly once. Like every store it keeps only what the layers
// above hand it: hashes and sealed blobs, never a plaintext secret or a
// query result.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
	"github.com/querygate/querygate/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys: one for writes, one for migrations ("qgwrite",
// "qgmigrt" as numbers, so that they do not collide with other users of
// the same database by chance).
const (
	writeLockKey   int64 = 0x7167777269746500
	migrateLockKey int64 = 0x71676d6967727400
)

// DB is a PostgreSQL store.
type DB struct {
	db *sql.DB
	// The hot statements, prepared once, and the change sequence's reader.
	stmts   *sqlstore.Stmts
	changes *sqlstore.Changes
	// lastMigration is the schema version before and after Open migrated.
	lastMigration struct{ before, after int }
}

var _ store.Store = (*DB)(nil)

// dialect is what the shared statements need to know of PostgreSQL.
var dialect = &sqlstore.Dialect{Numbered: true, Translate: translate}

// Open connects to the PostgreSQL store at url (postgres://… or key=value
// form) and runs pending migrations. A store migrated past what this build
// knows is refused.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("postgres store: the database URL cannot be parsed")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "querygate-store"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(16)
	sqlDB.SetMaxIdleConns(4)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{db: sqlDB}
	if err := db.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	if db.stmts, err = sqlstore.Prepare(ctx, sqlDB, dialect, true); err != nil {
		sqlDB.Close()
		return nil, unavailable(fmt.Errorf("postgres store: %w", err))
	}
	if db.changes, err = sqlstore.NewChanges(ctx, sqlDB, dialect); err != nil {
		db.stmts.Close()
		sqlDB.Close()
		return nil, unavailable(fmt.Errorf("postgres store: %w", err))
	}
	return db, nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	var errs []error
	if db.changes != nil {
		errs = append(errs, db.changes.Close())
	}
	return errors.Join(append(errs, db.stmts.Close(), db.db.Close())...)
}

// ChangeSeq returns the store's change sequence (see store.Store): one
// prepared point query, shared by the calls that arrive within
// sqlstore.ChangesFresh of it.
func (db *DB) ChangeSeq(ctx context.Context) (int64, error) {
	seq, err := db.changes.Seq(ctx)
	if err != nil {
		return 0, translate(fmt.Errorf("postgres store: %w", err))
	}
	return seq, nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store is not reachable."}
	}
	return nil
}

// SchemaVersion is the newest migration this build knows.
func SchemaVersion() int {
	ms, _ := sqlstore.Migrations(migrations)
	return len(ms)
}

// Migrated returns the schema version before and after Open migrated.
func (db *DB) Migrated() (before, after int) { return db.lastMigration.before, db.lastMigration.after }

func (db *DB) migrate(ctx context.Context) error {
	ms, err := sqlstore.Migrations(migrations)
	if err != nil {
		return err
	}
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer conn.Close()
	// A session lock: replicas starting together wait for each other here.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return unavailable(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	db.lastMigration.before, db.lastMigration.after = current, current
	if current > len(ms) {
		return fmt.Errorf("postgres store: the store is at schema version %d, newer than this build knows (%d); run a newer querygate", current, len(ms))
	}
	for _, m := range ms[current:] {
		name, v := m.Name, m.Version
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return unavailable(err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("postgres store: migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().Unix()); err != nil {
			tx.Rollback()
			return fmt.Errorf("postgres store: migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("postgres store: migration %s: %w", name, err)
		}
		db.lastMigration.after = v
	}
	return nil
}

// Update runs fn in a read-write transaction that holds the store's write
// lock: writes from every replica are serialised.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, nil, fn, true)
}

// View runs fn in a read-only snapshot.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, fn, false)
}

func (db *DB) run(ctx context.Context, opts *sql.TxOptions, fn func(store.Tx) error, write bool) error {
	sqlTx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return unavailable(fmt.Errorf("postgres store: begin: %w", err))
	}
	defer sqlTx.Rollback()
	if write {
		if _, err := sqlTx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, writeLockKey); err != nil {
			return unavailable(fmt.Errorf("postgres store: write lock: %w", err))
		}
	}
	tx := sqlstore.NewPreparedTx(sqlTx, dialect, db.stmts)
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
		return translate(fmt.Errorf("postgres store: commit: %w", err))
	}
	return nil
}

// translate maps driver errors to domain errors by their SQLSTATE code,
// never by text.
func translate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return &querygate.Error{Code: querygate.ECONFLICT, Message: "That name is already taken."}
		case "40001", "40P01", "55P03", "57P01", "57P02", "57P03": // serialization, deadlock, lock, shutdown
			return &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store is busy; try again."}
		}
		return err
	}
	return unavailable(err)
}

// unavailable marks an error that means the store cannot be reached.
func unavailable(err error) error {
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %w", &querygate.Error{Code: querygate.EUNAVAILABLE, Message: "The store is not reachable."}, err)
	}
	return err
}

// CopySide is this store as one side of a store copy.
func (db *DB) CopySide(bool) sqlstore.Side {
	return sqlstore.Side{DB: db.db, Dialect: dialect, Schema: func(ctx context.Context) (map[string][]string, error) {
		return sqlstore.Schema(ctx, db.db, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`)
	}}
}

// Tables lists the tables of the database at url (in its current schema)
// without changing anything: store copy checks a source and a target with
// it before opening them, since opening migrates.
func Tables(ctx context.Context, url string) ([]string, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres store: the database URL cannot be parsed")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("postgres store: list tables: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
