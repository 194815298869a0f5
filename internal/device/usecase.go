package device

import (
	"context"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
)

// This file holds the use cases of forgetting device credentials: this
// browser's for a datasource, one by id, and every one of a datasource.
// Each takes the actor and, in this one place, authorizes, forgets the
// credentials (and closes their pools) and records the audit event, for
// success and for every refusal (P14).

// Datasources authorizes the actor on a datasource and closes pools
// (query.Service).
type Datasources interface {
	Authorize(ctx context.Context, a accounts.Actor, id string, act accounts.Action) (*datasource.Datasource, error)
	Forget(dsID string)
	ForgetDevice(dsID, deviceID string)
}

// Recorder records audit events (audit.Log).
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) error
}

// UseCases are the device use cases on a Service.
type UseCases struct {
	devices     *Service
	datasources Datasources
	audit       Recorder
}

// NewUseCases returns the device use cases; rec may be nil (nothing is
// recorded).
func NewUseCases(devices *Service, ds Datasources, rec Recorder) *UseCases {
	return &UseCases{devices: devices, datasources: ds, audit: rec}
}

var errDeviceNotFound = querygate.Errorf(querygate.ENOTFOUND, "device not found")

// record marks the request as audited and records ev for the actor with
// err's code as outcome.
func (u *UseCases) record(ctx context.Context, a accounts.Actor, ev audit.Event, err error) {
	audit.RecordOutcome(ctx, u.recorder(), a.Who(), ev, err)
}

// ForgetThis forgets this browser's device for datasource dsID (it needs
// read access): the credential its device cookie value names is deleted
// and its pool closed. It returns the forgotten device's id, "" when the
// cookie named none (recorded as such: every request leaves one event).
func (u *UseCases) ForgetThis(ctx context.Context, a accounts.Actor, dsID, cookieValue string) (string, error) {
	d, err := u.datasources.Authorize(ctx, a, dsID, accounts.ActionDatasourceRead)
	if err != nil {
		id := audit.ClientID(dsID)
		u.record(ctx, a, audit.Event{Action: audit.DeviceForget, Target: id, DatasourceID: id, Details: map[string]any{}}, err)
		return "", err
	}
	id, ok := "", false
	if cookieValue != "" {
		id, ok = u.devices.Forget(ctx, d.ID, cookieValue)
	}
	if !ok {
		// Nothing to forget: still one event, for the request.
		u.record(ctx, a, audit.Event{Action: audit.DeviceForget, Target: d.ID, DatasourceID: d.ID, Details: map[string]any{"forgotten": false}}, nil)
		return "", nil
	}
	u.datasources.ForgetDevice(d.ID, id)
	u.record(ctx, a, audit.Event{Action: audit.DeviceForget, Target: id, DatasourceID: d.ID}, nil)
	return id, nil
}

// Delete forgets one device credential: the actor's own, or any for an
// admin. Another user's device is not found. It returns the credential.
func (u *UseCases) Delete(ctx context.Context, a accounts.Actor, id string) (*Record, error) {
	d, err := u.devices.Find(ctx, id)
	if err == nil && a.User == nil {
		err = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in.")
	} else if err == nil && d.UserID != a.User.ID && accounts.Authorize(a.User, accounts.ActionAdmin, accounts.Resource{}) != nil {
		err = errDeviceNotFound
	}
	if err == nil {
		err = u.devices.Delete(ctx, d.ID)
	}
	if err != nil {
		cid := audit.ClientID(id)
		u.record(ctx, a, audit.Event{Action: audit.DeviceForget, Target: cid, Details: map[string]any{}}, err)
		return nil, err
	}
	u.datasources.ForgetDevice(d.DatasourceID, d.ID)
	u.record(ctx, a, audit.Event{Action: audit.DeviceForget, Target: d.ID, DatasourceID: d.DatasourceID}, nil)
	return d, nil
}

// RevokeAll forgets every device of datasource dsID (it needs the manage
// grant) and closes its pools. It returns how many were forgotten.
func (u *UseCases) RevokeAll(ctx context.Context, a accounts.Actor, dsID string) (int, error) {
	d, err := u.datasources.Authorize(ctx, a, dsID, accounts.ActionDatasourceManage)
	if err != nil {
		id := audit.ClientID(dsID)
		u.record(ctx, a, audit.Event{Action: audit.DeviceRevoke, Target: id, DatasourceID: id, Details: map[string]any{}}, err)
		return 0, err
	}
	ids, err := u.devices.DeleteAll(ctx, d.ID)
	u.record(ctx, a, audit.Event{Action: audit.DeviceRevoke, Target: d.ID, DatasourceID: d.ID, Details: map[string]any{"count": len(ids)}}, err)
	if err != nil {
		return 0, err
	}
	u.datasources.Forget(d.ID)
	return len(ids), nil
}

// recorder is the audit log the use cases record to, or nil for none.
func (u *UseCases) recorder() audit.Recorder {
	if u.audit == nil {
		return nil
	}
	return u.audit
}
