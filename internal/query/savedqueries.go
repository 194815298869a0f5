package query

import (
	"context"
	"strconv"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/savedquery"
)

// The saved-query catalogue's use cases: creating, importing, changing and
// deleting saved queries (running one is in saved.go). Like the others
// they take the actor, authorize on the saved query's datasource (manage
// grant, or ownership), act through the savedquery service and record the
// audit event, for success and for every refusal. A saved query on a
// datasource the actor may not see does not exist for them.

// errSavedQueriesUnavailable answers when the gateway has no saved-query
// service.
var errSavedQueriesUnavailable = querygate.Errorf(querygate.ENOTIMPLEMENTED, "Saved queries are not available.")

// maxImport bounds the queries of one import.
const maxImport = 1000

// AuthorizeSaved loads saved query id (its current version) and checks
// that the actor may do act on its datasource: a saved query on a
// datasource the actor may not read is ENOTFOUND, like one that does not
// exist.
func (s *Service) AuthorizeSaved(ctx context.Context, a accounts.Actor, id string, act accounts.Action) (*savedquery.Query, *datasource.Datasource, error) {
	if a.User == nil {
		return nil, nil, errSignIn
	}
	if s.savedQueries == nil {
		return nil, nil, errSavedQueriesUnavailable
	}
	q, err := s.savedQueries.Find(ctx, id, 0)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, nil, err
	}
	d, err := s.Authorize(ctx, a, q.DatasourceID, act)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, nil, err
	}
	return q, d, nil
}

// CreateSavedQuery is POST /api/queries: the actor, who manages the
// datasource in.DatasourceID, saves a query on it (version 1). One audit
// event.
func (s *Service) CreateSavedQuery(ctx context.Context, a accounts.Actor, in savedquery.CreateInput) (*savedquery.Query, error) {
	ev := audit.Event{Action: audit.SavedQueryCreate}
	q, err := s.createSavedQuery(ctx, a, in, &ev)
	if err == nil {
		ev.Target = q.ID
		ev.Details = map[string]any{"version": q.Version.Number}
		s.log.InfoContext(ctx, "saved query created", "request_id", a.RequestID, "saved_query_id", q.ID, "datasource_id", q.DatasourceID, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return q, err
}

func (s *Service) createSavedQuery(ctx context.Context, a accounts.Actor, in savedquery.CreateInput, ev *audit.Event) (*savedquery.Query, error) {
	if a.User == nil {
		return nil, errSignIn
	}
	if in.DatasourceID == "" {
		return nil, querygate.FieldErrorf("datasource_id", "datasource_id: is required")
	}
	d, err := s.Authorize(ctx, a, in.DatasourceID, accounts.ActionDatasourceManage)
	if err != nil {
		return nil, err
	}
	ev.DatasourceID = d.ID
	if s.savedQueries == nil {
		return nil, errSavedQueriesUnavailable
	}
	in.DatasourceID = d.ID
	return s.savedQueries.Create(ctx, s.language(d.Kind), a.UserID(), in)
}

// UpdateSavedQuery is PATCH /api/queries/{id}: a new body or new
// parameters make a new version; name and description change in place.
// It needs the manage grant on the query's datasource. One audit event.
func (s *Service) UpdateSavedQuery(ctx context.Context, a accounts.Actor, id string, in savedquery.UpdateInput) (*savedquery.Query, error) {
	ev := audit.Event{Action: audit.SavedQueryUpdate, Target: audit.ClientID(id)}
	q, d, err := s.AuthorizeSaved(ctx, a, id, accounts.ActionDatasourceManage)
	var nq *savedquery.Query
	if err == nil {
		ev.Target, ev.DatasourceID = q.ID, d.ID
		nq, err = s.savedQueries.Update(ctx, s.language(d.Kind), a.UserID(), q.ID, in)
	}
	if err == nil {
		ev.Details = map[string]any{"version": nq.Version.Number}
		s.log.InfoContext(ctx, "saved query updated", "request_id", a.RequestID, "saved_query_id", nq.ID, "datasource_id", d.ID, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return nq, err
}

// DeleteSavedQuery is DELETE /api/queries/{id}: it needs the manage grant
// on the query's datasource. One audit event.
func (s *Service) DeleteSavedQuery(ctx context.Context, a accounts.Actor, id string) error {
	ev := audit.Event{Action: audit.SavedQueryDelete, Target: audit.ClientID(id)}
	q, d, err := s.AuthorizeSaved(ctx, a, id, accounts.ActionDatasourceManage)
	if err == nil {
		ev.Target, ev.DatasourceID = q.ID, d.ID
		err = s.savedQueries.Delete(ctx, q.ID)
	}
	if err == nil {
		s.log.InfoContext(ctx, "saved query deleted", "request_id", a.RequestID, "saved_query_id", q.ID, "datasource_id", d.ID, "user_id", a.UserID())
	}
	s.record(ctx, a, ev, err)
	return err
}

// ImportInput is an import of saved queries: into datasource
// DatasourceID, or, without it, the one named DatasourceName. Kind, when
// not empty, is the kind the queries were written for.
type ImportInput struct {
	DatasourceID   string
	DatasourceName string
	Kind           string
	Queries        []ImportQuery
	// Replace makes a query whose name exists get a new version instead
	// of being reported as a conflict.
	Replace bool
}

// ImportQuery is one saved query of an import.
type ImportQuery struct {
	Name        string
	Description string
	Definition  savedquery.Definition
}

// Imported names a saved query an import created, updated or left alone.
type Imported struct {
	ID   string // "" for a conflict with a query created meanwhile
	Name string
}

// ImportResult is what an import did.
type ImportResult struct {
	Created, Updated, Conflicts []Imported
}

// ImportSavedQueries is POST /api/queries/import, for an actor who
// manages the target datasource. Every query is checked first: one bad
// query imports nothing. A name that exists is reported in Conflicts (or,
// with Replace, gets a new version). Each query created or updated leaves
// its audit event (marked "import"); a refusal before any write leaves
// one.
func (s *Service) ImportSavedQueries(ctx context.Context, a accounts.Actor, in ImportInput) (ImportResult, error) {
	ev := audit.Event{Action: audit.SavedQueryCreate, Details: map[string]any{"import": true}}
	res, recorded, err := s.importSavedQueries(ctx, a, in, &ev)
	if err != nil && !recorded {
		s.record(ctx, a, ev, err)
	}
	return res, err
}

// importSavedQueries does the import; recorded reports that the error it
// returns was recorded with the write that failed.
func (s *Service) importSavedQueries(ctx context.Context, a accounts.Actor, in ImportInput, ev *audit.Event) (res ImportResult, recorded bool, err error) {
	res = ImportResult{Created: []Imported{}, Updated: []Imported{}, Conflicts: []Imported{}}
	if a.User == nil {
		return res, false, errSignIn
	}
	dsID := in.DatasourceID
	if dsID == "" {
		if in.DatasourceName == "" {
			return res, false, querygate.FieldErrorf("datasource_id", "datasource_id: is required (or datasource.name)")
		}
		list, err := s.datasources.List(ctx)
		if err != nil {
			return res, false, err
		}
		for _, d := range list {
			if d.Name == in.DatasourceName {
				dsID = d.ID
			}
		}
		if dsID == "" {
			return res, false, errDatasourceNotFound
		}
	}
	d, err := s.Authorize(ctx, a, dsID, accounts.ActionDatasourceManage)
	if err != nil {
		return res, false, err
	}
	ev.DatasourceID = d.ID
	if in.Kind != "" && in.Kind != d.Kind {
		return res, false, querygate.FieldErrorf("datasource.kind", "datasource.kind: the queries are for a %s datasource, not %s", s.safeKind(in.Kind), d.Kind)
	}
	if len(in.Queries) > maxImport {
		return res, false, querygate.FieldErrorf("queries", "queries: at most %d per import", maxImport)
	}
	if s.savedQueries == nil {
		return res, false, errSavedQueriesUnavailable
	}
	seen := map[string]bool{}
	for i, iq := range in.Queries {
		if err := iq.Definition.Check(s.language(d.Kind)); err != nil {
			return res, false, prefixField(err, importPrefix(i))
		}
		if seen[iq.Name] {
			return res, false, querygate.FieldErrorf(importPrefix(i)+"name", "queries[%d].name: appears twice", i)
		}
		seen[iq.Name] = true
	}
	existing, err := s.savedQueries.List(ctx, d.ID)
	if err != nil {
		return res, false, err
	}
	byName := map[string]*savedquery.Query{}
	for _, q := range existing {
		byName[q.Name] = q
	}
	for i, iq := range in.Queries {
		def := iq.Definition
		if old := byName[iq.Name]; old != nil {
			if !in.Replace {
				res.Conflicts = append(res.Conflicts, Imported{ID: old.ID, Name: iq.Name})
				continue
			}
			desc := iq.Description
			q, err := s.savedQueries.Update(ctx, s.language(d.Kind), a.UserID(), old.ID, savedquery.UpdateInput{Description: &desc, Body: &def.Body, Parameters: &def.Parameters})
			uev := audit.Event{Action: audit.SavedQueryUpdate, Target: old.ID, DatasourceID: d.ID, Details: map[string]any{"import": true}}
			if err == nil {
				uev.Details["version"] = q.Version.Number
			}
			s.record(ctx, a, uev, err)
			if err != nil {
				return res, true, prefixField(err, importPrefix(i))
			}
			res.Updated = append(res.Updated, Imported{ID: q.ID, Name: q.Name})
			continue
		}
		q, err := s.savedQueries.Create(ctx, s.language(d.Kind), a.UserID(), savedquery.CreateInput{DatasourceID: d.ID, Name: iq.Name, Description: iq.Description, Definition: def})
		if querygate.ErrorCode(err) == querygate.ECONFLICT {
			res.Conflicts = append(res.Conflicts, Imported{Name: iq.Name}) // created meanwhile
			continue
		}
		if err != nil {
			s.record(ctx, a, audit.Event{Action: audit.SavedQueryCreate, DatasourceID: d.ID, Details: map[string]any{"import": true}}, err)
			return res, true, prefixField(err, importPrefix(i))
		}
		s.record(ctx, a, audit.Event{Action: audit.SavedQueryCreate, Target: q.ID, DatasourceID: d.ID, Details: map[string]any{"import": true, "version": 1}}, nil)
		res.Created = append(res.Created, Imported{ID: q.ID, Name: q.Name})
	}
	s.log.InfoContext(ctx, "saved queries imported", "request_id", a.RequestID, "datasource_id", d.ID, "user_id", a.UserID(),
		"created", len(res.Created), "updated", len(res.Updated), "conflicts", len(res.Conflicts))
	return res, false, nil
}

// importPrefix names query i of an import in a field and a message.
func importPrefix(i int) string { return "queries[" + strconv.Itoa(i) + "]." }

// safeKind returns k if it is a known kind, so that a message never
// echoes the actor's text.
func (s *Service) safeKind(k string) string {
	if s.datasources != nil {
		if _, ok := s.datasources.FindKind(k); ok {
			return k
		}
	}
	return "different"
}

// prefixField puts prefix before an error's field and message, so that an
// import names the query at fault.
func prefixField(err error, prefix string) error {
	e, ok := err.(*querygate.Error)
	if !ok || e.Code != querygate.EINVALID && e.Code != querygate.ECONFLICT {
		return err
	}
	c := *e
	if c.Field != "" {
		c.Field = prefix + c.Field
		c.Message = prefix + c.Message
	}
	return &c
}
