package query

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
)

// The catalogue's use cases: creating, changing and deleting a datasource.
// Like the others they take the actor, authorize, act and record exactly
// one audit event, for success and for every refusal; a change or delete
// also closes the datasource's pools here, so that no pool outlives the
// settings and secrets it was opened with.

// CreateDatasource is POST /api/datasources: the actor (an editor or an
// admin) creates a datasource and owns it.
func (s *Service) CreateDatasource(ctx context.Context, a accounts.Actor, in datasource.CreateInput) (*datasource.Datasource, error) {
	ev := audit.Event{Action: audit.DatasourceCreate, Details: map[string]any{"kind": in.Kind}}
	d, err := s.createDatasource(ctx, a, in)
	if err == nil {
		ev.Target, ev.DatasourceID = d.ID, d.ID
		ev.Details["custody"] = d.Custody
		ev.Details["fields"] = changedFields(in.Name != "", &in.ReadOnly, in.Settings, in.Secrets)
		s.log.InfoContext(ctx, "datasource created", "request_id", a.RequestID, "datasource_id", d.ID, "kind", d.Kind, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return d, err
}

func (s *Service) createDatasource(ctx context.Context, a accounts.Actor, in datasource.CreateInput) (*datasource.Datasource, error) {
	if err := authorizeCollection(a, accounts.ActionDatasourceCreate); err != nil {
		return nil, err
	}
	return s.datasources.Create(ctx, a.UserID(), in)
}

// UpdateDatasource is PATCH /api/datasources/{id}: it needs the manage
// grant (or ownership), and closes the datasource's pools.
func (s *Service) UpdateDatasource(ctx context.Context, a accounts.Actor, id string, in datasource.UpdateInput) (*datasource.Datasource, error) {
	ev := audit.Event{Action: audit.DatasourceUpdate, Target: audit.ClientID(id), DatasourceID: audit.ClientID(id),
		Details: map[string]any{"fields": changedFields(in.Name != nil, in.ReadOnly, in.Settings, in.Secrets)}}
	d, err := s.Authorize(ctx, a, id, accounts.ActionDatasourceManage)
	if err == nil {
		d, err = s.datasources.Update(ctx, d.ID, in)
	}
	if err == nil {
		s.Forget(d.ID)
		s.log.InfoContext(ctx, "datasource updated", "request_id", a.RequestID, "datasource_id", d.ID, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return d, err
}

// DeleteDatasource is DELETE /api/datasources/{id}: it needs the manage
// grant (or ownership), and closes the datasource's pools.
func (s *Service) DeleteDatasource(ctx context.Context, a accounts.Actor, id string) error {
	ev := audit.Event{Action: audit.DatasourceDelete, Target: audit.ClientID(id), DatasourceID: audit.ClientID(id)}
	d, err := s.Authorize(ctx, a, id, accounts.ActionDatasourceManage)
	if err == nil {
		err = s.datasources.Delete(ctx, d.ID)
	}
	if err == nil {
		s.Forget(d.ID)
		s.log.InfoContext(ctx, "datasource deleted", "request_id", a.RequestID, "datasource_id", d.ID, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return err
}

// authorizeCollection checks an action on the collection (no datasource
// yet) for the actor.
func authorizeCollection(a accounts.Actor, act accounts.Action) error {
	if a.User == nil {
		return errSignIn
	}
	return accounts.Authorize(a.User, act, accounts.Resource{})
}

// changedFields names the fields a create or update sent: settings and
// secrets by name (settings.host, secrets.password), never their values.
func changedFields(name bool, readOnly *bool, settings, secrets map[string]json.RawMessage) []string {
	var out []string
	if name {
		out = append(out, "name")
	}
	if readOnly != nil {
		out = append(out, "read_only")
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		out = append(out, "settings."+k)
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		out = append(out, "secrets."+k)
	}
	return out
}
