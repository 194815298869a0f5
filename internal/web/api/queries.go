package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
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

// createSavedQuery answers POST /api/queries (the create use case: those
// who manage the datasource).
func (s *Server) createSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req createSavedQueryRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	q, err := s.queries.CreateSavedQuery(r.Context(), s.Actor(r, u), savedquery.CreateInput{DatasourceID: req.DatasourceID, Name: req.Name, Description: req.Description,
		Definition: savedquery.Definition{Body: savedquery.Body{Query: req.Query, Request: req.Request, Command: req.Command}, Parameters: req.Parameters}})
	if err != nil {
		return err
	}
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

// updateSavedQuery answers PATCH /api/queries/{id} (the update use
// case): a new body or new parameters make a new version; name and
// description change in place.
func (s *Server) updateSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
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
	q, err := s.queries.UpdateSavedQuery(r.Context(), s.Actor(r, u), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, NewSavedQueryResponse(q))
	return nil
}

// deleteSavedQuery answers DELETE /api/queries/{id} (the delete use case).
func (s *Server) deleteSavedQuery(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.queries.DeleteSavedQuery(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
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

// importSavedQueries answers POST /api/queries/import (the import use
// case: those who manage the target datasource). Every query is checked
// first: one bad query imports nothing. A name that exists is reported in
// "conflicts" (or, with "replace", gets a new version).
func (s *Server) importSavedQueries(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req importRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if req.Format != "" && req.Format != exportFormat {
		return querygate.FieldErrorf("format", "format: must be %s", exportFormat)
	}
	in := query.ImportInput{DatasourceID: req.DatasourceID, Replace: req.Replace, Queries: make([]query.ImportQuery, 0, len(req.Queries))}
	if req.Datasource != nil {
		in.DatasourceName, in.Kind = req.Datasource.Name, req.Datasource.Kind
	}
	for _, eq := range req.Queries {
		in.Queries = append(in.Queries, query.ImportQuery{Name: eq.Name, Description: eq.Description,
			Definition: savedquery.Definition{Body: savedquery.Body{Query: eq.Query, Request: eq.Request, Command: eq.Command}, Parameters: eq.Parameters}})
	}
	res, err := s.queries.ImportSavedQueries(r.Context(), s.Actor(r, u), in)
	if err != nil {
		return err
	}
	imported := func(list []query.Imported) []importedQuery {
		out := make([]importedQuery, 0, len(list))
		for _, q := range list {
			out = append(out, importedQuery(q))
		}
		return out
	}
	kit.WriteJSON(w, http.StatusOK, struct {
		Created   []importedQuery `json:"created"`
		Updated   []importedQuery `json:"updated"`
		Conflicts []importedQuery `json:"conflicts"`
	}{imported(res.Created), imported(res.Updated), imported(res.Conflicts)})
	return nil
}
