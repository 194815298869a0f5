package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/querygate/querygate/internal/store"
)

// Groups.

func (t *tx) CreateGroup(ctx context.Context, g *store.Group) error {
	_, err := t.exec(ctx, "create group", `INSERT INTO groups (id, name, created_at) VALUES (?, ?, ?)`, g.ID, g.Name, ms(g.CreatedAt))
	return err
}

func (t *tx) FindGroup(ctx context.Context, id string) (*store.Group, error) {
	var g store.Group
	var c int64
	err := t.tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM groups WHERE id = ?`, id).Scan(&g.ID, &g.Name, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find group: %w", err)
	}
	g.CreatedAt = fromMS(c)
	return &g, nil
}

func (t *tx) ListGroups(ctx context.Context) ([]*store.Group, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, name, created_at FROM groups ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list groups: %w", err)
	}
	defer rows.Close()
	var out []*store.Group
	for rows.Next() {
		var g store.Group
		var c int64
		if err := rows.Scan(&g.ID, &g.Name, &c); err != nil {
			return nil, fmt.Errorf("sqlite: list groups: %w", err)
		}
		g.CreatedAt = fromMS(c)
		out = append(out, &g)
	}
	return out, rows.Err()
}

func (t *tx) DeleteGroup(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete group", "group", `DELETE FROM groups WHERE id = ?`, id)
}

func (t *tx) SetGroupMembers(ctx context.Context, groupID string, userIDs []string) error {
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

func (t *tx) ListGroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return t.strings(ctx, "list group members", `SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id`, groupID)
}

func (t *tx) ListUserGroups(ctx context.Context, userID string) ([]string, error) {
	return t.strings(ctx, "list user groups", `SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id`, userID)
}

func (t *tx) strings(ctx context.Context, op, q string, args ...any) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Grants.

func (t *tx) ListGrants(ctx context.Context, datasourceID string) ([]store.Grant, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT datasource_id, subject_type, subject_id, level FROM grants WHERE datasource_id = ? ORDER BY subject_type, subject_id`, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list grants: %w", err)
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.DatasourceID, &g.SubjectType, &g.SubjectID, &g.Level); err != nil {
			return nil, fmt.Errorf("sqlite: list grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (t *tx) SetGrants(ctx context.Context, datasourceID string, grants []store.Grant) error {
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
func (t *tx) UserGrantLevels(ctx context.Context, userID, datasourceID string) ([]store.Grant, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT datasource_id, subject_type, subject_id, level FROM grants
		WHERE (? = '' OR datasource_id = ?) AND (
			(subject_type = 'user' AND subject_id = ?) OR
			(subject_type = 'group' AND subject_id IN (SELECT group_id FROM group_members WHERE user_id = ?)))`,
		datasourceID, datasourceID, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: user grants: %w", err)
	}
	defer rows.Close()
	var out []store.Grant
	for rows.Next() {
		var g store.Grant
		if err := rows.Scan(&g.DatasourceID, &g.SubjectType, &g.SubjectID, &g.Level); err != nil {
			return nil, fmt.Errorf("sqlite: user grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
