package query

import (
	"context"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/dashboard"
	"github.com/querygate/querygate/internal/savedquery"
)

// What the dashboard use cases (dashboard.UseCases) need to know of saved
// queries, as the actor sees them: a saved query on a datasource the
// actor may not read does not exist for them.

var _ dashboard.Queries = (*Service)(nil)

// PanelQuery resolves saved query id for a dashboard panel: runnable
// when the actor may read its datasource (a run grant suffices).
func (s *Service) PanelQuery(ctx context.Context, a accounts.Actor, id string) (dashboard.PanelQuery, error) {
	q, d, err := s.AuthorizeSaved(ctx, a, id, accounts.ActionDatasourceRead)
	if code := querygate.ErrorCode(err); code == querygate.ENOTFOUND || code == querygate.EFORBIDDEN {
		return dashboard.PanelQuery{}, nil
	} else if err != nil {
		return dashboard.PanelQuery{}, err
	}
	ps := q.Definition.Parameters
	if ps == nil {
		ps = []savedquery.Param{}
	}
	return dashboard.PanelQuery{CanRun: true, Name: q.Name, DatasourceID: d.ID, DatasourceName: d.Name, Custody: d.Custody, Parameters: ps}, nil
}

// SavedQueryID finds the saved query named queryName on the datasource
// named datasourceName that the actor may read.
func (s *Service) SavedQueryID(ctx context.Context, a accounts.Actor, datasourceName, queryName string) (string, error) {
	if a.User == nil {
		return "", errSignIn
	}
	if s.savedQueries == nil {
		return "", errSavedQueriesUnavailable
	}
	list, err := s.datasources.List(ctx)
	if err != nil {
		return "", err
	}
	for _, ds := range list {
		if ds.Name != datasourceName {
			continue
		}
		d, err := s.Authorize(ctx, a, ds.ID, accounts.ActionDatasourceRead)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			break
		} else if err != nil {
			return "", err
		}
		qs, err := s.savedQueries.List(ctx, d.ID)
		if err != nil {
			return "", err
		}
		for _, q := range qs {
			if q.Name == queryName {
				return q.ID, nil
			}
		}
		return "", querygate.Errorf(querygate.ENOTFOUND, "the datasource has no saved query of that name (import the saved queries first)")
	}
	return "", querygate.Errorf(querygate.ENOTFOUND, "no datasource of that name that you can see")
}
