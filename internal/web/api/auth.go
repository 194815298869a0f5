package api

import (
	"context"
	"net/http"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
	"github.com/querygate/querygate/internal/web/kit"
)

// SetSession starts a session for userID and sets its cookie: a
// browser-session cookie (no Expires), which the browser drops when it
// closes.
func (s *Server) SetSession(w http.ResponseWriter, r *http.Request, userID string) error {
	return s.setSession(w, r, userID, false)
}

// setSession starts a session and sets its cookie; with keep ("keep me
// signed in") the cookie persists for the session's remaining life and
// no longer, so --session-ttl bounds it. Either way the expiry is inside
// the sealed value and in the store.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, userID string, keep bool) error {
	id, exp, err := s.accounts.NewSession(r.Context(), userID, accounts.SessionMeta{Remote: kit.RemoteHost(r), UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	c := &http.Cookie{
		Name: s.SessionCookie(), Value: s.cookies.Seal(s.SessionCookie(), id, exp),
		Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}
	if keep {
		if c.MaxAge = int(time.Until(exp) / time.Second); c.MaxAge <= 0 {
			c.MaxAge = -1
		}
	}
	http.SetCookie(w, c)
	return nil
}

func (s *Server) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.SessionCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

type UserResponse struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func NewUserResponse(u *accounts.User) UserResponse {
	return UserResponse{ID: u.ID, Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Remember keeps the session cookie after the browser closes, for
	// the session's remaining life (--session-ttl at most).
	Remember bool `json:"remember"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	if !s.LocalLoginAllowed(r) {
		return querygate.Errorf(querygate.EFORBIDDEN, "Password sign-in is turned off: sign in with single sign-on.")
	}
	addr := kit.RemoteHost(r)
	if wait := s.throttle.Wait(req.Username, addr); wait > 0 {
		s.metrics.LoginFailed()
		s.recordLoginFailure(r, req.Username, querygate.Errorf(querygate.ETHROTTLED, "throttled"))
		return kit.Throttled(w, wait)
	}
	u, err := s.accounts.Authenticate(r.Context(), req.Username, req.Password)
	if err != nil {
		if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
			s.throttle.Failed(req.Username, addr)
		}
		s.metrics.LoginFailed()
		s.recordLoginFailure(r, req.Username, err)
		return err
	}
	s.throttle.Succeeded(req.Username)
	// A fresh session id at every login: a planted cookie never becomes a
	// logged-in one.
	if c, err := r.Cookie(s.SessionCookie()); err == nil {
		if old, _, err := s.cookies.Open(c.Name, c.Value); err == nil {
			s.accounts.EndSession(r.Context(), old)
		}
	}
	if err := s.setSession(w, r, u.ID, req.Remember); err != nil {
		return err
	}
	s.record(r, u, audit.Event{Action: audit.LoginSuccess, Target: u.ID, Details: map[string]any{"remember": req.Remember}}, nil)
	kit.WriteJSON(w, http.StatusOK, NewUserResponse(u))
	return nil
}

// recordLoginFailure audits a failed login after the answer is decided, in
// the background, so that looking the name up adds nothing to the
// answer's timing. The attempted name is recorded only when it is a user's
// (a password typed into the name field is never kept).
func (s *Server) recordLoginFailure(r *http.Request, username string, err error) {
	ev := audit.Event{Action: audit.LoginFailure, Remote: kit.RemoteHost(r), RequestID: kit.RequestID(r.Context()), Outcome: querygate.ErrorCode(err)}
	ctx := context.WithoutCancel(r.Context())
	go func() {
		if u, err := s.accounts.FindUserByName(ctx, username); err == nil {
			ev.ActorID, ev.ActorName, ev.Target = u.ID, u.Username, u.ID
		} else {
			ev.Details = map[string]any{"unknown_user": true}
		}
		if s.audit != nil {
			s.audit.Record(ctx, ev)
		}
	}()
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if u, err := s.Authenticate(r); err == nil && u != nil {
		s.record(r, u, audit.Event{Action: audit.Logout, Target: u.ID}, nil)
	}
	if c, err := r.Cookie(s.SessionCookie()); err == nil {
		if id, _, err := s.cookies.Open(c.Name, c.Value); err == nil {
			if err := s.accounts.EndSession(r.Context(), id); err != nil {
				return err
			}
		}
	}
	s.ClearSession(w)
	s.forgetDeviceCookies(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	kit.WriteJSON(w, http.StatusOK, NewUserResponse(u))
	return nil
}

type setupRequest struct {
	Token    string `json:"token"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request) error {
	var req setupRequest
	if err := kit.Decode(w, r, &req); err != nil {
		return err
	}
	u, err := s.accounts.Setup(r.Context(), req.Token, accounts.CreateUserInput{Username: req.Username, Password: req.Password})
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "first admin created", "request_id", kit.RequestID(r.Context()), "user_id", u.ID)
	s.record(r, u, audit.Event{Action: audit.Setup, Target: u.ID}, nil)
	if err := s.SetSession(w, r, u.ID); err != nil {
		return err
	}
	kit.WriteJSON(w, http.StatusCreated, NewUserResponse(u))
	return nil
}
