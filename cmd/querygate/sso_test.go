package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testIdP is a small OpenID Connect provider on loopback: discovery, JWKS,
// an authorize endpoint that signs the user in at once, and a token
// endpoint that checks the client secret and PKCE and signs an ID token.
// Its knobs make the next token misbehave.
type testIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	forged *rsa.PrivateKey
	secret string

	// hits counts the requests that reached the provider.
	hits atomic.Int64

	mu    sync.Mutex
	codes map[string]idpCode
	// the next sign-in:
	email    string
	verified bool
	groups   []string
	aud      string // "" : the client id
	expired  bool
	badSig   bool
	nonce    string // "" : the one the gateway sent
	subject  string // "" : derived from the email
}

type idpCode struct{ nonce, challenge, clientID string }

const idpClientID = "querygate-test"

func newTestIdP(t *testing.T, secret string) *testIdP {
	idp := &testIdP{t: t, secret: secret, codes: map[string]idpCode{}}
	var err error
	if idp.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if idp.forged, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := idp.srv.URL
		json.NewEncoder(w).Encode(map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
			"jwks_uri": u + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": b64(idp.key.N.Bytes()), "e": b64(big.NewInt(int64(idp.key.E)).Bytes())}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorize request", 400)
			return
		}
		code := rand.Text()
		idp.mu.Lock()
		idp.codes[code] = idpCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), clientID: q.Get("client_id")}
		idp.mu.Unlock()
		back, err := url.Parse(q.Get("redirect_uri"))
		if err != nil {
			http.Error(w, "redirect_uri: not a URL", http.StatusBadRequest)
			return
		}
		v := back.Query()
		v.Set("code", code)
		v.Set("state", q.Get("state"))
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		idp.mu.Lock()
		c, found := idp.codes[r.PostForm.Get("code")]
		delete(idp.codes, r.PostForm.Get("code"))
		idp.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case id != idpClientID || sec != idp.secret:
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client"})
			return
		case !found || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 300,
			"id_token": idp.idToken(c.nonce)})
	})
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idp.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

// next sets the user of the next sign-in and resets the knobs.
func (idp *testIdP) next(email string, groups ...string) *testIdP {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.email, idp.verified, idp.groups = email, true, groups
	idp.aud, idp.expired, idp.badSig, idp.nonce, idp.subject = "", false, false, "", ""
	return idp
}

func (idp *testIdP) idToken(nonce string) string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	now := time.Now()
	sub := "sub-" + strings.ToLower(idp.email)
	if idp.subject != "" {
		sub = idp.subject
	}
	claims := map[string]any{"iss": idp.srv.URL, "sub": sub, "aud": idpClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": nonce, "email": idp.email, "email_verified": idp.verified, "name": "Test Person", "groups": idp.groups}
	if idp.aud != "" {
		claims["aud"] = idp.aud
	}
	if idp.expired {
		claims["iat"], claims["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	}
	if idp.nonce != "" {
		claims["nonce"] = idp.nonce
	}
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	input := b64(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." + b64(claims)
	key := idp.key
	if idp.badSig {
		key = idp.forged
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		idp.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// ssoSignIn runs the whole flow in a fresh cookie jar and returns the
// final URL and the client, which holds the session on success.
func ssoSignIn(t *testing.T, g *gateway) (string, *client) {
	t.Helper()
	c := g.client(nil)
	jar, _ := cookiejar.New(nil)
	c.http = &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.http.Get(g.url + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL.String(), c
}

// TestSingleSignOn drives sign-ins through the test provider: a good one
// makes the user with the mapped role and groups and a session; a wrong
// audience, an expired token, a bad signature, a wrong nonce, a wrong
// state, an unverified email and a foreign domain are each refused with
// no session. The client secret is sealed and never shown, and local
// sign-in can be turned off (with --local-login as the way back).
func TestSingleSignOn(t *testing.T) {
	const secret = "IDP-CLIENT-SECRET-CANARY-51c2"
	idp := newTestIdP(t, secret)
	dir := t.TempDir()
	rec := &recorder{}
	g := MustRun(t, dir, nil)
	admin := g.MustSetup(rec)
	gid := admin.must(201, "POST", "/api/groups", map[string]any{"name": "analysts"})["id"].(string)

	setting := map[string]any{"enabled": true, "issuer": idp.srv.URL, "client_id": idpClientID, "allowed_domains": []string{"example.com"},
		"role_map": map[string]any{"qg-editors": "editor", "qg-admins": "admin"}, "group_map": map[string]any{"idp-analysts": "analysts"},
		"default_role": "viewer", "local_login": true}
	// On without a secret: refused, nothing stored.
	if r := admin.do("PUT", "/api/settings/sso", setting); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"client_secret"`) {
		t.Fatalf("enable without a secret: %d %s", r.Status, r.Body)
	}
	if st := admin.must(200, "GET", "/api/settings/sso", nil); st["enabled"] != false {
		t.Fatalf("a refused setting was stored: %v", st)
	}
	for _, bad := range []map[string]any{{"issuer": "http://idp.example.com"}, {"role_map": map[string]any{"x": "root"}}, {"client_id": ""}} {
		body := map[string]any{"client_secret": secret}
		for k, v := range setting {
			body[k] = v
		}
		for k, v := range bad {
			body[k] = v
		}
		if r := admin.do("PUT", "/api/settings/sso", body); r.Status != 400 {
			t.Errorf("bad setting %v: %d %s", bad, r.Status, r.Body)
		}
	}
	setting["client_secret"] = secret
	st := admin.must(200, "PUT", "/api/settings/sso", setting)
	if st["client_secret_configured"] != true || !strings.HasSuffix(st["callback_url"].(string), "/auth/oidc/callback") {
		t.Fatalf("setting: %v", st)
	}
	delete(setting, "client_secret") // saved again without it, it stays
	admin.must(200, "PUT", "/api/settings/sso", setting)

	// A good sign-in.
	idp.next("Alice@Example.com", "qg-editors", "idp-analysts")
	final, alice := ssoSignIn(t, g)
	if !strings.HasSuffix(final, "/datasources") {
		t.Fatalf("good sign-in ended at %s", final)
	}
	me := alice.must(200, "GET", "/api/me", nil)
	if me["username"] != "alice@example.com" || me["role"] != "editor" {
		t.Fatalf("the signed-in user: %v", me)
	}
	groups := admin.must(200, "GET", "/api/groups", nil)["groups"].([]any)
	if m := groups[0].(map[string]any)["members"].([]any); len(m) != 1 || m[0] != me["id"] {
		t.Fatalf("analysts after sign-in: %v", m)
	}
	// Signing in again with other claims: the role follows, the managed
	// group is left.
	idp.next("alice@example.com", "qg-admins")
	if final, c := ssoSignIn(t, g); !strings.HasSuffix(final, "/datasources") || c.must(200, "GET", "/api/me", nil)["role"] != "admin" {
		t.Fatalf("second sign-in: %s", final)
	}
	if m := admin.must(200, "GET", "/api/groups", nil)["groups"].([]any)[0].(map[string]any)["members"].([]any); len(m) != 0 {
		t.Fatalf("analysts after the claim went: %v (group %s)", m, gid)
	}
	alice.must(401, "GET", "/api/me", nil) // the role change ended the older session

	// The provider's account decides who signs in: alice's account with a
	// new email is still alice; alice's email given to another account at
	// the provider is refused.
	idp.next("alice.renamed@example.com", "qg-admins")
	idp.subject = "sub-alice@example.com"
	if final, c := ssoSignIn(t, g); !strings.HasSuffix(final, "/datasources") || c.must(200, "GET", "/api/me", nil)["username"] != "alice@example.com" {
		t.Fatalf("the same provider account with a new email: %s", final)
	}
	idp.next("alice@example.com", "qg-admins")
	idp.subject = "someone-else"
	if final, _ := ssoSignIn(t, g); !strings.Contains(final, "sso_error=identity") {
		t.Fatalf("an email reassigned at the provider: %s", final)
	}

	// Refusals: each ends at the login page with its reason, no session.
	for _, tc := range []struct {
		name, reason string
		set          func(*testIdP)
	}{
		{"wrong audience", "id_token", func(i *testIdP) { i.aud = "someone-else" }},
		{"expired token", "id_token", func(i *testIdP) { i.expired = true }},
		{"bad signature", "id_token", func(i *testIdP) { i.badSig = true }},
		{"wrong nonce", "nonce", func(i *testIdP) { i.nonce = "not-the-nonce" }},
		{"unverified email", "email_unverified", func(i *testIdP) { i.verified = false }},
		{"foreign domain", "domain", func(i *testIdP) { i.email = "mallory@evil.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp.next("bob@example.com", "qg-admins")
			idp.mu.Lock()
			tc.set(idp)
			idp.mu.Unlock()
			final, c := ssoSignIn(t, g)
			if !strings.Contains(final, "/login?sso_error="+tc.reason) {
				t.Fatalf("ended at %s, want the %s refusal", final, tc.reason)
			}
			c.must(401, "GET", "/api/me", nil)
		})
	}
	if r := admin.do("GET", "/api/users", nil); strings.Contains(string(r.Body), "bob@example.com") || strings.Contains(string(r.Body), "mallory") {
		t.Fatal("a refused sign-in made a user")
	}
	// A callback whose state is not this browser's.
	idp.next("bob@example.com")
	c := g.client(nil)
	jar, _ := cookiejar.New(nil)
	c.http = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.http.Get(g.url + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize := mustURL(t, resp.Header.Get("Location"))
	q := authorize.Query()
	q.Set("state", "forged-state")
	authorize.RawQuery = q.Encode()
	resp, err = c.http.Get(authorize.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/login?sso_error=state" {
		t.Fatalf("a forged state: redirected to %q", loc)
	}
	c.must(401, "GET", "/api/me", nil)
	// The login page explains a refusal in its own words.
	page := g.client(nil).do("GET", "/login?sso_error=nonce", nil)
	if !strings.Contains(string(page.Body), "not made for this sign-in") || !strings.Contains(string(page.Body), `href="/auth/oidc/login"`) {
		t.Fatalf("login page: %s", page.Body)
	}

	// Local sign-in turned off: password logins refused, the form gone.
	setting["local_login"] = false
	admin.must(200, "PUT", "/api/settings/sso", setting)
	if r := g.client(nil).do("POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword}); r.Status != 403 {
		t.Fatalf("password login with local sign-in off: %d %s", r.Status, r.Body)
	}
	if page := g.client(nil).do("GET", "/login", nil); strings.Contains(string(page.Body), `id="login-form"`) {
		t.Fatal("the login page still shows the password form")
	}

	// Audit: method oidc on success, the reason on refusals.
	events := admin.must(200, "GET", "/api/audit?limit=1000", nil)["events"].([]any)
	var oidcOK, refused int
	for _, e := range events {
		m := e.(map[string]any)
		d, _ := m["details"].(map[string]any)
		switch {
		case m["action"] == "login.success" && d["method"] == "oidc":
			oidcOK++
		case m["action"] == "login.failure" && d["method"] == "oidc":
			refused++
		case m["action"] == "settings.sso" && strings.Contains(jsonText(d), secret):
			t.Fatal("the secret is in an audit event")
		}
	}
	if oidcOK != 3 || refused != 8 {
		t.Fatalf("audit: %d oidc sign-ins, %d refusals", oidcOK, refused)
	}
	g.m.Close()

	// The secret: in no response, no log line, and not in the clear in
	// the store; --local-login is the way back in.
	if strings.Contains(rec.String(), secret) || strings.Contains(g.logs.String(), secret) {
		t.Fatal("the client secret is in a response or the logs")
	}
	db, _ := os.ReadFile(filepath.Join(dir, "querygate.db"))
	wal, _ := os.ReadFile(filepath.Join(dir, "querygate.db-wal"))
	if strings.Contains(string(db)+string(wal), secret) {
		t.Fatal("the client secret is in the store in the clear")
	}
	MustRun(t, dir, nil, "keys", "verify")
	g2 := MustRun(t, dir, nil, "--local-login")
	g2.login("admin", adminPassword)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestBrowserSSO signs in through the test provider from the login page
// in Chromium, and sets single sign-on up through its admin page, where
// the stored client secret shows only as a placeholder.
func TestBrowserSSO(t *testing.T) {
	ctx, logs := newBrowser(t)
	const secret = "IDP-BROWSER-SECRET-CANARY-93aa"
	idp := newTestIdP(t, secret)
	g := MustRun(t, t.TempDir(), nil)
	g.MustSetup(nil)
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "sso page",
		chromedp.Navigate(g.url+"/settings/sso"),
		chromedp.WaitVisible(`#sso-issuer`, chromedp.ByQuery),
	)
	act(t, ctx, "sso settings",
		chromedp.Click(`#sso-enabled`, chromedp.ByQuery),
		chromedp.SendKeys(`#sso-issuer`, idp.srv.URL, chromedp.ByQuery),
		chromedp.SendKeys(`#sso-client-id`, idpClientID, chromedp.ByQuery),
		chromedp.Click(`#sso-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#err-client_secret`, "required"),
		chromedp.SendKeys(`#sso-secret`, secret, chromedp.ByQuery),
		chromedp.SetValue(`#sso-roles`, "qg-editors: editor", chromedp.ByQuery),
		chromedp.Click(`#sso-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#form-status`, "single sign-on is on"),
	)
	var placeholder, html string
	act(t, ctx, "secret placeholder",
		chromedp.Reload(),
		chromedp.WaitVisible(`#sso-secret`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#sso-secret').placeholder`, &placeholder),
		chromedp.Evaluate(`document.documentElement.outerHTML`, &html),
	)
	if placeholder != "Encrypted on the server side" || strings.Contains(html, secret) {
		t.Fatalf("the SSO page: placeholder %q, secret in page %v", placeholder, strings.Contains(html, secret))
	}
	shoot(t, ctx, "sso")

	idp.next("erin@example.com", "qg-editors")
	ctx2, logs2 := newBrowser(t)
	act(t, ctx2, "sign in with SSO",
		chromedp.Navigate(g.url+"/login"),
		chromedp.WaitVisible(`#sso-login`, chromedp.ByQuery),
		chromedp.Click(`#sso-login`, chromedp.ByQuery),
	)
	waitURL(t, ctx2, "/datasources")
	if got := text(t, ctx2, "#current-user"); got != "erin@example.com" {
		t.Fatalf("signed in as %q", got)
	}
	checkCSP(t, logs)
	checkCSP(t, logs2)
}

// enableSSO turns single sign-on on with the test provider, local
// sign-in kept, qg-admins mapped to admin.
func enableSSO(t *testing.T, admin *client, idp *testIdP) {
	t.Helper()
	admin.must(200, "PUT", "/api/settings/sso", map[string]any{"enabled": true, "issuer": idp.srv.URL, "client_id": idpClientID,
		"client_secret": idp.secret, "role_map": map[string]any{"qg-admins": "admin"}, "default_role": "viewer", "local_login": true})
}

// auditDetails returns the details of the audit events of action whose
// outcome is outcome.
func auditDetails(t *testing.T, admin *client, action, outcome string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range admin.must(200, "GET", "/api/audit?limit=1000&action="+action, nil)["events"].([]any) {
		m := e.(map[string]any)
		if m["outcome"] == outcome {
			d, _ := m["details"].(map[string]any)
			out = append(out, d)
		}
	}
	return out
}

// TestSSONoTakeoverByEmail checks that a first single sign-on whose
// verified email is the name of an existing local user (an editor with a
// password, an admin) is refused with a clear reason, audited, and binds
// nothing: the user keeps their role, no session is made, and the next
// try is refused again.
func TestSSONoTakeoverByEmail(t *testing.T) {
	idp := newTestIdP(t, "IDP-SECRET-TAKEOVER-1")
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	enableSSO(t, admin, idp)
	admin.must(201, "POST", "/api/users", map[string]any{"username": "carol@example.com", "password": "carol password 1", "role": "editor"})
	admin.must(201, "POST", "/api/users", map[string]any{"username": "root@example.com", "password": "root password 1", "role": "admin"})

	for _, email := range []string{"carol@example.com", "Root@Example.com", "carol@example.com"} {
		idp.next(email, "qg-admins")
		final, c := ssoSignIn(t, g)
		if !strings.Contains(final, "/login?sso_error=link_required") {
			t.Fatalf("first sign-in as the existing user %s ended at %s, want the link_required refusal", email, final)
		}
		c.must(401, "GET", "/api/me", nil)
	}
	users := admin.must(200, "GET", "/api/users", nil)["users"].([]any)
	for _, u := range users {
		m := u.(map[string]any)
		if want := map[string]string{"carol@example.com": "editor", "root@example.com": "admin", "admin": "admin"}[m["username"].(string)]; m["role"] != want {
			t.Errorf("%s is now %v, want %s", m["username"], m["role"], want)
		}
	}
	if len(users) != 3 {
		t.Fatalf("users after the refusals: %v", users)
	}
	// Password sign-in still works, so the refusal changed nothing.
	g.login("carol@example.com", "carol password 1")
	page := g.client(nil).do("GET", "/login?sso_error=link_required", nil)
	if !strings.Contains(string(page.Body), "already exists") || !strings.Contains(string(page.Body), "link single sign-on") {
		t.Fatalf("login page for link_required: %s", page.Body)
	}
	var refused int
	for _, d := range auditDetails(t, admin, "login.failure", "unauthorized") {
		if d["method"] == "oidc" && d["reason"] == "link_required" {
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("audit: %d link_required refusals, want 3", refused)
	}
}

// ssoLinkStart starts a link as c and returns the provider URL.
func ssoLinkStart(t *testing.T, c *client) string {
	t.Helper()
	u, _ := c.must(200, "POST", "/api/me/sso-link", nil)["url"].(string)
	if !strings.Contains(u, "/authorize?") {
		t.Fatalf("link url %q", u)
	}
	return u
}

// follow sends c's browser to u and returns where it ended.
func follow(t *testing.T, c *client, u string) string {
	t.Helper()
	resp, err := c.http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL.String()
}

// TestSSOLink checks the explicit link: a signed-in user links their
// account at the provider, which then signs them in. The flow carries
// who started it: completed in another browser, with a copied state
// cookie under another user's session, or after another user signed in
// here, it is refused and links nothing. A provider account linked to
// someone else, a second account at the same provider, and a start with
// an API token are refused too.
func TestSSOLink(t *testing.T) {
	idp := newTestIdP(t, "IDP-SECRET-LINK-1")
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	for _, n := range []string{"carol", "dave", "mallory"} {
		admin.must(201, "POST", "/api/users", map[string]any{"username": n + "@example.com", "password": n + " password 1", "role": "editor"})
	}
	// Not set up yet: nothing to link.
	if r := g.login("carol@example.com", "carol password 1").do("POST", "/api/me/sso-link", nil); r.Status != 404 {
		t.Fatalf("link with single sign-on off: %d %s", r.Status, r.Body)
	}
	enableSSO(t, admin, idp)
	stillRefused := func(email string) {
		t.Helper()
		idp.next(email)
		if final, _ := ssoSignIn(t, g); !strings.Contains(final, "sso_error=link_required") {
			t.Fatalf("%s after a refused link: ended at %s, want link_required", email, final)
		}
	}

	// Another browser (mallory's, signed in) completes dave's link: it
	// has no state cookie.
	dave := g.login("dave@example.com", "dave password 1")
	mallory := g.login("mallory@example.com", "mallory password 1")
	idp.next("dave@example.com")
	u := ssoLinkStart(t, dave)
	if final := follow(t, mallory, u); strings.Contains(final, "sso_linked") {
		t.Fatalf("another browser completed the link: %s", final)
	}
	// dave's state cookie replayed under mallory's session.
	u = ssoLinkStart(t, dave)
	gw := mustURL(t, g.url)
	for _, ck := range dave.http.Jar.Cookies(gw) {
		if ck.Name == "qg_oidc" {
			mallory.http.Jar.SetCookies(gw, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
		}
	}
	if final := follow(t, mallory, u); !strings.Contains(final, "/account?sso_error=link_user") {
		t.Fatalf("a replayed link state under another user: ended at %s", final)
	}
	// Another user signs in in dave's browser between start and callback.
	u = ssoLinkStart(t, dave)
	dave.must(200, "POST", "/api/login", map[string]string{"username": "mallory@example.com", "password": "mallory password 1"})
	if final := follow(t, dave, u); !strings.Contains(final, "/account?sso_error=link_user") {
		t.Fatalf("a link completed by the next user of the browser: ended at %s", final)
	}
	stillRefused("dave@example.com")
	if page := mallory.do("GET", "/account", nil); strings.Contains(string(page.Body), `id="sso-linked"`) {
		t.Fatal("mallory's account shows a link")
	}

	// An API token cannot start a link.
	tok := g.login("carol@example.com", "carol password 1").must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})["token"].(string)
	bearer := g.client(nil)
	bearer.bearer = tok
	if r := bearer.do("POST", "/api/me/sso-link", nil); r.Status != 403 {
		t.Fatalf("link started with a token: %d %s", r.Status, r.Body)
	}

	// carol links her account, from her account page's API.
	carol := g.login("carol@example.com", "carol password 1")
	if page := carol.do("GET", "/account", nil); !strings.Contains(string(page.Body), `id="sso-link"`) {
		t.Fatalf("account page without the link button: %s", page.Body)
	}
	idp.next("carol@example.com")
	if final := follow(t, carol, ssoLinkStart(t, carol)); !strings.HasSuffix(final, "/account?sso_linked=1") {
		t.Fatalf("carol's link ended at %s", final)
	}
	if page := carol.do("GET", "/account", nil); !strings.Contains(string(page.Body), `id="sso-linked"`) || !strings.Contains(string(page.Body), "is linked") {
		t.Fatalf("account page after the link: %s", page.Body)
	}
	carol.must(200, "GET", "/api/me", nil) // still signed in
	idp.next("carol@example.com")
	final, c := ssoSignIn(t, g)
	if me := c.must(200, "GET", "/api/me", nil); !strings.HasSuffix(final, "/datasources") || me["username"] != "carol@example.com" || me["role"] != "editor" {
		t.Fatalf("sign-in after the link: %s %v", final, me)
	}
	// The same link again is no change.
	idp.next("carol@example.com")
	if final := follow(t, carol, ssoLinkStart(t, carol)); !strings.HasSuffix(final, "/account?sso_linked=1") {
		t.Fatalf("the same link again ended at %s", final)
	}
	// A second account at the provider for carol: refused.
	idp.next("carol.other@example.com")
	if final := follow(t, carol, ssoLinkStart(t, carol)); !strings.Contains(final, "/account?sso_error=already_linked") {
		t.Fatalf("a second provider account for carol: %s", final)
	}
	// carol's provider account for dave: refused, it signs carol in.
	dave = g.login("dave@example.com", "dave password 1")
	idp.next("carol@example.com")
	if final := follow(t, dave, ssoLinkStart(t, dave)); !strings.Contains(final, "/account?sso_error=linked_elsewhere") {
		t.Fatalf("carol's provider account linked to dave: %s", final)
	}
	if page := dave.do("GET", "/account?sso_error=linked_elsewhere", nil); !strings.Contains(string(page.Body), "already linked to another querygate user") {
		t.Fatalf("account page for linked_elsewhere: %s", page.Body)
	}
	stillRefused("dave@example.com")

	var ok int
	for _, d := range auditDetails(t, admin, "user.sso_link", "ok") {
		if d["method"] == "oidc" {
			ok++
		}
	}
	reasons := map[string]int{}
	for _, d := range auditDetails(t, admin, "user.sso_link", "forbidden") {
		reasons[d["reason"].(string)]++
	}
	if ok != 2 || reasons["link_user"] != 2 || reasons["already_linked"] != 1 || reasons["linked_elsewhere"] != 1 {
		t.Fatalf("audit: %d links, refusals %v", ok, reasons)
	}
}

// TestSSOEgress checks that the calls to the identity provider go through
// the egress policy: with the provider's address denied, sign-in and link
// are refused with the egress reason and no request reaches the provider;
// with it allowed (the allowlist profile naming only it), sign-in works.
func TestSSOEgress(t *testing.T) {
	idp := newTestIdP(t, "IDP-SECRET-EGRESS-1")
	port := mustURL(t, idp.srv.URL).Port()
	dir := t.TempDir()
	g := MustRun(t, dir, nil, "--egress-deny", "127.0.0.1:"+port)
	admin := g.MustSetup(nil)
	enableSSO(t, admin, idp)
	idp.next("erin@example.com")
	final, c := ssoSignIn(t, g)
	if !strings.Contains(final, "/login?sso_error=egress") {
		t.Fatalf("sign-in with the provider denied ended at %s", final)
	}
	c.must(401, "GET", "/api/me", nil)
	if r := admin.do("POST", "/api/me/sso-link", nil); r.Status != 503 || !strings.Contains(string(r.Body), "egress policy") {
		t.Fatalf("link with the provider denied: %d %s", r.Status, r.Body)
	}
	if n := idp.hits.Load(); n != 0 {
		t.Fatalf("%d requests reached a denied provider", n)
	}
	if page := g.client(nil).do("GET", "/login?sso_error=egress", nil); !strings.Contains(string(page.Body), "egress policy does not let the gateway reach the identity provider") {
		t.Fatalf("login page for egress: %s", page.Body)
	}
	g.m.Close()

	g = MustRun(t, dir, nil, "--egress-profile", "allowlist", "--egress-allow", "127.0.0.1:"+port)
	idp.next("erin@example.com")
	final, c = ssoSignIn(t, g)
	if !strings.HasSuffix(final, "/datasources") || c.must(200, "GET", "/api/me", nil)["username"] != "erin@example.com" {
		t.Fatalf("sign-in with the provider allowed ended at %s", final)
	}
	if idp.hits.Load() == 0 {
		t.Fatal("no request reached the allowed provider")
	}
}
