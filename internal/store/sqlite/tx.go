package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/store"
)

type tx struct{ tx *sql.Tx }

var _ store.Tx = (*tx)(nil)

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

func (t *tx) exec(ctx context.Context, op, q string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return nil, translate(fmt.Errorf("sqlite: %s: %w", op, err))
	}
	return res, nil
}

// execOne runs a statement that must touch exactly one row.
func (t *tx) execOne(ctx context.Context, op, what, q string, args ...any) error {
	res, err := t.exec(ctx, op, q, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return notFound(what)
	}
	return nil
}

func (t *tx) Instance(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRowContext(ctx, `SELECT value FROM instance WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Instance setting")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: instance: %w", err)
	}
	return v, nil
}

func (t *tx) SetInstance(ctx context.Context, name string, value []byte) error {
	_, err := t.exec(ctx, "set instance", `INSERT INTO instance (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

func (t *tx) DeleteInstance(ctx context.Context, name string) error {
	_, err := t.exec(ctx, "delete instance", `DELETE FROM instance WHERE name = ?`, name)
	return err
}

// Users.

const userCols = `id, username, password_hash, role, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var c, up int64
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &c, &up); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMS(c), fromMS(up)
	return &u, nil
}

// User is an alias kept short for the scanners.
type User = store.User

func (t *tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", err)
	}
	return n, nil
}

func (t *tx) CreateUser(ctx context.Context, u *User) error {
	_, err := t.exec(ctx, "create user", `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.PasswordHash, u.Role, ms(u.CreatedAt), ms(u.UpdatedAt))
	return err
}

func (t *tx) findUser(ctx context.Context, where string, arg any) (*User, error) {
	u, err := scanUser(t.tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("User")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find user: %w", err)
	}
	return u, nil
}

func (t *tx) FindUser(ctx context.Context, id string) (*User, error) {
	return t.findUser(ctx, "id = ?", id)
}

func (t *tx) FindUserByName(ctx context.Context, username string) (*User, error) {
	return t.findUser(ctx, "username = ?", username)
}

func (t *tx) ListUsers(ctx context.Context) ([]*User, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	defer rows.Close()
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return out, nil
}

func (t *tx) UpdateUser(ctx context.Context, u *User) error {
	return t.execOne(ctx, "update user", "User", `UPDATE users SET username = ?, password_hash = ?, role = ?, updated_at = ? WHERE id = ?`,
		u.Username, u.PasswordHash, u.Role, ms(u.UpdatedAt), u.ID)
}

func (t *tx) DeleteUser(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete user", "User", `DELETE FROM users WHERE id = ?`, id)
}

// Sessions.

func (t *tx) CreateSession(ctx context.Context, s *store.Session) error {
	_, err := t.exec(ctx, "create session", `INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		s.IDHash, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt))
	return err
}

func (t *tx) FindSession(ctx context.Context, idHash []byte) (*store.Session, error) {
	var s store.Session
	var c, e int64
	err := t.tx.QueryRowContext(ctx, `SELECT id_hash, user_id, created_at, expires_at FROM sessions WHERE id_hash = ?`, idHash).
		Scan(&s.IDHash, &s.UserID, &c, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Session")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find session: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromMS(c), fromMS(e)
	return &s, nil
}

func (t *tx) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := t.exec(ctx, "delete session", `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	_, err := t.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= ?`, ms(now))
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

func (t *tx) CreateToken(ctx context.Context, tk *store.Token) error {
	_, err := t.exec(ctx, "create token", `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tk.ID, tk.UserID, tk.Name, tk.Hash, ms(tk.CreatedAt), ms(tk.ExpiresAt), ms(tk.LastUsedAt))
	return err
}

func (t *tx) FindTokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	tk, err := scanToken(t.tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find token: %w", err)
	}
	return tk, nil
}

func (t *tx) FindToken(ctx context.Context, id string) (*store.Token, error) {
	tk, err := scanToken(t.tx.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find token: %w", err)
	}
	return tk, nil
}

func (t *tx) ListTokens(ctx context.Context, userID string) ([]*store.Token, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	defer rows.Close()
	var out []*store.Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list tokens: %w", err)
		}
		out = append(out, tk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list tokens: %w", err)
	}
	return out, nil
}

func (t *tx) DeleteToken(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete token", "API token", `DELETE FROM api_tokens WHERE id = ?`, id)
}

func (t *tx) DeleteUserTokens(ctx context.Context, userID string) error {
	_, err := t.exec(ctx, "delete user tokens", `DELETE FROM api_tokens WHERE user_id = ?`, userID)
	return err
}

func (t *tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	_, err := t.exec(ctx, "touch token", `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(at), id)
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

func (t *tx) CreateDatasource(ctx context.Context, d *store.Datasource) error {
	_, err := t.exec(ctx, "create datasource", `INSERT INTO datasources (`+dsCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Name, d.Kind, d.Custody, d.ReadOnly, string(d.Settings), secretNames(d), d.Secrets, d.OwnerID, ms(d.CreatedAt), ms(d.UpdatedAt))
	return err
}

func (t *tx) FindDatasource(ctx context.Context, id string) (*store.Datasource, error) {
	d, err := scanDatasource(t.tx.QueryRowContext(ctx, `SELECT `+dsCols+` FROM datasources WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Datasource")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find datasource: %w", err)
	}
	return d, nil
}

func (t *tx) ListDatasources(ctx context.Context) ([]*store.Datasource, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+dsCols+` FROM datasources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list datasources: %w", err)
	}
	defer rows.Close()
	var out []*store.Datasource
	for rows.Next() {
		d, err := scanDatasource(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list datasources: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list datasources: %w", err)
	}
	return out, nil
}

func (t *tx) UpdateDatasource(ctx context.Context, d *store.Datasource) error {
	return t.execOne(ctx, "update datasource", "Datasource", `UPDATE datasources SET name = ?, custody = ?, read_only = ?, settings = ?,
		secret_names = ?, secrets = ?, updated_at = ? WHERE id = ?`,
		d.Name, d.Custody, d.ReadOnly, string(d.Settings), secretNames(d), d.Secrets, ms(d.UpdatedAt), d.ID)
}

func (t *tx) DeleteDatasource(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete datasource", "Datasource", `DELETE FROM datasources WHERE id = ?`, id)
}

func (t *tx) SetDatasourceSecrets(ctx context.Context, id string, sealed []byte) error {
	return t.execOne(ctx, "set datasource secrets", "Datasource", `UPDATE datasources SET secrets = ? WHERE id = ?`, sealed, id)
}
