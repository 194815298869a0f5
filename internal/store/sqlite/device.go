package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/store"
)

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

func (t *tx) CreateDeviceCredential(ctx context.Context, d *store.DeviceCredential) error {
	_, err := t.exec(ctx, "create device credential", `INSERT INTO device_credentials (`+deviceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.UserID, d.DatasourceID, d.Sealed, ms(d.CreatedAt), ms(d.ExpiresAt), ms(d.LastUsedAt))
	return err
}

func (t *tx) FindDeviceCredential(ctx context.Context, id string) (*store.DeviceCredential, error) {
	d, err := scanDevice(t.tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("device")
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: find device credential: %w", err)
	}
	return d, nil
}

func (t *tx) ListDeviceCredentials(ctx context.Context, userID, datasourceID string) ([]*store.DeviceCredential, error) {
	q := `SELECT ` + deviceCols + ` FROM device_credentials WHERE (? = '' OR user_id = ?) AND (? = '' OR datasource_id = ?) ORDER BY created_at`
	rows, err := t.tx.QueryContext(ctx, q, userID, userID, datasourceID, datasourceID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list device credentials: %w", err)
	}
	defer rows.Close()
	var out []*store.DeviceCredential
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list device credentials: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list device credentials: %w", err)
	}
	return out, nil
}

func (t *tx) DeleteDeviceCredential(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete device credential", "device", `DELETE FROM device_credentials WHERE id = ?`, id)
}

func (t *tx) DeleteDeviceCredentials(ctx context.Context, userID, datasourceID string) (int64, error) {
	res, err := t.exec(ctx, "delete device credentials",
		`DELETE FROM device_credentials WHERE (? = '' OR user_id = ?) AND (? = '' OR datasource_id = ?)`,
		userID, userID, datasourceID, datasourceID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (t *tx) DeleteExpiredDeviceCredentials(ctx context.Context, now time.Time) error {
	_, err := t.exec(ctx, "delete expired device credentials", `DELETE FROM device_credentials WHERE expires_at <= ?`, ms(now))
	return err
}

func (t *tx) TouchDeviceCredential(ctx context.Context, id string, at time.Time) error {
	_, err := t.exec(ctx, "touch device credential", `UPDATE device_credentials SET last_used_at = ? WHERE id = ?`, ms(at), id)
	return err
}
