package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/testenv"
)

// BenchmarkHTTPQuery is SELECT 1 on PostgreSQL through the HTTP API with a
// session, client and gateway in this process: its allocs/op and B/op are
// steady figures for the per-request work of the query path (the bench
// package measures the real binary's CPU and latency).
func BenchmarkHTTPQuery(b *testing.B) {
	g := MustRun(b, b.TempDir(), nil)
	c := g.MustSetup(nil)
	u := testenv.PostgresURL(b)
	ds := c.must(201, "POST", "/api/datasources", map[string]any{"name": "pg", "kind": "postgres",
		"settings": map[string]any{"host": u.Hostname(), "port": portOr(b, u.Port(), 5432), "database": strings.TrimPrefix(u.Path, "/"),
			"user": u.User.Username(), "sslmode": "disable"}})["id"].(string)
	url := g.url + "/api/datasources/" + ds + "/query"
	body := []byte(`{"query":"SELECT 1","limit":10}`)
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"done"`)) {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
	}
}
