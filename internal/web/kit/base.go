// Package kit is what both front ends of the web layer share: the
// middleware (request ids and logging, client ingress, the host check,
// cross-origin protection, security headers), the authentication of a
// session cookie or an API token, the route registration that carries
// each route's action (deny by default), the error adapter, the JSON
// helpers and the login throttle.
//
// It must never write a secret, a session id, a token or internal error
// text into a response or a log line.
package kit

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/metrics"
	"github.com/querygate/querygate/internal/seal"
)

// Authenticator finds the user of a session or an API token.
type Authenticator interface {
	SessionUser(ctx context.Context, id []byte) (*accounts.User, error)
	TokenUser(ctx context.Context, value string) (*accounts.User, error)
}

// Options are the dependencies of the shared middleware.
type Options struct {
	Logger   *slog.Logger
	Accounts Authenticator
	Cookies  *seal.Cookies
	Metrics  *metrics.Metrics
	Ingress  Ingress
	// Secure is true when the gateway serves HTTPS: the session cookie
	// then carries the __Host- prefix.
	Secure bool
	// AllowedHosts, when not empty, are the only host names (Host header,
	// port ignored) the gateway answers, against DNS rebinding; empty
	// accepts any.
	AllowedHosts []string
}

// Base holds the shared middleware's dependencies; the API and the pages
// are built on one.
type Base struct {
	log           *slog.Logger
	accounts      Authenticator
	cookies       *seal.Cookies
	metrics       *metrics.Metrics
	ingressPolicy Ingress
	secure        bool
	hosts         map[string]bool // nil: any Host (checkHost)
}

// New returns a Base.
func New(o Options) *Base {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Base{log: o.Logger, accounts: o.Accounts, cookies: o.Cookies, metrics: o.Metrics, ingressPolicy: o.Ingress, secure: o.Secure}
	if len(o.AllowedHosts) > 0 {
		s.hosts = map[string]bool{}
		for _, h := range o.AllowedHosts {
			s.hosts[normalHost(h)] = true
		}
	}
	return s
}

// Logger is the log the handlers write to.
func (s *Base) Logger() *slog.Logger { return s.log }

// Secure reports whether the gateway serves HTTPS.
func (s *Base) Secure() bool { return s.secure }

// Wrap puts the shared middleware around the routes of both front ends.
func (s *Base) Wrap(mux http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.Adapt(func(w http.ResponseWriter, r *http.Request) error {
		return errCrossOrigin
	}))
	var h http.Handler = s.recoverer(s.requestLog(securityHeaders(s.checkHost(cop.Handler(matchedRoute(mux))))))
	if s.secure {
		h = hsts(h)
	}
	return s.ingress(h)
}

// hsts tells browsers to use HTTPS only (set when serving HTTPS).
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// IngressPolicy is the operator's client policy.
func (s *Base) IngressPolicy() Ingress { return s.ingressPolicy }

// AllowedHosts lists the host names the gateway answers (nil: any).
func (s *Base) AllowedHosts() []string {
	var out []string
	for h := range s.hosts {
		out = append(out, h)
	}
	return out
}
