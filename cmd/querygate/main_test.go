package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/accounts"
)

// fastHash keeps argon2id cheap in tests; production uses the defaults.
var fastHash = accounts.HashParams{Time: 1, Memory: 64, Threads: 1}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a running querygate for a test.
type gateway struct {
	t    testing.TB
	m    *Main
	url  string
	logs *syncBuffer
	dir  string
}

// MustRun parses args (plus a temporary data dir and an ephemeral port),
// runs the command and, for serve, returns the running gateway.
func MustRun(tb testing.TB, dir string, env map[string]string, args ...string) *gateway {
	tb.Helper()
	g, err := run(tb, dir, env, nil, args...)
	if err != nil {
		tb.Fatalf("querygate %v: %v\nlogs:\n%s", args, err, g.logs)
	}
	return g
}

func run(tb testing.TB, dir string, env map[string]string, stdin io.Reader, args ...string) (*gateway, error) {
	tb.Helper()
	logs := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr, m.HashParams = logs, logs, fastHash
	if stdin != nil {
		m.Stdin = stdin
	}
	full := append([]string{}, args...)
	if len(args) < 2 || args[0] != "store" || args[1] != "copy" { // store copy has no --data-dir
		full = append(full, "--data-dir", dir)
	}
	if len(args) == 0 || args[0] == "serve" || strings.HasPrefix(args[0], "-") {
		full = append(full, "--listen", "127.0.0.1:0")
	}
	g := &gateway{t: tb, m: m, logs: logs, dir: dir}
	if err := m.ParseFlags(full, func(k string) string { return env[k] }); err != nil {
		return g, err
	}
	if err := m.Run(tb.Context()); err != nil {
		m.Close()
		return g, err
	}
	if m.Serving() {
		g.url = "http://" + m.Addr()
		tb.Cleanup(func() { m.Close() })
	} else if err := m.Close(); err != nil {
		return g, err
	}
	return g, nil
}

var setupTokenRE = regexp.MustCompile(`"token":"([A-Za-z0-9_-]+)"`)

func (g *gateway) setupToken() string {
	g.t.Helper()
	m := setupTokenRE.FindStringSubmatch(g.logs.String())
	if m == nil {
		g.t.Fatalf("no setup token in output:\n%s", g.logs)
	}
	return m[1]
}

// client is an HTTP client with its own cookie jar that records every
// response for the leak sweep.
type client struct {
	t      testing.TB
	g      *gateway
	http   *http.Client
	bearer string
	rec    *recorder
}

type recorder struct {
	mu   sync.Mutex
	seen bytes.Buffer
}

func (r *recorder) add(resp *http.Response, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp.Header.Write(&r.seen)
	r.seen.Write(body)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.String()
}

func (g *gateway) client(rec *recorder) *client {
	jar, _ := cookiejar.New(nil)
	if rec == nil {
		rec = &recorder{}
	}
	return &client{t: g.t, g: g, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}, rec: rec}
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// streamErrorCode is the error code of a query answer, whether it failed
// before streaming (an error body) or during it (a last NDJSON error
// line): which one depends on when the datasource sends column metadata.
func (r response) streamErrorCode() string {
	if code := r.errorCode(); code != "" {
		return code
	}
	lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	return response{Body: []byte(lines[len(lines)-1])}.errorCode()
}

func (r response) errorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

func (c *client) do(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(c.t.Context()), method, c.g.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.rec.add(resp, b)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// must does a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s: got status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.json(c.t)
}

const adminPassword = "admin password 123"

// MustSetup creates the first admin through /api/setup and returns a
// logged-in client.
func (g *gateway) MustSetup(rec *recorder) *client {
	g.t.Helper()
	c := g.client(rec)
	c.must(201, "POST", "/api/setup", map[string]string{"token": g.setupToken(), "username": "admin", "password": adminPassword})
	return c
}

func TestVersion(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "version")
	if got := g.logs.String(); !strings.HasPrefix(got, "querygate ") {
		t.Fatalf("got %q, want querygate <version>", got)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--log-format", "xml"},
		{"--encryption-salt", "short"},
		{"--tls-cert", "x.pem"},
		{"frobnicate"},
		{"keys", "shred"},
		{"serve", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := run(t, dir, nil, nil, args...); err == nil {
				t.Fatal("got no error")
			}
			if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
				t.Fatal("a bad command line created a key file")
			}
		})
	}
}

func TestFirstStartAndSetup(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("master.key mode: got %v, want 0600", got)
	}
	if !strings.Contains(g.logs.String(), "BACK IT UP") {
		t.Fatalf("no back-up warning in logs:\n%s", g.logs)
	}
	for _, f := range []string{"querygate.db", "querygate.db-wal", "querygate.db-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode: got %v, want 0600", f, fi.Mode().Perm())
		}
	}

	anon := g.client(nil)
	// A wrong token is refused and changes nothing.
	if r := anon.do("POST", "/api/setup", map[string]string{"token": "wrong", "username": "admin", "password": adminPassword}); r.Status != 403 || r.errorCode() != "setup_invalid" {
		t.Fatalf("setup with wrong token: got %d %s", r.Status, r.Body)
	}
	// A weak password is refused with the field named.
	if r := anon.do("POST", "/api/setup", map[string]string{"token": g.setupToken(), "username": "admin", "password": "short"}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"password"`) {
		t.Fatalf("setup with short password: got %d %s", r.Status, r.Body)
	}
	c := g.MustSetup(nil)
	me := c.must(200, "GET", "/api/me", nil)
	if me["username"] != "admin" || me["role"] != "admin" {
		t.Fatalf("me: got %v", me)
	}
	// The token stops working once a user exists.
	if r := anon.do("POST", "/api/setup", map[string]string{"token": g.setupToken(), "username": "admin2", "password": adminPassword}); r.Status != 403 {
		t.Fatalf("second setup: got %d %s", r.Status, r.Body)
	}
	g.m.Close()

	// Restarted with a user in the store: no setup token is printed.
	g2 := MustRun(t, dir, nil)
	if strings.Contains(g2.logs.String(), "setup token") {
		t.Fatalf("setup token printed although a user exists:\n%s", g2.logs)
	}
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	MustRun(t, dir, nil) // first start makes the key
	if _, err := run(t, dir, nil, strings.NewReader("editor password 1\n"), "user", "add", "--username", "ed", "--role", "editor"); err != nil {
		t.Fatal(err)
	}
	// The same name again fails clearly.
	_, err := run(t, dir, nil, strings.NewReader("editor password 1\n"), "user", "add", "--username", "ed", "--role", "editor")
	if err == nil || !strings.Contains(describe(err), "taken") {
		t.Fatalf("duplicate user add: got %v", err)
	}
	for _, tc := range []struct{ name, stdin string }{
		{"empty password", "\n"},
		{"short password", "short\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := run(t, dir, nil, strings.NewReader(tc.stdin), "user", "add", "--username", "x", "--role", "viewer"); err == nil {
				t.Fatal("got no error")
			}
		})
	}
	g := MustRun(t, dir, nil)
	c := g.client(nil)
	c.must(200, "POST", "/api/login", map[string]string{"username": "ed", "password": "editor password 1"})
	if me := c.must(200, "GET", "/api/me", nil); me["role"] != "editor" {
		t.Fatalf("got role %v, want editor", me["role"])
	}
}

func TestWrongOrMissingKeyRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	g.MustSetup(nil).must(201, "POST", "/api/datasources", map[string]any{
		"name": "r", "kind": "redis", "settings": map[string]any{"host": "127.0.0.1"}, "secrets": map[string]any{"password": "p4ss-word"}})
	g.m.Close()
	keyFile := filepath.Join(dir, "master.key")
	orig, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	other := "qm5hN0k3Vb6S1p4XlVvQ2t7XxY2bQ1Z9c8d7e6f5a4s=" // 32 bytes, not this store's key
	for _, tc := range []struct {
		name string
		env  map[string]string
		prep func()
	}{
		{"wrong key in environment", map[string]string{"QUERYGATE_MASTER_KEY": other}, nil},
		{"wrong salt", map[string]string{"QUERYGATE_ENCRYPTION_SALT": "an operator salt value"}, nil},
		{"missing key file", nil, func() { os.Remove(keyFile) }},
		{"wrong key file", nil, func() {
			os.WriteFile(keyFile, []byte("querygate-keyring v1\nprimary k1\nkey k1 "+other+"\n"), 0o600)
		}},
		{"damaged key file", nil, func() { os.WriteFile(keyFile, []byte("querygate-keyring v1\nprimary\n"), 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep()
			}
			defer os.WriteFile(keyFile, orig, 0o600)
			for _, cmd := range [][]string{{}, {"keys", "verify"}} {
				g, err := run(t, dir, tc.env, nil, cmd...)
				if err == nil {
					t.Fatalf("%v: started with a wrong key", cmd)
				}
				if g.m.Serving() {
					t.Fatalf("%v: serving with a wrong key", cmd)
				}
				if strings.Contains(g.logs.String(), "p4ss-word") || strings.Contains(err.Error(), "p4ss-word") {
					t.Fatal("secret leaked in the error path")
				}
			}
			if tc.name == "missing key file" {
				if _, err := os.Stat(keyFile); err == nil {
					t.Fatal("a new key file was made for an existing store")
				}
			}
		})
	}
	// And the right key still works.
	MustRun(t, dir, nil, "keys", "verify")
}

func TestMasterKeyFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"QUERYGATE_MASTER_KEY": "qm5hN0k3Vb6S1p4XlVvQ2t7XxY2bQ1Z9c8d7e6f5a4s=", "QUERYGATE_ENCRYPTION_SALT": "operator salt of mine"}
	g := MustRun(t, dir, env)
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a key file was written although the key came from the environment")
	}
	g.MustSetup(nil)
	g.m.Close()
	MustRun(t, dir, env, "keys", "verify")
	// Rotation needs a key file, and says so.
	_, err := run(t, dir, env, nil, "keys", "rotate")
	if err == nil || !strings.Contains(describe(err), "key file") {
		t.Fatalf("rotate with an environment key: got %v", err)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	tok := admin.must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})
	token := tok["token"].(string)

	wrongPw := g.client(nil).do("POST", "/api/login", map[string]string{"username": "admin", "password": "not the password"})
	unknown := g.client(nil).do("POST", "/api/login", map[string]string{"username": "nobody", "password": "not the password"})
	if wrongPw.Status != 401 || unknown.Status != 401 || string(wrongPw.Body) != string(unknown.Body) {
		t.Fatalf("wrong password and unknown user differ: %d %s / %d %s", wrongPw.Status, wrongPw.Body, unknown.Status, unknown.Body)
	}

	bearer := g.client(nil)
	bearer.bearer = token
	bearer.must(200, "GET", "/api/me", nil)

	// Collect a real cookie, then tamper with it.
	var cookie *http.Cookie
	for _, c := range admin.http.Jar.Cookies(mustURL(t, g.url)) {
		if c.Name == "qg_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	flipped := []byte(cookie.Value)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == cookie.Value[len(flipped)/2] {
		t.Fatal("no change")
	}

	revoked := g.client(nil)
	revoked.bearer = token
	admin.must(204, "DELETE", "/api/tokens/"+tok["id"].(string), nil)

	loggedOut := g.client(nil)
	loggedOut.must(200, "POST", "/api/login", map[string]string{"username": "admin", "password": adminPassword})
	var loCookie string
	for _, c := range loggedOut.http.Jar.Cookies(mustURL(t, g.url)) {
		loCookie = c.Value
	}
	loggedOut.must(204, "POST", "/api/logout", nil)

	want := admin.do("GET", "/api/me", nil)
	for _, tc := range []struct {
		name string
		hdr  []string
		c    *client
	}{
		{"no credentials", nil, g.client(nil)},
		{"forged cookie", []string{"Cookie", "qg_session=" + string(flipped)}, g.client(nil)},
		{"garbage cookie", []string{"Cookie", "qg_session=%%%garbage"}, g.client(nil)},
		{"cookie under another name", []string{"Cookie", "qg_session=" + strings.Repeat("A", 80)}, g.client(nil)},
		{"logged-out session", []string{"Cookie", "qg_session=" + loCookie}, g.client(nil)},
		{"revoked token", nil, revoked},
		{"unknown token", []string{"Authorization", "Bearer qgt_" + strings.Repeat("x", 43)}, g.client(nil)},
		{"wrong scheme", []string{"Authorization", "Basic YWRtaW46eA=="}, g.client(nil)},
		{"bad token with a good cookie", []string{"Authorization", "Bearer nope"}, admin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do("GET", "/api/me", nil, tc.hdr...)
			if r.Status != 401 {
				t.Fatalf("got %d, want 401: %s", r.Status, r.Body)
			}
			if tc.name != "bad token with a good cookie" && !bytes.Equal(r.Body, g.client(nil).do("GET", "/api/me", nil).Body) {
				t.Fatalf("the answer hints at which part was wrong: %s", r.Body)
			}
		})
	}
	if want.Status != 200 {
		t.Fatalf("the real session stopped working: %d", want.Status)
	}
}

func TestRolesAndBadInput(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", "/srv")
	admin := g.MustSetup(nil)
	vera := admin.must(201, "POST", "/api/users", map[string]string{"username": "vera", "password": "viewer password", "role": "viewer"})["id"].(string)
	viewer := g.client(nil)
	viewer.must(200, "POST", "/api/login", map[string]string{"username": "vera", "password": "viewer password"})

	ds := admin.must(201, "POST", "/api/datasources", map[string]any{
		"name": "lite", "kind": "sqlite", "read_only": true, "settings": map[string]any{"path": "/srv/data/app.db"}})
	id := ds["id"].(string)
	// Not granted: the viewer cannot see it at all.
	if r := viewer.do("GET", "/api/datasources/"+id, nil); r.Status != 404 {
		t.Fatalf("viewer without a grant: got %d %s", r.Status, r.Body)
	}
	if list := viewer.must(200, "GET", "/api/datasources", nil); len(list["datasources"].([]any)) != 0 {
		t.Fatalf("viewer list without a grant: got %v", list)
	}
	admin.must(200, "PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": vera, "level": "use"}}})

	viewer.must(200, "GET", "/api/datasources/"+id, nil)
	if list := viewer.must(200, "GET", "/api/datasources", nil); len(list["datasources"].([]any)) != 1 {
		t.Fatalf("viewer list: got %v", list)
	}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/datasources"}, {"PATCH", "/api/datasources/" + id}, {"DELETE", "/api/datasources/" + id},
		{"GET", "/api/users"}, {"POST", "/api/users"},
	} {
		body := map[string]any{}
		if tc.method == "GET" || tc.method == "DELETE" {
			body = nil
		}
		if r := viewer.do(tc.method, tc.path, body); r.Status != 403 || r.errorCode() != "forbidden" {
			t.Errorf("viewer %s %s: got %d %s, want 403", tc.method, tc.path, r.Status, r.Body)
		}
	}

	before := admin.do("GET", "/api/datasources", nil).Body
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"unknown kind", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "oracle"}, 400, "kind"},
		{"unknown field", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis", "colour": "red"}, 400, "colour"},
		{"unknown setting", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis", "settings": map[string]any{"host": "h", "colour": 1}}, 400, "settings.colour"},
		{"missing host", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis"}, 400, "settings.host"},
		{"bad port", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis", "settings": map[string]any{"host": "h", "port": 70000}}, 400, "settings.port"},
		{"host with space", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis", "settings": map[string]any{"host": "a b"}}, 400, "settings.host"},
		{"host with control", "POST", "/api/datasources", map[string]any{"name": "x", "kind": "redis", "settings": map[string]any{"host": "a\nb"}}, 400, "settings.host"},
		{"duplicate name", "POST", "/api/datasources", map[string]any{"name": "lite", "kind": "sqlite", "settings": map[string]any{"path": "/x.db"}}, 409, "name"},
		{"kind change", "PATCH", "/api/datasources/" + id, map[string]any{"kind": "redis"}, 400, "kind"},
		{"relative path", "PATCH", "/api/datasources/" + id, map[string]any{"settings": map[string]any{"path": "x.db"}}, 400, "settings.path"},
		{"wrong type", "PATCH", "/api/datasources/" + id, map[string]any{"read_only": "yes"}, 400, "read_only"},
		{"not json", "POST", "/api/datasources", "{not json", 400, ""},
		{"json array", "POST", "/api/datasources", "[1,2]", 400, ""},
		{"no such datasource", "PATCH", "/api/datasources/dsnope", map[string]any{"name": "y"}, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.do(tc.method, tc.path, tc.body)
			if r.Status != tc.status {
				t.Fatalf("got %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			m := r.json(t)
			e, _ := m["error"].(map[string]any)
			if e == nil || e["code"] == "" || e["message"] == "" {
				t.Fatalf("no error object: %s", r.Body)
			}
			if tc.field != "" && e["field"] != tc.field {
				t.Fatalf("field: got %v, want %s", e["field"], tc.field)
			}
		})
	}
	if after := admin.do("GET", "/api/datasources", nil).Body; !bytes.Equal(before, after) {
		t.Fatalf("bad input changed the catalogue:\nbefore %s\nafter  %s", before, after)
	}
	// Wrong media type.
	if r := admin.do("POST", "/api/datasources", "{}", "Content-Type", "text/plain"); r.Status != 415 {
		t.Fatalf("text/plain body: got %d", r.Status)
	}
	// Oversized body.
	if r := admin.do("POST", "/api/datasources", `{"name":"`+strings.Repeat("a", 2<<20)+`"}`); r.Status != 413 {
		t.Fatalf("2 MiB body: got %d", r.Status)
	}
}

func TestSecurityHeadersAndCrossOrigin(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	c := g.MustSetup(nil)
	for _, path := range []string{"/healthz", "/readyz", "/api/me", "/api/nothing", "/"} {
		r := c.do("GET", path, nil)
		for h, want := range map[string]string{
			"Content-Security-Policy": "frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		} {
			if got := r.Header.Get(h); !strings.Contains(got, want) {
				t.Errorf("%s: %s: got %q, want %q", path, h, got, want)
			}
		}
	}
	// A cookie-authenticated unsafe request from another site is refused.
	r := c.do("POST", "/api/tokens", map[string]any{"name": "evil"}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.Status != 403 {
		t.Fatalf("cross-site POST: got %d %s, want 403", r.Status, r.Body)
	}
	if list := c.must(200, "GET", "/api/tokens", nil); len(list["tokens"].([]any)) != 0 {
		t.Fatal("the cross-site request made a token")
	}
	// Same-origin works.
	c.must(201, "POST", "/api/tokens", map[string]any{"name": "ok"})
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestReadyz(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	c := g.client(nil)
	c.must(200, "GET", "/readyz", nil)
	g.m.db.Close()
	if r := c.do("GET", "/readyz", nil); r.Status != 503 {
		t.Fatalf("readyz with a closed store: got %d", r.Status)
	}
	g.m.db = nil
}
