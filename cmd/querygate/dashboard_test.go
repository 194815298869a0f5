package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// TestDashboardsAPI: create with panels over saved queries the creator can
// run (others refused by field), export by names and import elsewhere,
// and one audit event per action with no definition values in it.
func TestDashboardsAPI(t *testing.T) {
	dir := t.TempDir()
	g, admin := queryGateway(t, dir)
	pg := postgresSource(t, admin, "warehouse", true)
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": pg, "name": "n", "query": "SELECT generate_series(1, :n) AS x",
		"parameters": []any{map[string]any{"name": "n", "type": "int", "default": 3}}})["id"].(string)
	def := map[string]any{"inputs": []any{map[string]any{"name": "n", "type": "int", "default": 5}},
		"panels": []any{map[string]any{"title": "xs", "query_id": q, "params": map[string]any{"n": map[string]any{"input": "n"}}, "viz": map[string]any{"type": "table"}}}}
	// A panel over a query that does not exist, or a bad binding: 400 by field.
	bad := map[string]any{"panels": []any{map[string]any{"title": "x", "query_id": "sqnope", "viz": map[string]any{"type": "table"}}}}
	if r := admin.do("POST", "/api/dashboards", map[string]any{"name": "bad", "definition": bad}); r.Status != 400 || !strings.Contains(string(r.Body), "definition.panels[0].query_id") {
		t.Fatalf("unknown query: %d %s", r.Status, r.Body)
	}
	d := admin.must(201, "POST", "/api/dashboards", map[string]any{"name": "ops", "definition": def})
	id := d["id"].(string)
	admin.must(409, "POST", "/api/dashboards", map[string]any{"name": "ops", "definition": def})
	got := admin.must(200, "GET", "/api/dashboards/"+id, nil)
	if pq := got["queries"].(map[string]any); len(pq) != 1 {
		t.Fatalf("panel queries: %v", pq)
	}
	// An editor without access to the datasource cannot add its query.
	admin.must(201, "POST", "/api/users", map[string]any{"username": "ed", "password": "ed password 12", "role": "editor"})
	ed := g.login("ed", "ed password 12")
	if r := ed.do("POST", "/api/dashboards", map[string]any{"name": "mine", "definition": def}); r.Status != 400 {
		t.Fatalf("an editor over a query they cannot see: %d %s", r.Status, r.Body)
	}
	admin.must(200, "PATCH", "/api/dashboards/"+id, map[string]any{"description": "the ops board"})

	// Export and import on another gateway with the same saved query.
	exp := admin.do("GET", "/api/dashboards/"+id+"/export", nil)
	if exp.Status != 200 || strings.Contains(string(exp.Body), q) || !strings.Contains(string(exp.Body), `"datasource":"warehouse"`) {
		t.Fatalf("export: %d %s", exp.Status, exp.Body)
	}
	_, admin2 := queryGateway(t, t.TempDir())
	pg2 := postgresSource(t, admin2, "warehouse", true)
	var doc map[string]any
	json.Unmarshal(exp.Body, &doc)
	if r := admin2.do("POST", "/api/dashboards/import", doc); r.Status != 400 || !strings.Contains(string(r.Body), "import the saved queries first") {
		t.Fatalf("import before the saved queries: %d %s", r.Status, r.Body)
	}
	admin2.must(201, "POST", "/api/queries", map[string]any{"datasource_id": pg2, "name": "n", "query": "SELECT :n::int AS x",
		"parameters": []any{map[string]any{"name": "n", "type": "int"}}})
	imported := admin2.must(201, "POST", "/api/dashboards/import", doc)
	if imported["name"] != "ops" || len(imported["definition"].(map[string]any)["panels"].([]any)) != 1 {
		t.Fatalf("imported: %v", imported)
	}
	admin.must(204, "DELETE", "/api/dashboards/"+id, nil)
	admin.must(404, "GET", "/api/dashboards/"+id, nil)

	events := admin.must(200, "GET", "/api/audit?action=dashboard.&limit=100", nil)["events"].([]any)
	count := map[string]int{}
	for _, e := range events {
		m := e.(map[string]any)
		count[m["action"].(string)+" "+m["outcome"].(string)]++
		if b, _ := json.Marshal(m["details"]); strings.Contains(string(b), "xs") || strings.Contains(string(b), "SELECT") {
			t.Fatalf("an audit event holds definition values: %s", b)
		}
	}
	for k, want := range map[string]int{"dashboard.create ok": 1, "dashboard.update ok": 1, "dashboard.delete ok": 1} {
		if count[k] != want {
			t.Errorf("audit %s: %d, want %d (%v)", k, count[k], want, count)
		}
	}
}

// vmHWM reads a process's peak resident memory in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return n
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// TestDashboardMemory opens a ten-panel dashboard (nine aggregating in SQL,
// one pulling raw rows up to its limit) over a 100,000-row and then a
// 1,000,000-row table, as a browser would (the ten runs at once), on a
// gateway process of its own: its peak memory must not grow with the
// data. Figures are logged.
func TestDashboardMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test: not in -short")
	}
	pgURL := testenv.PostgresURL(t)
	conn, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the tables are dropped (cleanups run last first; a
	// deferred close would run before them and leave the tables behind).
	t.Cleanup(func() { conn.Close(context.Background()) })
	small, big := "qg_mem_s_"+strings.ToLower(rand.Text()[:8]), "qg_mem_b_"+strings.ToLower(rand.Text()[:8])
	for tbl, n := range map[string]int{small: 100_000, big: 1_000_000} {
		if _, err := conn.Exec(t.Context(), fmt.Sprintf(`CREATE TABLE %s AS SELECT g AS id, g %% 97 AS k, md5(g::text) AS h, (g::bigint * 7919 %% 10000) AS v FROM generate_series(1, %d) g`, tbl, n)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE "+tbl) })
	}
	bin := buildBinary(t)
	data := t.TempDir()
	addAdmin(t, bin, "--data-dir", data)
	p := startProcess(t, bin, "--data-dir", data)
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		resp, err := p.post(t.Context(), path, string(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &out)
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		return out
	}
	port := portOr(t, pgURL.Port(), 5432)
	ds := post("/api/datasources", map[string]any{"name": "pg", "kind": "postgres", "read_only": true, "settings": map[string]any{"host": pgURL.Hostname(), "port": port,
		"database": strings.TrimPrefix(pgURL.Path, "/"), "user": testenv.PostgresReadOnlyUser(t), "sslmode": "disable"}})["id"].(string)
	dashboardOver := func(tbl string) []string {
		var ids []string
		aggs := []string{"SELECT k, count(*) AS n FROM %s GROUP BY k ORDER BY k", "SELECT k, avg(v) AS v FROM %s GROUP BY k ORDER BY k",
			"SELECT k, sum(v) AS v FROM %s GROUP BY k ORDER BY k", "SELECT k, max(v) AS v FROM %s GROUP BY k ORDER BY k",
			"SELECT k, min(v) AS v FROM %s GROUP BY k ORDER BY k", "SELECT count(*) AS n FROM %s", "SELECT sum(v) AS v FROM %s",
			"SELECT v / 1000 AS bucket, count(*) AS n FROM %s GROUP BY 1 ORDER BY 1", "SELECT left(h, 1) AS c, count(*) AS n FROM %s GROUP BY 1 ORDER BY 1",
			"SELECT * FROM %s"}
		for i, a := range aggs {
			ids = append(ids, post("/api/queries", map[string]any{"datasource_id": ds, "name": fmt.Sprintf("%s-%d", tbl, i), "query": fmt.Sprintf(a, tbl)})["id"].(string))
		}
		return ids
	}
	open := func(ids []string) (rows int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i, id := range ids {
			limit := 1000
			if i == len(ids)-1 {
				limit = 10000 // the raw panel: capped by its limit
			}
			wg.Go(func() {
				b, _ := json.Marshal(map[string]any{"params": map[string]any{}, "limit": limit})
				resp, err := p.post(t.Context(), "/api/queries/"+id+"/run", string(b))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				n := 0
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), `{"row"`) {
						n++
					}
					if strings.HasPrefix(sc.Text(), `{"error"`) {
						t.Errorf("panel %s: %s", id, sc.Text())
					}
				}
				mu.Lock()
				rows += n
				mu.Unlock()
			})
		}
		wg.Wait()
		return rows
	}
	smallIDs, bigIDs := dashboardOver(small), dashboardOver(big)
	for range 3 {
		open(smallIDs)
	}
	afterSmall := vmHWM(t, p.cmd.Process.Pid)
	var rows int
	for range 3 {
		rows = open(bigIDs)
	}
	afterBig := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("peak RSS after 100k-row views: %d KiB; after 1M-row views: %d KiB (%+d KiB); rows drawn per view: %d", afterSmall, afterBig, afterBig-afterSmall, rows)
	if rows > 9*1000+10000 {
		t.Fatalf("a view pulled %d rows: the panel limits did not cap it", rows)
	}
	if afterBig-afterSmall > 16*1024 {
		t.Fatalf("the gateway's peak memory grew by %d KiB with ten times the data", afterBig-afterSmall)
	}
}
