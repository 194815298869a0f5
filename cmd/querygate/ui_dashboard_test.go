package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// TestBrowserDashboard builds a dashboard over the real PostgreSQL with
// every visualisation, opens it in Chromium and checks each panel drew
// from the streamed rows; a viewer without run on one panel's datasource
// sees that panel refused and the others drawn; and a canary value from
// the data is in no store file, no log line and no browser storage.
func TestBrowserDashboard(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	conn, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the tables are dropped (cleanups run last first; a
	// deferred close would run before them and leave the tables behind).
	t.Cleanup(func() { conn.Close(context.Background()) })
	table := "qg_dash_" + strings.ToLower(rand.Text()[:10])
	canary := "RESULT-CANARY-" + rand.Text()[:12]
	if _, err := conn.Exec(t.Context(), fmt.Sprintf(`CREATE TABLE %s AS
		SELECT d::date AS day, (ARRAY['north','south','east'])[1 + g %% 3] AS region, (g * 37 %% 1000) + 500 AS revenue, (g * 13 %% 300) AS cost
		FROM generate_series(1, 90) g, LATERAL (SELECT date '2024-01-01' + g AS d) x;
		INSERT INTO %s VALUES ('2024-06-01', '%s', 1, 1)`, table, table, canary)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE "+table) })

	dataDir := t.TempDir()
	g := MustRun(t, dataDir, nil)
	admin := g.MustSetup(nil)
	pg := postgresSource(t, admin, "warehouse", true)
	other := postgresSource(t, admin, "finance", true)
	sq := func(ds, name, sql string, params ...any) string {
		return admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": ds, "name": name, "query": sql, "parameters": append([]any{}, params...)})["id"].(string)
	}
	since := map[string]any{"name": "since", "type": "date", "default": "2024-01-01"}
	byDay := sq(pg, "by day", "SELECT day, sum(revenue) AS revenue, sum(cost) AS cost FROM "+table+" WHERE day >= :since GROUP BY day ORDER BY day", since)
	byRegion := sq(pg, "by region", "SELECT region, sum(revenue) AS revenue FROM "+table+" GROUP BY region ORDER BY region")
	byMonthRegion := sq(pg, "by month and region", "SELECT to_char(day, 'YYYY-MM') AS month, region, sum(revenue) AS revenue FROM "+table+" GROUP BY 1, 2 ORDER BY 1, 2")
	total := sq(pg, "total by month", "SELECT to_char(day, 'YYYY-MM') AS month, sum(revenue) AS revenue FROM "+table+" GROUP BY 1 ORDER BY 1 DESC")
	rows := sq(pg, "rows", "SELECT * FROM "+table+" ORDER BY day DESC LIMIT 50")
	secret := sq(other, "secret", "SELECT 1 AS one")
	panel := func(title, q, viz string, x string, y []string, extra map[string]any, layout map[string]any) map[string]any {
		v := map[string]any{"type": viz, "x": x, "y": y}
		for k, val := range extra {
			v[k] = val
		}
		return map[string]any{"title": title, "query_id": q, "viz": v, "layout": layout}
	}
	def := map[string]any{
		"inputs": []any{map[string]any{"name": "since", "label": "Since", "type": "date", "default": "2024-01-15"}},
		"panels": []any{
			panel("Revenue per day", byDay, "line", "day", []string{"revenue", "cost"}, nil, map[string]any{"x": 0, "w": 8, "h": 4}),
			panel("Total this month", total, "number", "", []string{"revenue"}, map[string]any{"compare": true, "format": "integer", "unit": "€"}, map[string]any{"x": 8, "w": 4, "h": 4}),
			panel("Cumulative per day", byDay, "area", "day", []string{"revenue", "cost"}, map[string]any{"stacked": true}, map[string]any{"x": 0, "w": 6, "h": 4}),
			panel("By region", byRegion, "pie", "region", []string{"revenue"}, nil, map[string]any{"x": 6, "w": 6, "h": 4}),
			panel("Per month and region", byMonthRegion, "bar", "month", []string{"revenue"}, map[string]any{"series": "region"}, map[string]any{"x": 0, "w": 6, "h": 4}),
			panel("Per month and region, stacked", byMonthRegion, "bar", "month", []string{"revenue"}, map[string]any{"series": "region", "stacked": true, "format": "compact"}, map[string]any{"x": 6, "w": 6, "h": 4}),
			panel("Rows", rows, "table", "", nil, nil, map[string]any{"x": 0, "w": 12, "h": 4}),
			panel("Finance", secret, "number", "", nil, nil, map[string]any{"x": 0, "w": 4, "h": 2}),
		},
	}
	// Bind the line and area panels to the dashboard input.
	for _, i := range []int{0, 2} {
		def["panels"].([]any)[i].(map[string]any)["params"] = map[string]any{"since": map[string]any{"input": "since"}}
	}
	dash := admin.must(201, "POST", "/api/dashboards", map[string]any{"name": "Sales", "description": "Revenue at a glance", "definition": def})["id"].(string)

	ctx, logs := newBrowser(t)
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "open dashboard",
		chromedp.Navigate(g.url+"/dashboards/"+dash),
		chromedp.WaitVisible(`.dashboard-grid`, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll('.panel')].every(p => p.getAttribute('aria-busy') === 'false')`),
	)
	var drawn map[string]string
	act(t, ctx, "panels drawn", chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll('.panel')].map(p => [
		p.querySelector('h2').textContent,
		(p.querySelector('svg.chart') ? 'svg:' + p.querySelectorAll('svg.chart path, svg.chart rect').length :
		 p.querySelector('.big-number') ? 'number:' + p.querySelector('.big-number').textContent + '|' + (p.querySelector('.compare')?.textContent || '') :
		 p.querySelector('table') ? 'table:' + p.querySelectorAll('tbody tr').length : 'empty') + ' / ' + p.querySelector('.panel-note').textContent]))`, &drawn))
	for title, want := range map[string]string{"Revenue per day": "svg:", "Cumulative per day": "svg:", "By region": "svg:", "Per month and region": "svg:",
		"Per month and region, stacked": "svg:", "Rows": "table:50", "Total this month": "number:"} {
		if !strings.HasPrefix(drawn[title], want) {
			t.Errorf("panel %q: %q, want %s…", title, drawn[title], want)
		}
	}
	if n := drawn["Total this month"]; !strings.Contains(n, "€") || !strings.Contains(n, "from") {
		t.Errorf("the number panel: %q", n)
	}
	shoot(t, ctx, "dashboard")

	// The editor adds a panel through the form.
	act(t, ctx, "edit",
		chromedp.Navigate(g.url+"/dashboards/"+dash+"/edit"),
		waitJS(`document.querySelectorAll('.panel-row').length === 8`),
		chromedp.Click(`#add-panel`, chromedp.ByQuery),
		chromedp.SendKeys(`.panel-row:last-child input`, "Regions as bars", chromedp.ByQuery),
		chromedp.SetValue(`.panel-row:last-child select`, byRegion, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.panel-row:last-child select').dispatchEvent(new Event('change'))`, nil),
		// The columns come from the saved query's own result.
		waitJS(`!!document.querySelector('.panel-row:last-child .column-checks input[value=revenue]')`),
		chromedp.Evaluate(`(() => { const r = document.querySelector('.panel-row:last-child'); const f = [...r.querySelectorAll('.field')];
			const by = (l) => f.find(x => x.querySelector('label').textContent === l).querySelector('input, select');
			by('Chart').value = 'bar'; by('X column').value = 'region'; r.querySelectorAll('.column-checks input').forEach((c) => { if (c.checked !== (c.value === 'revenue')) c.click(); }); by('Width (of 12)').value = '12'; return true })()`, nil),
		chromedp.Click(`#save-dashboard`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/dashboards/"+dash+"$")
	act(t, ctx, "nine panels",
		waitJS(`document.querySelectorAll('.panel').length === 9 && [...document.querySelectorAll('.panel')].every(p => p.getAttribute('aria-busy') === 'false')`),
		waitJS(`[...document.querySelectorAll('.panel')].some(p => p.querySelector('h2').textContent === 'Regions as bars' && p.querySelector('svg.chart rect'))`),
	)

	// The input re-runs its panels: a later date, fewer points.
	var before, after int
	points := `(document.querySelector('.panel svg.chart path[fill="none"]')?.getAttribute('d') || '').split(/[ML]/).length - 1`
	act(t, ctx, "count points", chromedp.Evaluate(points, &before))
	act(t, ctx, "change input",
		chromedp.SetValue(`#in-since`, "2024-03-01", chromedp.ByQuery),
		chromedp.Click(`#inputs-form button[type=submit]`, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll('.panel')].every(p => p.getAttribute('aria-busy') === 'false')`),
		chromedp.Evaluate(points, &after),
	)
	if after == 0 || after >= before {
		t.Errorf("points before %d, after a later 'since' %d", before, after)
	}
	// Exports: SVG, PNG and CSV from the browser.
	downloads := t.TempDir()
	act(t, ctx, "downloads", browserDownloads(downloads))
	act(t, ctx, "export",
		chromedp.Evaluate(`(() => { const p = document.querySelector('.panel'); p.querySelector('[data-act=svg]').click(); p.querySelector('[data-act=png]').click(); p.querySelector('[data-act=csv]').click(); return true })()`, nil),
	)
	want := map[string]bool{".svg": false, ".png": false, ".csv": false}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(downloads)
		for _, e := range entries {
			for ext := range want {
				if strings.HasSuffix(e.Name(), ext) {
					want[ext] = true
				}
			}
		}
		if want[".svg"] && want[".png"] && want[".csv"] {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !want[".svg"] || !want[".png"] || !want[".csv"] {
		t.Errorf("exports: %v", want)
	}

	// A viewer with run on the warehouse only: the finance panel is
	// refused, the others draw.
	vid := admin.must(201, "POST", "/api/users", map[string]any{"username": "val", "password": "val password 1", "role": "viewer"})["id"].(string)
	admin.must(200, "PUT", "/api/datasources/"+pg+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": vid, "level": "run"}}})
	admin.must(200, "PUT", "/api/dashboards/"+dash+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": vid, "level": "view"}}})
	vctx, vlogs := newBrowser(t)
	browserLogin(t, vctx, g, "val", "val password 1")
	var refused, charts int
	act(t, vctx, "viewer opens",
		chromedp.Navigate(g.url+"/dashboards/"+dash),
		waitJS(`[...document.querySelectorAll('.panel')].every(p => p.getAttribute('aria-busy') === 'false')`),
		chromedp.Evaluate(`document.querySelectorAll('.panel.refused').length`, &refused),
		chromedp.Evaluate(`document.querySelectorAll('.panel svg.chart').length`, &charts),
	)
	if refused != 1 || charts != 6 { // five charts and the bar panel added in the editor
		t.Fatalf("viewer: %d panels refused, %d charts drawn", refused, charts)
	}
	if got := text(t, vctx, `.panel.refused .panel-note`); !strings.Contains(got, "run grant") {
		t.Fatalf("the refused panel says %q", got)
	}
	var html string
	act(t, vctx, "viewer page", chromedp.Evaluate(`document.documentElement.outerHTML`, &html))
	if strings.Contains(html, "finance") || strings.Contains(html, "secret") {
		t.Fatal("the viewer's page names the datasource or query they cannot see")
	}

	// Nothing of a result is kept: not in browser storage, not in the
	// store, not in the logs.
	for _, c := range []context.Context{ctx, vctx} {
		var stored string
		act(t, c, "storage", chromedp.Evaluate(`JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])`, &stored))
		if strings.Contains(stored, canary) || strings.Contains(stored, "north") {
			t.Fatalf("browser storage holds result values: %s", stored)
		}
		var dbs []string
		act(t, c, "indexeddb", chromedp.Evaluate(`indexedDB.databases().then(d => d.map(x => x.name))`, &dbs, awaitPromise))
		if len(dbs) > 0 {
			t.Fatalf("the page made IndexedDB databases: %v", dbs)
		}
	}
	// The canary row was drawn (so it did pass through the browser).
	act(t, ctx, "canary shown", chromedp.Navigate(g.url+"/dashboards/"+dash), waitText(`.viz-table`, canary))
	g.m.Close()
	files, _ := os.ReadDir(dataDir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dataDir, f.Name()))
		if strings.Contains(string(b), canary) {
			t.Fatalf("a result value is in %s", f.Name())
		}
	}
	if strings.Contains(g.logs.String(), canary) {
		t.Fatal("a result value is in the logs")
	}
	checkCSP(t, logs)
	checkCSP(t, vlogs)
}

// TestBrowserDashboardUnlock: three panels over one device-custody
// datasource ask for its password once per view, then all draw.
func TestBrowserDashboardUnlock(t *testing.T) {
	user, password := deviceUser(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	dev := deviceSource(t, admin, "ledger", user)
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": dev, "name": "one", "query": "SELECT 1 AS one, 2 AS two"})["id"].(string)
	var panels []any
	for i := range 3 {
		panels = append(panels, map[string]any{"title": fmt.Sprintf("P%d", i), "query_id": q, "viz": map[string]any{"type": "number", "y": []string{"two"}}})
	}
	dash := admin.must(201, "POST", "/api/dashboards", map[string]any{"name": "Ledger", "definition": map[string]any{"panels": panels}})["id"].(string)
	ctx, logs := newBrowser(t)
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "one prompt",
		chromedp.Navigate(g.url+"/dashboards/"+dash),
		chromedp.WaitVisible(`#unlock-dialog`, chromedp.ByQuery),
		chromedp.SendKeys(`#unlock-password`, password, chromedp.ByQuery),
		chromedp.Click(`#unlock-submit`, chromedp.ByQuery),
		waitJS(`[...document.querySelectorAll('.panel')].every(p => p.getAttribute('aria-busy') === 'false')`),
	)
	var numbers []string
	act(t, ctx, "drawn", chromedp.Evaluate(`[...document.querySelectorAll('.big-number')].map(n => n.textContent)`, &numbers))
	if len(numbers) != 3 || numbers[0] != "2" || numbers[2] != "2" {
		t.Fatalf("panels after one unlock: %v", numbers)
	}
	events := admin.must(200, "GET", "/api/audit?action=device.unlock", nil)["events"].([]any)
	if len(events) != 1 {
		t.Fatalf("%d unlocks for one view, want 1", len(events))
	}
	checkCSP(t, logs)
}
