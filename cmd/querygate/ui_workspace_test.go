package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// selectEditor selects from..to in the code editor whose host is sel.
func selectEditor(sel string, from, to int) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).qgEditor.view.dispatch({selection: {anchor: %d, head: %d}})`, sel, from, to), nil)
}

// ctrlEnter presses Ctrl+Enter in the focused element.
func ctrlEnter() chromedp.Action {
	return chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(input.ModifierCtrl))
}

// pressEnter presses Enter as a browser sees a key whose default the
// page prevents: a key down and up, without the character chromedp's
// kb.Enter also sends (which a real browser sends only when the key down
// was not prevented).
func pressEnter() chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for _, typ := range []input.KeyType{input.KeyRawDown, input.KeyUp} {
			if err := input.DispatchKeyEvent(typ).WithKey("Enter").WithCode("Enter").WithWindowsVirtualKeyCode(13).Do(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// evalInt runs a JavaScript expression with a number as its value.
func evalInt(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	var n int
	act(t, ctx, "evaluate "+js, chromedp.Evaluate(js, &n))
	return n
}

// evalString runs a JavaScript expression with a string as its value.
func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	var s string
	act(t, ctx, "evaluate "+js, chromedp.Evaluate(js, &s))
	return s
}

// markedJS is the text the editor marks as an error.
const markedJS = `[...document.querySelector('#editor').shadowRoot.querySelectorAll('.cm-lintRange-error')].map(e => e.textContent).join('|')`

// userKeysJS counts the keys this browser keeps for querygate users.
const userKeysJS = `Object.keys(localStorage).concat(Object.keys(sessionStorage)).filter(k => k.startsWith('querygate.u.')).length`

// TestBrowserWorkspace drives the SQL workspace in Chromium against a real
// PostgreSQL: a selection runs alone and the statement under the cursor
// alone; "Run all" gives one result per statement and stops at the first
// error, whose position is marked in the editor with the server's hint;
// Tab indents and Escape then Tab leaves the editor; the history survives
// a reload, is gone after logout, and another user of the same browser
// never sees it.
func TestBrowserWorkspace(t *testing.T) {
	ctx, logs := newBrowser(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := postgresSource(t, admin, "warehouse", false)
	adminID := admin.must(200, "GET", "/api/me", nil)["id"].(string)
	bea := admin.must(201, "POST", "/api/users", map[string]any{"username": "bea", "password": "bea password 1", "role": "viewer"})["id"].(string)
	admin.must(200, "PUT", "/api/datasources/"+id+"/grants", map[string]any{"grants": []any{map[string]any{"type": "user", "id": bea, "level": "use"}}})
	browserLogin(t, ctx, g, "admin", adminPassword)

	const two = "SELECT 1 AS first_one;\nSELECT 2 AS second_one;"
	act(t, ctx, "a selection runs alone",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setEditor(`#editor`, two),
		selectEditor(`#editor`, strings.Index(two, "SELECT 2"), strings.Index(two, "second_one")+len("second_one")),
		focusEditor(`#editor`),
		ctrlEnter(),
		waitText(`#run-status`, "1 row in"),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll('#result-tabs [role=tab]').length`); n != 1 {
		t.Fatalf("a selection gave %d results, want 1", n)
	}
	if got := text(t, ctx, activeResult+` thead`); !strings.Contains(got, "second_one") || strings.Contains(got, "first_one") {
		t.Fatalf("the selection ran %q", got)
	}
	if got := text(t, ctx, `.counters`); !strings.HasPrefix(got, "1 row ·") {
		t.Errorf("the counter says %q, want \"1 row · …\"", got)
	}

	act(t, ctx, "the statement under the cursor",
		selectEditor(`#editor`, 3, 3),
		ctrlEnter(),
		waitText(activeResult+` thead`, "first_one"),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll('#result-tabs [role=tab]').length`); n != 1 {
		t.Fatalf("the statement under the cursor gave %d results, want 1", n)
	}

	act(t, ctx, "run all",
		chromedp.Click(`#run-all`, chromedp.ByQuery),
		waitText(`#run-status`, "2 statements run"),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll('#result-tabs [role=tab]').length`); n != 2 {
		t.Fatalf("two statements gave %d results, want 2", n)
	}
	act(t, ctx, "the second result", waitText(activeResult+` thead`, "second_one"))
	act(t, ctx, "the first result", chromedp.Click(`#result-tab-0`, chromedp.ByQuery), waitText(activeResult+` thead`, "first_one"), waitText(activeResult+` tbody`, "1"))

	// The second of three statements fails: the third never runs, the
	// server's position is marked, the message reads without its code.
	const bad = "SELECT 1 AS fine;\nSELECT nope_col FROM (SELECT 1 AS x) s;\nSELECT 3 AS never;"
	act(t, ctx, "stop at the first error",
		setEditor(`#editor`, bad),
		chromedp.Click(`#run-all`, chromedp.ByQuery),
		chromedp.WaitVisible(`#query-error`, chromedp.ByQuery),
		waitText(`#run-status`, "Statement 2 of 3 failed"),
		waitJS(markedJS+` !== ''`),
	)
	if n := evalInt(t, ctx, `document.querySelectorAll('#result-tabs [role=tab]').length`); n != 2 {
		t.Fatalf("the run went on after the error: %d results", n)
	}
	if got := evalString(t, ctx, markedJS); got != "nope_col" {
		t.Fatalf("marked %q, want nope_col", got)
	}
	if got := strings.TrimSpace(text(t, ctx, `#error-message`)); got != `column "nope_col" does not exist` {
		t.Fatalf("error shown: %q", got)
	}
	act(t, ctx, "hint",
		setEditor(`#editor`, "SELECT now()\n  + 1"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#error-hint`, "explicit type casts"),
		waitJS(markedJS+` === '+'`),
	)
	if shown := text(t, ctx, `#query-error`); strings.Contains(shown, "query_failed") {
		t.Errorf("the error shows its code: %q", shown)
	}
	shoot(t, ctx, "workspace-error")

	// Tab indents; Escape then Tab moves on to the next control.
	var after string
	act(t, ctx, "tab indents",
		setEditor(`#editor`, "SELECT 1"),
		focusEditor(`#editor`),
		chromedp.KeyEvent(kb.Tab),
		editorText(`#editor`, &after),
	)
	if after == "SELECT 1" || strings.TrimSpace(after) != "SELECT 1" {
		t.Fatalf("Tab did not indent: %q", after)
	}
	act(t, ctx, "escape then tab leaves",
		chromedp.KeyEvent(kb.Escape),
		chromedp.KeyEvent(kb.Tab),
		waitJS(`document.activeElement && document.activeElement.id !== 'editor'`),
	)
	if got := evalString(t, ctx, `document.activeElement.id`); got != "run" {
		t.Fatalf("after Escape, Tab: focus on %q, want the Run button", got)
	}

	// Escape in the editor cancels a running statement.
	act(t, ctx, "escape cancels",
		setEditor(`#editor`, "SELECT pg_sleep(30) AS slow"),
		focusEditor(`#editor`),
		ctrlEnter(),
		waitText(`#run-status`, "Running"),
		chromedp.KeyEvent(kb.Escape),
		waitText(`#run-status`, "Canceled after 0 rows"),
	)

	// Named editors: a second one, renamed, kept over a reload with its
	// own text; closing it returns to the first.
	act(t, ctx, "a second editor",
		setEditor(`#editor`, two),
		chromedp.Click(`#editor-add`, chromedp.ByQuery),
		waitText(`#editor-tabs`, "Query 2"),
		setEditor(`#editor`, "SELECT 'second editor'"),
		chromedp.Evaluate(`window.prompt = () => 'Scratch'`, nil),
		chromedp.Click(`#editor-rename`, chromedp.ByQuery),
		waitText(`#editor-tabs`, "Scratch"),
		chromedp.Reload(),
		waitEditor(`#editor`),
		waitText(`#editor-tabs [aria-selected=true]`, "Scratch"),
	)
	var first, second string
	act(t, ctx, "switch editors",
		editorText(`#editor`, &second),
		chromedp.Click(`#editor-tabs [role=tab]:first-child`, chromedp.ByQuery),
		editorText(`#editor`, &first),
	)
	if first != two || second != "SELECT 'second editor'" {
		t.Fatalf("editors after a reload: %q and %q", first, second)
	}
	act(t, ctx, "close the second",
		chromedp.Click(`#editor-tabs [role=tab]:last-child`, chromedp.ByQuery),
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#editor-close`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#editor-tabs [role=tab]').length === 1`),
		editorText(`#editor`, &first),
	)
	if first != two {
		t.Fatalf("after closing the second editor: %q", first)
	}

	// The history: kept over a reload, searchable.
	act(t, ctx, "history after a reload",
		chromedp.Reload(),
		waitEditor(`#editor`),
		chromedp.Click(`#history summary`, chromedp.ByQuery),
		waitText(`#history-list`, "second_one"),
		waitText(`#history-list`, "nope_col"),
		chromedp.SendKeys(`#history-search`, "second_one", chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#history-list li').length === 1`),
	)
	if got := text(t, ctx, `#history-list`); !strings.Contains(got, "SELECT 2 AS second_one") {
		t.Fatalf("history search: %q", got)
	}
	if n := evalInt(t, ctx, fmt.Sprintf(`Object.keys(localStorage).filter(k => k.startsWith('querygate.u.%s.')).length`, adminID)); n < 2 {
		t.Fatalf("the admin's history and editors: %d keys", n)
	}

	// Another user on this browser, the admin's session gone without a
	// logout (expired, say): none of the admin's history or editors, and
	// their own stays their own.
	act(t, ctx, "the admin's session ends", network.ClearBrowserCookies())
	browserLogin(t, ctx, g, "bea", "bea password 1")
	var beaText string
	act(t, ctx, "another user",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		editorText(`#editor`, &beaText),
		chromedp.Click(`#history summary`, chromedp.ByQuery),
		waitText(`#history-status`, "Nothing run yet"),
	)
	if beaText != "" {
		t.Fatalf("bea's editor holds %q", beaText)
	}
	act(t, ctx, "bea runs",
		setEditor(`#editor`, "SELECT 'bea' AS who"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row in"),
	)

	// Logging out removes the user's keys from this browser.
	act(t, ctx, "bea logs out", chromedp.Click(`#logout`, chromedp.ByQuery))
	waitURL(t, ctx, "/login")
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "the admin's history is still there",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		chromedp.Click(`#history summary`, chromedp.ByQuery),
		waitText(`#history-list`, "second_one"),
	)
	if got := text(t, ctx, `#history-list`); strings.Contains(got, "bea") {
		t.Fatalf("the admin sees bea's history: %q", got)
	}
	act(t, ctx, "admin logs out", chromedp.Click(`#logout`, chromedp.ByQuery))
	waitURL(t, ctx, "/login")
	if n := evalInt(t, ctx, userKeysJS); n != 0 {
		t.Fatalf("%d querygate keys left in the browser after both logged out", n)
	}
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "history gone after logout",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		chromedp.Click(`#history summary`, chromedp.ByQuery),
		waitText(`#history-status`, "Nothing run yet"),
	)

	// "Forget history" empties it at once.
	act(t, ctx, "forget history",
		setEditor(`#editor`, "SELECT 42 AS answer"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#history-list`, "answer"),
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#history-forget`, chromedp.ByQuery),
		waitText(`#history-status`, "Nothing run yet"),
	)
	if n := evalInt(t, ctx, fmt.Sprintf(`Object.keys(localStorage).filter(k => k.startsWith('querygate.u.%s.history.')).length`, adminID)); n != 0 {
		t.Fatalf("history keys after Forget history: %d", n)
	}

	// Readable on a phone: nothing scrolls sideways.
	act(t, ctx, "phone size", chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(g.url+"/datasources/"+id), waitEditor(`#editor`),
		setEditor(`#editor`, two), chromedp.Click(`#run-all`, chromedp.ByQuery), waitText(`#run-status`, "2 statements run"))
	if overflow := evalInt(t, ctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); overflow > 0 {
		t.Errorf("the workspace is %d px wider than a 390 px screen", overflow)
	}
	// Nothing of the schema tree (its hidden labels) stretches the page
	// below its content.
	if extra := evalInt(t, ctx, `document.documentElement.scrollHeight - Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY)`); extra > 1 {
		t.Errorf("the page is %d px taller than its content", extra)
	}
	shoot(t, ctx, "workspace-phone")
	act(t, ctx, "desktop size", chromedp.EmulateViewport(1280, 900))
	checkCSP(t, logs)
}

// completionJS lists the labels of the open completion list of the editor
// whose host is #%s.
const completionJS = `[...document.querySelector('#%s').shadowRoot.querySelectorAll('.cm-tooltip-autocomplete li .cm-completionLabel')].map(e => e.textContent).join(',')`

// TestBrowserRedisWorkspace: the Redis command line completes commands,
// Enter runs it, and the last command comes back from this user's history.
func TestBrowserRedisWorkspace(t *testing.T) {
	ctx, logs := newBrowser(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := redisSource(t, admin, "cache", false, nil, nil)
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "complete a command",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#command`),
		focusEditor(`#command`),
		chromedp.KeyEvent("PIN"),
		waitJS(fmt.Sprintf(completionJS, "command")+`.split(',').includes('PING')`),
		chromedp.Sleep(200*time.Millisecond), // CodeMirror takes no completion in its first 75 ms
		pressEnter(),                         // takes the completion
	)
	var line string
	act(t, ctx, "read the line", editorText(`#command`, &line))
	if line != "PING " {
		t.Fatalf("after completion: %q", line)
	}
	act(t, ctx, "run",
		pressEnter(),
		waitText(`#run-status`, "1 row in"),
		waitText(`#results tbody`, "PONG"),
		chromedp.Reload(),
		waitEditor(`#command`),
		editorText(`#command`, &line),
	)
	if line != "PING" {
		t.Fatalf("after a reload the command line holds %q", line)
	}
	checkCSP(t, logs)
}

// TestBrowserSchema drives the schema browser and completion over a real
// PostgreSQL database made for the test: the tree lists its schemas,
// tables and columns with types and keys, a click inserts a table's name,
// a table's starter query is quoted for the dialect, the filter narrows
// the tree, and completion offers a real column of a real table through
// its alias.
func TestBrowserSchema(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	ctx, logs := newBrowser(t)
	pg, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })
	db := "qg_ws_" + strings.ToLower(rand.Text()[:10])
	if _, err := pg.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	dbURL := *pgURL
	dbURL.Path = "/" + db
	c, err := pgx.Connect(t.Context(), dbURL.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(t.Context(), `CREATE TABLE customers (customer_id int PRIMARY KEY, full_name text NOT NULL);
		CREATE SCHEMA sales; CREATE TABLE sales."Lead List" (lead_id int REFERENCES customers, note text);
		INSERT INTO customers VALUES (1, 'Ada Lovelace'), (2, 'Grace Hopper'), (3, 'Edsger Dijkstra');
		INSERT INTO sales."Lead List" VALUES (1, 'met at the fair'), (3, NULL)`)
	c.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "crm", "kind": "postgres",
		"settings": map[string]any{"host": pgURL.Hostname(), "port": portOr(t, pgURL.Port(), 5432), "database": db,
			"user": pgURL.User.Username(), "sslmode": "disable"}})["id"].(string)
	browserLogin(t, ctx, g, "admin", adminPassword)

	var got string
	act(t, ctx, "the tree",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		waitText(`#schema-tree`, "customers"),
		waitText(`#schema-tree`, "Lead List"),
		setEditor(`#editor`, ""),
		chromedp.Click(`#schema-tree .tree-table[data-table="customers"] .tree-name`, chromedp.ByQuery),
		editorText(`#editor`, &got),
	)
	if got != "customers" {
		t.Fatalf("a click on customers inserted %q", got)
	}
	act(t, ctx, "a qualified, quoted name",
		setEditor(`#editor`, "SELECT * FROM "),
		chromedp.Click(`#schema-tree .tree-table[data-table="Lead List"] .tree-name`, chromedp.ByQuery),
		editorText(`#editor`, &got),
	)
	if got != `SELECT * FROM sales."Lead List"` {
		t.Fatalf("a click on Lead List gave %q", got)
	}
	act(t, ctx, "starter query",
		setEditor(`#editor`, ""),
		chromedp.Click(`#schema-tree .tree-table[data-table="Lead List"] .tree-starter`, chromedp.ByQuery),
		editorText(`#editor`, &got),
	)
	if got != `SELECT * FROM sales."Lead List" LIMIT 100;` {
		t.Fatalf("starter query %q", got)
	}
	act(t, ctx, "columns with types and keys",
		chromedp.Click(`#schema-tree .tree-table[data-table="customers"] .tree-toggle`, chromedp.ByQuery),
		waitText(`#schema-tree .tree-table[data-table="customers"] .tree-columns`, "full_name"),
	)
	if cols := text(t, ctx, `#schema-tree .tree-table[data-table="customers"] .tree-columns`); !strings.Contains(cols, "customer_id") ||
		!strings.Contains(cols, "PK") || !strings.Contains(cols, "text not null") {
		t.Fatalf("columns of customers: %q", cols)
	}
	act(t, ctx, "filter",
		chromedp.SendKeys(`#schema-filter`, "lead", chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#schema-tree .tree-table').length === 1`),
		waitText(`#schema-tree`, "Lead List"),
		chromedp.Evaluate(`(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.querySelector('#schema-filter'))`, nil),
		chromedp.Click(`#schema-refresh`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#schema-tree .tree-table').length === 2 && document.querySelector('#schema-status').hidden`),
		chromedp.Click(`#schema-tree .tree-table[data-table="customers"] .tree-toggle`, chromedp.ByQuery),
		waitText(`#schema-tree .tree-table[data-table="customers"] .tree-columns`, "full_name"),
	)
	shoot(t, ctx, "workspace-schema")

	// Completion: a real column of a real table, through its alias.
	act(t, ctx, "complete a column through an alias",
		setEditor(`#editor`, "SELECT  FROM customers AS cu"),
		selectEditor(`#editor`, 7, 7),
		focusEditor(`#editor`),
		chromedp.KeyEvent("cu.fu"),
		waitJS(fmt.Sprintf(completionJS, "editor")+` === 'full_name'`),
		chromedp.Sleep(200*time.Millisecond), // CodeMirror takes no completion in its first 75 ms
		pressEnter(),
		editorText(`#editor`, &got),
	)
	if got != "SELECT cu.full_name FROM customers AS cu" {
		t.Fatalf("after completion: %q", got)
	}
	act(t, ctx, "complete a table",
		setEditor(`#editor`, "SELECT * FROM sales."),
		focusEditor(`#editor`),
		chromedp.KeyEvent("L"),
		waitJS(fmt.Sprintf(completionJS, "editor")+` === 'Lead List'`),
	)
	shoot(t, ctx, "workspace-completion")

	act(t, ctx, "two statements",
		chromedp.KeyEvent(kb.Escape),
		setEditor(`#editor`, "SELECT c.customer_id, c.full_name, l.note\nFROM customers c\nLEFT JOIN sales.\"Lead List\" l ON l.lead_id = c.customer_id;\n\nSELECT count(*) AS leads FROM sales.\"Lead List\";"),
		chromedp.Click(`#run-all`, chromedp.ByQuery),
		waitText(`#run-status`, "2 statements run"),
		chromedp.Click(`#result-tab-0`, chromedp.ByQuery),
		waitText(activeResult+` tbody`, "Grace Hopper"),
	)
	shoot(t, ctx, "workspace")
	checkCSP(t, logs)
}

// TestBrowserHTTPWorkspace: the body of an HTTP request is a JSON editor,
// sent as JSON, and the request comes back from this user's history.
func TestBrowserHTTPWorkspace(t *testing.T) {
	up := newHTTPUpstream(t)
	ctx, logs := newBrowser(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "api", "kind": "http",
		"settings": map[string]any{"base_url": up.URL + "/v1/"}})["id"].(string)
	browserLogin(t, ctx, g, "admin", adminPassword)
	var body string
	act(t, ctx, "post a JSON body",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#http-body`),
		chromedp.SetValue(`#http-method`, "POST", chromedp.ByQuery),
		chromedp.SendKeys(`#http-path`, "items/7", chromedp.ByQuery),
		focusEditor(`#http-body`),
		chromedp.KeyEvent(`{"n": [1`),
		editorText(`#http-body`, &body),
	)
	if body != `{"n": [1]}` {
		t.Fatalf("the JSON editor closes brackets: %q", body)
	}
	act(t, ctx, "send",
		ctrlEnter(),
		waitText(`#http-response-body`, `"method": "POST"`),
	)
	if got := text(t, ctx, `#http-response-body`); !strings.Contains(got, `\"n\":[1]`) {
		t.Fatalf("the upstream got: %s", got)
	}
	act(t, ctx, "reload",
		chromedp.Reload(),
		waitEditor(`#http-body`),
		editorText(`#http-body`, &body),
	)
	if body != `{"n": [1]}` || evalString(t, ctx, `document.querySelector('#http-path').value`) != "items/7" {
		t.Fatalf("after a reload: body %q", body)
	}
	checkCSP(t, logs)
}

// TestBrowserMySQLErrorLine: a MySQL parse error is marked on the line
// the server names, at the text it quotes.
func TestBrowserMySQLErrorLine(t *testing.T) {
	testenv.MySQLDSN(t)
	ctx, logs := newBrowser(t)
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(nil)
	id := mysqlSource(t, admin, "shop", false)
	browserLogin(t, ctx, g, "admin", adminPassword)
	act(t, ctx, "a parse error",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setEditor(`#editor`, "SELECT 1,\n  2,\n  3 FRM x y"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.WaitVisible(`#query-error`, chromedp.ByQuery),
		waitJS(markedJS+` !== ''`),
	)
	if got := evalString(t, ctx, markedJS); got != "x" {
		t.Fatalf("marked %q, want x (%s)", got, text(t, ctx, `#error-message`))
	}
	checkCSP(t, logs)
}
