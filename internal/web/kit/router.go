package kit

import (
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
)

// SignedIn is the action of a route that any signed-in user may call:
// what they may do there depends on the resource it names (a
// datasource's grant, a dashboard's), which its use case checks.
const SignedIn accounts.Action = ""

// Route is one route, as registered.
type Route struct {
	Pattern string // "METHOD /path"
	Public  bool   // reachable without a user
	// Action is what the user must be allowed to do, checked before the
	// handler runs (SignedIn: only that there is a user).
	Action accounts.Action
}

// Surface is how a front end answers what its routes refuse or fail
// with: the API in JSON, the pages with a redirect or an error page.
type Surface struct {
	// Unauthenticated answers a request for a user's route that proves no
	// user (no session or token, or one that is no longer valid).
	Unauthenticated func(w http.ResponseWriter, r *http.Request, err error)
	// Failed answers a refused action or a handler's error; u is nil on a
	// public route.
	Failed func(w http.ResponseWriter, r *http.Request, u *accounts.User, err error)
}

// Router registers the routes of one front end on a mux. Deny by
// default: a route is reachable without a user only when it is
// registered with Public; every other route names the action it needs.
type Router struct {
	base    *Base
	mux     *http.ServeMux
	surface Surface
	routes  []Route
}

// Router returns a Router that registers on mux and answers with sf.
func (s *Base) Router(mux *http.ServeMux, sf Surface) *Router {
	return &Router{base: s, mux: mux, surface: sf}
}

// Public registers a route that needs no user.
func (rt *Router) Public(pattern string, h HandlerFunc) {
	rt.routes = append(rt.routes, Route{Pattern: pattern, Public: true})
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			rt.surface.Failed(w, r, nil, err)
		}
	}))
}

// PublicHandler registers a plain handler that needs no user (static
// files).
func (rt *Router) PublicHandler(pattern string, h http.Handler) {
	rt.routes = append(rt.routes, Route{Pattern: pattern, Public: true})
	rt.mux.Handle(pattern, h)
}

// Handle registers a route for a signed-in user who may do a (at the
// collection level: accounts.Authorize with no resource), checked before
// h runs. Each wrap goes around that check, outermost first (the API's
// audit of refusals).
func (rt *Router) Handle(pattern string, a accounts.Action, h UserHandlerFunc, wrap ...func(UserHandlerFunc) UserHandlerFunc) {
	rt.routes = append(rt.routes, Route{Pattern: pattern, Action: a})
	h = Require(a, h)
	for i := len(wrap) - 1; i >= 0; i-- {
		h = wrap[i](h)
	}
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, r, err := rt.base.identified(r)
		if err != nil {
			rt.surface.Unauthenticated(w, r, err)
			return
		}
		if err := h(w, r, u); err != nil {
			rt.surface.Failed(w, r, u, err)
		}
	}))
}

// Require runs h only for a user who may do a (SignedIn: anyone).
func Require(a accounts.Action, h UserHandlerFunc) UserHandlerFunc {
	if a == SignedIn {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, u *accounts.User) error {
		if err := accounts.Authorize(u, a, accounts.Resource{}); err != nil {
			return err
		}
		return h(w, r, u)
	}
}

// Routes lists the routes registered, in order.
func (rt *Router) Routes() []Route { return rt.routes }
