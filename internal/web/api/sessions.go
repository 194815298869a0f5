package api

import (
	"net/http"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/web/kit"
)

// Sessions: the caller's own (listed with the current one marked,
// revocable one by one or all at once) and, for admins, anyone's. A
// session is named by a public handle, never by its id.

// CurrentSessionID returns the id in the request's session cookie, or nil.
func (s *Server) CurrentSessionID(r *http.Request) []byte {
	c, err := r.Cookie(s.SessionCookie())
	if err != nil {
		return nil
	}
	id, _, err := s.cookies.Open(c.Name, c.Value)
	if err != nil {
		return nil
	}
	return id
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	list, err := s.accounts.ListSessions(r.Context(), u.ID, s.CurrentSessionID(r))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"sessions": NewSessionResponses(list)})
	return nil
}

// revokeSession answers DELETE /api/sessions/{id}: one's own session, or
// (for admins) anyone's. Ending the current one also clears its cookie.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	cur := s.CurrentSessionID(r)
	var current bool
	if cur != nil {
		if list, err := s.accounts.ListSessions(r.Context(), u.ID, cur); err == nil {
			for _, x := range list {
				current = current || (x.Current && x.ID == r.PathValue("id"))
			}
		}
	}
	if err := s.accounts.CloseSession(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	if current {
		s.ClearSession(w)
		s.forgetDeviceCookies(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutEverywhere ends every session of the caller, this one included.
func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.accounts.LogOutEverywhere(r.Context(), s.Actor(r, u), u.ID); err != nil {
		return err
	}
	s.ClearSession(w)
	s.forgetDeviceCookies(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listUserSessions(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	target, err := s.accounts.FindUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	list, err := s.accounts.ListSessions(r.Context(), target.ID, s.CurrentSessionID(r))
	if err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"sessions": NewSessionResponses(list)})
	return nil
}

// endUserSessions answers DELETE /api/users/{id}/sessions (admins): the
// user is signed out everywhere.
func (s *Server) endUserSessions(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	if err := s.accounts.LogOutEverywhere(r.Context(), s.Actor(r, u), r.PathValue("id")); err != nil {
		return err
	}
	if r.PathValue("id") == u.ID {
		s.ClearSession(w)
		s.forgetDeviceCookies(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listUserTokens(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	target, err := s.accounts.FindUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.writeTokens(w, r, target.ID)
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword answers POST /api/me/password: the caller's own
// password, after the current one is checked (and throttled like a login).
// Every session and API token of the user ends; this browser gets a fresh
// session. An API token cannot change a password.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	var req passwordRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	addr := kit.RemoteHost(r)
	// A token's request is refused by the use case, not throttled.
	if wait := s.throttle.Wait(u.Username, addr); wait > 0 && !kit.ViaToken(r) {
		return kit.Throttled(w, wait)
	}
	_, err := s.accounts.ChangeOwnPassword(r.Context(), s.Actor(r, u), req.CurrentPassword, req.NewPassword)
	if querygate.ErrorCode(err) == querygate.EINVALID {
		if e, ok := err.(*querygate.Error); ok && e.Field == "current_password" {
			s.throttle.Failed(u.Username, addr)
		}
	}
	if err != nil {
		return err
	}
	s.throttle.Succeeded(u.Username)
	if err := s.SetSession(w, r, u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
