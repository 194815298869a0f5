package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// gridQuery makes 200,000 rows of several types on PostgreSQL.
const gridQuery = `SELECT g AS id, 'row ' || g AS label, g * 1.5 AS amount, NULL::text AS nothing,
 '2024-03-01'::date + (g % 30) AS day, '2024-03-01 10:00'::timestamp AS wall,
 jsonb_build_object('k', g, 'long', repeat('x', 80)) AS doc FROM generate_series(1, 200000) g`

// setQuery types a statement into the workspace's editor.
func setQuery(sql string) chromedp.Action {
	return setEditor(`#editor`, sql)
}

// TestBrowserGrid drives the result grid in Chromium against a real
// PostgreSQL: a 200,000-row result loaded whole, with only the rows in view
// in the DOM and every row reachable by scrolling (the time it takes is
// logged next to the API's own time for the same query); values shown as
// the database means them (dates without an invented zone, grouped
// numbers, NULL apart from text with AA contrast); sorting in the browser
// with its note; keyboard navigation; copying a row as JSON; a long JSON
// value in the side panel; a column resized from the keyboard and hidden;
// and a DML statement's affected rows ("3 rows updated", "1 row").
func TestBrowserGrid(t *testing.T) {
	ctx, logs := newBrowser(t)
	g, c := queryGateway(t, t.TempDir())
	id := postgresSource(t, c, "warehouse", false)
	browserLogin(t, ctx, g, "admin", adminPassword)
	if err := chromedp.Run(ctx, browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite}).WithOrigin(g.url)); err != nil {
		t.Fatal(err)
	}

	// The API's own time: the whole NDJSON answer read.
	apiStart := time.Now()
	r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": gridQuery, "limit": 200000})
	apiTime := time.Since(apiStart)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"rows":200000,`) {
		t.Fatalf("api: %d %.300s", r.Status, r.Body)
	}

	act(t, ctx, "open the workspace",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setQuery(gridQuery),
		chromedp.SetValue(`#limit`, "200000", chromedp.ByQuery),
	)
	uiStart := time.Now()
	act(t, ctx, "200,000 rows shown and scrolled to the last",
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#run-status').textContent.includes('rows in')`, nil, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(5*time.Millisecond)),
		chromedp.Evaluate(`(() => { const s = document.querySelector('.grid-scroll'); s.scrollTop = s.scrollHeight; })()`, nil),
		chromedp.Poll(`[...document.querySelectorAll('#results tbody td:first-child')].some((td) => td.textContent === '200,000')`, nil, chromedp.WithPollingTimeout(10*time.Second), chromedp.WithPollingInterval(5*time.Millisecond)),
	)
	uiTime := time.Since(uiStart)
	// The gateway's own elapsed time for the browser's run (the done
	// line's elapsed_ms) tells a slow browser from a slow database on a
	// busy machine.
	var served string
	act(t, ctx, "the gateway's time", chromedp.Text(`#elapsed`, &served, chromedp.ByQuery))
	// The API once more, after: on a shared machine the load moves, and
	// the mean of both is the fairer yardstick.
	apiStart = time.Now()
	if r := c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": gridQuery, "limit": 200000}); r.Status != 200 {
		t.Fatalf("api again: %d", r.Status)
	}
	apiTime = (apiTime + time.Since(apiStart)) / 2
	t.Logf("200,000 rows: API %v (read whole by a Go client, mean of one run before and one after); browser run, shown and scrolled to the last row %v, ratio %.2f; the gateway's own time for the browser's run %s ms",
		apiTime.Round(time.Millisecond), uiTime.Round(time.Millisecond), float64(uiTime)/float64(apiTime), served)

	var status string
	var domRows int
	act(t, ctx, "read the status",
		chromedp.Text(`#run-status`, &status, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#results tbody tr:not(.spacer)').length`, &domRows),
	)
	if !strings.Contains(status, "200,000 rows in") {
		t.Errorf("status = %q", status)
	}
	if domRows == 0 || domRows > 200 {
		t.Errorf("%d rows in the DOM, want only those in view", domRows)
	}
	// Every row is reachable: scroll to a few places and find their ids.
	for _, n := range []int{1, 777, 123456, 199999} {
		var found bool
		act(t, ctx, fmt.Sprintf("scroll to row %d", n),
			chromedp.Evaluate(fmt.Sprintf(`(() => { const s = document.querySelector('.grid-scroll'); s.scrollTop = %d * 28 - 100; })()`, n-1), nil),
			chromedp.Poll(fmt.Sprintf(`[...document.querySelectorAll('#results tbody td:first-child')].some((td) => td.textContent === %q)`, group(n)), nil, chromedp.WithPollingTimeout(5*time.Second)),
			chromedp.Evaluate(fmt.Sprintf(`[...document.querySelectorAll('#results tbody tr')].some((tr) => tr.getAttribute('aria-rowindex') === '%d')`, n+1), &found),
		)
		if !found {
			t.Errorf("row %d has no aria-rowindex %d", n, n+1)
		}
	}

	// Values as the database means them, in the first row.
	var first []string
	var nullContrast float64
	act(t, ctx, "the first row",
		chromedp.Evaluate(`(() => { const s = document.querySelector('.grid-scroll'); s.scrollTop = 0; })()`, nil),
		chromedp.Poll(`document.querySelector('#results tbody tr[aria-rowindex="2"]') !== null`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Evaluate(`[...document.querySelectorAll('#results tbody tr[aria-rowindex="2"] td')].map((td) => td.textContent + '|' + td.className)`, &first),
		chromedp.Evaluate(contrastJS(`#results td.null`), &nullContrast),
	)
	want := []string{"1|num active", "row 1|", "1.5|num", "NULL|null", "2024-03-02|", "2024-03-01T10:00:00|", `{"k":1,"long":"` + strings.Repeat("x", 80) + `"}|json long`}
	if strings.Join(first, " ") != strings.Join(want, " ") {
		t.Errorf("first row = %q,\nwant %q", first, want)
	}
	if nullContrast < 4.5 {
		t.Errorf("NULL contrast %.2f, want at least 4.5 (AA)", nullContrast)
	}

	// Sorting: a click sorts ascending, a second descending.
	var top string
	act(t, ctx, "sort by id, descending",
		chromedp.Click(`#results th:first-child button.sort`, chromedp.ByQuery),
		chromedp.Click(`#results th:first-child button.sort`, chromedp.ByQuery),
		waitJS(`document.querySelector('#results th:first-child').getAttribute('aria-sort') === 'descending'`),
		chromedp.Text(`#results tbody tr[aria-rowindex="2"] td:first-child`, &top, chromedp.ByQuery),
	)
	if top != "200,000" {
		t.Errorf("first id sorted descending = %q", top)
	}
	if note := text(t, ctx, `#grid-note`); !strings.Contains(note, "Sorted by id in the browser") {
		t.Errorf("sort note = %q", note)
	}
	act(t, ctx, "sort off", chromedp.Click(`#results th:first-child button.sort`, chromedp.ByQuery),
		waitJS(`!document.querySelector('#results th:first-child').hasAttribute('aria-sort')`))

	// Keyboard: down twice, right once, then copy the row as JSON.
	var active []string
	var copied string
	act(t, ctx, "keyboard and copy",
		chromedp.Click(`#results tbody tr[aria-rowindex="2"] td:first-child`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.Evaluate(`(() => { const a = document.getElementById('grid-active'); return [a.dataset.r, a.dataset.c, a.textContent, document.activeElement.id]; })()`, &active),
		chromedp.SetValue(`#copy-format`, "json", chromedp.ByQuery),
		chromedp.Click(`#copy-row`, chromedp.ByQuery),
		waitText(`#grid-note`, "Copied the row as JSON"),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, awaitPromise),
	)
	if strings.Join(active, ",") != "2,1,row 3,results" {
		t.Errorf("active cell = %q, want row 3, column label, focus on the grid", active)
	}
	if !strings.HasPrefix(copied, `{"id":3,"label":"row 3","amount":"4.5","nothing":null,"day":"2024-03-04","wall":"2024-03-01T10:00:00","doc":{`) {
		t.Errorf("copied row = %.200s", copied)
	}

	// The long JSON value opens in the side panel.
	var panel string
	act(t, ctx, "side panel",
		chromedp.Click(`#results tbody tr[aria-rowindex="2"] td:last-child`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`#cell-panel`, chromedp.ByQuery),
		chromedp.Text(`#cell-panel pre`, &panel, chromedp.ByQuery),
	)
	if !strings.Contains(panel, "\"k\": 1,\n") {
		t.Errorf("panel = %q, want indented JSON", panel)
	}
	shoot(t, ctx, "grid")
	act(t, ctx, "close the panel", chromedp.Click(`#cell-panel-close`, chromedp.ByQuery), chromedp.WaitNotVisible(`#cell-panel`, chromedp.ByQuery))

	// A column resized from the keyboard, and one hidden.
	var before, after int
	var headers string
	act(t, ctx, "resize and hide",
		chromedp.Evaluate(`document.querySelector('#results col').getBoundingClientRect().width`, &before),
		chromedp.Focus(`#results th:first-child .resize`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.Evaluate(`document.querySelector('#results col').getBoundingClientRect().width`, &after),
		chromedp.Click(`.grid-columns summary`, chromedp.ByQuery),
		chromedp.Click(`#grid-col-1`, chromedp.ByQuery),
		chromedp.Text(`#results thead`, &headers, chromedp.ByQuery),
	)
	if after != before+32 {
		t.Errorf("width %d → %d, want +32", before, after)
	}
	if strings.Contains(headers, "label") || !strings.Contains(headers, "amount") {
		t.Errorf("headers after hiding label = %q", headers)
	}

	// DML: the rows it changed, with the verb.
	table := fmt.Sprintf("qg_grid_%d", time.Now().UnixNano())
	c.must(200, "POST", "/api/datasources/"+id+"/query", map[string]any{"query": "CREATE TABLE " + table + " (v int)"})
	t.Cleanup(func() { c.do("POST", "/api/datasources/"+id+"/query", map[string]any{"query": "DROP TABLE " + table}) })
	c.must(200, "POST", "/api/datasources/"+id+"/query", map[string]any{"query": "INSERT INTO " + table + " VALUES (1), (2), (3)"})
	act(t, ctx, "update three rows",
		setQuery("UPDATE "+table+" SET v = v + 10"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "3 rows updated in"),
		waitJS(`document.querySelector('#result-table').offsetParent === null && document.querySelector('.result-tabs').offsetParent === null`),
	)
	act(t, ctx, "delete one row",
		setQuery("-- one\nDELETE FROM "+table+" WHERE v = 11"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row deleted in"),
	)
	shoot(t, ctx, "dml")

	// Sorting a cut result says that rows beyond the cut are not in order.
	act(t, ctx, "sort a cut result",
		setQuery("SELECT g FROM generate_series(1, 50) g"),
		chromedp.SetValue(`#limit`, "10", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "10 rows in"),
		chromedp.Click(`#results th:first-child button.sort`, chromedp.ByQuery),
	)
	if note := text(t, ctx, `#grid-note`); !strings.Contains(note, "The result was cut at the row limit") {
		t.Errorf("note on a cut result = %q (status %q)", note, text(t, ctx, `#run-status`))
	}
	checkCSP(t, logs)
}

// group writes n with en-US thousands separators, as the grid shows it.
func group(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// contrastJS evaluates the WCAG contrast ratio of the first element
// matching sel: its text colour against its background (or the nearest
// ancestor's that is not transparent).
func contrastJS(sel string) string {
	return fmt.Sprintf(`(() => {
  const el = document.querySelector(%q);
  const rgb = (s) => s.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bg = null;
  for (let e = el; e && !bg; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] > 0) bg = c;
  }
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg || [255, 255, 255]);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})()`, sel)
}

// TestBrowserChartView drives the Chart view of a workspace result in
// Chromium against a real PostgreSQL: the chart guessed from the column
// types (the date on x, the number on y, a line), a tooltip on hover, the
// type changed to bars, and "Save as a saved query and add it to a
// dashboard" in two clicks, once into a new dashboard and once into that
// same dashboard, which then draws both panels.
func TestBrowserChartView(t *testing.T) {
	ctx, logs := newBrowser(t)
	g, c := queryGateway(t, t.TempDir())
	id := postgresSource(t, c, "warehouse", false)
	browserLogin(t, ctx, g, "admin", adminPassword)
	const q = "SELECT '2024-03-01'::date + g AS day, g * 10 AS sales FROM generate_series(0, 13) g"

	var typ, x string
	var ys []string
	act(t, ctx, "run and open the chart",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setQuery(q),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "14 rows in"),
		chromedp.Click(`#tab-chart`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chart-box svg.chart path`, chromedp.ByQuery),
		chromedp.Value(`#chart-type`, &typ, chromedp.ByQuery),
		chromedp.Value(`#chart-x`, &x, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#chart-y input:checked')].map((b) => b.value)`, &ys),
	)
	if typ != "line" || x != "day" || strings.Join(ys, ",") != "sales" {
		t.Errorf("guessed %s x=%s y=%v, want a line of sales by day", typ, x, ys)
	}
	// A real mouse over the middle of the plot shows the values there.
	var tip string
	act(t, ctx, "hover",
		chromedp.ActionFunc(func(ctx context.Context) error {
			var box []float64
			if err := chromedp.Evaluate(`(() => { const a = document.querySelector('#chart-box .hover-area'); a.scrollIntoView({ block: 'center' }); const r = a.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, &box).Do(ctx); err != nil {
				return err
			}
			return input.DispatchMouseEvent(input.MouseMoved, box[0], box[1]).Do(ctx)
		}),
		chromedp.WaitVisible(`#chart-box .chart-tip`, chromedp.ByQuery),
		chromedp.Text(`#chart-box .chart-tip`, &tip, chromedp.ByQuery),
	)
	if !strings.Contains(tip, "2024-03-0") || !strings.Contains(tip, "sales: ") {
		t.Errorf("tooltip = %q", tip)
	}
	var bars int
	act(t, ctx, "bars",
		chromedp.SetValue(`#chart-type`, "bar", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#chart-type').dispatchEvent(new Event('change'))`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#chart-box svg.chart .plot rect').length`, &bars),
	)
	if bars != 14 {
		t.Errorf("%d bars, want 14", bars)
	}
	shoot(t, ctx, "chart")

	// Two clicks: open the dialog, save and add.
	act(t, ctx, "save into a new dashboard",
		chromedp.Click(`#chart-save`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chart-save-dialog`, chromedp.ByQuery),
		chromedp.Click(`#chart-save-submit`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/dashboards/d")
	var loc string
	act(t, ctx, "the new dashboard draws the panel",
		chromedp.WaitVisible(`.panel .panel-body svg.chart .plot rect`, chromedp.ByQuery),
		chromedp.Location(&loc),
	)
	if title := text(t, ctx, `.panel h2`); !strings.HasPrefix(title, "Bar of SELECT") {
		t.Errorf("panel title = %q", title)
	}
	act(t, ctx, "save a line into the same dashboard",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setQuery(q),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "14 rows in"),
		chromedp.Click(`#tab-chart`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chart-box svg.chart`, chromedp.ByQuery),
		chromedp.Click(`#chart-save`, chromedp.ByQuery),
		waitJS(`document.querySelector('#chart-save-dashboard').options.length === 2 && document.querySelector('#chart-save-dashboard').value !== ''`),
		chromedp.Click(`#chart-save-submit`, chromedp.ByQuery),
	)
	waitURL(t, ctx, loc+"$")
	act(t, ctx, "both panels drawn",
		waitJS(`document.querySelectorAll('.panel .panel-body svg.chart').length === 2`),
	)

	// On a phone, neither view nor the side panel makes the page scroll
	// sideways: the grid scrolls inside its own frame.
	overflow := func(step string) {
		t.Helper()
		var n int
		act(t, ctx, step, chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &n))
		if n > 0 {
			t.Errorf("%s: %d px wider than a 390 px screen", step, n)
		}
	}
	act(t, ctx, "phone size", chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setQuery("SELECT g AS id, repeat('long text ', 12) AS note, g * 1.5 AS amount, NULL::text AS nothing, '2024-03-01'::date + g AS day FROM generate_series(1, 50) g"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "50 rows in"),
		chromedp.Click(`#results tbody tr[aria-rowindex="2"] td:nth-child(2)`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`#cell-panel`, chromedp.ByQuery),
	)
	overflow("phone table")
	shoot(t, ctx, "phone-grid")
	act(t, ctx, "phone chart", chromedp.Click(`#tab-chart`, chromedp.ByQuery), chromedp.WaitVisible(`#chart-box svg.chart`, chromedp.ByQuery))
	overflow("phone chart")
	shoot(t, ctx, "phone-chart")
	act(t, ctx, "desktop size", chromedp.EmulateViewport(1280, 900))
	checkCSP(t, logs)
}

// TestBrowserDashboardEditor drives the dashboard editor in Chromium
// against a real PostgreSQL: a panel's columns are picked from its saved
// query's own result (no column is typed), its preview is drawn live and
// follows the pickers, a panel is moved and resized on the layout map from
// the keyboard and by dragging, the saved dashboard keeps that layout, and
// nothing scrolls sideways at 390 px.
func TestBrowserDashboardEditor(t *testing.T) {
	ctx, logs := newBrowser(t)
	g, c := queryGateway(t, t.TempDir())
	id := postgresSource(t, c, "warehouse", false)
	browserLogin(t, ctx, g, "admin", adminPassword)
	sq := c.must(201, "POST", "/api/queries", map[string]any{"datasource_id": id, "name": "sales by day",
		"query": "SELECT '2024-03-01'::date + g AS day, g * 10 AS sales, g * 3 AS cost, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END AS region FROM generate_series(0, 9) g"})["id"].(string)
	dash := c.must(201, "POST", "/api/dashboards", map[string]any{"name": "Sales", "definition": map[string]any{"inputs": []any{},
		"panels": []any{map[string]any{"title": "First", "query_id": sq, "viz": map[string]any{"type": "line", "x": "day", "y": []string{"sales"}}, "layout": map[string]any{"x": 0, "w": 6, "h": 4}}}}})["id"].(string)

	var xs []string
	act(t, ctx, "add a panel; its columns come from the query",
		chromedp.Navigate(g.url+"/dashboards/"+dash+"/edit"),
		waitJS(`document.querySelectorAll('.panel-row').length === 1 && !!document.querySelector('.panel-row .panel-preview svg.chart path')`),
		chromedp.Click(`#add-panel`, chromedp.ByQuery),
		chromedp.SendKeys(`.panel-row:last-child input`, "Cost", chromedp.ByQuery),
		chromedp.SetValue(`.panel-row:last-child select`, sq, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.panel-row:last-child select').dispatchEvent(new Event('change'))`, nil),
		waitJS(`!!document.querySelector('.panel-row:last-child .column-checks input[value=cost]')`),
		chromedp.Evaluate(`[...document.querySelectorAll('.panel-row:last-child .field')].find((f) => f.querySelector('label').textContent === 'X column').querySelectorAll('option').length`, nil),
		chromedp.Evaluate(`[...[...document.querySelectorAll('.panel-row:last-child .field')].find((f) => f.querySelector('label').textContent === 'X column').querySelectorAll('option')].map((o) => o.value)`, &xs),
	)
	if strings.Join(xs, ",") != "day,sales,cost,region" {
		t.Errorf("X column choices = %v, want the query's columns", xs)
	}
	var bars int
	act(t, ctx, "pick bars of cost by day; the preview follows",
		chromedp.Evaluate(`(() => { const r = document.querySelector('.panel-row:last-child'); const f = [...r.querySelectorAll('.field')];
			const by = (l) => f.find((x) => x.querySelector('label').textContent === l).querySelector('input, select');
			const set = (el, v) => { el.value = v; el.dispatchEvent(new Event('change')); };
			set(by('Chart'), 'bar'); set(by('X column'), 'day'); r.querySelectorAll('.column-checks input').forEach((c) => { if (c.checked !== (c.value === 'cost')) c.click(); }); return true })()`, nil),
		waitJS(`document.querySelectorAll('.panel-row:last-child .panel-preview svg.chart .plot rect').length === 10`),
		chromedp.Evaluate(`document.querySelectorAll('.panel-row:last-child .panel-preview svg.chart .plot rect').length`, &bars),
	)
	if bars != 10 {
		t.Errorf("preview: %d bars, want 10", bars)
	}

	// The keyboard: the new panel narrows by 1, moves right by 2, grows
	// by 1 in height, then goes up to the first place.
	var label string
	act(t, ctx, "layout from the keyboard",
		chromedp.Focus(`#layout-map .layout-block:last-child`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.ArrowLeft, chromedp.KeyModifiers(input.ModifierShift)), // width 6 → 5
		chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight),          // column 0 → 2
		chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(input.ModifierShift)), // height 4 → 5
		chromedp.KeyEvent(kb.ArrowUp), // to the first place
		chromedp.Evaluate(`document.activeElement.getAttribute('aria-label')`, &label),
	)
	if label != "Cost: column 2, width 5, height 5, place 1 of 2" {
		t.Errorf("after the keys: %q", label)
	}
	// A drag: the other panel (now second) 3 columns to the right.
	act(t, ctx, "drag",
		chromedp.ActionFunc(func(ctx context.Context) error {
			var r []float64
			if err := chromedp.Evaluate(`(() => { const b = document.querySelector('#layout-map .layout-block:last-child'); b.scrollIntoView({ block: 'center' }); const r = b.getBoundingClientRect(); const m = document.querySelector('#layout-map'); return [r.left + 20, r.top + 10, m.clientWidth / 12]; })()`, &r).Do(ctx); err != nil {
				return err
			}
			steps := []*input.DispatchMouseEventParams{
				input.DispatchMouseEvent(input.MousePressed, r[0], r[1]).WithButton(input.Left).WithClickCount(1),
				input.DispatchMouseEvent(input.MouseMoved, r[0]+r[2], r[1]).WithButton(input.Left),
				input.DispatchMouseEvent(input.MouseMoved, r[0]+3*r[2], r[1]).WithButton(input.Left),
				input.DispatchMouseEvent(input.MouseReleased, r[0]+3*r[2], r[1]).WithButton(input.Left).WithClickCount(1),
			}
			for _, s := range steps {
				if err := s.Do(ctx); err != nil {
					return err
				}
			}
			return nil
		}),
		waitJS(`document.querySelector('#layout-map .layout-block:last-child').getAttribute('aria-label') === 'First: column 3, width 6, height 4, place 2 of 2'`),
	)
	shoot(t, ctx, "dashboard-edit")

	// Nothing scrolls sideways on a phone.
	var overflow int
	act(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Sleep(200*time.Millisecond),
		chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow))
	if overflow > 0 {
		t.Errorf("the editor is %d px wider than a 390 px screen", overflow)
	}
	shoot(t, ctx, "phone-dashboard-edit")
	act(t, ctx, "desktop", chromedp.EmulateViewport(1280, 900), chromedp.Click(`#save-dashboard`, chromedp.ByQuery))
	waitURL(t, ctx, "/dashboards/"+dash+"$")
	d := c.must(200, "GET", "/api/dashboards/"+dash, nil)
	panels := d["definition"].(map[string]any)["panels"].([]any)
	got := []string{}
	for _, p := range panels {
		p := p.(map[string]any)
		l := p["layout"].(map[string]any)
		v := p["viz"].(map[string]any)
		got = append(got, fmt.Sprintf("%s %s x=%v y=%v %v@%v w%v h%v", p["title"], v["type"], v["x"], v["y"], l["x"], l["y"], l["w"], l["h"]))
	}
	if want := "Cost bar x=day y=[cost] 2@0 w5 h5|First line x=day y=[sales] 3@1 w6 h4"; strings.Join(got, "|") != want {
		t.Errorf("saved panels = %q, want %q", strings.Join(got, "|"), want)
	}
	checkCSP(t, logs)
}

// TestBrowserSharingAndLook checks, in Chromium against a real PostgreSQL,
// that a link shares the view: a dashboard's input values and a saved
// query's parameter values are read from the URL (and written back to it),
// a signed-out visitor of such a link lands on it after login, and a link
// only fills a saved query's form, never runs it; and that the pages follow
// the browser's dark preference, with a toggle this browser remembers, and
// NULL keeps AA contrast in the dark.
func TestBrowserSharingAndLook(t *testing.T) {
	ctx, logs := newBrowser(t)
	g, c := queryGateway(t, t.TempDir())
	id := postgresSource(t, c, "warehouse", false)
	sq := c.must(201, "POST", "/api/queries", map[string]any{"datasource_id": id, "name": "days since",
		"query":      "SELECT d::date AS day, 1 AS n FROM generate_series(:since::date, '2024-03-10'::date, '1 day') d",
		"parameters": []any{map[string]any{"name": "since", "type": "date", "default": "2024-03-01"}}})["id"].(string)
	dash := c.must(201, "POST", "/api/dashboards", map[string]any{"name": "Days", "definition": map[string]any{
		"inputs": []any{map[string]any{"name": "since", "type": "date", "default": "2024-03-01"}},
		"panels": []any{map[string]any{"title": "Days", "query_id": sq, "params": map[string]any{"since": map[string]any{"input": "since"}},
			"viz": map[string]any{"type": "table"}, "layout": map[string]any{"x": 0, "w": 12, "h": 4}}}}})["id"].(string)

	// Signed out, the shared link leads through login back to itself.
	link := g.url + "/dashboards/" + dash + "?since=2024-03-08"
	act(t, ctx, "open a shared link signed out", chromedp.Navigate(link))
	waitURL(t, ctx, "/login?next=")
	act(t, ctx, "login",
		chromedp.WaitVisible(`#login-username`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-username`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#login-password`, adminPassword, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/dashboards/"+dash+"?since=2024-03-08$")
	var since string
	var rows int
	act(t, ctx, "the link's input drives the panel",
		waitJS(`document.querySelector('.panel').getAttribute('aria-busy') === 'false'`),
		chromedp.Value(`#in-since`, &since, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('.panel tbody tr').length`, &rows),
	)
	if since != "2024-03-08" || rows != 3 {
		t.Errorf("input %q and %d rows, want 2024-03-08 and 3 rows (8 to 10 March)", since, rows)
	}
	var loc string
	act(t, ctx, "a new value goes into the URL",
		chromedp.SetValue(`#in-since`, "2024-03-09", chromedp.ByQuery),
		chromedp.Click(`#inputs-form button[type=submit]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('.panel tbody tr').length === 2`),
		chromedp.Location(&loc),
	)
	if !strings.HasSuffix(loc, "?since=2024-03-09") {
		t.Errorf("URL after the change = %s", loc)
	}

	// A saved query's link fills its form and runs nothing.
	var value, status string
	act(t, ctx, "saved query link",
		chromedp.Navigate(g.url+"/queries/"+sq+"?since=2024-03-07"),
		chromedp.WaitVisible(`#run`, chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.Value(`[data-param="since"] input`, &value, chromedp.ByQuery),
		chromedp.Text(`#run-status`, &status, chromedp.ByQuery),
	)
	if value != "2024-03-07" || status != "" {
		t.Errorf("form value %q, status %q: want the link's value and nothing run", value, status)
	}
	act(t, ctx, "run it; the URL keeps the values",
		chromedp.SetValue(`[data-param="since"] input`, "2024-03-06", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "5 rows in"),
		chromedp.Location(&loc),
	)
	if !strings.HasSuffix(loc, "/queries/"+sq+"?since=2024-03-06") {
		t.Errorf("URL after the run = %s", loc)
	}

	// Dark mode: the browser's preference, then the toggle.
	bg := `getComputedStyle(document.documentElement).backgroundColor`
	var dark, light, pressed string
	var nullContrast float64
	act(t, ctx, "prefers dark",
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setQuery(`SELECT NULL::text AS nothing, 1 AS one, '<img src=x onerror=window.pwned=1>' AS "<b>h</b>"`),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row in"),
		chromedp.Evaluate(bg, &dark),
		chromedp.Evaluate(contrastJS(`#results td.null`), &nullContrast),
		chromedp.AttributeValue(`#theme-toggle`, "aria-pressed", &pressed, nil, chromedp.ByQuery),
	)
	if dark != "rgb(18, 22, 29)" || pressed != "true" {
		t.Errorf("dark preference: background %s, toggle pressed %s", dark, pressed)
	}
	if nullContrast < 4.5 {
		t.Errorf("NULL contrast in the dark %.2f, want at least 4.5", nullContrast)
	}
	shoot(t, ctx, "dark")
	// A value and a column name that look like markup stay text, in the
	// grid, its side panel and the chart view.
	var markup bool
	var head string
	act(t, ctx, "markup stays text",
		chromedp.Click(`#results tbody tr[aria-rowindex="2"] td:nth-child(3)`, chromedp.ByQuery),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`#cell-panel`, chromedp.ByQuery),
		chromedp.Click(`#tab-chart`, chromedp.ByQuery),
		chromedp.Sleep(200*time.Millisecond),
		chromedp.Evaluate(`!!document.querySelector('#result img, #result b') || !!window.pwned`, &markup),
		chromedp.Evaluate(`document.querySelector('#results thead').textContent`, &head),
		chromedp.Click(`#tab-table`, chromedp.ByQuery),
	)
	if markup || !strings.Contains(head, "<b>h</b>") {
		t.Errorf("markup in a result became elements (%v), header %q", markup, head)
	}
	act(t, ctx, "toggle to light, kept after a reload",
		chromedp.Click(`#theme-toggle`, chromedp.ByQuery),
		chromedp.Reload(),
		waitEditor(`#editor`),
		waitJS(`document.documentElement.dataset.theme === 'light'`),
		chromedp.Evaluate(bg, &light),
		chromedp.AttributeValue(`#theme-toggle`, "aria-pressed", &pressed, nil, chromedp.ByQuery),
	)
	if light != "rgb(247, 248, 250)" || pressed != "false" {
		t.Errorf("after the toggle: background %s, toggle pressed %s", light, pressed)
	}
	var stored string
	act(t, ctx, "toggle back: the browser's preference again",
		chromedp.Click(`#theme-toggle`, chromedp.ByQuery),
		chromedp.Evaluate(`String(localStorage.getItem('querygate.theme'))`, &stored),
		chromedp.Evaluate(bg, &dark),
	)
	if stored != "null" || dark != "rgb(18, 22, 29)" {
		t.Errorf("back to the preference: stored %s, background %s", stored, dark)
	}
	checkCSP(t, logs)
}
