package query

import (
	"context"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
)

// SetGrants is PUT /api/datasources/{id}/grants: the actor, who manages
// datasource dsID, replaces its whole list of grants (nil: none). One
// audit event, naming the new grants once the actor is authorized.
func (s *Service) SetGrants(ctx context.Context, a accounts.Actor, dsID string, grants []datasource.Grant) ([]datasource.Grant, error) {
	ev := audit.Event{Action: audit.GrantUpdate, Target: audit.ClientID(dsID), DatasourceID: audit.ClientID(dsID)}
	if grants == nil {
		grants = []datasource.Grant{}
	}
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceManage)
	if err == nil {
		ev.Target, ev.DatasourceID = d.ID, d.ID
		ev.Details = map[string]any{"grants": grants}
		err = s.datasources.SetGrants(ctx, d.ID, grants)
	}
	if err == nil {
		s.log.InfoContext(ctx, "datasource grants set", "request_id", a.RequestID, "datasource_id", d.ID, "user_id", a.UserID(), "grants", len(grants))
	}
	s.record(ctx, a, ev, err)
	if err != nil {
		return nil, err
	}
	return grants, nil
}
