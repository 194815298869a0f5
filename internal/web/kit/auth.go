package kit

import (
	"context"
	"net/http"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
)

var errNoAuth = querygate.Errorf(querygate.EUNAUTHORIZED, "You are not logged in, or your session or token is no longer valid.")

// SessionCookie is the name of the login cookie: with the __Host- prefix
// when serving HTTPS (the browser then pins it to this host, path / and
// Secure).
func (s *Base) SessionCookie() string {
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

// Authenticate returns the user of the request: an API token in the
// Authorization header, or else the sealed session cookie. A request that
// offers a credential which fails is refused; it never falls back to the
// other one.
func (s *Base) Authenticate(r *http.Request) (*accounts.User, error) {
	u, _, err := s.identify(r)
	return u, err
}

// identify is Authenticate that also says which credential proved the user.
func (s *Base) identify(r *http.Request) (*accounts.User, authMethod, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, 0, errNoAuth
		}
		u, err := s.accounts.TokenUser(r.Context(), strings.TrimSpace(value))
		return u, authToken, err
	}
	c, err := r.Cookie(s.SessionCookie())
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

// identified authenticates the request and records how in its context
// (see ViaToken).
func (s *Base) identified(r *http.Request) (*accounts.User, *http.Request, error) {
	u, how, err := s.identify(r)
	if err != nil {
		return nil, r, err
	}
	return u, r.WithContext(context.WithValue(r.Context(), authMethodKey, how)), nil
}

// ViaToken reports whether the request's user was proved by an API token
// rather than a signed-in session.
func ViaToken(r *http.Request) bool {
	how, _ := r.Context().Value(authMethodKey).(authMethod)
	return how == authToken
}

// Identify is Authenticate that also says whether an API token, rather
// than the session cookie, proved the user.
func (s *Base) Identify(r *http.Request) (u *accounts.User, viaToken bool, err error) {
	u, how, err := s.identify(r)
	return u, how == authToken, err
}
