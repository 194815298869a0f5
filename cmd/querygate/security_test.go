package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// login returns a client signed in as username.
func (g *gateway) login(username, password string) *client {
	g.t.Helper()
	c := g.client(nil)
	c.must(200, "POST", "/api/login", map[string]string{"username": username, "password": password})
	return c
}

// TestTokensNeedASession checks that an API token cannot mint another one:
// a leaked token must not be able to give itself a successor.
func TestTokensNeedASession(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	tok := admin.must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})

	bearer := g.client(nil)
	bearer.bearer = tok["token"].(string)
	r := bearer.do("POST", "/api/tokens", map[string]any{"name": "successor"})
	if r.Status != http.StatusForbidden || r.errorCode() != "forbidden" || !strings.Contains(string(r.Body), "signed-in session") {
		t.Fatalf("POST /api/tokens with a token: got %d %s, want 403 forbidden", r.Status, r.Body)
	}
	// The token still does everything else, listing its siblings included.
	list := bearer.must(200, "GET", "/api/tokens", nil)["tokens"].([]any)
	if len(list) != 1 {
		t.Fatalf("tokens after the refused mint: %d, want 1", len(list))
	}
}

// TestPasswordChangeEndsCredentials checks that a new password ends every
// session of the user and revokes their API tokens; an admin changing their
// own password keeps working in the session they used, with a fresh cookie.
func TestPasswordChangeEndsCredentials(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	const bobPassword = "bob password 1234"
	bob := admin.must(201, "POST", "/api/users", map[string]string{"username": "bob", "password": bobPassword, "role": "viewer"})
	bobID := bob["id"].(string)
	b1, b2 := g.login("bob", bobPassword), g.login("bob", bobPassword)
	bobToken := g.client(nil)
	bobToken.bearer = b1.must(201, "POST", "/api/tokens", map[string]any{"name": "laptop"})["token"].(string)
	adminToken := g.client(nil)
	adminToken.bearer = admin.must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})["token"].(string)
	for _, c := range []*client{b1, b2, bobToken, adminToken} {
		c.must(200, "GET", "/api/me", nil)
	}

	admin.must(200, "PATCH", "/api/users/"+bobID, map[string]string{"password": "bob's new password"})
	for name, c := range map[string]*client{"first session": b1, "second session": b2, "token": bobToken} {
		if r := c.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("bob's %s after his password change: got %d, want 401", name, r.Status)
		}
	}
	if r := admin.do("GET", "/api/tokens?user_id="+bobID, nil); r.Status != 200 || strings.Contains(string(r.Body), "laptop") {
		t.Errorf("bob's tokens after his password change: %d %s, want none", r.Status, r.Body)
	}
	adminToken.must(200, "GET", "/api/me", nil) // another user's change leaves the admin's token alone

	// The admin changes their own password in a session.
	other := g.login("admin", adminPassword)
	var adminID string
	adminID, _ = admin.must(200, "GET", "/api/me", nil)["id"].(string)
	old := admin.cookieOf("qg_session").Value
	admin.must(200, "PATCH", "/api/users/"+adminID, map[string]string{"password": "the admin's new password"})
	if admin.cookieOf("qg_session").Value == old {
		t.Errorf("own password change: the session cookie was not replaced")
	}
	admin.must(200, "GET", "/api/me", nil)
	for name, c := range map[string]*client{"other session": other, "token": adminToken} {
		if r := c.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("the admin's %s after their own password change: got %d, want 401", name, r.Status)
		}
	}
	stale := g.client(nil)
	stale.setCookie("qg_session", old)
	if r := stale.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the session cookie from before the change: got %d, want 401", r.Status)
	}
}

// TestTokenRevocation checks who may see and revoke which tokens: owners
// their own, admins anyone's, others nothing (404, not 403, on revoke).
func TestTokenRevocation(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	for _, u := range []string{"bob", "carol"} {
		admin.must(201, "POST", "/api/users", map[string]string{"username": u, "password": u + " password 1234", "role": "editor"})
	}
	bob, carol := g.login("bob", "bob password 1234"), g.login("carol", "carol password 1234")
	bobID := bob.must(200, "GET", "/api/me", nil)["id"].(string)
	tok := bob.must(201, "POST", "/api/tokens", map[string]any{"name": "laptop"})
	if tok["user_id"] != bobID {
		t.Errorf("token user_id = %v, want %s", tok["user_id"], bobID)
	}
	id := tok["id"].(string)
	bearer := g.client(nil)
	bearer.bearer = tok["token"].(string)

	if r := carol.do("GET", "/api/tokens?user_id="+bobID, nil); r.Status != http.StatusForbidden {
		t.Errorf("carol lists bob's tokens: got %d %s, want 403", r.Status, r.Body)
	}
	if got := carol.must(200, "GET", "/api/tokens", nil)["tokens"].([]any); len(got) != 0 {
		t.Errorf("carol's own tokens: %v, want none", got)
	}
	if r := carol.do("DELETE", "/api/tokens/"+id, nil); r.Status != http.StatusNotFound {
		t.Errorf("carol revokes bob's token: got %d %s, want 404", r.Status, r.Body)
	}
	bearer.must(200, "GET", "/api/me", nil)
	if r := admin.do("GET", "/api/tokens?user_id=u-no-such-user", nil); r.Status != http.StatusNotFound {
		t.Errorf("admin lists the tokens of no user: got %d, want 404", r.Status)
	}
	list := admin.must(200, "GET", "/api/tokens?user_id="+bobID, nil)["tokens"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id || list[0].(map[string]any)["token"] != nil {
		t.Fatalf("admin lists bob's tokens: %v, want the one, without its value", list)
	}
	admin.must(204, "DELETE", "/api/tokens/"+id, nil)
	if r := bearer.do("GET", "/api/me", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("bob's token after the admin revoked it: got %d, want 401", r.Status)
	}
	// Owners revoke their own.
	own := bob.must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})["id"].(string)
	bob.must(204, "DELETE", "/api/tokens/"+own, nil)
	if r := bob.do("DELETE", "/api/tokens/"+own, nil); r.Status != http.StatusNotFound {
		t.Errorf("revoking twice: got %d, want 404", r.Status)
	}
}

// TestHostCheck checks the defence against DNS rebinding: a gateway that
// listens on loopback answers only for loopback names and the operator's
// --allowed-hosts; health checks answer any name.
func TestHostCheck(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--allowed-hosts", "qg.example, Other.Example.")
	_, portN := mustSplitHostPort(t, g.m.Addr())
	port := strconv.Itoa(portN)
	c := g.client(nil)
	tests := []struct {
		host, path string
		want       int
	}{
		{"attacker.example:" + port, "/api/me", http.StatusMisdirectedRequest},
		{"attacker.example", "/api/login", http.StatusMisdirectedRequest},
		{"attacker.example:" + port, "/", http.StatusMisdirectedRequest},
		{"127.0.0.2:" + port, "/api/me", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", "/api/me", http.StatusMisdirectedRequest},
		{"attacker.example", "/healthz", http.StatusOK},
		{"localhost:" + port, "/api/me", http.StatusUnauthorized},
		{"LOCALHOST", "/api/me", http.StatusUnauthorized},
		{"127.0.0.1:" + port, "/api/me", http.StatusUnauthorized},
		{"[::1]:" + port, "/api/me", http.StatusUnauthorized},
		{"qg.example", "/api/me", http.StatusUnauthorized},
		{"other.example:443", "/api/me", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", g.url+tt.path, nil)
			req.Host = tt.host
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("Host %s, GET %s: got %d, want %d", tt.host, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
	if strings.Contains(g.logs.String(), "without --allowed-hosts") {
		t.Errorf("a loopback gateway warned about allowed hosts")
	}
}

func TestAllowedHosts(t *testing.T) {
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	lan := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}
	tests := []struct {
		name   string
		listen string
		addr   net.Addr
		list   []string
		want   []string // nil: any host
	}{
		{"loopback", "127.0.0.1:8080", loop, nil, []string{"localhost", "127.0.0.1", "::1"}},
		{"localhost", "localhost:8080", loop, nil, []string{"localhost", "127.0.0.1", "::1"}},
		{"every address, no list", ":8080", any4, nil, nil},
		{"every address, with a list", "0.0.0.0:8080", any4, []string{"qg.example"}, []string{"localhost", "127.0.0.1", "::1", "qg.example"}},
		{"a LAN address, no list", "10.1.2.3:8080", lan, nil, nil},
		{"a LAN address, with a list", "10.1.2.3:8080", lan, []string{"qg.example"}, []string{"localhost", "127.0.0.1", "::1", "qg.example", "10.1.2.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := allowedHosts(tt.listen, tt.addr, tt.list)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("got %v, want nil (any host)", got)
				}
				return
			}
			for _, h := range tt.want {
				if !slices.Contains(got, h) {
					t.Errorf("got %v, want %s in it", got, h)
				}
			}
			if slices.Contains(got, "0.0.0.0") || slices.Contains(got, "") {
				t.Errorf("got %v: an unspecified or empty host name is allowed", got)
			}
		})
	}
	var l hostList
	for _, bad := range []string{"qg.example:443", "https://qg.example", "", "a b"} {
		if err := l.Set(bad); err == nil {
			t.Errorf("--allowed-hosts %q: no error", bad)
		}
	}
	l = nil
	if err := l.Set("a.example,[::1], b.example"); err != nil || !slices.Equal(l, hostList{"a.example", "[::1]", "b.example"}) {
		t.Errorf("Set: got %v, %v", l, err)
	}
}

// TestServerLimits checks the HTTP server's limits against slow or bloated
// requests, and that nothing cuts long result streams.
func TestServerLimits(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil)
	srv := g.m.srv
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 60*time.Second || srv.IdleTimeout != 2*time.Minute ||
		srv.MaxHeaderBytes != 64<<10 || srv.WriteTimeout != 0 {
		t.Errorf("server limits: header %v, read %v, idle %v, header bytes %d, write %v",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.MaxHeaderBytes, srv.WriteTimeout)
	}
	r := g.client(nil).do("GET", "/healthz", nil, "X-Padding", strings.Repeat("a", 100<<10))
	if r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 100 KiB header: got %d, want 431", r.Status)
	}
	g.client(nil).must(200, "GET", "/healthz", nil)
}

// TestConnectionTestSlots checks that connection tests are bounded: with
// every slot held by a test stuck on a datasource that never answers, the
// next test is refused with 503 at once, and slots come back when the
// stuck tests end.
func TestConnectionTestSlots(t *testing.T) {
	// A "database" that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	// The per-datasource connection bound (tests included) is set above
	// the gateway-wide test slots, so that the slots are what is measured.
	g := MustRun(t, t.TempDir(), nil, "--pool-max-conns", "16")
	admin := g.MustSetup(nil)
	port := ln.Addr().(*net.TCPAddr).Port
	id := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "silent", "kind": "postgres",
		"settings": map[string]any{"host": "127.0.0.1", "port": port, "database": "x", "user": "x", "sslmode": "disable"},
		"secrets":  map[string]any{"password": "x"}})["id"].(string)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	const slots = 8
	for range slots {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", g.url+"/api/datasources/"+id+"/test", nil)
			if resp, err := admin.http.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	var conns []net.Conn
	for len(conns) < slots {
		select {
		case c := <-accepted:
			conns = append(conns, c)
		case <-time.After(10 * time.Second):
			cancel()
			t.Fatalf("only %d of %d tests reached the datasource", len(conns), slots)
		}
	}
	start := time.Now()
	r := admin.do("POST", "/api/datasources/"+id+"/test", nil)
	if r.Status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
		t.Errorf("a test beyond the slots: got %d %s, want 503 unavailable", r.Status, r.Body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the refusal took %v, want it at once", d)
	}
	select {
	case <-accepted:
		t.Errorf("the refused test connected to the datasource")
	case <-time.After(100 * time.Millisecond):
	}

	cancel()
	wg.Wait()
	ln.Close()
	for _, c := range conns {
		c.Close()
	}
	// The slots come back: a test now reaches for the datasource (which
	// is gone: 502) instead of being refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := admin.do("POST", "/api/datasources/"+id+"/test", nil)
		if r.Status != http.StatusServiceUnavailable {
			if r.Status != http.StatusBadGateway {
				t.Errorf("a test after the stuck ones ended: got %d %s, want 502", r.Status, r.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tests are still refused after the stuck ones ended: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "querygate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestSessionCookieNames checks the session cookie: __Host-qg-session with
// Secure over HTTPS, qg_session without Secure over plain HTTP; always
// HttpOnly, SameSite=Lax, Path=/ and no Domain.
func TestSessionCookieNames(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		wantCookie string
	}{
		{"https", true, "__Host-qg-session"},
		{"http", false, "qg_session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var args []string
			var pool *x509.CertPool
			if tt.tls {
				var cert, key string
				cert, key, pool = selfSigned(t, t.TempDir())
				args = []string{"--tls-cert", cert, "--tls-key", key}
			}
			g := MustRun(t, dir, nil, args...)
			c := g.client(nil)
			if tt.tls {
				g.url = "https://" + g.m.Addr()
				jar, _ := cookiejar.New(nil)
				c.http = &http.Client{Jar: jar, Timeout: 30 * time.Second,
					Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			}
			r := c.do("POST", "/api/setup", map[string]string{"token": g.setupToken(), "username": "admin", "password": adminPassword})
			if r.Status != http.StatusCreated {
				t.Fatalf("setup: %d %s", r.Status, r.Body)
			}
			cookies := (&http.Response{Header: r.Header}).Cookies()
			if len(cookies) != 1 {
				t.Fatalf("setup set %d cookies, want 1: %v", len(cookies), r.Header["Set-Cookie"])
			}
			ck := cookies[0]
			if ck.Name != tt.wantCookie || ck.Secure != tt.tls || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode ||
				ck.Path != "/" || ck.Domain != "" {
				t.Errorf("session cookie: %s", r.Header.Get("Set-Cookie"))
			}
			c.must(200, "GET", "/api/me", nil)
		})
	}
}
