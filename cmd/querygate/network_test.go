package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/querygate/querygate/internal/testenv"
)

func TestNetworkFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--egress-allow", "db"},
		{"--egress-deny", "10.0.0.0/33"},
		{"--egress-profile", "everything"},
		{"--egress-source-ip", "not-an-ip"},
		{"--allow-clients", "10.0.0.0/99"},
		{"--trusted-proxies", "proxy.example"},
		{"--listen", "0.0.0.0:8080"}, // plain HTTP off loopback
		{"--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
	} {
		m := NewMain()
		m.Stdout, m.Stderr = io.Discard, io.Discard
		if err := m.ParseFlags(append([]string{"serve", "--data-dir", t.TempDir()}, args...), func(string) string { return "" }); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"serve", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:8080", "--insecure-http"}, func(string) string { return "" }); err != nil {
		t.Errorf("--insecure-http: %v", err)
	}
}

func TestEgressPolicyAtCreateAndQuery(t *testing.T) {
	u := testenv.PostgresURL(t)
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	g := MustRun(t, t.TempDir(), nil, "--egress-deny", "127.0.0.0/8:"+port, "--egress-allow", "*.corp.example", "--egress-allow", "127.0.0.0/8")
	c := g.MustSetup(nil)
	p := portOr(t, port, 5432)
	body := map[string]any{"name": "pg", "kind": "postgres", "settings": map[string]any{"host": "127.0.0.1", "port": p,
		"database": "postgres", "user": "postgres", "sslmode": "disable"}}
	r := c.do("POST", "/api/datasources", body)
	if r.Status != 403 || r.errorCode() != "egress_denied" || !strings.Contains(string(r.Body), "settings.host") {
		t.Fatalf("create to a denied destination: %d %s", r.Status, r.Body)
	}
	if list := c.must(200, "GET", "/api/datasources", nil)["datasources"].([]any); len(list) != 0 {
		t.Fatal("a refused datasource was stored")
	}
	// The effective policy, for the admin.
	e := c.must(200, "GET", "/api/egress", nil)
	pol := e["policy"].(map[string]any)
	if e["profile"] != "open" || len(pol["allow"].([]any)) != 2 || !strings.Contains(fmt.Sprint(pol["deny"]), "127.0.0.0/8:"+port) {
		t.Fatalf("GET /api/egress = %v", e)
	}
}

func TestEgressSourceIP(t *testing.T) {
	var mu sync.Mutex
	var peers []string
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers = append(peers, r.RemoteAddr)
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up.Listener = ln
	up.Start()
	defer up.Close()
	g := MustRun(t, t.TempDir(), nil, "--egress-source-ip", "127.0.0.2")
	c := g.MustSetup(nil)
	if src := c.must(200, "GET", "/api/egress", nil)["source_ip"]; src != "127.0.0.2" {
		t.Fatalf("source_ip = %v", src)
	}
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http", "settings": map[string]any{"base_url": up.URL + "/"}})["id"].(string)
	if r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"method": "GET", "path": "x"}); r.Status != 200 {
		t.Fatalf("query: %d %s", r.Status, r.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(peers) == 0 || !strings.HasPrefix(peers[0], "127.0.0.2:") {
		t.Fatalf("the upstream saw %v, want 127.0.0.2", peers)
	}
}

func TestIngressPolicy(t *testing.T) {
	// Only 10.1.2.3 may come in; the test's own address is not it.
	g := MustRun(t, t.TempDir(), nil, "--allow-clients", "10.1.2.3")
	if r := g.client(nil).do("GET", "/healthz", nil); r.Status != 403 {
		t.Fatalf("a client outside --allow-clients: %d", r.Status)
	}
	// A spoofed X-Forwarded-For from an untrusted peer is ignored.
	if r := g.client(nil).do("GET", "/healthz", nil, "X-Forwarded-For", "10.1.2.3"); r.Status != 403 {
		t.Fatalf("spoofed X-Forwarded-For: %d", r.Status)
	}
	// Behind a trusted proxy the forwarded address counts, read from the
	// right: what the client wrote at the left is not believed.
	g2 := MustRun(t, t.TempDir(), nil, "--allow-clients", "10.1.2.3", "--trusted-proxies", "127.0.0.1")
	if r := g2.client(nil).do("GET", "/healthz", nil, "X-Forwarded-For", "10.1.2.3"); r.Status != 200 {
		t.Fatalf("through a trusted proxy: %d", r.Status)
	}
	if r := g2.client(nil).do("GET", "/healthz", nil, "X-Forwarded-For", "10.1.2.3, 192.0.2.9"); r.Status != 403 {
		t.Fatalf("a client-written left entry was believed: %d", r.Status)
	}
	if r := g2.client(nil).do("GET", "/healthz", nil, "Forwarded", `for="10.1.2.3:4711"`); r.Status != 200 {
		t.Fatalf("Forwarded header: %d", r.Status)
	}
	// The forwarded address is the one audited.
	c := g2.client(nil)
	setup := c.do("POST", "/api/setup", map[string]string{"token": g2.setupToken(), "username": "admin", "password": adminPassword}, "X-Forwarded-For", "10.1.2.3")
	if setup.Status != 201 {
		t.Fatalf("setup: %d %s", setup.Status, setup.Body)
	}
	ev := c.do("GET", "/api/audit?action=setup", nil, "X-Forwarded-For", "10.1.2.3")
	if !strings.Contains(string(ev.Body), `"remote":"10.1.2.3"`) {
		t.Fatalf("audit remote: %s", ev.Body)
	}
}

func TestSelfSignedHTTPS(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil, "--tls-self-signed")
	pemBytes, err := os.ReadFile(filepath.Join(dir, "tls", "self-signed.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls", "self-signed.key")); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v", st)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	addr := strings.TrimPrefix(g.url, "http://")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the self-signed certificate: %v", err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("HSTS %q, TLS %v", resp.Header.Get("Strict-Transport-Security"), resp.TLS)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

func TestRequireDatasourceTLS(t *testing.T) {
	g := MustRun(t, t.TempDir(), nil, "--require-datasource-tls")
	c := g.MustSetup(nil)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "a", "kind": "postgres", "settings": map[string]any{"host": "db.example.com", "database": "d", "user": "u", "sslmode": "require"}}, "settings.sslmode"},
		{map[string]any{"name": "b", "kind": "mysql", "settings": map[string]any{"host": "db.example.com", "database": "d", "user": "u", "tls": "disable"}}, "settings.tls"},
		{map[string]any{"name": "c", "kind": "http", "settings": map[string]any{"base_url": "http://api.example.com/"}}, "settings.base_url"},
	} {
		r := c.do("POST", "/api/datasources", tc.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), tc.field) || !strings.Contains(string(r.Body), "require-datasource-tls") {
			t.Errorf("%s: %d %s", tc.body["kind"], r.Status, r.Body)
		}
	}
	c.must(201, "POST", "/api/datasources", map[string]any{"name": "ok", "kind": "postgres", "settings": map[string]any{"host": "db.example.com", "database": "d", "user": "u"}})
}

// TestEgressEveryKind makes a datasource of every network kind, then
// restarts the gateway with a deny rule for loopback: every kind's queries
// and tests are refused by the dialer, by literal address, by a host name
// that resolves there (localhost) and by the IPv4-mapped spelling.
func TestEgressEveryKind(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer up.Close()
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	c := g.MustSetup(nil)
	type source struct {
		id    string
		query map[string]any
	}
	sources := map[string]source{
		"postgres": {postgresSource(t, c, "pg", false), map[string]any{"query": "SELECT 1"}},
		"mysql":    {mysqlSource(t, c, "my", false), map[string]any{"query": "SELECT 1"}},
		"redis":    {redisSource(t, c, "rd", false, nil, nil), map[string]any{"command": []string{"PING"}}},
		"http": {c.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http",
			"settings": map[string]any{"base_url": up.URL + "/"}})["id"].(string), map[string]any{"method": "GET", "path": "x"}},
		"http-localhost": {c.must(201, "POST", "/api/datasources", map[string]any{"name": "api2", "kind": "http",
			"settings": map[string]any{"base_url": strings.Replace(up.URL, "127.0.0.1", "localhost", 1) + "/"}})["id"].(string), map[string]any{"method": "GET", "path": "x"}},
		"http-mapped": {c.must(201, "POST", "/api/datasources", map[string]any{"name": "api3", "kind": "http",
			"settings": map[string]any{"base_url": strings.Replace(up.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1) + "/"}})["id"].(string), map[string]any{"method": "GET", "path": "x"}},
	}
	for name, s := range sources {
		if r := c.do("POST", "/api/datasources/"+s.id+"/query", s.query); r.Status != 200 {
			t.Fatalf("%s before the rule: %d %s", name, r.Status, r.Body)
		}
	}
	g.m.Close()
	g2 := MustRun(t, dir, nil, "--egress-deny", "127.0.0.0/8")
	c2 := g2.client(nil)
	c2.must(200, "POST", "/api/login", map[string]any{"username": "admin", "password": adminPassword})
	for name, s := range sources {
		if r := c2.do("POST", "/api/datasources/"+s.id+"/query", s.query); r.Status != 403 || r.errorCode() != "egress_denied" {
			t.Errorf("%s query: %d %s", name, r.Status, r.Body)
		}
		if r := c2.do("POST", "/api/datasources/"+s.id+"/test", nil); r.errorCode() != "egress_denied" {
			t.Errorf("%s test: %d %s", name, r.Status, r.Body)
		}
	}
	logs := g2.logs.String()
	if !strings.Contains(logs, "outcome=egress_denied") {
		t.Error("the refusals are not logged")
	}
	ev := c2.must(200, "GET", "/api/audit?outcome=egress_denied", nil)["events"].([]any)
	if len(ev) != 2*len(sources) || !strings.Contains(fmt.Sprint(ev[0]), "127.0.0.1") {
		t.Errorf("audited refusals: %d, first %v", len(ev), ev[0])
	}
}
