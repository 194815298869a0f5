package query

import (
	"context"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/savedquery"
)

// Offer is a datasource the actor may see (Visible) with what a front end
// may offer the actor on it.
type Offer struct {
	Visible
	// Shape is the shape of its requests (SQL statements, Redis commands,
	// HTTP requests).
	Shape kind.Shape
	// Use is true when the actor may send it ad-hoc queries and read its
	// schema (a use grant, ownership or the admin role).
	Use bool
	// Queries are its saved queries, at their current versions: a user who
	// may see a datasource may run its saved queries (RunSaved).
	Queries []*savedquery.Query
}

// Catalogue lists the datasources the actor may see (VisibleDatasources)
// with what the actor may do on each and the saved queries on them: what a
// front end offers the actor (MCP's tools). It reads metadata only and
// records no event, like listing the datasources in the API; a front end
// whose every call is audited uses ListDatasources.
func (s *Service) Catalogue(ctx context.Context, a accounts.Actor) ([]Offer, error) {
	list, err := s.VisibleDatasources(ctx, a)
	if err != nil {
		return nil, err
	}
	out := make([]Offer, len(list))
	index := map[string]int{}
	for i, v := range list {
		out[i] = Offer{Visible: v, Shape: s.shape(v.Kind), Use: v.May(a.User, accounts.ActionDatasourceUse)}
		index[v.ID] = i
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
func (s *Service) ListDatasources(ctx context.Context, a accounts.Actor) ([]Offer, error) {
	list, err := s.Catalogue(ctx, a)
	s.record(ctx, a, audit.Event{Action: audit.DatasourceList, Details: map[string]any{"datasources": len(list)}}, err)
	return list, err
}
