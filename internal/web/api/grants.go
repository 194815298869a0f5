package api

import (
	"net/http"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/datasource"
	"github.com/querygate/querygate/internal/web/kit"
)

// errDatasourceNotFound answers for a datasource that does not exist and
// for one the caller may not see, alike.
var ErrDatasourceNotFound = querygate.Errorf(querygate.ENOTFOUND, "datasource not found.")

// ResourceFor describes a datasource for Authorize, with the caller's
// grant level on it (query.Service.Resource).
func (s *Server) ResourceFor(r *http.Request, u *accounts.User, d *datasource.Datasource) (accounts.Resource, error) {
	return s.queries.Resource(r.Context(), s.Actor(r, u), d)
}

type grantsBody struct {
	Grants []datasource.Grant `json:"grants"`
}

// listGrants answers GET /api/datasources/{id}/grants (those who manage it).
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	d, err := s.FindAuthorized(r, u, accounts.ActionDatasourceManage)
	if err != nil {
		return err
	}
	grants, err := s.datasources.Grants(r.Context(), d.ID)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, grantsBody{Grants: grants})
	return nil
}

// setGrants answers PUT /api/datasources/{id}/grants: the new whole list
// (the grants use case).
func (s *Server) setGrants(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var body grantsBody
	if err := kit.Decode(w, r, &body); err != nil {
		return err
	}
	grants, err := s.queries.SetGrants(r.Context(), s.Actor(r, u), r.PathValue("id"), body.Grants)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, grantsBody{Grants: grants})
	return nil
}

type groupRequest struct {
	Name string `json:"name"`
}

type membersRequest struct {
	UserIDs []string `json:"user_ids"`
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListGroups(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*accounts.Group{}
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"groups": list})
	return nil
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req groupRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	g, err := s.accounts.AddGroup(r.Context(), s.Actor(r, u), req.Name)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, g)
	return nil
}

func (s *Server) setGroupMembers(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req membersRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	g, err := s.accounts.EditGroupMembers(r.Context(), s.Actor(r, u), r.PathValue("id"), req.UserIDs)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, g)
	return nil
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.accounts.RemoveGroup(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
