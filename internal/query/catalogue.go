package query

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/kind"
)

// The catalogue's use cases: creating, changing and deleting a datasource.
// Like the others they take the actor, authorize, act and record exactly
// one audit event, for success and for every refusal; a change or delete
// also closes the datasource's pools here, so that no pool outlives the
// settings and secrets it was opened with.

// CreateDatasource is POST /api/datasources: the actor (an editor or an
// admin) creates a datasource and owns it.
func (s *Service) CreateDatasource(ctx context.Context, a accounts.Actor, in datasource.CreateInput) (*datasource.Datasource, error) {
	ev := audit.Event{Action: audit.DatasourceCreate, Details: map[string]any{"kind": audit.ClientID(in.Kind)}}
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

// TestDraft is POST /api/datasources/test: the connection test of a
// datasource that is not saved yet, from the form, for an actor who may
// create datasources. Its settings are validated as a create would
// validate them (operator's network and TLS rules included), one fresh
// connection is opened through the egress dialer and pinged, and
// everything, the secrets first, is dropped with the test: nothing is
// stored. For device custody the typed password is used for this test
// only. One audit event, without the datasource's name or settings.
func (s *Service) TestDraft(ctx context.Context, a accounts.Actor, in datasource.CreateInput) error {
	ev := audit.Event{Action: audit.DatasourceTest, Details: map[string]any{"kind": audit.ClientID(in.Kind), "draft": true}}
	err := s.testDraft(ctx, a, in)
	s.record(ctx, a, ev, err)
	if err != nil {
		s.log.InfoContext(ctx, "datasource draft test failed", "request_id", a.RequestID, "kind", audit.ClientID(in.Kind), "outcome", querygate.ErrorCode(err))
	}
	return err
}

func (s *Service) testDraft(ctx context.Context, a accounts.Actor, in datasource.CreateInput) error {
	if err := authorizeCollection(a, accounts.ActionDatasourceCreate); err != nil {
		return err
	}
	d, secrets, err := s.datasources.Draft(ctx, in)
	if err != nil {
		return err
	}
	var k *kind.Kind
	ok := false
	if s.kinds != nil {
		k, ok = s.kinds.Find(d.Kind)
	}
	if !ok || k.Open == nil || k.Decode == nil {
		return querygate.Errorf(querygate.ENOTIMPLEMENTED, "Queries on %s datasources are not available in this version of querygate.", d.Kind)
	}
	if s.requireTLS && k.VerifiedTLS != nil {
		if err := k.VerifiedTLS(d.Settings); err != nil {
			return connect.Errorf(connect.ECONFIG, "%s", querygate.ErrorMessage(err))
		}
	}
	release, err := s.testSlot()
	if err != nil {
		return err
	}
	defer release()
	settings, err := k.Decode(d.Settings, secrets)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := k.Open(connect.Config{Settings: settings, ReadOnly: d.ReadOnly, Dial: s.dial, MaxConns: 1,
		MaxIdle: s.limits.MaxIdle, SQLiteDirs: s.sqliteDirs, SQLiteDeny: s.sqliteDeny, HTTPResponseMax: s.httpMax})
	if err != nil {
		return err
	}
	conn = shield(conn, secrets)
	defer conn.Close()
	return s.localTLSHint(d, timeoutError(ctx, conn.Ping(ctx)))
}
