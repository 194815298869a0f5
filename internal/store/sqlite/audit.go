package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/querygate/querygate/internal/store"
)

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

func (t *tx) LastAuditEvent(ctx context.Context) (*store.AuditEvent, error) {
	e, err := scanAudit(t.tx.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audit_events ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("audit event")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: last audit event: %w", err)
	}
	return e, nil
}

func (t *tx) AppendAuditEvent(ctx context.Context, e *store.AuditEvent) error {
	_, err := t.exec(ctx, "append audit event", `INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, ms(e.At), e.ActorID, e.ActorName, e.Action, e.Target, e.DatasourceID, e.Outcome, e.Remote, e.RequestID, e.Details, e.Hash)
	return err
}

func (t *tx) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]*store.AuditEvent, error) {
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
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list audit events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	return out, nil
}
