package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/querygate/querygate/internal/testenv"
)

// deviceUser makes a MariaDB user with a password (the machine's root has
// none, and PostgreSQL trusts every password here), so that a wrong
// password is really refused.
func deviceUser(t *testing.T) (user, password string) {
	t.Helper()
	m := testenv.MySQLDSN(t)
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = m.User, m.Password, "tcp", m.Host+":"+m.Port, m.Database
	if m.Port == "" {
		cfg.Addr = m.Host + ":3306"
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	user = "qg_dev_" + strings.ToLower(rand.Text()[:10])
	password = "DEVICE-CANARY-" + rand.Text()
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", m.Database, user),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { db.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	return user, password
}

func deviceSource(t *testing.T, c *client, name, user string) string {
	t.Helper()
	m := testenv.MySQLDSN(t)
	port := portOr(t, m.Port, 3306)
	return c.must(201, "POST", "/api/datasources", map[string]any{"name": name, "kind": "mysql", "custody": "device",
		"settings": map[string]any{"host": m.Host, "port": port, "database": m.Database, "user": user, "tls": "disable"}})["id"].(string)
}

// cookieOf returns the cookie the jar holds for the gateway.
func (c *client) cookieOf(name string) *http.Cookie {
	u := mustURL(c.t, c.g.url)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// setCookie puts a cookie in the client's jar.
func (c *client) setCookie(name, value string) {
	u := mustURL(c.t, c.g.url)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func TestDeviceCustody(t *testing.T) {
	user, password := deviceUser(t)
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	rec := &recorder{}
	admin := g.MustSetup(rec)
	id := deviceSource(t, admin, "dev", user)
	other := deviceSource(t, admin, "dev2", user)
	name := "qg-dk-" + id
	q := map[string]any{"query": "SELECT CURRENT_USER() AS u"}

	// Locked until unlocked: queries and tests.
	if r := admin.do("POST", "/api/datasources/"+id+"/query", q); r.Status != 403 || r.errorCode() != "device_locked" {
		t.Fatalf("locked query: got %d %s", r.Status, r.Body)
	}
	if r := admin.do("POST", "/api/datasources/"+id+"/test", nil); r.errorCode() != "device_locked" {
		t.Fatalf("locked test: got %d %s", r.Status, r.Body)
	}
	// A wrong password is refused and stores nothing.
	if r := admin.do("POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": "wrong"}); r.errorCode() != "auth_failed" {
		t.Fatalf("wrong password: got %d %s", r.Status, r.Body)
	}
	if n := len(admin.must(200, "GET", "/api/devices", nil)["devices"].([]any)); n != 0 {
		t.Fatalf("a wrong password stored %d devices", n)
	}
	// Unlock without remember: a session cookie.
	r := admin.do("POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": password})
	if r.Status != 200 {
		t.Fatalf("unlock: %d %s", r.Status, r.Body)
	}
	setCookie := r.Header.Get("Set-Cookie")
	if !strings.HasPrefix(setCookie, name+"=") || strings.Contains(setCookie, "Max-Age") || strings.Contains(setCookie, "Expires") ||
		!strings.Contains(setCookie, "HttpOnly") || !strings.Contains(setCookie, "SameSite=Lax") {
		t.Fatalf("Set-Cookie = %q, want a session cookie %s", setCookie, name)
	}
	cookie := admin.cookieOf(name).Value
	r = admin.do("POST", "/api/datasources/"+id+"/query", q)
	if l := ndjson(t, r.Body); r.Status != 200 || len(l) != 3 || !strings.Contains(string(l[1]["row"]), user) {
		t.Fatalf("query with the device cookie: %d %s", r.Status, r.Body)
	}
	admin.must(200, "POST", "/api/datasources/"+id+"/test", nil)

	// The cookie is worth nothing elsewhere: another datasource's name,
	// a flipped bit, another user's session.
	admin.setCookie("qg-dk-"+other, cookie)
	if r := admin.do("POST", "/api/datasources/"+other+"/query", q); r.errorCode() != "device_locked" {
		t.Fatalf("moved cookie: got %d %s", r.Status, r.Body)
	}
	for i := range len(cookie) {
		if i%7 != 0 {
			continue
		}
		b := []byte(cookie)
		b[i] ^= 1
		if b[i] == ';' || b[i] == ' ' || b[i] == '"' || b[i] == ',' || b[i] == '\\' {
			continue
		}
		tc := g.client(rec)
		tc.setCookie("qg_session", admin.cookieOf("qg_session").Value)
		tc.setCookie(name, string(b))
		if r := tc.do("POST", "/api/datasources/"+id+"/query", q); r.errorCode() != "device_locked" {
			t.Fatalf("tampered cookie (byte %d): got %d %s", i, r.Status, r.Body)
		}
	}
	bobID := admin.must(201, "POST", "/api/users", map[string]any{"username": "bob", "password": "bob password 123", "role": "editor"})["id"].(string)
	admin.must(200, "PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": bobID, "level": "use"}}})
	bob := g.client(rec)
	bob.must(200, "POST", "/api/login", map[string]any{"username": "bob", "password": "bob password 123"})
	bob.setCookie(name, cookie)
	if r := bob.do("POST", "/api/datasources/"+id+"/query", q); r.errorCode() != "device_locked" {
		t.Fatalf("another user's cookie: got %d %s", r.Status, r.Body)
	}

	// Remember: a persistent cookie of at most 60 days.
	phone := g.client(rec)
	phone.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	r = phone.do("POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": password, "remember": true})
	var maxAge int
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		if ck.Name == name {
			maxAge = ck.MaxAge
		}
	}
	if r.Status != 200 || maxAge <= 59*24*3600 || maxAge > 60*24*3600 {
		t.Fatalf("remember: %d max-age %d %s", r.Status, maxAge, r.Header.Get("Set-Cookie"))
	}
	if n := len(admin.must(200, "GET", "/api/devices", nil)["devices"].([]any)); n != 2 {
		t.Fatalf("devices listed: %d, want 2", n)
	}

	// K is in the cookie only: open the cookie as the server does, then
	// look for K and the password everywhere else.
	payload, _, err := g.m.inst.Cookies.Open(name, cookie)
	if err != nil {
		t.Fatal(err)
	}
	kEnc, _, _ := strings.Cut(string(payload), ".")
	k, err := base64.StdEncoding.DecodeString(kEnc)
	if err != nil || len(k) != 32 {
		t.Fatalf("cookie payload: %v", err)
	}
	forms := func(b []byte) []string {
		return []string{string(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b)}
	}
	needles := append(forms(k), forms([]byte(password))...)
	seen := rec.String() + admin.rec.String()
	// Responses other than the Set-Cookie headers themselves.
	seen = strings.ReplaceAll(seen, cookie, "")
	haystacks := map[string][]byte{"responses": []byte(seen), "logs": []byte(g.logs.String())}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		haystacks[filepath.Base(f)] = b
	}
	for where, h := range haystacks {
		for _, n := range needles {
			if bytes.Contains(h, []byte(n)) {
				t.Errorf("a device key or password is in %s", where)
			}
		}
	}

	// Forget: this device is locked again; the phone still works.
	admin.must(204, "DELETE", "/api/datasources/"+id+"/unlock", nil)
	admin.setCookie(name, cookie) // even if the browser kept the value
	if r := admin.do("POST", "/api/datasources/"+id+"/query", q); r.errorCode() != "device_locked" {
		t.Fatalf("after forget: got %d %s", r.Status, r.Body)
	}
	if r := phone.do("POST", "/api/datasources/"+id+"/query", q); r.Status != 200 {
		t.Fatalf("the other device after forget: %d %s", r.Status, r.Body)
	}

	// Changing the host or user invalidates every device.
	admin.must(200, "PATCH", "/api/datasources/"+id, map[string]any{"settings": map[string]any{"user": user + "x"}})
	if r := phone.do("POST", "/api/datasources/"+id+"/query", q); r.errorCode() != "device_locked" {
		t.Fatalf("after a settings change: got %d %s", r.Status, r.Body)
	}
	admin.must(200, "PATCH", "/api/datasources/"+id, map[string]any{"settings": map[string]any{"user": user}})
	phone.must(200, "POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": password, "remember": true})

	// Logout clears the device cookies and forgets their credentials.
	r = phone.do("POST", "/api/logout", nil)
	if !strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), "\n"), name+"=;") {
		t.Fatalf("logout did not clear %s: %v", name, r.Header.Values("Set-Cookie"))
	}
	if n := len(admin.must(200, "GET", "/api/devices?datasource_id="+id, nil)["devices"].([]any)); n != 0 {
		t.Fatalf("devices after logout: %d", n)
	}
}

// TestDeviceSurvivesRestartNotTheft: a device that kept its cookie still
// queries after a restart with the same master key; a thief with the store
// files and the master key but no cookie cannot.
func TestDeviceSurvivesRestartNotTheft(t *testing.T) {
	user, password := deviceUser(t)
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	admin := g.MustSetup(nil)
	id := deviceSource(t, admin, "dev", user)
	name := "qg-dk-" + id
	q := map[string]any{"query": "SELECT 1"}
	admin.must(200, "POST", "/api/datasources/"+id+"/unlock", map[string]any{"password": password, "remember": true})
	session, device := admin.cookieOf("qg_session").Value, admin.cookieOf(name).Value

	// The thief copies the data directory (store and master key).
	g.m.Close()
	thief := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(password)) {
			t.Fatalf("the password is in %s", filepath.Base(f))
		}
		os.WriteFile(filepath.Join(thief, filepath.Base(f)), b, 0o600)
	}

	// The owner's device after a restart.
	g2 := MustRun(t, dir, nil)
	c := g2.client(nil)
	c.setCookie("qg_session", session)
	c.setCookie(name, device)
	if r := c.do("POST", "/api/datasources/"+id+"/query", q); r.Status != 200 {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}

	// The thief runs the stolen instance and logs in (it can reset any
	// password in the store, so say it has a session), but has no device
	// cookie: no connection.
	g3 := MustRun(t, thief, nil)
	tc := g3.client(nil)
	tc.setCookie("qg_session", session)
	if r := tc.do("POST", "/api/datasources/"+id+"/query", q); r.errorCode() != "device_locked" {
		t.Fatalf("thief without cookie: %d %s", r.Status, r.Body)
	}
}
