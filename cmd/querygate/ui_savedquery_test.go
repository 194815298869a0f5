package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// browserLogin logs the browser of ctx in through the login page.
func browserLogin(t *testing.T, ctx context.Context, g *gateway, username, password string) {
	t.Helper()
	act(t, ctx, "login as "+username,
		chromedp.Navigate(g.url+"/login"),
		chromedp.WaitVisible(`#login-username`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-username`, username, chromedp.ByQuery),
		chromedp.SendKeys(`#login-password`, password, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/datasources")
}

// TestBrowserSavedQueries drives saved queries in Chromium: an editor saves
// the workspace's query with typed parameters, runs it from the form the
// page generates (an out-of-range value is refused next to its field, and
// the text the value would break is never run), edits it into a second
// version, and a viewer with only a run grant finds and runs it without
// seeing any ad-hoc query path.
func TestBrowserSavedQueries(t *testing.T) {
	ctx, logs := newBrowser(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "shop.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec(`CREATE TABLE customers (id INTEGER, name TEXT, tier TEXT);
		INSERT INTO customers VALUES (1, 'Ada', 'gold'), (2, 'Brendan', 'silver'), (3, 'Chen', 'gold'), (4, 'Dana', 'bronze')`); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", dir)
	admin := g.MustSetup(nil)
	ds := admin.must(201, "POST", "/api/datasources", map[string]any{"name": "shop", "kind": "sqlite", "settings": map[string]any{"path": dbPath}})["id"].(string)
	viewer := admin.must(201, "POST", "/api/users", map[string]any{"username": "vera", "password": "vera password 1", "role": "viewer"})["id"].(string)

	browserLogin(t, ctx, g, "admin", adminPassword)

	// Groups page: a group with vera in it.
	act(t, ctx, "groups",
		chromedp.Navigate(g.url+"/groups"),
		chromedp.WaitVisible(`#group-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#group-name`, "analysts", chromedp.ByQuery),
		chromedp.Click(`#group-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#group-list`, chromedp.ByQuery),
		chromedp.Click(`#group-list input[value="`+viewer+`"]`, chromedp.ByQuery),
		chromedp.Click(`#group-list button[type=submit]`, chromedp.ByQuery),
		waitText(`#group-list .status`, "Saved: 1 member"),
	)
	groups := admin.must(200, "GET", "/api/groups", nil)["groups"].([]any)
	group := groups[0].(map[string]any)
	if members := group["members"].([]any); len(members) != 1 || members[0] != viewer {
		t.Fatalf("group members: %v", members)
	}
	// Access section of the datasource: the group gets run.
	act(t, ctx, "grant run",
		chromedp.Navigate(g.url+"/datasources/"+ds+"/edit"),
		chromedp.WaitVisible(`#access`, chromedp.ByQuery),
		chromedp.Click(`#add-grant`, chromedp.ByQuery),
		chromedp.SetValue(`#grant-list tbody tr:last-child [data-g="subject"]`, "group:"+group["id"].(string), chromedp.ByQuery),
		chromedp.Click(`#save-access`, chromedp.ByQuery),
		waitText(`#access-status`, "Saved: 1 grant"),
	)
	grants := admin.must(200, "GET", "/api/datasources/"+ds+"/grants", nil)["grants"].([]any)
	if len(grants) != 1 || grants[0].(map[string]any)["level"] != "run" || grants[0].(map[string]any)["type"] != "group" {
		t.Fatalf("grants after the UI saved them: %v", grants)
	}

	// From the workspace: "Save this as a saved query…" carries the text to
	// the form, which declares the names it uses.
	const sqlText = "SELECT id, name FROM customers WHERE id >= :min_id AND tier = :tier ORDER BY id"
	act(t, ctx, "workspace save-as",
		chromedp.Navigate(g.url+"/datasources/"+ds),
		waitEditor(`#editor`),
		setEditor(`#editor`, sqlText),
		chromedp.Click(`#save-as`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/queries/new?datasource="+ds)
	var got string
	act(t, ctx, "form prefilled",
		chromedp.WaitVisible(`#q-query`, chromedp.ByQuery),
		chromedp.Value(`#q-query`, &got, chromedp.ByQuery),
	)
	if got != sqlText {
		t.Fatalf("the form holds %q", got)
	}
	// Saving with an undeclared name is refused with the field named.
	act(t, ctx, "undeclared refused",
		chromedp.SendKeys(`#q-name`, "customers by tier", chromedp.ByQuery),
		chromedp.Click(`#save-query`, chromedp.ByQuery),
		waitText(`#err-query`, "not declared"),
	)
	act(t, ctx, "declare the parameters",
		chromedp.Click(`#detect-params`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('.param-row').length === 2`),
		chromedp.SetValue(`.param-row:nth-child(1) [data-p="type"]`, "int", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.param-row:nth-child(1) [data-p="type"]').dispatchEvent(new Event('change'))`, nil),
		chromedp.SendKeys(`.param-row:nth-child(1) [data-p="min"]`, "1", chromedp.ByQuery),
		chromedp.SendKeys(`.param-row:nth-child(1) [data-p="max"]`, "100", chromedp.ByQuery),
		chromedp.SetValue(`.param-row:nth-child(2) [data-p="type"]`, "enum", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.param-row:nth-child(2) [data-p="type"]').dispatchEvent(new Event('change'))`, nil),
		chromedp.SetValue(`.param-row:nth-child(2) [data-p="values"]`, "gold\nsilver\nbronze", chromedp.ByQuery),
		chromedp.SendKeys(`.param-row:nth-child(2) [data-p="default"]`, "gold", chromedp.ByQuery),
		chromedp.Click(`#save-query`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/queries/sq")
	var loc string
	act(t, ctx, "run page", chromedp.WaitVisible(`#p-min_id`, chromedp.ByQuery), chromedp.Location(&loc))
	qid := strings.TrimPrefix(loc, g.url+"/queries/")

	// The form follows the types: a number input with its bounds, a select
	// of the enum's values with the default chosen.
	var min, max, tier string
	act(t, ctx, "generated form",
		chromedp.AttributeValue(`#p-min_id`, "min", &min, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#p-min_id`, "max", &max, nil, chromedp.ByQuery),
		chromedp.Value(`#p-tier`, &tier, chromedp.ByQuery),
	)
	if min != "1" || max != "100" || tier != "gold" {
		t.Fatalf("form: min %q max %q tier %q", min, max, tier)
	}
	// Out of range: refused next to the field, nothing ran.
	act(t, ctx, "out of range",
		chromedp.SendKeys(`#p-min_id`, "1000", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`[data-error-for="params.min_id"]`, "at most 100"),
	)
	if n := text(t, ctx, `#row-count`); n != "0" {
		t.Fatalf("rows after a refused value: %s", n)
	}
	act(t, ctx, "run",
		chromedp.SetValue(`#p-min_id`, "2", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row in"),
	)
	if got := text(t, ctx, `#results tbody`); !strings.Contains(got, "Chen") || strings.Contains(got, "Ada") {
		t.Fatalf("rows: %q", got)
	}
	shoot(t, ctx, "saved-query")
	// A value that would break a pasted statement is only a value.
	act(t, ctx, "enum value",
		chromedp.SetValue(`#p-tier`, "silver", chromedp.ByQuery),
		chromedp.SetValue(`#p-min_id`, "1", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row in"),
	)
	if got := text(t, ctx, `#results tbody`); !strings.Contains(got, "Brendan") {
		t.Fatalf("rows: %q", got)
	}

	// Edit: a new text makes version 2; version 1 stays readable.
	act(t, ctx, "edit",
		chromedp.Navigate(g.url+"/queries/"+qid+"/edit"),
		chromedp.WaitVisible(`#q-query`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('.param-row').length === 2`),
		chromedp.SetValue(`#q-query`, "SELECT id, name, tier FROM customers WHERE id >= :min_id AND tier = :tier ORDER BY id DESC", chromedp.ByQuery),
		chromedp.Click(`#save-query`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/queries/"+qid+"$")
	act(t, ctx, "version 2", waitText(`#query-version`, "version 2"))
	act(t, ctx, "open version 1",
		chromedp.Navigate(g.url+"/queries/"+qid+"?version=1"),
		waitText(`#query-version`, "version 1 of 2"),
	)
	act(t, ctx, "version 1 text", chromedp.Evaluate(`document.querySelector('#query-text').textContent`, &got))
	if !strings.Contains(got, "ORDER BY id") || strings.Contains(got, "DESC") {
		t.Fatalf("version 1 text: %q", got)
	}

	// The list shows it, with its parameters.
	act(t, ctx, "list", chromedp.Navigate(g.url+"/queries"), chromedp.WaitVisible(`#query-list`, chromedp.ByQuery))
	if row := text(t, ctx, `#query-list tbody tr`); !strings.Contains(row, "customers by tier") || !strings.Contains(row, "min_id") || !strings.Contains(row, "v2") {
		t.Fatalf("list row: %q", row)
	}
	shoot(t, ctx, "saved-queries")
	checkCSP(t, logs)

	// A viewer with a run grant: the datasource leads to its saved queries,
	// there is no ad-hoc workspace, and the query runs.
	vctx, vlogs := newBrowser(t) // a second Chromium: its own profile, no cookie of the first
	browserLogin(t, vctx, g, "vera", "vera password 1")
	var links []string
	act(t, vctx, "viewer list",
		chromedp.WaitVisible(`#datasource-list`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#datasource-list a')].map(a => a.getAttribute('href'))`, &links),
	)
	for _, l := range links {
		if l == "/datasources/"+ds {
			t.Fatalf("a run grantee is offered the workspace: %v", links)
		}
	}
	var status int64
	var noForm bool
	act(t, vctx, "no workspace",
		chromedp.Navigate(g.url+"/datasources/"+ds),
		chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#query-form') === null`, &noForm),
	)
	if !noForm {
		t.Fatal("a run grantee gets the ad-hoc workspace")
	}
	act(t, vctx, "workspace refused", chromedp.Evaluate(`fetch('/api/datasources/`+ds+`/query', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{"query":"SELECT 1"}'}).then(r => r.status)`, &status, awaitPromise))
	if status != 403 && status != 404 {
		t.Fatalf("ad-hoc query as a run grantee: %d", status)
	}
	act(t, vctx, "viewer runs",
		chromedp.Navigate(g.url+"/queries?datasource="+ds),
		chromedp.WaitVisible(`#query-list`, chromedp.ByQuery),
		chromedp.Click(`#query-list a[href="/queries/`+qid+`"]`, chromedp.ByQuery),
	)
	waitURL(t, vctx, "/queries/"+qid)
	act(t, vctx, "viewer run",
		chromedp.WaitVisible(`#p-min_id`, chromedp.ByQuery),
		chromedp.SendKeys(`#p-min_id`, "1", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "2 rows in"),
	)
	if got := text(t, vctx, `#results tbody`); !strings.Contains(got, "Chen") || !strings.Contains(got, "Ada") {
		t.Fatalf("viewer rows: %q", got)
	}
	var editLinks int
	act(t, vctx, "no edit", chromedp.Evaluate(`document.querySelectorAll('a[href$="/edit"]').length`, &editLinks))
	if editLinks != 0 {
		t.Fatal("a run grantee is offered to edit the saved query")
	}
	// The account page: this browser's session is listed, another is
	// signed out from here, then the password changes.
	other := g.login("vera", "vera password 1")
	act(t, vctx, "account",
		chromedp.Navigate(g.url+"/account"),
		chromedp.WaitVisible(`#session-list`, chromedp.ByQuery),
		waitText(`#session-list`, "this browser"),
		waitJS(`document.querySelectorAll('#session-list tbody tr').length === 2`),
	)
	shoot(t, vctx, "account")
	act(t, vctx, "sign the other out",
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#session-list tbody tr:not(:has([data-current])) [data-delete]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#session-list tbody tr').length === 1`),
	)
	other.must(401, "GET", "/api/me", nil)
	act(t, vctx, "password",
		chromedp.SendKeys(`#pw-current`, "wrong password!", chromedp.ByQuery),
		chromedp.SendKeys(`#pw-new`, "vera password 2", chromedp.ByQuery),
		chromedp.Click(`#password-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#err-current`, "not your password"),
		chromedp.SendKeys(`#pw-current`, "vera password 1", chromedp.ByQuery),
		chromedp.SendKeys(`#pw-new`, "vera password 2", chromedp.ByQuery),
		chromedp.Click(`#password-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#form-status`, "Password changed"),
	)
	g.login("vera", "vera password 2")
	checkCSP(t, vlogs)
}
