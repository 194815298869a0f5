package query

import (
	"context"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
)

// SavedInput is a run of a saved query as a client sends it: values for
// its typed parameters, and optionally a version other than the current.
type SavedInput struct {
	Params    map[string]any
	Limit     int64
	TimeoutMS int64
	Version   int // 0: the current version
}

// errSavedQueryNotFound answers a saved query that does not exist or whose
// datasource the actor may not see.
var errSavedQueryNotFound = querygate.Errorf(querygate.ENOTFOUND, "Saved query not found.")

// RunSaved is the saved-query run use case (POST /api/queries/{id}/run):
// the actor's values are checked against the declared types and bound,
// and the result streams exactly like an ad-hoc query. A run grant
// suffices. Exactly one audit event names the saved query and its
// version, never its text or a value.
func (s *Service) RunSaved(ctx context.Context, a accounts.Actor, queryID string, in SavedInput, keys DeviceKeys, out Output) (Summary, error) {
	ev := audit.Event{Action: audit.SavedQueryRun, Target: audit.ClientID(queryID), Details: map[string]any{"saved_query": audit.ClientID(queryID)}}
	q, err := s.prepareSaved(ctx, a, queryID, in, keys, &ev)
	if err != nil {
		s.record(ctx, a, ev, err)
		return Summary{}, &notStarted{err}
	}
	return s.stream(ctx, a, q.ds, q.req, ev, out)
}

// savedRun is a saved query ready to stream.
type savedRun struct {
	ds  *datasource.Datasource
	req Request
}

func (s *Service) prepareSaved(ctx context.Context, a accounts.Actor, queryID string, in SavedInput, keys DeviceKeys, ev *audit.Event) (*savedRun, error) {
	if s.savedQueries == nil {
		return nil, querygate.Errorf(querygate.ENOTIMPLEMENTED, "Saved queries are not available.")
	}
	if in.TimeoutMS < 0 {
		return nil, querygate.FieldErrorf("timeout_ms", "timeout_ms: must not be negative")
	}
	if in.Version < 0 {
		return nil, querygate.FieldErrorf("version", "version: must be a positive integer")
	}
	q, err := s.savedQueries.Find(ctx, queryID, 0)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, err
	}
	d, err := s.Authorize(ctx, a, q.DatasourceID, accounts.ActionDatasourceRead)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, err
	}
	ev.DatasourceID = d.ID
	if in.Version != 0 && in.Version != q.Version.Number {
		if q, err = s.savedQueries.Find(ctx, q.ID, in.Version); querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil, querygate.FieldErrorf("version", "version: the saved query has no such version")
		} else if err != nil {
			return nil, err
		}
	}
	ev.Details["version"] = q.Version.Number
	bound, err := q.Definition.Bind(s.language(d.Kind), in.Params)
	if err != nil {
		return nil, err
	}
	req := Request{Query: bound.Query, Params: bound.Params, Command: bound.Command, HTTP: bound.HTTP,
		Limit: in.Limit, Timeout: time.Duration(in.TimeoutMS) * time.Millisecond}
	if req.Device, err = s.openDevice(ctx, a, d, keys); err != nil {
		return nil, err
	}
	return &savedRun{ds: d, req: req}, nil
}
