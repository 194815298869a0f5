package api

import (
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/web/kit"
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListUsers(r.Context())
	if err != nil {
		return err
	}
	out := make([]UserResponse, len(list))
	for i, x := range list {
		out[i] = NewUserResponse(x)
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req accounts.CreateUserInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	nu, err := s.accounts.AddUser(r.Context(), s.Actor(r, u), req)
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, NewUserResponse(nu))
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req accounts.UpdateUserInput
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	nu, err := s.accounts.EditUser(r.Context(), s.Actor(r, u), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	// A new password ended every session of the user and revoked their
	// tokens; a new role ended their sessions. An admin who changed their
	// own in a signed-in session gets a fresh session instead of being
	// signed out.
	if (req.Password != nil || nu.Role != u.Role) && nu.ID == u.ID && !kit.ViaToken(r) {
		if err := s.SetSession(w, r, nu.ID); err != nil {
			return err
		}
	}
	kit.WriteJSON(w, http.StatusOK, NewUserResponse(nu))
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.accounts.RemoveUser(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resetRequest is the body of POST /api/users/{id}/password.
type resetRequest struct {
	Password string `json:"password"`
}

// resetPassword answers POST /api/users/{id}/password (admins): the user
// gets the new password, and, as with any password change, every session
// of theirs ends and every API token of theirs is revoked, so that a
// credential taken before the reset stops working. An admin who resets
// their own password in a signed-in session gets a fresh session.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req resetRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	nu, err := s.accounts.ResetPassword(r.Context(), s.Actor(r, u), r.PathValue("id"), req.Password)
	if err != nil {
		return err
	}
	if nu.ID == u.ID && !kit.ViaToken(r) {
		if err := s.SetSession(w, r, nu.ID); err != nil {
			return err
		}
	}
	kit.WriteJSON(w, http.StatusOK, NewUserResponse(nu))
	return nil
}
