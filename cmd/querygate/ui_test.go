package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath finds a headless-capable Chromium. Without one the browser
// tests skip, except under CI=true, where .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed: apt-get install chromium to run the browser tests")
	return ""
}

// browserLog collects what the page reports: console messages, log
// entries (where Chromium reports CSP violations) and uncaught exceptions.
type browserLog struct {
	mu    sync.Mutex
	lines []string
}

func (b *browserLog) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, s)
}

// matching returns the lines that contain any of subs.
func (b *browserLog) matching(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.lines {
		for _, s := range subs {
			if strings.Contains(l, s) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func (b *browserLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// newBrowser starts headless Chromium with its own profile and returns a
// tab context and the tab's log.
func newBrowser(t *testing.T) (context.Context, *browserLog) {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	logs := &browserLog{}
	listen(ctx, logs)
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, logs
}

func listen(ctx context.Context, logs *browserLog) {
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			logs.add(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			logs.add("exception: " + msg)
		case *cdplog.EventEntryAdded:
			logs.add(fmt.Sprintf("log.%s.%s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
		}
	})
}

// checkCSP fails the test on any Content-Security-Policy violation or
// uncaught exception the page reported.
func checkCSP(t *testing.T, logs *browserLog) {
	t.Helper()
	if bad := logs.matching("Content Security Policy", "Content-Security-Policy", "exception:"); len(bad) > 0 {
		t.Fatalf("the page reported CSP violations or exceptions:\n%s", strings.Join(bad, "\n"))
	}
}

// browserDownloads lets the tab save downloads into dir.
func browserDownloads(dir string) chromedp.Action {
	return browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir)
}

// awaitPromise makes chromedp.Evaluate wait for the promise it returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// waitJS polls a JavaScript condition until it is true.
func waitJS(cond string) chromedp.Action {
	return chromedp.Poll(cond, nil, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(25*time.Millisecond))
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action {
	return waitJS(fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').includes(%q)`, sel, want))
}

func act(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(tctx, actions...); err != nil {
		var loc, html string
		chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.querySelector('main')?.innerText || ''`, &html))
		t.Fatalf("%s: %v\nat %s\n%s", step, err, loc, html)
	}
}

// waitURL waits until a navigation the page started has reached a URL
// containing want, or ending with it when want ends with "$" (queries
// during a navigation fail, so it retries).
func waitURL(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	match := func(loc string) bool { return strings.Contains(loc, want) }
	if w, ok := strings.CutSuffix(want, "$"); ok {
		match = func(loc string) bool { return strings.HasSuffix(loc, w) }
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var loc, state string
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		err := chromedp.Run(tctx, chromedp.Location(&loc), chromedp.Evaluate(`document.readyState`, &state))
		cancel()
		if err == nil && match(loc) && state == "complete" {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the page never reached %q", want)
}

// shoot saves a full-page screenshot as name.png when
// QUERYGATE_SCREENSHOTS names a directory (the README's screenshots).
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("QUERYGATE_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	act(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// activeResult is the result grid, which in the SQL workspace shows the
// statement tab selected.
const activeResult = `#results`

// setEditor replaces the text of the code editor whose host is sel.
func setEditor(sel, text string) chromedp.Action {
	js, _ := json.Marshal(text)
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).qgEditor.setText(%s)`, sel, js), nil)
}

// waitEditor waits until the code editor whose host is sel is ready.
func waitEditor(sel string) chromedp.Action {
	return waitJS(fmt.Sprintf(`!!document.querySelector(%q)?.qgEditor`, sel))
}

// focusEditor puts the keyboard focus in the code editor whose host is sel.
func focusEditor(sel string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).qgEditor.focus()`, sel), nil)
}

// editorText reads the text of the code editor whose host is sel.
func editorText(sel string, text *string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).qgEditor.getText()`, sel), text)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	act(t, ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// TestBrowserUI drives the web UI in real headless Chromium: setup, login,
// a datasource created through the generated form, a query whose rows
// stream, a cancel that stops the query at the gateway, an error with its
// code, the stored secret shown only as a placeholder, and no CSP
// violation anywhere.
func TestBrowserUI(t *testing.T) {
	ctx, logs := newBrowser(t)

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	lite, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lite.Exec(`CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1, 'alpha'), (2, 'beta'), (3, NULL)`); err != nil {
		t.Fatal(err)
	}
	lite.Close()
	g := MustRun(t, t.TempDir(), nil, "--sqlite-dir", dir)

	// First start: / leads to setup.
	act(t, ctx, "setup page",
		chromedp.Navigate(g.url+"/"),
		chromedp.WaitVisible(`#setup-token`, chromedp.ByQuery),
	)
	shoot(t, ctx, "setup")
	act(t, ctx, "setup",
		chromedp.SendKeys(`#setup-token`, g.setupToken(), chromedp.ByQuery),
		chromedp.SendKeys(`#setup-username`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#setup-password`, "short", chromedp.ByQuery),
		chromedp.Click(`#setup-form button[type=submit]`, chromedp.ByQuery),
		// A refused password is shown next to its field.
		waitJS(`document.querySelector('#err-password').textContent.length > 0`),
		chromedp.SetValue(`#setup-password`, adminPassword, chromedp.ByQuery),
		chromedp.Click(`#setup-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/datasources")
	if got := text(t, ctx, "#current-user"); got != "admin" {
		t.Fatalf("current user: got %q", got)
	}

	// Log out, log in.
	act(t, ctx, "logout", chromedp.Click(`#logout`, chromedp.ByQuery))
	waitURL(t, ctx, "/login")
	act(t, ctx, "login",
		chromedp.SendKeys(`#login-username`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#login-password`, "wrong password!", chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#form-status`, "Wrong user name or password."),
		chromedp.SendKeys(`#login-password`, adminPassword, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/datasources")

	// A SQLite datasource through the form generated from the schema; the
	// missing path is reported next to its field.
	var loc string
	act(t, ctx, "new", chromedp.Click(`a[href="/datasources/new"]`, chromedp.ByQuery))
	waitURL(t, ctx, "/datasources/new")
	act(t, ctx, "choose sqlite", chromedp.Click(`a[href="/datasources/new?kind=sqlite"]`, chromedp.ByQuery))
	waitURL(t, ctx, "kind=sqlite")
	act(t, ctx, "create sqlite datasource",
		chromedp.WaitVisible(`#f-settings-path`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-name`, "lite", chromedp.ByQuery),
		chromedp.Click(`#datasource-form button[type=submit]`, chromedp.ByQuery),
		waitText(`[data-error-for="settings.path"]`, "is required"),
		chromedp.SendKeys(`#f-settings-path`, dbPath, chromedp.ByQuery),
		chromedp.Click(`#datasource-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "created=1")
	act(t, ctx, "test connection",
		chromedp.Click(`#test-connection`, chromedp.ByQuery),
		waitText(`#test-status`, "Connection works"),
		chromedp.Location(&loc),
	)
	id := strings.TrimSuffix(strings.TrimPrefix(loc, g.url+"/datasources/"), "/edit?created=1")
	if !strings.HasPrefix(id, "ds") {
		t.Fatalf("after create: at %s", loc)
	}

	// The list shows it with kind, custody, access and owner.
	act(t, ctx, "list", chromedp.Navigate(g.url+"/datasources"), chromedp.WaitVisible(`#datasource-list`, chromedp.ByQuery))
	shoot(t, ctx, "datasources")
	if row := text(t, ctx, `#datasource-list tbody tr`); !strings.Contains(row, "lite") || !strings.Contains(row, "SQLite") ||
		!strings.Contains(row, "server") || !strings.Contains(row, "read-write") || !strings.Contains(row, "admin") {
		t.Fatalf("list row: %q", row)
	}

	// A query, run with Ctrl+Enter: rows, count and the done line.
	act(t, ctx, "query",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setEditor(`#editor`, "SELECT id, name FROM t ORDER BY id"),
		focusEditor(`#editor`),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(input.ModifierCtrl)),
		waitText(`#run-status`, "3 rows in"),
	)
	shoot(t, ctx, "query")
	if got := text(t, ctx, activeResult+` tbody`); !strings.Contains(got, "alpha") || !strings.Contains(got, "beta") || !strings.Contains(got, "NULL") {
		t.Fatalf("result table: %q", got)
	}
	if got := text(t, ctx, activeResult+` thead`); !strings.Contains(got, "id") || !strings.Contains(got, "name") {
		t.Fatalf("result head: %q", got)
	}
	if got := text(t, ctx, `#row-count`); got != "3" {
		t.Fatalf("row count: got %q", got)
	}

	// The last query is kept in this browser, per datasource.
	var kept string
	act(t, ctx, "reload keeps the query",
		chromedp.Reload(),
		waitEditor(`#editor`),
		editorText(`#editor`, &kept),
	)
	if kept != "SELECT id, name FROM t ORDER BY id" {
		t.Fatalf("editor after reload: %q", kept)
	}

	// The row limit: a truncated result says so.
	act(t, ctx, "truncated",
		chromedp.SetValue(`#limit`, "2", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.WaitVisible(`#truncated`, chromedp.ByQuery),
		waitText(`#row-count`, "2"),
		chromedp.SetValue(`#limit`, "", chromedp.ByQuery),
	)

	// An error is shown in place with its code.
	act(t, ctx, "error",
		setEditor(`#editor`, "SELECT * FROM no_such_table"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.WaitVisible(`#query-error`, chromedp.ByQuery),
	)
	var code string
	var ok bool
	act(t, ctx, "read the error's code", chromedp.AttributeValue(`#query-error`, "data-code", &code, &ok, chromedp.ByQuery))
	if code != "query_failed" {
		t.Fatalf("error code: got %q (%s)", code, text(t, ctx, "#query-error"))
	}
	// People see the message only: no code, no API wording.
	if shown := text(t, ctx, "#query-error"); strings.Contains(shown, "query_failed") || !strings.Contains(shown, "no_such_table") {
		t.Errorf("the error shown: %q", shown)
	}

	// Rows appear while a long query still runs; Cancel stops it at the
	// gateway (the query ends as canceled, not after its natural end).
	slow := `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000000) SELECT x FROM c WHERE x % 20000 = 0`
	act(t, ctx, "streaming rows",
		setEditor(`#editor`, slow),
		chromedp.SetValue(`#limit`, "1000000", chromedp.ByQuery),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitJS(`Number(document.querySelector('#row-count').textContent) >= 2 && !document.querySelector('#cancel').disabled`),
	)
	if got := text(t, ctx, `#run-status`); !strings.Contains(got, "Running") {
		t.Fatalf("status while streaming: %q", got)
	}
	act(t, ctx, "cancel",
		chromedp.Click(`#cancel`, chromedp.ByQuery),
		waitText(`#run-status`, "Canceled after"),
	)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), "outcome=canceled") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(g.logs.String(), "outcome=canceled") {
		t.Fatalf("the gateway did not log the query as canceled:\n%s", g.logs)
	}

	// A datasource with a stored secret: the form shows a placeholder and
	// the value is nowhere in the page; saving without Replace keeps it.
	const canary = "ui-canary-secret-7f3a9c"
	act(t, ctx, "create postgres datasource",
		chromedp.Navigate(g.url+"/datasources/new?kind=postgres"),
		chromedp.WaitVisible(`#f-settings-host`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-name`, "pg", chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-host`, "127.0.0.1", chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-database`, "app", chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-user`, "app", chromedp.ByQuery),
		chromedp.SendKeys(`#f-secrets-password`, canary, chromedp.ByQuery),
		chromedp.Click(`#datasource-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "created=1")
	checkPlaceholder := func(step string) {
		t.Helper()
		var html, placeholder string
		var disabled bool
		act(t, ctx, step,
			chromedp.WaitVisible(`#f-secrets-password`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.outerHTML`, &html),
			chromedp.Evaluate(`document.querySelector('#f-secrets-password').placeholder`, &placeholder),
			chromedp.Evaluate(`document.querySelector('#f-secrets-password').disabled`, &disabled),
		)
		if strings.Contains(html, canary) {
			t.Fatalf("%s: the secret is in the page", step)
		}
		if placeholder != "Encrypted on the server side" || !disabled {
			t.Fatalf("%s: secret field: placeholder %q disabled %v", step, placeholder, disabled)
		}
		if !strings.Contains(html, `data-replace="f-secrets-password"`) {
			t.Fatalf("%s: no Replace button", step)
		}
	}
	checkPlaceholder("placeholder after create")
	shoot(t, ctx, "datasource-form")
	act(t, ctx, "save without replacing",
		chromedp.SetValue(`#f-name`, "pg renamed", chromedp.ByQuery),
		chromedp.Click(`#datasource-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/edit?saved=1")
	act(t, ctx, "saved", waitText(`h1`, "pg renamed"))
	checkPlaceholder("placeholder after save")
	// The secret is still stored (the gateway says so), and never shown.
	act(t, ctx, "reload",
		chromedp.Reload(),
	)
	checkPlaceholder("placeholder after reload")
	act(t, ctx, "replace enables the field",
		chromedp.Click(`[data-replace="f-secrets-password"]`, chromedp.ByQuery),
		waitJS(`!document.querySelector('#f-secrets-password').disabled`),
	)

	// Every other page renders without a CSP complaint.
	for _, p := range []string{"/tokens", "/devices", "/users", "/datasources"} {
		act(t, ctx, "page "+p, chromedp.Navigate(g.url+p), chromedp.WaitVisible(`main h1`, chromedp.ByQuery))
	}
	checkCSP(t, logs)

	// The listener does see a violation: an inline script is refused.
	act(t, ctx, "csp control",
		chromedp.Evaluate(`{const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.append(s); true}`, nil),
	)
	deadline = time.Now().Add(5 * time.Second)
	for len(logs.matching("Content Security Policy")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var ran bool
	act(t, ctx, "inline ran?", chromedp.Evaluate(`window.inlineRan === true`, &ran))
	if ran || len(logs.matching("Content Security Policy")) == 0 {
		t.Fatalf("an inline script was not refused (ran %v); browser log:\n%s", ran, logs)
	}
}
