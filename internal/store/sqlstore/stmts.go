package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// qUserGrantLevels lists the grants reaching a user, directly or through a
// group, on one datasource or (with ”) all of them.
const qUserGrantLevels = `SELECT datasource_id, subject_type, subject_id, level FROM grants
		WHERE (? = '' OR datasource_id = ?) AND (
			(subject_type = 'user' AND subject_id = ?) OR
			(subject_type = 'group' AND subject_id IN (SELECT group_id FROM group_members WHERE user_id = ?)))`

// hotStatements are the statements of a request's path (authentication,
// the datasource and its grants, last-use touches, the audit append and
// the change sequence), prepared once per database instead of being parsed
// again in every transaction. Each is the exact text a Tx method passes
// to queryRow, query or exec (a text that differs is simply not prepared).
var hotStatements = []string{
	`SELECT ` + sessionCols + ` FROM sessions WHERE id_hash = ?`,
	`SELECT ` + userCols + ` FROM users WHERE id = ?`,
	`SELECT ` + tokenCols + ` FROM api_tokens WHERE hash = ?`,
	`SELECT ` + dsCols + ` FROM datasources WHERE id = ?`,
	qUserGrantLevels,
	`UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`,
	`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`,
	`SELECT ` + auditCols + ` FROM audit_events ORDER BY seq DESC LIMIT 1`,
	`INSERT INTO audit_events (` + auditCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	bumpChanges,
}

// Stmts are the hot statements prepared on one database. database/sql
// prepares each again on every other connection the first time a
// transaction there uses it, and keeps it.
type Stmts struct {
	m map[string]*sql.Stmt
}

// Prepare prepares the hot statements on db. With write false only the
// reads are prepared (a read-only pool). Close them with Close before
// closing db.
func Prepare(ctx context.Context, db *sql.DB, d *Dialect, write bool) (*Stmts, error) {
	s := &Stmts{m: map[string]*sql.Stmt{}}
	for _, q := range hotStatements {
		if !write && !isRead(q) {
			continue
		}
		st, err := db.PrepareContext(ctx, d.rebind(q))
		if err != nil {
			s.Close()
			return nil, d.translate(fmt.Errorf("store: prepare: %w", err))
		}
		s.m[q] = st
	}
	return s, nil
}

func isRead(q string) bool { return len(q) > 6 && q[:6] == "SELECT" }

// Close closes every statement.
func (s *Stmts) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, st := range s.m {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
