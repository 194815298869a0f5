package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/savedquery"
	"github.com/querygate/querygate/internal/web/kit"
)

// errSavedQueryNotFound answers for a saved query that does not exist and
// for one on a datasource the caller may not see, alike.
var errSavedQueryNotFound = querygate.Errorf(querygate.ENOTFOUND, "saved query not found.")

// savedQueryResponse is the shape in which a saved query leaves the
// gateway: metadata, one version's body and its parameters.
type SavedQueryResponse struct {
	ID               string              `json:"id"`
	DatasourceID     string              `json:"datasource_id"`
	Name             string              `json:"name"`
	Description      string              `json:"description"`
	OwnerID          string              `json:"owner_id"`
	CurrentVersion   int                 `json:"current_version"`
	Version          int                 `json:"version"`
	VersionCreatedBy string              `json:"version_created_by"`
	VersionCreatedAt time.Time           `json:"version_created_at"`
	Query            string              `json:"query,omitempty"`
	Request          *savedquery.Request `json:"request,omitempty"`
	Command          []string            `json:"command,omitempty"`
	Parameters       []savedquery.Param  `json:"parameters"`
	CreatedAt        time.Time           `json:"created_at"`
	UpdatedAt        time.Time           `json:"updated_at"`
}

func NewSavedQueryResponse(q *savedquery.Query) SavedQueryResponse {
	ps := q.Definition.Parameters
	if ps == nil {
		ps = []savedquery.Param{}
	}
	return SavedQueryResponse{ID: q.ID, DatasourceID: q.DatasourceID, Name: q.Name, Description: q.Description, OwnerID: q.OwnerID,
		CurrentVersion: q.CurrentVersion, Version: q.Version.Number, VersionCreatedBy: q.Version.CreatedBy, VersionCreatedAt: q.Version.CreatedAt,
		Query: q.Definition.Query, Request: q.Definition.Request, Command: q.Definition.Command, Parameters: ps,
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

// savedQueryAuthorized loads the saved query {id} (at version, 0 for the
// current one) and checks the action on its datasource. A query on a
// datasource the caller may not read does not exist for them.
func (s *Server) SavedQueryAuthorized(r *http.Request, u *accounts.User, version int, a accounts.Action) (*savedquery.Query, *datasource.Datasource, error) {
	q, err := s.savedQueries.Find(r.Context(), r.PathValue("id"), 0)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, nil, err
	}
	d, err := s.AuthorizedDatasource(r, u, q.DatasourceID, a)
	if querygate.ErrorCode(err) == querygate.ENOTFOUND {
		return nil, nil, errSavedQueryNotFound
	} else if err != nil {
		return nil, nil, err
	}
	if version != 0 && version != q.Version.Number {
		q, err = s.savedQueries.Find(r.Context(), q.ID, version)
		if querygate.ErrorCode(err) == querygate.ENOTFOUND {
			return nil, nil, querygate.FieldErrorf("version", "version: the saved query has no such version")
		} else if err != nil {
			return nil, nil, err
		}
	}
	return q, d, nil
}

// listSavedQueries answers GET /api/queries[?datasource_id=]: the saved
// queries on the datasources the caller can read.
func (s *Server) listSavedQueries(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	dsID := r.URL.Query().Get("datasource_id")
	readable := map[string]bool{}
	if dsID != "" {
		d, err := s.AuthorizedDatasource(r, u, dsID, accounts.ActionDatasourceRead)
		if err != nil {
			return err
		}
		readable[d.ID] = true
	} else {
		list, err := s.VisibleDatasources(r, u)
		if err != nil {
			return err
		}
		for _, v := range list {
			readable[v.ID] = true
		}
	}
	qs, err := s.savedQueries.List(r.Context(), dsID)
	if err != nil {
		return err
	}
	out := []SavedQueryResponse{}
	for _, q := range qs {
		if readable[q.DatasourceID] {
			out = append(out, NewSavedQueryResponse(q))
		}
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"queries": out})
	return nil
}

type createSavedQueryRequest struct {
	DatasourceID string              `json:"datasource_id"`
	Name         string              `json:"name"`
	Description  string              `json:"description"`
	Query        string              `json:"query"`
	Request      *savedquery.Request `json:"request"`
	Command      []string            `json:"command"`
	Parameters   []savedquery.Param  `json:"parameters"`
}

// createSavedQuery answers POST /api/queries (those who manage the
// datasource).
func (s *Server) createSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req createSavedQueryRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if req.DatasourceID == "" {
		return querygate.FieldErrorf("datasource_id", "datasource_id: is required")
	}
	d, err := s.AuthorizedDatasource(r, u, req.DatasourceID, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	q, err := s.savedQueries.Create(r.Context(), d.Kind, u.ID, savedquery.CreateInput{DatasourceID: d.ID, Name: req.Name, Description: req.Description,
		Definition: savedquery.Definition{Body: savedquery.Body{Query: req.Query, Request: req.Request, Command: req.Command}, Parameters: req.Parameters}})
	if err != nil {
		s.record(r, u, audit.Event{Action: audit.SavedQueryCreate, DatasourceID: d.ID}, err)
		return err
	}
	s.record(r, u, audit.Event{Action: audit.SavedQueryCreate, Target: q.ID, DatasourceID: d.ID, Details: map[string]any{"version": q.Version.Number}}, nil)
	kit.WriteJSON(w, http.StatusCreated, NewSavedQueryResponse(q))
	return nil
}

// findSavedQuery answers GET /api/queries/{id}[?version=N].
func (s *Server) findSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		if err := json.Unmarshal([]byte(v), &version); err != nil || version < 1 {
			return querygate.FieldErrorf("version", "version: must be a positive integer")
		}
	}
	q, _, err := s.SavedQueryAuthorized(r, u, version, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, NewSavedQueryResponse(q))
	return nil
}

type updateSavedQueryRequest struct {
	Name        *string             `json:"name"`
	Description *string             `json:"description"`
	Query       *string             `json:"query"`
	Request     *savedquery.Request `json:"request"`
	Command     []string            `json:"command"`
	Parameters  *[]savedquery.Param `json:"parameters"`
}

// updateSavedQuery answers PATCH /api/queries/{id}: a new body or new
// parameters make a new version; name and description change in place.
func (s *Server) updateSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q, d, err := s.SavedQueryAuthorized(r, u, 0, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	var req updateSavedQueryRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	in := savedquery.UpdateInput{Name: req.Name, Description: req.Description, Parameters: req.Parameters}
	if req.Query != nil || req.Request != nil || req.Command != nil {
		in.Body = &savedquery.Body{Request: req.Request, Command: req.Command}
		if req.Query != nil {
			in.Body.Query = *req.Query
		}
	}
	nq, err := s.savedQueries.Update(r.Context(), d.Kind, u.ID, q.ID, in)
	ev := audit.Event{Action: audit.SavedQueryUpdate, Target: q.ID, DatasourceID: d.ID}
	if err == nil {
		ev.Details = map[string]any{"version": nq.Version.Number}
	}
	s.record(r, u, ev, err)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, NewSavedQueryResponse(nq))
	return nil
}

// deleteSavedQuery answers DELETE /api/queries/{id}.
func (s *Server) deleteSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q, d, err := s.SavedQueryAuthorized(r, u, 0, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	err = s.savedQueries.Delete(r.Context(), q.ID)
	s.record(r, u, audit.Event{Action: audit.SavedQueryDelete, Target: q.ID, DatasourceID: d.ID}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listSavedQueryVersions answers GET /api/queries/{id}/versions, oldest
// first.
func (s *Server) listSavedQueryVersions(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	q, _, err := s.SavedQueryAuthorized(r, u, 0, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	vs, err := s.savedQueries.Versions(r.Context(), q.ID)
	if err != nil {
		return err
	}
	out := make([]SavedQueryResponse, 0, len(vs))
	for _, v := range vs {
		out = append(out, NewSavedQueryResponse(v))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"versions": out})
	return nil
}

type runSavedQueryRequest struct {
	Params    map[string]any `json:"params"`
	Limit     int64          `json:"limit"`
	TimeoutMS int64          `json:"timeout_ms"`
	Version   int            `json:"version"`
}

// runSavedQuery answers POST /api/queries/{id}/run: it checks the
// caller's values against the declared types, binds them, and streams the
// result exactly like an ad-hoc query. A run grant suffices. The audit
// event names the saved query and its version, never the text or a value.
func (s *Server) runSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	a := s.Actor(r, u)
	var body runSavedQueryRequest
	if err := kit.Decode(w, r, &body); err != nil {
		return err
	}
	in := query.SavedInput{Params: body.Params, Limit: body.Limit, TimeoutMS: body.TimeoutMS, Version: body.Version}
	return s.stream(w, r, func(out query.Output) error {
		_, err := s.queries.RunSaved(r.Context(), a, r.PathValue("id"), in, s.DeviceKeys(r), out)
		return err
	})
}

// exportFormat names the export file format.
const exportFormat = "querygate.saved_queries/v1"

// exportedQuery is one saved query in an export: no id, no owner, no
// datasource secret or setting.
type exportedQuery struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Query       string              `json:"query,omitempty"`
	Request     *savedquery.Request `json:"request,omitempty"`
	Command     []string            `json:"command,omitempty"`
	Parameters  []savedquery.Param  `json:"parameters"`
}

type exportedDatasource struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type exportFile struct {
	Format     string             `json:"format"`
	Datasource exportedDatasource `json:"datasource"`
	Queries    []exportedQuery    `json:"queries"`
}

// exportSavedQueries answers GET /api/queries/export?datasource_id=: the
// current version of each saved query of the datasource, as JSON that
// import reads. It holds the datasource's name and kind only.
func (s *Server) exportSavedQueries(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	dsID := r.URL.Query().Get("datasource_id")
	if dsID == "" {
		return querygate.FieldErrorf("datasource_id", "datasource_id: is required")
	}
	d, err := s.AuthorizedDatasource(r, u, dsID, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	qs, err := s.savedQueries.List(r.Context(), d.ID)
	if err != nil {
		return err
	}
	out := exportFile{Format: exportFormat, Datasource: exportedDatasource{Name: d.Name, Kind: d.Kind}, Queries: []exportedQuery{}}
	for _, q := range qs {
		ps := q.Definition.Parameters
		if ps == nil {
			ps = []savedquery.Param{}
		}
		out.Queries = append(out.Queries, exportedQuery{Name: q.Name, Description: q.Description, Query: q.Definition.Query,
			Request: q.Definition.Request, Command: q.Definition.Command, Parameters: ps})
	}
	w.Header().Set("Content-Disposition", `attachment; filename="saved-queries.json"`)
	kit.WriteJSON(w, http.StatusOK, out)
	return nil
}

type importRequest struct {
	Format     string              `json:"format"`
	Datasource *exportedDatasource `json:"datasource"`
	Queries    []exportedQuery     `json:"queries"`
	// DatasourceID is the datasource to import into; without it, the one
	// named by datasource.name.
	DatasourceID string `json:"datasource_id"`
	// Replace makes a query whose name exists get a new version instead
	// of being reported as a conflict.
	Replace bool `json:"replace"`
}

type importedQuery struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// importSavedQueries answers POST /api/queries/import (those who manage
// the target datasource). Every query is checked first: one bad query
// imports nothing. A name that exists is reported in "conflicts" (or, with
// "replace", gets a new version).
func (s *Server) importSavedQueries(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req importRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if req.Format != "" && req.Format != exportFormat {
		return querygate.FieldErrorf("format", "format: must be %s", exportFormat)
	}
	dsID := req.DatasourceID
	if dsID == "" {
		if req.Datasource == nil || req.Datasource.Name == "" {
			return querygate.FieldErrorf("datasource_id", "datasource_id: is required (or datasource.name)")
		}
		list, err := s.datasources.List(r.Context())
		if err != nil {
			return err
		}
		for _, d := range list {
			if d.Name == req.Datasource.Name {
				dsID = d.ID
			}
		}
		if dsID == "" {
			return ErrDatasourceNotFound
		}
	}
	d, err := s.AuthorizedDatasource(r, u, dsID, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	if req.Datasource != nil && req.Datasource.Kind != "" && req.Datasource.Kind != d.Kind {
		return querygate.FieldErrorf("datasource.kind", "datasource.kind: the queries are for a %s datasource, not %s", s.safeKind(req.Datasource.Kind), d.Kind)
	}
	if len(req.Queries) > 1000 {
		return querygate.FieldErrorf("queries", "queries: at most 1000 per import")
	}
	seen := map[string]bool{}
	for i, eq := range req.Queries {
		def := savedquery.Definition{Body: savedquery.Body{Query: eq.Query, Request: eq.Request, Command: eq.Command}, Parameters: eq.Parameters}
		if err := def.Check(d.Kind); err != nil {
			return prefixField(err, "queries["+itoa(i)+"].")
		}
		if seen[eq.Name] {
			return querygate.FieldErrorf("queries["+itoa(i)+"].name", "queries[%d].name: appears twice", i)
		}
		seen[eq.Name] = true
	}
	existing, err := s.savedQueries.List(r.Context(), d.ID)
	if err != nil {
		return err
	}
	byName := map[string]*savedquery.Query{}
	for _, q := range existing {
		byName[q.Name] = q
	}
	res := struct {
		Created   []importedQuery `json:"created"`
		Updated   []importedQuery `json:"updated"`
		Conflicts []importedQuery `json:"conflicts"`
	}{[]importedQuery{}, []importedQuery{}, []importedQuery{}}
	for i, eq := range req.Queries {
		def := savedquery.Definition{Body: savedquery.Body{Query: eq.Query, Request: eq.Request, Command: eq.Command}, Parameters: eq.Parameters}
		if old := byName[eq.Name]; old != nil {
			if !req.Replace {
				res.Conflicts = append(res.Conflicts, importedQuery{ID: old.ID, Name: eq.Name})
				continue
			}
			desc := eq.Description
			q, err := s.savedQueries.Update(r.Context(), d.Kind, u.ID, old.ID, savedquery.UpdateInput{Description: &desc, Body: &def.Body, Parameters: &def.Parameters})
			ev := audit.Event{Action: audit.SavedQueryUpdate, Target: old.ID, DatasourceID: d.ID, Details: map[string]any{"import": true}}
			if err == nil {
				ev.Details["version"] = q.Version.Number
			}
			s.record(r, u, ev, err)
			if err != nil {
				return prefixField(err, "queries["+itoa(i)+"].")
			}
			res.Updated = append(res.Updated, importedQuery{ID: q.ID, Name: q.Name})
			continue
		}
		q, err := s.savedQueries.Create(r.Context(), d.Kind, u.ID, savedquery.CreateInput{DatasourceID: d.ID, Name: eq.Name, Description: eq.Description, Definition: def})
		if querygate.ErrorCode(err) == querygate.ECONFLICT {
			res.Conflicts = append(res.Conflicts, importedQuery{Name: eq.Name}) // created meanwhile
			continue
		}
		if err != nil {
			s.record(r, u, audit.Event{Action: audit.SavedQueryCreate, DatasourceID: d.ID, Details: map[string]any{"import": true}}, err)
			return prefixField(err, "queries["+itoa(i)+"].")
		}
		s.record(r, u, audit.Event{Action: audit.SavedQueryCreate, Target: q.ID, DatasourceID: d.ID, Details: map[string]any{"import": true, "version": 1}}, nil)
		res.Created = append(res.Created, importedQuery{ID: q.ID, Name: q.Name})
	}
	kit.WriteJSON(w, http.StatusOK, res)
	return nil
}

// safeKind returns k if it is a known kind, so that a message never
// echoes the caller's text.
func (s *Server) safeKind(k string) string {
	if _, ok := s.datasources.FindKind(k); ok {
		return k
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

func itoa(i int) string { return strconv.Itoa(i) }
