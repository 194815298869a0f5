package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// noRedirect makes c answer redirects instead of following them.
func noRedirect(c *client) *client {
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// TestLoginKeepsDeepLink: a visitor sent to the login page from a page
// returns there after login; only a path on this site is ever followed,
// never another site (an open redirect).
func TestLoginKeepsDeepLink(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := noRedirect(g.MustSetup(nil))
	anon := noRedirect(g.client(nil))

	r := anon.do("GET", "/queries/x?datasource=ds1", nil)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/queries/x?datasource=ds1") {
		t.Fatalf("anonymous page: %d to %q, want the login page keeping the link", r.Status, loc)
	}
	if body := string(anon.do("GET", loc, nil).Body); !strings.Contains(body, `data-next="`+html.EscapeString("/queries/x?datasource=ds1")+`"`) {
		t.Errorf("login page does not keep the link:\n%s", body)
	}
	if got := admin.do("GET", loc, nil).Header.Get("Location"); got != "/queries/x?datasource=ds1" {
		t.Errorf("signed in, the login page sends to %q, want the kept link", got)
	}

	for _, evil := range []string{"//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example",
		"javascript:alert(1)", "//evil.example/%2F..", "http:evil.example", "/\t/evil.example"} {
		path := "/login?next=" + url.QueryEscape(evil)
		body := string(anon.do("GET", path, nil).Body)
		if strings.Contains(body, "evil.example") || !strings.Contains(body, `data-next="/datasources"`) {
			t.Errorf("next=%q: the login page keeps it:\n%s", evil, body)
		}
		if got := admin.do("GET", path, nil).Header.Get("Location"); got != "/datasources" {
			t.Errorf("next=%q: signed in, sent to %q, want /datasources", evil, got)
		}
	}
}

// TestLoginKeepMeSignedIn: "keep me signed in" makes the session cookie
// persist for the session's remaining life, bounded by --session-ttl;
// without it the cookie is a browser-session one.
func TestLoginKeepMeSignedIn(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--session-ttl", "1h")
	g.MustSetup(nil)
	cookie := func(remember bool) *http.Cookie {
		r := g.client(nil).do("POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword, "remember": remember})
		if r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if strings.Contains(c.Name, "session") {
				return c
			}
		}
		t.Fatalf("no session cookie in %v", r.Header)
		return nil
	}
	if c := cookie(false); c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Errorf("without remember: Max-Age %d, Expires %v; want a browser-session cookie", c.MaxAge, c.Expires)
	}
	c := cookie(true)
	if c.MaxAge < 3500 || c.MaxAge > 3600 {
		t.Errorf("with remember: Max-Age %s, want the session's remaining life (at most 3600)", strconv.Itoa(c.MaxAge))
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("with remember: cookie %v lost its attributes", c)
	}
}

// TestSQLiteOffWithoutDir: without --sqlite-dir no SQLite datasource can
// be created: the API refuses it naming the flag, and neither the kinds
// list nor the form offers the kind.
func TestSQLiteOffWithoutDir(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	r := admin.do("POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": "/srv/app.db"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "--sqlite-dir") {
		t.Errorf("create SQLite: %d %s, want 400 naming --sqlite-dir", r.Status, r.Body)
	}
	if list := admin.must(200, "GET", "/api/datasources", nil)["datasources"].([]any); len(list) != 0 {
		t.Errorf("a refused create stored %v", list)
	}
	if b, _ := json.Marshal(admin.must(200, "GET", "/api/kinds", nil)); strings.Contains(string(b), `"sqlite"`) {
		t.Errorf("/api/kinds offers sqlite: %s", b)
	}
	if body := string(admin.do("GET", "/datasources/new", nil).Body); strings.Contains(body, "kind=sqlite") || strings.Contains(body, `value="sqlite"`) {
		t.Errorf("the form offers sqlite:\n%s", body)
	}
	if r := admin.do("GET", "/datasources/new?kind=sqlite", nil); r.Status != http.StatusNotFound {
		t.Errorf("the SQLite form: %d, want 404", r.Status)
	}
}
