package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestEgressDeniesGatewayItself checks that every address the gateway
// listens on is a destination the egress policy refuses, even to an
// operator whose allow list takes in all of loopback: the main listener
// and the metrics listener, the latter on 0.0.0.0, which every local
// address reaches (127.0.0.2 included). A datasource naming one is
// refused when it is created, and one stored before the gateway listened
// there is refused at test and at query, as is a redirect to one; another
// loopback server stays reachable.
func TestEgressDeniesGatewayItself(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		w.Write([]byte("other"))
	}))
	defer other.Close()
	// A free port for the metrics listener of the second start.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, metricsPortN := mustSplitHostPort(t, ln.Addr().String())
	metricsPort := strconv.Itoa(metricsPortN)
	ln.Close()

	dir := t.TempDir()
	policy := []string{"--egress-profile", "allowlist", "--egress-allow", "127.0.0.0/8"}
	g := MustRun(t, dir, nil, policy...)
	admin := g.MustSetup(nil)
	httpSource := func(c *client, name, baseURL string) response {
		return c.do("POST", "/api/datasources", map[string]any{"name": name, "kind": "http", "settings": map[string]any{"base_url": baseURL}})
	}
	// Stored while nothing listens there: the second start listens on it.
	r := httpSource(admin, "metrics-later", "http://127.0.0.2:"+metricsPort+"/")
	if r.Status != 201 {
		t.Fatalf("create before the metrics listener: %d %s", r.Status, r.Body)
	}
	later := r.json(t)["id"].(string)
	g.m.Close()

	g = MustRun(t, dir, nil, append(policy, "--metrics-listen", "0.0.0.0:"+metricsPort)...)
	admin = g.login("admin", adminPassword)
	if got := g.m.MetricsAddr(); !strings.HasSuffix(got, ":"+metricsPort) {
		t.Fatalf("metrics address %q", got)
	}
	mainAddr := g.m.Addr()
	denied := func(what string, r response) {
		t.Helper()
		if r.Status != 403 || r.errorCode() != "egress_denied" || !strings.Contains(string(r.Body), "the gateway's own address") {
			t.Errorf("%s: got %d %s, want 403 egress_denied for the gateway's own address", what, r.Status, r.Body)
		}
	}
	for i, target := range []string{"http://" + mainAddr + "/", "http://127.0.0.1:" + metricsPort + "/", "http://127.0.0.2:" + metricsPort + "/"} {
		denied("create "+target, httpSource(admin, fmt.Sprintf("self-%d", i), target))
	}
	if list := admin.must(200, "GET", "/api/datasources", nil)["datasources"].([]any); len(list) != 1 {
		t.Fatalf("a refused datasource was stored: %v", list)
	}
	denied("test of a datasource at the metrics address", admin.do("POST", "/api/datasources/"+later+"/test", nil))
	denied("query of a datasource at the metrics address", admin.do("POST", "/api/datasources/"+later+"/query", map[string]any{"method": "GET", "path": "metrics"}))

	r = httpSource(admin, "other", other.URL+"/")
	if r.Status != 201 {
		t.Fatalf("create to another loopback server: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	admin.must(200, "POST", "/api/datasources/"+id+"/test", nil)
	if q := admin.do("POST", "/api/datasources/"+id+"/query", map[string]any{"method": "GET", "path": "x"}); q.Status != 200 || !strings.Contains(string(q.Body), "other") {
		t.Fatalf("query of another loopback server: %d %s", q.Status, q.Body)
	}
	for _, to := range []string{"http://" + mainAddr + "/api/me", "http://127.0.0.1:" + metricsPort + "/metrics"} {
		denied("redirect to "+to, admin.do("POST", "/api/datasources/"+id+"/query", map[string]any{"method": "GET", "path": "x", "query": map[string]any{"to": to}}))
	}
}
