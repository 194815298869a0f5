package ui

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/accounts"
	"github.com/querygate/querygate/internal/web/api"
	"github.com/querygate/querygate/internal/web/kit"
)

// fakeAuth proves a user of the role its Bearer token names.
type fakeAuth struct{}

var _ kit.Authenticator = (*fakeAuth)(nil)

func (fakeAuth) SessionUser(context.Context, []byte) (*accounts.User, error) {
	return nil, querygate.Errorf(querygate.EUNAUTHORIZED, "no session")
}

func (fakeAuth) TokenUser(_ context.Context, value string) (*accounts.User, error) {
	if value == accounts.RoleViewer || value == accounts.RoleAdmin {
		return &accounts.User{ID: "u-" + value, Username: value, Role: value}, nil
	}
	return nil, querygate.Errorf(querygate.EUNAUTHORIZED, "bad token")
}

// fakeSetup says whether the gateway has a user yet.
type fakeSetup struct{ needed bool }

func (f fakeSetup) NeedsSetup(context.Context) bool { return f.needed }

// newTestPages is the pages on fakes alone: a page handler that ran would
// panic on its missing services.
func newTestPages(needsSetup bool) http.Handler {
	b := kit.New(kit.Options{Accounts: fakeAuth{}})
	mux := http.NewServeMux()
	New(api.New(b, api.Options{}), Options{Setup: fakeSetup{needsSetup}}).Register(mux)
	return b.Wrap(mux)
}

func get(h http.Handler, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// A page that needs a user sends an anonymous browser to the login page
// (or to setup on a new gateway), without running the page.
func TestPageDeniedToAnonymous(t *testing.T) {
	for _, path := range []string{"/datasources", "/users", "/datasources/x/edit", "/queries/new", "/account", "/settings/sso"} {
		// The login page keeps the page asked for, to return to it.
		login := "/login?next=" + url.QueryEscape(path)
		if w := get(newTestPages(false), path, ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != login {
			t.Errorf("%s anonymous: got %d to %q, want 303 to %s", path, w.Code, w.Header().Get("Location"), login)
		}
		if w := get(newTestPages(false), path, "stolen"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != login {
			t.Errorf("%s with a bad token: got %d to %q, want 303 to %s", path, w.Code, w.Header().Get("Location"), login)
		}
		if w := get(newTestPages(true), path, ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/setup" {
			t.Errorf("%s before setup: got %d to %q, want 303 to /setup", path, w.Code, w.Header().Get("Location"))
		}
	}
}

// An admin page is refused to a viewer by the action it is registered
// with, before it runs: an error page, 403, with the page CSP.
func TestPageDeniedByItsAction(t *testing.T) {
	for _, path := range []string{"/users", "/groups", "/audit", "/network", "/settings/sso", "/datasources/new"} {
		w := get(newTestPages(false), path, accounts.RoleViewer)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "do not allow this") || w.Header().Get("Content-Security-Policy") != pageCSP {
			t.Errorf("%s as viewer: got %d %q", path, w.Code, w.Body.String())
		}
	}
}

// Every page that is not public names an action or is for any
// signed-in user; the admin screens name ActionAdmin.
func TestPagesCarryTheirAction(t *testing.T) {
	routes := New(api.New(kit.New(kit.Options{}), api.Options{}), Options{}).Register(http.NewServeMux())
	public := map[string]bool{"GET /static/": true, "GET /{$}": true, "GET /setup": true, "GET /login": true,
		"GET /auth/oidc/login": true, "GET /auth/oidc/callback": true}
	for _, r := range routes {
		if r.Public != public[r.Pattern] {
			t.Errorf("%s: public %v, want %v", r.Pattern, r.Public, public[r.Pattern])
		}
		switch r.Pattern {
		case "GET /users", "GET /groups", "GET /audit", "GET /network", "GET /settings/sso":
			if r.Action != accounts.ActionAdmin {
				t.Errorf("%s: action %q, want admin", r.Pattern, r.Action)
			}
		}
	}
}

// Errors shown to people carry the message only: the error page and the
// scripts never put the code (a word for programs) in front of it.
func TestErrorsShowNoCode(t *testing.T) {
	w := get(newTestPages(false), "/users", accounts.RoleViewer)
	if w.Code != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", w.Code)
	}
	if body := w.Body.String(); strings.Contains(body, querygate.EFORBIDDEN) {
		t.Errorf("error page shows the code %q:\n%s", querygate.EFORBIDDEN, body)
	}
	files, err := fs.Glob(uiFiles, "static/js/*.js")
	if err != nil || len(files) == 0 {
		t.Fatalf("scripts: %v %v", files, err)
	}
	codePrefix := regexp.MustCompile(`\$\{[\w.]*\.code\}:`)
	for _, f := range files {
		b, err := fs.ReadFile(uiFiles, f)
		if err != nil {
			t.Fatal(err)
		}
		if m := codePrefix.Find(b); m != nil {
			t.Errorf("%s puts the code before a message: %s", f, m)
		}
	}
}
