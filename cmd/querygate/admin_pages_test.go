package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawGet fetches path from the gateway with a transport that neither asks
// for nor undoes compression, so that the answer is seen as sent.
func rawGet(t *testing.T, g *gateway, method, path string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), method, g.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

var (
	hashedCSS = regexp.MustCompile(`href="(/static/css/app\.[0-9a-f]{16}\.css)"`)
	hashedJS  = regexp.MustCompile(`src="(/static/js/datasources\.[0-9a-f]{16}\.js)"`)
	hashedApp = regexp.MustCompile(`from '\./(app\.[0-9a-f]{16}\.js)'`)
)

// TestStaticAssetsHashedCachedAndCompressed checks that pages name the
// static files by content-hashed URLs that a browser may keep for a year
// (module imports included), that pages stay no-store, and that a file is
// gzip-compressed exactly when the client accepts it.
func TestStaticAssetsHashedCachedAndCompressed(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	c := g.MustSetup(nil)
	page := c.do("GET", "/datasources", nil)
	if page.Status != 200 {
		t.Fatalf("page: %d", page.Status)
	}
	if got := page.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("page Cache-Control = %q, want no-store", got)
	}
	css, js := hashedCSS.FindSubmatch(page.Body), hashedJS.FindSubmatch(page.Body)
	if css == nil || js == nil {
		t.Fatalf("the page names no hashed style sheet or module:\n%s", page.Body)
	}
	const immutable = "public, max-age=31536000, immutable"
	plain := rawGet(t, g, "GET", string(css[1]), nil)
	if plain.Status != 200 || plain.Header.Get("Cache-Control") != immutable || plain.Header.Get("Content-Encoding") != "" ||
		!strings.Contains(plain.Header.Get("Vary"), "Accept-Encoding") || !strings.HasPrefix(plain.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("hashed style sheet without Accept-Encoding: %d %v", plain.Status, plain.Header)
	}
	zipped := rawGet(t, g, "GET", string(css[1]), nil, "Accept-Encoding", "gzip, deflate, br")
	if zipped.Status != 200 || zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("Cache-Control") != immutable ||
		!strings.Contains(zipped.Header.Get("Vary"), "Accept-Encoding") || len(zipped.Body) >= len(plain.Body) {
		t.Fatalf("hashed style sheet with Accept-Encoding: gzip: %d %v (%d bytes, plain %d)", zipped.Status, zipped.Header, len(zipped.Body), len(plain.Body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(zr); !bytes.Equal(got, plain.Body) {
		t.Errorf("the gzip answer does not decompress to the file")
	}
	if r := rawGet(t, g, "GET", string(css[1]), nil, "Accept-Encoding", "gzip;q=0, identity"); r.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
	// A revalidation of the same representation is answered 304.
	if r := rawGet(t, g, "GET", string(css[1]), nil, "Accept-Encoding", "gzip", "If-None-Match", zipped.Header.Get("ETag")); r.Status != 304 {
		t.Errorf("If-None-Match: got %d, want 304", r.Status)
	}

	// The page's module imports app.js by its hashed name too.
	mod := rawGet(t, g, "GET", string(js[1]), nil)
	app := hashedApp.FindSubmatch(mod.Body)
	if mod.Status != 200 || mod.Header.Get("Cache-Control") != immutable || app == nil {
		t.Fatalf("module: %d %v\n%s", mod.Status, mod.Header, mod.Body)
	}
	if r := rawGet(t, g, "GET", "/static/js/"+string(app[1]), nil); r.Status != 200 || r.Header.Get("Cache-Control") != immutable ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("imported module: %d %v", r.Status, r.Header)
	}
	// The plain name still works, revalidated on each use; a name that is
	// not a file is 404.
	if r := rawGet(t, g, "GET", "/static/css/app.css", nil); r.Status != 200 || r.Header.Get("Cache-Control") != "no-cache" || !bytes.Equal(r.Body, plain.Body) {
		t.Errorf("plain name: %d %v", r.Status, r.Header)
	}
	if r := rawGet(t, g, "GET", "/static/css/app.0000000000000000.css", nil); r.Status != 404 || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("unknown hashed name: %d %v", r.Status, r.Header)
	}
}

// TestQueryStreamNotCompressed checks that a query's NDJSON or CSV stream
// is never compressed, even for a client that accepts gzip: a stream must
// reach the client row by row, unbuffered.
func TestQueryStreamNotCompressed(t *testing.T) {
	liteDir := t.TempDir()
	dbPath := filepath.Join(liteDir, "s.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec(`CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('a'), ('b')`); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", liteDir)
	c := g.MustSetup(nil)
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "s", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	tok := c.must(201, "POST", "/api/tokens", map[string]any{"name": "script"})["token"].(string)
	for _, accept := range []string{"application/x-ndjson", "text/csv"} {
		r := rawGet(t, g, "POST", "/api/datasources/"+id+"/query", strings.NewReader(`{"query":"SELECT v FROM t"}`),
			"Authorization", "Bearer "+tok, "Content-Type", "application/json", "Accept", accept, "Accept-Encoding", "gzip")
		if r.Status != 200 || r.Header.Get("Content-Encoding") != "" || !strings.Contains(string(r.Body), "b") {
			t.Errorf("%s stream: %d %v %q", accept, r.Status, r.Header, r.Body)
		}
	}
}

// TestAuditPageNamesAndDates checks that the audit page shows users and
// datasources by name, details as fields rather than JSON, and filters by
// date (whole UTC days, from and to included).
func TestAuditPageNamesAndDates(t *testing.T) {
	liteDir := t.TempDir()
	dbPath := filepath.Join(liteDir, "a.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t (v TEXT)")
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", liteDir)
	c := g.MustSetup(nil)
	vic := c.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "viewer"})["id"].(string)
	c.must(200, "PATCH", "/api/users/"+vic, map[string]any{"role": "editor"})
	ds := c.must(201, "POST", "/api/datasources", map[string]any{"name": "sales-db", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	c.do("POST", "/api/datasources/"+ds+"/query", map[string]any{"query": "SELECT v FROM t"})

	page := c.do("GET", "/audit", nil)
	body := string(page.Body)
	if page.Status != 200 {
		t.Fatalf("audit page: %d\n%s", page.Status, body)
	}
	for _, want := range []string{
		`title="` + vic + `">vic</span>`,     // the target user by name
		`title="` + ds + `">sales-db</span>`, // the datasource by name
		`<dt>fields</dt><dd>role</dd>`,       // details as fields
		`<option value="` + ds + `">sales-db</option>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %s", want)
		}
	}
	for _, bad := range []string{`<td class="mono">` + ds + `</td>`, `<td class="mono">` + vic + `</td>`, `&#34;fields&#34;`, `{"fields"`} {
		if strings.Contains(body, bad) {
			t.Errorf("audit page shows %s", bad)
		}
	}

	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("2006-01-02") }
	for _, tc := range []struct {
		query string
		found bool
	}{
		{"from=" + day(-1) + "&to=" + day(1), true},
		{"from=" + day(-1), true},
		{"to=" + day(1), true},
		{"from=" + day(2), false},
		{"to=" + day(-2), false},
	} {
		r := c.do("GET", "/audit?action=user.update&"+tc.query, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), `<dt>fields</dt><dd>role</dd>`) != tc.found {
			t.Errorf("audit ?%s: status %d, event shown %v, want %v", tc.query, r.Status, !tc.found, tc.found)
		}
		if tc.found && !strings.Contains(string(r.Body), `type="date" value="`) {
			t.Errorf("audit ?%s: the date filter does not keep its value", tc.query)
		}
	}
	for _, q := range []string{"from=yesterday", "to=2026-13-01", "from=" + day(1) + "&to=" + day(-1)} {
		if r := c.do("GET", "/audit?"+q, nil); r.Status != 400 {
			t.Errorf("audit ?%s: got %d, want 400", q, r.Status)
		}
	}
}

// TestAdminPasswordReset checks that an admin can set a user's password,
// which ends the user's sessions and tokens and is audited, that anyone
// else is refused (and that is audited too), that a bad password changes
// nothing, and that the users page offers the reset.
func TestAdminPasswordReset(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	adminID := admin.must(200, "GET", "/api/me", nil)["id"].(string)
	vic := admin.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "editor"})["id"].(string)
	laptop := g.login("vic", "vic password 1")
	tok := laptop.must(201, "POST", "/api/tokens", map[string]any{"name": "script"})["token"].(string)
	script := g.client(nil)
	script.bearer = tok

	// Not an admin: refused, audited, nothing changed.
	if r := laptop.do("POST", "/api/users/"+adminID+"/password", map[string]any{"password": "taken over 123"}); r.Status != 403 {
		t.Fatalf("reset by an editor: got %d, want 403: %s", r.Status, r.Body)
	}
	g.login("admin", adminPassword)
	// A bad password: refused with its field, nothing changed.
	if r := admin.do("POST", "/api/users/"+vic+"/password", map[string]any{"password": "short"}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"password"`) {
		t.Fatalf("short password: %d %s", r.Status, r.Body)
	}
	if r := admin.do("POST", "/api/users/nosuchuser/password", map[string]any{"password": "a long password"}); r.Status != 404 {
		t.Fatalf("no such user: %d %s", r.Status, r.Body)
	}
	laptop.must(200, "GET", "/api/me", nil)
	script.must(200, "GET", "/api/me", nil)

	admin.must(200, "POST", "/api/users/"+vic+"/password", map[string]any{"password": "vic password 2"})
	laptop.must(401, "GET", "/api/me", nil)
	script.must(401, "GET", "/api/me", nil)
	if r := g.client(nil).do("POST", "/api/login", map[string]string{"username": "vic", "password": "vic password 1"}); r.Status != 401 {
		t.Errorf("old password: got %d, want 401", r.Status)
	}
	g.login("vic", "vic password 2")
	admin.must(200, "GET", "/api/me", nil)

	n := map[string]int{}
	for _, e := range auditEvents(t, admin, "&action=user.password_reset") {
		n[e["outcome"].(string)+" "+e["target"].(string)]++
	}
	if n["ok "+vic] != 1 || n["forbidden "+adminID] != 1 || n["invalid "+vic] != 1 {
		t.Errorf("password reset events: %v", n)
	}
	if page := admin.do("GET", "/users", nil); !strings.Contains(string(page.Body), `data-reset="`+vic+`"`) {
		t.Errorf("the users page offers no password reset")
	}
}

// TestSessionDeviceNames checks that a session is listed with the browser
// and system its user agent names, in the API and on the account page.
func TestSessionDeviceNames(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	g.MustSetup(nil)
	c := g.client(nil)
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	if r := c.do("POST", "/api/login", map[string]string{"username": "admin", "password": adminPassword}, "User-Agent", firefox); r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var devices []string
	for _, x := range c.must(200, "GET", "/api/sessions", nil)["sessions"].([]any) {
		d, _ := x.(map[string]any)["device"].(string)
		devices = append(devices, d)
	}
	if !strings.Contains(strings.Join(devices, "|"), "Firefox on Linux") {
		t.Errorf("session devices = %q, want one Firefox on Linux", devices)
	}
	if page := c.do("GET", "/account", nil); !strings.Contains(string(page.Body), ">Firefox on Linux</span>") {
		t.Errorf("the account page does not name the device:\n%s", page.Body)
	}
}
