package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/audit"
)

var errNoAuth = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in, or your session or token is no longer valid.")

// sessionCookie is the name of the login cookie: with the __Host- prefix
// when serving HTTPS (the browser then pins it to this host, path / and
// Secure).
func (s *Server) sessionCookie() string {
	if s.secure {
		return "__Host-qg-session"
	}
	return "qg_session"
}

// authMethod is how a request proved its user.
type authMethod int

const (
	authSession authMethod = iota + 1 // the sealed session cookie
	authToken                         // an API token
)

// authenticate returns the user of the request: an API token in the
// Authorization header, or else the sealed session cookie. A request that
// offers a credential which fails is refused; it never falls back to the
// other one.
func (s *Server) authenticate(r *http.Request) (*accounts.User, error) {
	u, _, err := s.identify(r)
	return u, err
}

// identify is authenticate that also says which credential proved the user.
func (s *Server) identify(r *http.Request) (*accounts.User, authMethod, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, 0, errNoAuth
		}
		u, err := s.accounts.TokenUser(r.Context(), strings.TrimSpace(value))
		return u, authToken, err
	}
	c, err := r.Cookie(s.sessionCookie())
	if err != nil {
		return nil, 0, errNoAuth
	}
	id, _, err := s.cookies.Open(c.Name, c.Value)
	if err != nil {
		return nil, 0, errNoAuth
	}
	u, err := s.accounts.SessionUser(r.Context(), id)
	return u, authSession, err
}

// requireUser authenticates the request and records how in its context
// (see viaToken).
func (s *Server) requireUser(h userHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, how, err := s.identify(r)
		if err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), authMethodKey, how)), u)
	}
}

// viaToken reports whether the request's user was proved by an API token
// rather than a signed-in session.
func viaToken(r *http.Request) bool {
	how, _ := r.Context().Value(authMethodKey).(authMethod)
	return how == authToken
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, userID string) error {
	id, exp, err := s.accounts.NewSession(r.Context(), userID, accounts.SessionMeta{Remote: remoteHost(r), UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	// A browser-session cookie (no Expires): the expiry is inside the
	// sealed value and in the store.
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookie(), Value: s.cookies.Seal(s.sessionCookie(), id, exp),
		Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookie(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

type userResponse struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func newUserResponse(u *accounts.User) userResponse {
	return userResponse{ID: u.ID, Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if !s.localLoginAllowed(r) {
		return querygate.Errorf(querygate.EFORBIDDEN, "Password sign-in is turned off: sign in with single sign-on.")
	}
	addr := remoteHost(r)
	if wait := s.throttle.wait(req.Username, addr); wait > 0 {
		s.metrics.LoginFailed()
		s.recordLoginFailure(r, req.Username, querygate.Errorf(querygate.ETHROTTLED, "throttled"))
		return throttled(w, wait)
	}
	u, err := s.accounts.Authenticate(r.Context(), req.Username, req.Password)
	if err != nil {
		if querygate.ErrorCode(err) == querygate.EUNAUTHORIZED {
			s.throttle.failed(req.Username, addr)
		}
		s.metrics.LoginFailed()
		s.recordLoginFailure(r, req.Username, err)
		return err
	}
	s.throttle.succeeded(req.Username)
	// A fresh session id at every login: a planted cookie never becomes a
	// logged-in one.
	if c, err := r.Cookie(s.sessionCookie()); err == nil {
		if old, _, err := s.cookies.Open(c.Name, c.Value); err == nil {
			s.accounts.EndSession(r.Context(), old)
		}
	}
	if err := s.setSession(w, r, u.ID); err != nil {
		return err
	}
	s.record(r, u, audit.Event{Action: audit.LoginSuccess, Target: u.ID}, nil)
	writeJSON(w, http.StatusOK, newUserResponse(u))
	return nil
}

// recordLoginFailure audits a failed login after the answer is decided, in
// the background, so that looking the name up adds nothing to the
// answer's timing. The attempted name is recorded only when it is a user's
// (a password typed into the name field is never kept).
func (s *Server) recordLoginFailure(r *http.Request, username string, err error) {
	ev := audit.Event{Action: audit.LoginFailure, Remote: remoteHost(r), RequestID: requestID(r.Context()), Outcome: querygate.ErrorCode(err)}
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
	if u, err := s.authenticate(r); err == nil && u != nil {
		s.record(r, u, audit.Event{Action: audit.Logout, Target: u.ID}, nil)
	}
	if c, err := r.Cookie(s.sessionCookie()); err == nil {
		if id, _, err := s.cookies.Open(c.Name, c.Value); err == nil {
			if err := s.accounts.EndSession(r.Context(), id); err != nil {
				return err
			}
		}
	}
	s.clearSession(w)
	s.forgetDeviceCookies(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
	writeJSON(w, http.StatusOK, newUserResponse(u))
	return nil
}

type setupRequest struct {
	Token    string `json:"token"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request) error {
	var req setupRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, err := s.accounts.Setup(r.Context(), req.Token, accounts.CreateUserInput{Username: req.Username, Password: req.Password})
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "first admin created", "request_id", requestID(r.Context()), "user_id", u.ID)
	s.record(r, u, audit.Event{Action: audit.Setup, Target: u.ID}, nil)
	if err := s.setSession(w, r, u.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newUserResponse(u))
	return nil
}
