package main

import (
	"database/sql"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	liteDir := t.TempDir()
	dbPath := filepath.Join(liteDir, "m.db")
	lite, _ := sql.Open("sqlite", dbPath)
	lite.Exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3)")
	lite.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	metricsAddr := ln.Addr().String()
	ln.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", liteDir, "--metrics-listen", metricsAddr)
	c := g.MustSetup(nil)
	const canary = "METRICS-CANARY-77"
	id := c.must(201, "POST", "/api/datasources", map[string]any{"name": canary, "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	for range 2 {
		c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELECT v, '" + canary + "' FROM t"})
	}
	c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "SELEC " + canary})

	r := c.do("GET", "/metrics", nil)
	if r.Status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	body := string(r.Body)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^querygate_queries_total\{kind="sqlite",outcome="ok"\} 2$`),
		regexp.MustCompile(`(?m)^querygate_queries_total\{kind="sqlite",outcome="query_failed"\} 1$`),
		regexp.MustCompile(`(?m)^querygate_query_rows_total\{kind="sqlite"\} 6$`),
		regexp.MustCompile(`(?m)^querygate_http_requests_total\{code="200",route="POST /api/datasources/\{id\}/query"\} 2$`),
		regexp.MustCompile(`(?m)^querygate_pools 1$`),
		regexp.MustCompile(`(?m)^querygate_egress_denied_total 0$`),
	} {
		if !want.MatchString(body) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, canary) || strings.Contains(body, id) {
		t.Fatal("a user-supplied value is in the metrics")
	}
	// The separate listener serves the same, without authentication.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("--metrics-listen: %v %v", err, resp)
	}
	resp.Body.Close()
	if r := g.client(nil).do("GET", "/metrics", nil); r.Status != 401 {
		t.Fatalf("anonymous /metrics on the main listener: %d", r.Status)
	}
}
