package api

import (
	"net/http"
	"time"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/kind"
	"github.com/querygate/querygate/internal/query"
	"github.com/querygate/querygate/internal/web/kit"
)

// secretState is all the API ever says about a secret.
type secretState struct {
	Configured bool `json:"configured"`
}

// datasourceResponse is the only shape in which a datasource leaves the
// gateway. It has no field that could hold a secret value.
type DatasourceResponse struct {
	ID       string                 `json:"id"`
	Name     string                 `json:"name"`
	Kind     string                 `json:"kind"`
	Custody  string                 `json:"custody"`
	ReadOnly bool                   `json:"read_only"`
	Settings map[string]any         `json:"settings"`
	Secrets  map[string]secretState `json:"secrets"`
	// Insecure lists settings that weaken security and are turned on.
	Insecure  []string  `json:"insecure"`
	OwnerID   string    `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DatasourceResponse is d as the API and the pages show it: its secrets
// only as configured or not, and its insecure settings named.
func (s *Server) DatasourceResponse(d *datasource.Datasource) DatasourceResponse {
	k, ok := s.datasources.FindKind(d.Kind)
	if !ok {
		k = &kind.Kind{Name: d.Kind}
	}
	secrets := map[string]secretState{}
	for _, f := range k.Fields {
		if f.Secret {
			secrets[f.Name] = secretState{}
		}
	}
	for _, n := range d.SecretNames {
		secrets[n] = secretState{Configured: true}
	}
	insecure := k.Insecure(d.Settings, d.SecretNames)
	if insecure == nil {
		insecure = []string{}
	}
	return DatasourceResponse{ID: d.ID, Name: d.Name, Kind: d.Kind, Custody: d.Custody, ReadOnly: d.ReadOnly,
		Settings: d.Settings, Secrets: secrets, Insecure: insecure, OwnerID: d.OwnerID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func (s *Server) listKinds(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	kit.WriteJSON(w, http.StatusOK, map[string]any{"kinds": s.datasources.CreatableKinds()})
	return nil
}

func (s *Server) listDatasources(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.VisibleDatasources(r, u)
	if err != nil {
		return err
	}
	out := []DatasourceResponse{}
	for _, v := range list {
		out = append(out, s.DatasourceResponse(v.Datasource))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"datasources": out})
	return nil
}

// VisibleDatasource is a datasource the caller may see, with what the
// caller's role and grants give them on it.
type VisibleDatasource = query.Visible

// VisibleDatasources lists the datasources the caller may see (by name),
// with their grant levels (query.Service.VisibleDatasources).
func (s *Server) VisibleDatasources(r *http.Request, u *accounts.User) ([]VisibleDatasource, error) {
	return s.queries.VisibleDatasources(r.Context(), s.Actor(r, u))
}

// FindAuthorized loads the datasource {id} of the request's path and checks
// the action on it.
func (s *Server) FindAuthorized(r *http.Request, u *accounts.User, a accounts.Action) (*datasource.Datasource, error) {
	return s.AuthorizedDatasource(r, u, r.PathValue("id"), a)
}

// AuthorizedDatasource loads datasource id and checks the action on it; a
// datasource the caller may not read is ENOTFOUND (query.Service.Authorize).
func (s *Server) AuthorizedDatasource(r *http.Request, u *accounts.User, id string, a accounts.Action) (*datasource.Datasource, error) {
	return s.queries.Authorize(r.Context(), s.Actor(r, u), id, a)
}

// createDatasource answers POST /api/datasources (the create use case).
func (s *Server) createDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req datasource.CreateInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.queries.CreateDatasource(r.Context(), s.Actor(r, u), req)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, s.DatasourceResponse(d))
	return nil
}

func (s *Server) findDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.FindAuthorized(r, u, accounts.ActionDatasourceRead)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, s.DatasourceResponse(d))
	return nil
}

// testDraft answers POST /api/datasources/test: the connection test of
// a datasource not saved yet (the create form's body), which stores
// nothing.
func (s *Server) testDraft(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req datasource.CreateInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if err := s.queries.TestDraft(r.Context(), s.Actor(r, u), req); err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

// updateDatasource answers PATCH /api/datasources/{id} (the update use
// case).
func (s *Server) updateDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req datasource.UpdateInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.queries.UpdateDatasource(r.Context(), s.Actor(r, u), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, s.DatasourceResponse(d))
	return nil
}

// deleteDatasource answers DELETE /api/datasources/{id} (the delete use
// case).
func (s *Server) deleteDatasource(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.queries.DeleteDatasource(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
