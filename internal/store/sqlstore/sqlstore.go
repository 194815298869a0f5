// Package sqlstore implements store.Tx once, on database/sql, for every
// SQL database a store package wraps (sqlite, postgres). A Dialect supplies
// what differs: the placeholder style and the mapping of driver errors to
// domain errors. The store packages own connections, transactions and
// migrations; the statements live here, so that both stores keep exactly
// the same semantics.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

// Dialect is what differs between SQL databases.
type Dialect struct {
	// Numbered placeholders ($1, $2, ...) instead of ?.
	Numbered bool
	// Translate maps a driver error to a domain error by its code (for
	// example a unique violation to ECONFLICT), or returns it unchanged.
	Translate func(error) error
}

// rebind rewrites the ? placeholders of q for the dialect. The statements
// of this package hold no ? inside literals.
func (d *Dialect) rebind(q string) string {
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (d *Dialect) translate(err error) error {
	if d.Translate == nil {
		return err
	}
	return d.Translate(err)
}

// Tx is a store.Tx on one database/sql transaction.
type Tx struct {
	tx *sql.Tx
	d  *Dialect
	// stmts are the statements prepared on the transaction's database
	// (nil: none).
	stmts *Stmts
	// changed is set by every write that changes something gateways keep
	// copies of; Finish then raises the change sequence.
	changed bool
}

var _ store.Tx = (*Tx)(nil)

// NewTx wraps a transaction.
func NewTx(tx *sql.Tx, d *Dialect) *Tx { return &Tx{tx: tx, d: d} }

// NewPreparedTx wraps a transaction on the database stmts were prepared
// on: the hot statements then run prepared instead of being parsed again.
func NewPreparedTx(tx *sql.Tx, d *Dialect, stmts *Stmts) *Tx {
	return &Tx{tx: tx, d: d, stmts: stmts}
}

// stmt returns q prepared for this transaction, or nil when it is not one
// of the prepared statements.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	st, ok := t.stmts.m[q]
	if !ok {
		return nil
	}
	// A statement prepared on the database is reused on the transaction's
	// connection (prepared there once, the first time it is used).
	return t.tx.StmtContext(ctx, st)
}

func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), args...)
}

func (t *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, t.d.rebind(q), args...)
}

func notFound(what string) error {
	return &querygate.Error{Code: querygate.ENOTFOUND, Message: what + " not found."}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// exec runs a write, which (unless it fails) counts as a change for the
// change sequence.
func (t *Tx) exec(ctx context.Context, op, q string, args ...any) (sql.Result, error) {
	res, err := t.execKeep(ctx, op, q, args...)
	if err == nil {
		t.changed = true
	}
	return res, err
}

// execKeep runs a write that changes nothing gateways keep copies of
// (last-use times, audit events): it leaves the change sequence alone.
func (t *Tx) execKeep(ctx context.Context, op, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	var err error
	if st := t.stmt(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = t.tx.ExecContext(ctx, t.d.rebind(q), args...)
	}
	if err != nil {
		return nil, t.d.translate(fmt.Errorf("store: %s: %w", op, err))
	}
	return res, nil
}

// execOne runs a statement that must touch exactly one row.
func (t *Tx) execOne(ctx context.Context, op, what, q string, args ...any) error {
	res, err := t.exec(ctx, op, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

func (t *Tx) Instance(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := t.queryRow(ctx, `SELECT value FROM instance WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Instance setting")
	} else if err != nil {
		return nil, fmt.Errorf("store: instance: %w", err)
	}
	return v, nil
}

func (t *Tx) SetInstance(ctx context.Context, name string, value []byte) error {
	_, err := t.exec(ctx, "set instance", `INSERT INTO instance (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

func (t *Tx) DeleteInstance(ctx context.Context, name string) error {
	_, err := t.exec(ctx, "delete instance", `DELETE FROM instance WHERE name = ?`, name)
	return err
}

// Users.

const userCols = `id, username, password_hash, role, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*store.User, error) {
	var u store.User
	var c, up int64
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &c, &up); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMS(c), fromMS(up)
	return &u, nil
}

func (t *Tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

func (t *Tx) CreateUser(ctx context.Context, u *store.User) error {
	_, err := t.exec(ctx, "create user", `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.PasswordHash, u.Role, ms(u.CreatedAt), ms(u.UpdatedAt))
	return err
}

func (t *Tx) findUser(ctx context.Context, where string, arg any) (*store.User, error) {
	u, err := scanUser(t.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("User")
	} else if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	return u, nil
}

func (t *Tx) FindUser(ctx context.Context, id string) (*store.User, error) {
	return t.findUser(ctx, "id = ?", id)
}

func (t *Tx) FindUserByName(ctx context.Context, username string) (*store.User, error) {
	return t.findUser(ctx, "username = ?", username)
}

func (t *Tx) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := t.query(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return out, nil
}

func (t *Tx) UpdateUser(ctx context.Context, u *store.User) error {
	return t.execOne(ctx, "update user", "User", `UPDATE users SET username = ?, password_hash = ?, role = ?, updated_at = ? WHERE id = ?`,
		u.Username, u.PasswordHash, u.Role, ms(u.UpdatedAt), u.ID)
}

func (t *Tx) DeleteUser(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete user", "User", `DELETE FROM users WHERE id = ?`, id)
}

// Sessions.

const sessionCols = `id_hash, public_id, user_id, created_at, expires_at, last_seen_at, remote, user_agent`

func scanSession(row interface{ Scan(...any) error }) (*store.Session, error) {
	var s store.Session
	var c, e, l int64
	if err := row.Scan(&s.IDHash, &s.PublicID, &s.UserID, &c, &e, &l, &s.Remote, &s.UserAgent); err != nil {
		return nil, err
	}
	s.CreatedAt, s.ExpiresAt, s.LastSeenAt = fromMS(c), fromMS(e), fromMS(l)
	return &s, nil
}

// CreateSession, DeleteExpiredSessions and CreateToken leave the change
// sequence alone: copies are only kept of sessions and tokens that were
// found (a new one was in no copy), and an expired session is refused from
// any copy by its own times.
func (t *Tx) CreateSession(ctx context.Context, s *store.Session) error {
	_, err := t.execKeep(ctx, "create session", `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.PublicID, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt), ms(s.LastSeenAt), s.Remote, s.UserAgent)
	return err
}

func (t *Tx) findSession(ctx context.Context, where string, arg any) (*store.Session, error) {
	s, err := scanSession(t.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Session")
	} else if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	return s, nil
}

func (t *Tx) FindSession(ctx context.Context, idHash []byte) (*store.Session, error) {
	return t.findSession(ctx, "id_hash = ?", idHash)
}

func (t *Tx) FindSessionByPublicID(ctx context.Context, publicID string) (*store.Session, error) {
	return t.findSession(ctx, "public_id = ?", publicID)
}

func (t *Tx) ListSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	rows, err := t.query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE user_id = ? ORDER BY created_at DESC, public_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []*store.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return out, nil
}

func (t *Tx) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	_, err := t.execKeep(ctx, "touch session", `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, ms(at), idHash)
	return err
}

func (t *Tx) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := t.exec(ctx, "delete session", `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

func (t *Tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

func (t *Tx) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := t.execKeep(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= ?`, ms(now))
	return err
}

// API tokens.

const tokenCols = `id, user_id, name, hash, created_at, expires_at, last_used_at`

func scanToken(row interface{ Scan(...any) error }) (*store.Token, error) {
	var tk store.Token
	var c, e, l int64
	if err := row.Scan(&tk.ID, &tk.UserID, &tk.Name, &tk.Hash, &c, &e, &l); err != nil {
		return nil, err
	}
	tk.CreatedAt, tk.ExpiresAt, tk.LastUsedAt = fromMS(c), fromMS(e), fromMS(l)
	return &tk, nil
}

func (t *Tx) CreateToken(ctx context.Context, tk *store.Token) error {
	_, err := t.execKeep(ctx, "create token", `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.UserID, tk.Name, tk.Hash, ms(tk.CreatedAt), ms(tk.ExpiresAt), ms(tk.LastUsedAt))
	return err
}

func (t *Tx) FindTokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	tk, err := scanToken(t.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token")
	} else if err != nil {
		return nil, fmt.Errorf("store: find token: %w", err)
	}
	return tk, nil
}

func (t *Tx) FindToken(ctx context.Context, id string) (*store.Token, error) {
	tk, err := scanToken(t.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token")
	} else if err != nil {
		return nil, fmt.Errorf("store: find token: %w", err)
	}
	return tk, nil
}

func (t *Tx) ListTokens(ctx context.Context, userID string) ([]*store.Token, error) {
	rows, err := t.query(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []*store.Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return out, nil
}

func (t *Tx) DeleteToken(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete token", "API token", `DELETE FROM api_tokens WHERE id = ?`, id)
}

func (t *Tx) DeleteUserTokens(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user tokens", `DELETE FROM api_tokens WHERE user_id = ?`, userID)
	return err
}

func (t *Tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := t.execKeep(ctx, "touch token", `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(at), id)
	return err
}

// Datasources.

const dsCols = `id, name, kind, custody, read_only, settings, secret_names, secrets, owner_id, created_at, updated_at`

func scanDatasource(row interface{ Scan(...any) error }) (*store.Datasource, error) {
	var d store.Datasource
	var settings, names string
	var c, u int64
	if err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.Custody, &d.ReadOnly, &settings, &names, &d.Secrets, &d.OwnerID, &c, &u); err != nil {
		return nil, err
	}
	d.Settings = []byte(settings)
	if err := json.Unmarshal([]byte(names), &d.SecretNames); err != nil {
		return nil, fmt.Errorf("secret names: %w", err)
	}
	d.CreatedAt, d.UpdatedAt = fromMS(c), fromMS(u)
	return &d, nil
}

func secretNames(d *store.Datasource) string {
	names := d.SecretNames
	if names == nil {
		names = []string{}
	}
	b, _ := json.Marshal(names)
	return string(b)
}

func (t *Tx) CreateDatasource(ctx context.Context, d *store.Datasource) error {
	_, err := t.exec(ctx, "create datasource", `INSERT INTO datasources (`+dsCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.Kind, d.Custody, d.ReadOnly, string(d.Settings), secretNames(d), d.Secrets, d.OwnerID, ms(d.CreatedAt), ms(d.UpdatedAt))
	return err
}

func (t *Tx) FindDatasource(ctx context.Context, id string) (*store.Datasource, error) {
	d, err := scanDatasource(t.queryRow(ctx, `SELECT `+dsCols+` FROM datasources WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Datasource")
	} else if err != nil {
		return nil, fmt.Errorf("store: find datasource: %w", err)
	}
	return d, nil
}

func (t *Tx) ListDatasources(ctx context.Context) ([]*store.Datasource, error) {
	rows, err := t.query(ctx, `SELECT `+dsCols+` FROM datasources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list datasources: %w", err)
	}
	defer rows.Close()
	var out []*store.Datasource
	for rows.Next() {
		d, err := scanDatasource(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list datasources: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list datasources: %w", err)
	}
	return out, nil
}

func (t *Tx) UpdateDatasource(ctx context.Context, d *store.Datasource) error {
	return t.execOne(ctx, "update datasource", "Datasource", `UPDATE datasources SET name = ?, custody = ?, read_only = ?, settings = ?,
		secret_names = ?, secrets = ?, updated_at = ? WHERE id = ?`,
		d.Name, d.Custody, d.ReadOnly, string(d.Settings), secretNames(d), d.Secrets, ms(d.UpdatedAt), d.ID)
}

func (t *Tx) DeleteDatasource(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete datasource", "Datasource", `DELETE FROM datasources WHERE id = ?`, id)
}

func (t *Tx) SetDatasourceSecrets(ctx context.Context, id string, sealed []byte) error {
	return t.execOne(ctx, "set datasource secrets", "Datasource", `UPDATE datasources SET secrets = ? WHERE id = ?`, sealed, id)
}

// Audit events.

const auditCols = `seq, at, actor_id, actor_name, action, target, datasource_id, outcome, remote, request_id, details, hash`

func scanAudit(row interface{ Scan(...any) error }) (*store.AuditEvent, error) {
	var e store.AuditEvent
	var at int64
	if err := row.Scan(&e.Seq, &at, &e.ActorID, &e.ActorName, &e.Action, &e.Target, &e.DatasourceID, &e.Outcome,
		&e.Remote, &e.RequestID, &e.Details, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	return &e, nil
}

func (t *Tx) LastAuditEvent(ctx context.Context) (*store.AuditEvent, error) {
	e, err := scanAudit(t.queryRow(ctx, `SELECT `+auditCols+` FROM audit_events ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("audit event")
	} else if err != nil {
		return nil, fmt.Errorf("store: last audit event: %w", err)
	}
	return e, nil
}

func (t *Tx) AppendAuditEvent(ctx context.Context, e *store.AuditEvent) error {
	_, err := t.execKeep(ctx, "append audit event", `INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, ms(e.At), e.ActorID, e.ActorName, e.Action, e.Target, e.DatasourceID, e.Outcome, e.Remote, e.RequestID, e.Details, e.Hash)
	return err
}

func (t *Tx) AuditJournalMark(ctx context.Context) (string, int64, error) {
	var gen string
	var moved int64
	err := t.queryRow(ctx, `SELECT generation, moved FROM audit_journal WHERE id = 1`).Scan(&gen, &moved)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	} else if err != nil {
		return "", 0, t.d.translate(fmt.Errorf("store: audit journal mark: %w", err))
	}
	return gen, moved, nil
}

func (t *Tx) SetAuditJournalMark(ctx context.Context, generation string, moved int64) error {
	_, err := t.execKeep(ctx, "set audit journal mark", `INSERT INTO audit_journal (id, generation, moved) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, moved = excluded.moved`, generation, moved)
	return err
}

func (t *Tx) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]*store.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			add("substr(action, 1, ?) = ?", len(f.Action))
			args = append(args, f.Action)
		} else {
			add("action = ?", f.Action)
		}
	}
	if f.DatasourceID != "" {
		add("datasource_id = ?", f.DatasourceID)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.Since.IsZero() {
		add("at >= ?", ms(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", ms(f.Until))
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	q := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	if f.Ascending {
		q += ` ORDER BY seq ASC`
	} else {
		q += ` ORDER BY seq DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit events: %w", err)
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list audit events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit events: %w", err)
	}
	return out, nil
}

// Device credentials.

const deviceCols = `id, user_id, datasource_id, sealed, created_at, expires_at, last_used_at`

func scanDevice(row interface{ Scan(...any) error }) (*store.DeviceCredential, error) {
	var d store.DeviceCredential
	var c, e, l int64
	if err := row.Scan(&d.ID, &d.UserID, &d.DatasourceID, &d.Sealed, &c, &e, &l); err != nil {
		return nil, err
	}
	d.CreatedAt, d.ExpiresAt, d.LastUsedAt = fromMS(c), fromMS(e), fromMS(l)
	return &d, nil
}

func (t *Tx) CreateDeviceCredential(ctx context.Context, d *store.DeviceCredential) error {
	_, err := t.exec(ctx, "create device credential", `INSERT INTO device_credentials (`+deviceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.UserID, d.DatasourceID, d.Sealed, ms(d.CreatedAt), ms(d.ExpiresAt), ms(d.LastUsedAt))
	return err
}

func (t *Tx) FindDeviceCredential(ctx context.Context, id string) (*store.DeviceCredential, error) {
	d, err := scanDevice(t.queryRow(ctx, `SELECT `+deviceCols+` FROM device_credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("device")
	} else if err != nil {
		return nil, fmt.Errorf("store: find device credential: %w", err)
	}
	return d, nil
}

func (t *Tx) ListDeviceCredentials(ctx context.Context, userID, datasourceID string) ([]*store.DeviceCredential, error) {
	q := `SELECT ` + deviceCols + ` FROM device_credentials WHERE (? = '' OR user_id = ?) AND (? = '' OR datasource_id = ?) ORDER BY created_at`
	rows, err := t.query(ctx, q, userID, userID, datasourceID, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("store: list device credentials: %w", err)
	}
	defer rows.Close()
	var out []*store.DeviceCredential
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list device credentials: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list device credentials: %w", err)
	}
	return out, nil
}

func (t *Tx) DeleteDeviceCredential(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete device credential", "device", `DELETE FROM device_credentials WHERE id = ?`, id)
}

func (t *Tx) DeleteDeviceCredentials(ctx context.Context, userID, datasourceID string) (int64, error) {
	res, err := t.exec(ctx, "delete device credentials",
		`DELETE FROM device_credentials WHERE (? = '' OR user_id = ?) AND (? = '' OR datasource_id = ?)`,
		userID, userID, datasourceID, datasourceID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (t *Tx) DeleteExpiredDeviceCredentials(ctx context.Context, now time.Time) error {
	_, err := t.exec(ctx, "delete expired device credentials", `DELETE FROM device_credentials WHERE expires_at <= ?`, ms(now))
	return err
}

func (t *Tx) TouchDeviceCredential(ctx context.Context, id string, at time.Time) error {
	_, err := t.execKeep(ctx, "touch device credential", `UPDATE device_credentials SET last_used_at = ? WHERE id = ?`, ms(at), id)
	return err
}

// Groups.

func (t *Tx) CreateGroup(ctx context.Context, g *store.Group) error {
	_, err := t.exec(ctx, "create group", `INSERT INTO groups (id, name, created_at) VALUES (?, ?, ?)`, g.ID, g.Name, ms(g.CreatedAt))
	return err
}

func (t *Tx) FindGroup(ctx context.Context, id string) (*store.Group, error) {
	var g store.Group
	var c int64
	err := t.queryRow(ctx, `SELECT id, name, created_at FROM groups WHERE id = ?`, id).Scan(&g.ID, &g.Name, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group")
	} else if err != nil {
		return nil, fmt.Errorf("store: find group: %w", err)
	}
	g.CreatedAt = fromMS(c)
	return &g, nil
}

func (t *Tx) ListGroups(ctx context.Context) ([]*store.Group, error) {
	rows, err := t.query(ctx, `SELECT id, name, created_at FROM groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	defer rows.Close()
	var out []*store.Group
	for rows.Next() {
		var g store.Group
		var c int64
		if err := rows.Scan(&g.ID, &g.Name, &c); err != nil {
			return nil, fmt.Errorf("store: list groups: %w", err)
		}
		g.CreatedAt = fromMS(c)
		out = append(out, &g)
	}
	return out, rows.Err()
}

func (t *Tx) DeleteGroup(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete group", "group", `DELETE FROM groups WHERE id = ?`, id)
}

func (t *Tx) SetGroupMembers(ctx context.Context, groupID string, userIDs []string) error {
	if _, err := t.exec(ctx, "set group members", `DELETE FROM group_members WHERE group_id = ?`, groupID); err != nil {
		return err
	}
	for _, u := range userIDs {
		if _, err := t.exec(ctx, "set group members", `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)`, groupID, u); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) ListGroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return t.strings(ctx, "list group members", `SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id`, groupID)
}

func (t *Tx) ListUserGroups(ctx context.Context, userID string) ([]string, error) {
	return t.strings(ctx, "list user groups", `SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id`, userID)
}

func (t *Tx) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Grants.

func (t *Tx) ListGrants(ctx context.Context, datasourceID string) ([]store.Grant, error) {
	rows, err := t.query(ctx, `SELECT datasource_id, subject_type, subject_id, level FROM grants WHERE datasource_id = ? ORDER BY subject_type, subject_id`, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("store: list grants: %w", err)
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.DatasourceID, &g.SubjectType, &g.SubjectID, &g.Level); err != nil {
			return nil, fmt.Errorf("store: list grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *Tx) SetGrants(ctx context.Context, datasourceID string, grants []store.Grant) error {
	if _, err := t.exec(ctx, "set grants", `DELETE FROM grants WHERE datasource_id = ?`, datasourceID); err != nil {
		return err
	}
	for _, g := range grants {
		if _, err := t.exec(ctx, "set grants", `INSERT INTO grants (datasource_id, subject_type, subject_id, level) VALUES (?, ?, ?, ?)`,
			datasourceID, g.SubjectType, g.SubjectID, g.Level); err != nil {
			return err
		}
	}
	return nil
}

// UserGrantLevels returns every level granted to a user, directly or
// through a group, per datasource (a datasource may appear more than
// once; the caller takes the highest).
func (t *Tx) UserGrantLevels(ctx context.Context, userID, datasourceID string) ([]store.Grant, error) {
	rows, err := t.query(ctx, qUserGrantLevels, datasourceID, datasourceID, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("store: user grants: %w", err)
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.DatasourceID, &g.SubjectType, &g.SubjectID, &g.Level); err != nil {
			return nil, fmt.Errorf("store: user grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Saved queries.

const savedQueryCols = `id, datasource_id, name, description, owner_id, current_version, created_at, updated_at`

func scanSavedQuery(row interface{ Scan(...any) error }) (*store.SavedQuery, error) {
	var q store.SavedQuery
	var c, u int64
	if err := row.Scan(&q.ID, &q.DatasourceID, &q.Name, &q.Description, &q.OwnerID, &q.CurrentVersion, &c, &u); err != nil {
		return nil, err
	}
	q.CreatedAt, q.UpdatedAt = fromMS(c), fromMS(u)
	return &q, nil
}

func (t *Tx) CreateSavedQuery(ctx context.Context, q *store.SavedQuery, v *store.SavedQueryVersion) error {
	if _, err := t.exec(ctx, "create saved query", `INSERT INTO saved_queries (`+savedQueryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.DatasourceID, q.Name, q.Description, q.OwnerID, q.CurrentVersion, ms(q.CreatedAt), ms(q.UpdatedAt)); err != nil {
		return err
	}
	v.QueryID, v.Version = q.ID, q.CurrentVersion
	return t.AddSavedQueryVersion(ctx, v)
}

func (t *Tx) FindSavedQuery(ctx context.Context, id string) (*store.SavedQuery, error) {
	q, err := scanSavedQuery(t.queryRow(ctx, `SELECT `+savedQueryCols+` FROM saved_queries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Saved query")
	} else if err != nil {
		return nil, fmt.Errorf("store: find saved query: %w", err)
	}
	return q, nil
}

func (t *Tx) ListSavedQueries(ctx context.Context, datasourceID string) ([]*store.SavedQuery, error) {
	rows, err := t.query(ctx, `SELECT `+savedQueryCols+` FROM saved_queries
		WHERE (? = '' OR datasource_id = ?) ORDER BY datasource_id, name`, datasourceID, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("store: list saved queries: %w", err)
	}
	defer rows.Close()
	var out []*store.SavedQuery
	for rows.Next() {
		q, err := scanSavedQuery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list saved queries: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list saved queries: %w", err)
	}
	return out, nil
}

func (t *Tx) UpdateSavedQuery(ctx context.Context, q *store.SavedQuery) error {
	return t.execOne(ctx, "update saved query", "Saved query",
		`UPDATE saved_queries SET name = ?, description = ?, current_version = ?, updated_at = ? WHERE id = ?`,
		q.Name, q.Description, q.CurrentVersion, ms(q.UpdatedAt), q.ID)
}

func (t *Tx) DeleteSavedQuery(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete saved query", "Saved query", `DELETE FROM saved_queries WHERE id = ?`, id)
}

const savedQueryVersionCols = `query_id, version, body, parameters, created_by, created_at`

func scanSavedQueryVersion(row interface{ Scan(...any) error }) (*store.SavedQueryVersion, error) {
	var v store.SavedQueryVersion
	var body, params string
	var c int64
	if err := row.Scan(&v.QueryID, &v.Version, &body, &params, &v.CreatedBy, &c); err != nil {
		return nil, err
	}
	v.Body, v.Parameters, v.CreatedAt = []byte(body), []byte(params), fromMS(c)
	return &v, nil
}

func (t *Tx) AddSavedQueryVersion(ctx context.Context, v *store.SavedQueryVersion) error {
	_, err := t.exec(ctx, "add saved query version", `INSERT INTO saved_query_versions (`+savedQueryVersionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		v.QueryID, v.Version, string(v.Body), string(v.Parameters), v.CreatedBy, ms(v.CreatedAt))
	return err
}

func (t *Tx) FindSavedQueryVersion(ctx context.Context, queryID string, version int) (*store.SavedQueryVersion, error) {
	v, err := scanSavedQueryVersion(t.queryRow(ctx, `SELECT `+savedQueryVersionCols+` FROM saved_query_versions
		WHERE query_id = ? AND version = ?`, queryID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Saved query version")
	} else if err != nil {
		return nil, fmt.Errorf("store: find saved query version: %w", err)
	}
	return v, nil
}

func (t *Tx) ListSavedQueryVersions(ctx context.Context, queryID string) ([]*store.SavedQueryVersion, error) {
	rows, err := t.query(ctx, `SELECT `+savedQueryVersionCols+` FROM saved_query_versions
		WHERE query_id = ? ORDER BY version`, queryID)
	if err != nil {
		return nil, fmt.Errorf("store: list saved query versions: %w", err)
	}
	defer rows.Close()
	var out []*store.SavedQueryVersion
	for rows.Next() {
		v, err := scanSavedQueryVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list saved query versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list saved query versions: %w", err)
	}
	return out, nil
}

// Dashboards.

const dashboardCols = `id, name, description, owner_id, definition, created_at, updated_at`

func scanDashboard(row interface{ Scan(...any) error }) (*store.Dashboard, error) {
	var d store.Dashboard
	var def string
	var c, u int64
	if err := row.Scan(&d.ID, &d.Name, &d.Description, &d.OwnerID, &def, &c, &u); err != nil {
		return nil, err
	}
	d.Definition, d.CreatedAt, d.UpdatedAt = []byte(def), fromMS(c), fromMS(u)
	return &d, nil
}

func (t *Tx) CreateDashboard(ctx context.Context, d *store.Dashboard) error {
	_, err := t.exec(ctx, "create dashboard", `INSERT INTO dashboards (`+dashboardCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.Description, d.OwnerID, string(d.Definition), ms(d.CreatedAt), ms(d.UpdatedAt))
	return err
}

func (t *Tx) FindDashboard(ctx context.Context, id string) (*store.Dashboard, error) {
	d, err := scanDashboard(t.queryRow(ctx, `SELECT `+dashboardCols+` FROM dashboards WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Dashboard")
	} else if err != nil {
		return nil, fmt.Errorf("store: find dashboard: %w", err)
	}
	return d, nil
}

func (t *Tx) ListDashboards(ctx context.Context) ([]*store.Dashboard, error) {
	rows, err := t.query(ctx, `SELECT `+dashboardCols+` FROM dashboards ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list dashboards: %w", err)
	}
	defer rows.Close()
	var out []*store.Dashboard
	for rows.Next() {
		d, err := scanDashboard(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list dashboards: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list dashboards: %w", err)
	}
	return out, nil
}

func (t *Tx) UpdateDashboard(ctx context.Context, d *store.Dashboard) error {
	return t.execOne(ctx, "update dashboard", "Dashboard", `UPDATE dashboards SET name = ?, description = ?, definition = ?, updated_at = ? WHERE id = ?`,
		d.Name, d.Description, string(d.Definition), ms(d.UpdatedAt), d.ID)
}

func (t *Tx) DeleteDashboard(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete dashboard", "Dashboard", `DELETE FROM dashboards WHERE id = ?`, id)
}

func (t *Tx) dashboardGrants(ctx context.Context, op, q string, args ...any) ([]store.DashboardGrant, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []store.DashboardGrant
	for rows.Next() {
		var g store.DashboardGrant
		if err := rows.Scan(&g.DashboardID, &g.SubjectType, &g.SubjectID, &g.Level); err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *Tx) ListDashboardGrants(ctx context.Context, dashboardID string) ([]store.DashboardGrant, error) {
	return t.dashboardGrants(ctx, "list dashboard grants", `SELECT dashboard_id, subject_type, subject_id, level FROM dashboard_grants
		WHERE dashboard_id = ? ORDER BY subject_type, subject_id`, dashboardID)
}

func (t *Tx) SetDashboardGrants(ctx context.Context, dashboardID string, grants []store.DashboardGrant) error {
	if _, err := t.exec(ctx, "set dashboard grants", `DELETE FROM dashboard_grants WHERE dashboard_id = ?`, dashboardID); err != nil {
		return err
	}
	for _, g := range grants {
		if _, err := t.exec(ctx, "set dashboard grants", `INSERT INTO dashboard_grants (dashboard_id, subject_type, subject_id, level) VALUES (?, ?, ?, ?)`,
			dashboardID, g.SubjectType, g.SubjectID, g.Level); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) UserDashboardLevels(ctx context.Context, userID string) ([]store.DashboardGrant, error) {
	return t.dashboardGrants(ctx, "user dashboard grants", `SELECT dashboard_id, subject_type, subject_id, level FROM dashboard_grants
		WHERE (subject_type = 'user' AND subject_id = ?) OR
			(subject_type = 'group' AND subject_id IN (SELECT group_id FROM group_members WHERE user_id = ?))`, userID, userID)
}

// Identities.

func (t *Tx) FindIdentity(ctx context.Context, issuer, subject string) (string, error) {
	var id string
	err := t.queryRow(ctx, `SELECT user_id FROM user_identities WHERE issuer = ? AND subject = ?`, issuer, subject).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("Identity")
	} else if err != nil {
		return "", fmt.Errorf("store: find identity: %w", err)
	}
	return id, nil
}

func (t *Tx) UserIdentity(ctx context.Context, issuer, userID string) (string, error) {
	var sub string
	err := t.queryRow(ctx, `SELECT subject FROM user_identities WHERE issuer = ? AND user_id = ?`, issuer, userID).Scan(&sub)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("Identity")
	} else if err != nil {
		return "", fmt.Errorf("store: user identity: %w", err)
	}
	return sub, nil
}

func (t *Tx) LinkIdentity(ctx context.Context, issuer, subject, userID string, at time.Time) error {
	_, err := t.exec(ctx, "link identity", `INSERT INTO user_identities (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)`,
		issuer, subject, userID, ms(at))
	return err
}
