package query

import (
	"context"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/savedquery"
)

// Visible is a datasource the actor may see, with what the actor may do
// there and the saved queries the actor may run on it.
type Visible struct {
	Datasource *datasource.Datasource
	// Shape is the shape of its requests (SQL statements, Redis commands,
	// HTTP requests).
	Shape kind.Shape
	// Use is true when the actor may send it ad-hoc queries (a use grant,
	// ownership or the admin role).
	Use bool
	// Queries are its saved queries, at their current versions: a user who
	// may see a datasource may run its saved queries (RunSaved).
	Queries []*savedquery.Query
}

// Catalogue lists the datasources the actor may see (by name), with what
// the actor may do on each and the saved queries on it: what a front end
// offers the actor (MCP's tools). It reads metadata only and records no
// event, like listing the datasources in the API; a front end whose every
// call is audited uses ListDatasources.
func (s *Service) Catalogue(ctx context.Context, a accounts.Actor) ([]Visible, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	if err := accounts.Authorize(a.User, accounts.ActionDatasourceList, accounts.Resource{}); err != nil {
		return nil, err
	}
	list, err := s.datasources.List(ctx)
	if err != nil {
		return nil, err
	}
	levels, err := s.datasources.Levels(ctx, a.User.ID, "")
	if err != nil {
		return nil, err
	}
	var out []Visible
	index := map[string]int{}
	for _, d := range list {
		res := accounts.Resource{DatasourceID: d.ID, OwnerID: d.OwnerID, Level: levels[d.ID]}
		if accounts.Authorize(a.User, accounts.ActionDatasourceRead, res) != nil {
			continue
		}
		index[d.ID] = len(out)
		out = append(out, Visible{Datasource: d, Shape: s.shape(d.Kind), Use: accounts.Authorize(a.User, accounts.ActionDatasourceUse, res) == nil})
	}
	if s.savedQueries == nil || len(out) == 0 {
		return out, nil
	}
	qs, err := s.savedQueries.List(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if i, ok := index[q.DatasourceID]; ok {
			out[i].Queries = append(out[i].Queries, q)
		}
	}
	return out, nil
}

// ListDatasources is Catalogue recorded as one audit event
// (audit.DatasourceList, with the number of datasources listed): for a
// front end whose every call is an audited event (MCP).
func (s *Service) ListDatasources(ctx context.Context, a accounts.Actor) ([]Visible, error) {
	list, err := s.Catalogue(ctx, a)
	s.record(ctx, a, audit.Event{Action: audit.DatasourceList, Details: map[string]any{"datasources": len(list)}}, err)
	return list, err
}
