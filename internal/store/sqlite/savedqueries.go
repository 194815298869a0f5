package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/querygate/querygate/internal/store"
)

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

func (t *tx) CreateSavedQuery(ctx context.Context, q *store.SavedQuery, v *store.SavedQueryVersion) error {
	if _, err := t.exec(ctx, "create saved query", `INSERT INTO saved_queries (`+savedQueryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.DatasourceID, q.Name, q.Description, q.OwnerID, q.CurrentVersion, ms(q.CreatedAt), ms(q.UpdatedAt)); err != nil {
		return err
	}
	v.QueryID, v.Version = q.ID, q.CurrentVersion
	return t.AddSavedQueryVersion(ctx, v)
}

func (t *tx) FindSavedQuery(ctx context.Context, id string) (*store.SavedQuery, error) {
	q, err := scanSavedQuery(t.tx.QueryRowContext(ctx, `SELECT `+savedQueryCols+` FROM saved_queries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Saved query")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find saved query: %w", err)
	}
	return q, nil
}

func (t *tx) ListSavedQueries(ctx context.Context, datasourceID string) ([]*store.SavedQuery, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+savedQueryCols+` FROM saved_queries
		WHERE (? = '' OR datasource_id = ?) ORDER BY datasource_id, name`, datasourceID, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list saved queries: %w", err)
	}
	defer rows.Close()
	var out []*store.SavedQuery
	for rows.Next() {
		q, err := scanSavedQuery(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list saved queries: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list saved queries: %w", err)
	}
	return out, nil
}

func (t *tx) UpdateSavedQuery(ctx context.Context, q *store.SavedQuery) error {
	return t.execOne(ctx, "update saved query", "Saved query",
		`UPDATE saved_queries SET name = ?, description = ?, current_version = ?, updated_at = ? WHERE id = ?`,
		q.Name, q.Description, q.CurrentVersion, ms(q.UpdatedAt), q.ID)
}

func (t *tx) DeleteSavedQuery(ctx context.Context, id string) error {
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

func (t *tx) AddSavedQueryVersion(ctx context.Context, v *store.SavedQueryVersion) error {
	_, err := t.exec(ctx, "add saved query version", `INSERT INTO saved_query_versions (`+savedQueryVersionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		v.QueryID, v.Version, string(v.Body), string(v.Parameters), v.CreatedBy, ms(v.CreatedAt))
	return err
}

func (t *tx) FindSavedQueryVersion(ctx context.Context, queryID string, version int) (*store.SavedQueryVersion, error) {
	v, err := scanSavedQueryVersion(t.tx.QueryRowContext(ctx, `SELECT `+savedQueryVersionCols+` FROM saved_query_versions
		WHERE query_id = ? AND version = ?`, queryID, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Saved query version")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find saved query version: %w", err)
	}
	return v, nil
}

func (t *tx) ListSavedQueryVersions(ctx context.Context, queryID string) ([]*store.SavedQueryVersion, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+savedQueryVersionCols+` FROM saved_query_versions
		WHERE query_id = ? ORDER BY version`, queryID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list saved query versions: %w", err)
	}
	defer rows.Close()
	var out []*store.SavedQueryVersion
	for rows.Next() {
		v, err := scanSavedQueryVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list saved query versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list saved query versions: %w", err)
	}
	return out, nil
}
