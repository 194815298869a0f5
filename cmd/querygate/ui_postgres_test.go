package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// responseLog keeps the body of every response a tab received, so that a
// test can prove a secret never reached the browser by any request.
type responseLog struct {
	mu     sync.Mutex
	bodies map[network.RequestID]string
	urls   map[network.RequestID]string
	wg     sync.WaitGroup
}

// captureResponses records every response body of the tab from now on.
func captureResponses(t *testing.T, ctx context.Context) *responseLog {
	t.Helper()
	rl := &responseLog{bodies: map[network.RequestID]string{}, urls: map[network.RequestID]string{}}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			rl.mu.Lock()
			rl.urls[ev.RequestID] = ev.Response.URL
			rl.mu.Unlock()
		case *network.EventLoadingFinished:
			rl.wg.Add(1)
			// Asking for the body from inside the listener would block
			// the event loop.
			go func(id network.RequestID) {
				defer rl.wg.Done()
				var body []byte
				err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
					var err error
					body, err = network.GetResponseBody(id).Do(ctx)
					return err
				}))
				if err != nil {
					return // a redirect or a download has no body to fetch
				}
				rl.mu.Lock()
				rl.bodies[id] = string(body)
				rl.mu.Unlock()
			}(ev.RequestID)
		}
	})
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Fatal(err)
	}
	return rl
}

// find returns the URLs of the responses whose body contains s, and how
// many bodies were read.
func (rl *responseLog) find(s string) (urls []string, n int) {
	rl.wg.Wait()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for id, b := range rl.bodies {
		if strings.Contains(b, s) {
			urls = append(urls, rl.urls[id])
		}
	}
	return urls, len(rl.bodies)
}

// pgActive counts the statements running on the server whose text holds
// marker (other than the counting one).
func pgActive(t *testing.T, conn *pgx.Conn, marker string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrowserPostgres drives the whole product in Chromium against a real
// PostgreSQL: a datasource made through the form, its password shown only
// as a placeholder and absent from every page and every response the
// browser received; rows streaming in; a pg_sleep canceled from the page and
// gone from the server; a CSV export downloaded and complete; a
// device-custody datasource unlocked on this browser and locked again in a
// fresh one; and every page's HTML free of both secrets.
func TestBrowserPostgres(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	devUser, devPassword := deviceUser(t)
	ctx, logs := newBrowser(t)
	responses := captureResponses(t, ctx)
	downloads := t.TempDir()
	if err := chromedp.Run(ctx, browserDownloads(downloads)); err != nil {
		t.Fatal(err)
	}
	pg, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close(context.Background()) })

	dataDir := t.TempDir()
	g := MustRun(t, dataDir, nil)
	admin := g.MustSetup(nil)
	browserLogin(t, ctx, g, "admin", adminPassword)

	// PostgreSQL here trusts every password, so the one typed is a canary
	// the gateway seals and passes on, and the server ignores.
	canary := "PG-UI-CANARY-" + rand.Text()
	port := pgURL.Port()
	if port == "" {
		port = "5432"
	}
	act(t, ctx, "create the datasource",
		chromedp.Navigate(g.url+"/datasources/new?kind=postgres"),
		chromedp.WaitVisible(`#f-settings-host`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-name`, "warehouse", chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-host`, pgURL.Hostname(), chromedp.ByQuery),
		chromedp.SetValue(`#f-settings-port`, port, chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-database`, strings.TrimPrefix(pgURL.Path, "/"), chromedp.ByQuery),
		chromedp.SendKeys(`#f-settings-user`, pgURL.User.Username(), chromedp.ByQuery),
		chromedp.SetValue(`#f-settings-sslmode`, "disable", chromedp.ByQuery),
		chromedp.SendKeys(`#f-secrets-password`, canary, chromedp.ByQuery),
		// Test before saving: the typed settings, nothing stored.
		chromedp.Click(`#test-connection`, chromedp.ByQuery),
		waitText(`#test-status`, "Connection works"),
		chromedp.Click(`#datasource-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "created=1")
	var loc, placeholder, html string
	var disabled bool
	act(t, ctx, "test the connection",
		chromedp.Click(`#test-connection`, chromedp.ByQuery),
		waitText(`#test-status`, "Connection works"),
		chromedp.Location(&loc),
	)
	id := strings.TrimSuffix(strings.TrimPrefix(loc, g.url+"/datasources/"), "/edit?created=1")
	act(t, ctx, "reload the form",
		chromedp.Reload(),
		chromedp.WaitVisible(`#f-secrets-password`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#f-secrets-password').placeholder`, &placeholder),
		chromedp.Evaluate(`document.querySelector('#f-secrets-password').disabled`, &disabled),
		chromedp.Evaluate(`document.documentElement.outerHTML`, &html),
	)
	if placeholder != "Encrypted on the server side" || !disabled {
		t.Fatalf("secret field: placeholder %q, disabled %v", placeholder, disabled)
	}
	if strings.Contains(html, canary) {
		t.Fatal("the password is in the edit page")
	}

	// Rows stream in: the count moves while the statement still runs.
	// (PostgreSQL flushes its 8 KiB output buffer when full, so each row
	// is made larger than that to leave the server at once.)
	act(t, ctx, "streaming",
		chromedp.Navigate(g.url+"/datasources/"+id),
		waitEditor(`#editor`),
		setEditor(`#editor`, "SELECT g, repeat(md5(g::text), 300) AS h, pg_sleep(0.05) AS pause FROM generate_series(1, 40) g"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitJS(`(n => n > 0 && n < 40)(Number(document.querySelector('#row-count').textContent)) && !document.querySelector('#cancel').disabled`),
		waitText(`#run-status`, "40 rows in"),
	)
	if got := text(t, ctx, activeResult+` thead`); !strings.Contains(got, "g") || !strings.Contains(got, "h") {
		t.Fatalf("columns: %q", got)
	}

	// Cancel stops the statement at the server.
	marker := "qg_cancel_" + strings.ToLower(rand.Text()[:12])
	act(t, ctx, "long query",
		setEditor(`#editor`, "SELECT pg_sleep(60) AS "+marker),
		chromedp.Click(`#run`, chromedp.ByQuery),
		waitText(`#run-status`, "Running"),
	)
	deadline := time.Now().Add(10 * time.Second)
	for pgActive(t, pg, marker) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the statement never showed up in pg_stat_activity")
		}
		time.Sleep(50 * time.Millisecond)
	}
	act(t, ctx, "cancel", chromedp.Click(`#cancel`, chromedp.ByQuery), waitText(`#run-status`, "Canceled"))
	deadline = time.Now().Add(5 * time.Second)
	for pgActive(t, pg, marker) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the statement still runs at the server 5 s after Cancel")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Export CSV: the file arrives whole, with quoting.
	act(t, ctx, "export",
		setEditor(`#editor`, "SELECT g, 'a,b \"c\"' AS s FROM generate_series(1, 5000) g"),
		chromedp.Click(`#export`, chromedp.ByQuery),
		waitText(`#run-status`, "Exported"),
	)
	var csvFile string
	deadline = time.Now().Add(10 * time.Second)
	for csvFile == "" && time.Now().Before(deadline) {
		entries, _ := os.ReadDir(downloads)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".csv") {
				csvFile = filepath.Join(downloads, e.Name())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if csvFile == "" {
		t.Fatal("no CSV file was downloaded")
	}
	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatalf("the download is not CSV: %v", err)
	}
	if len(records) != 5001 || records[0][0] != "g" || records[5000][0] != "5000" || records[1][1] != `a,b "c"` {
		t.Fatalf("CSV: %d records, first %v, last %v", len(records), records[0], records[len(records)-1])
	}

	// Device custody: locked, unlocked with the password on this browser.
	dev := deviceSource(t, admin, "ledger", devUser)
	act(t, ctx, "locked",
		chromedp.Navigate(g.url+"/datasources/"+dev),
		waitEditor(`#editor`),
		// The schema browser offers the unlock; it prompts only when asked.
		chromedp.WaitVisible(`#schema-unlock`, chromedp.ByQuery),
		setEditor(`#editor`, "SELECT 7 AS seven"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.WaitVisible(`#unlock-dialog`, chromedp.ByQuery),
	)
	var remember bool
	act(t, ctx, "remember is off", chromedp.Evaluate(`document.querySelector('#unlock-remember').checked`, &remember))
	if remember {
		t.Fatal("'Remember this device' is checked by default")
	}
	shoot(t, ctx, "unlock")
	act(t, ctx, "wrong password",
		chromedp.SendKeys(`#unlock-password`, "not the password", chromedp.ByQuery),
		chromedp.Click(`#unlock-submit`, chromedp.ByQuery),
		waitText(`#unlock-err`, "refused the user name or password"),
	)
	act(t, ctx, "unlock",
		chromedp.SendKeys(`#unlock-password`, devPassword, chromedp.ByQuery),
		chromedp.Click(`#unlock-submit`, chromedp.ByQuery),
		waitText(`#run-status`, "1 row in"),
		// The query unlocked the datasource: the schema browser reads it.
		waitJS(`!document.querySelector('#schema-unlock') && !document.querySelector('#schema-tree').hasAttribute('aria-busy')`),
	)
	if got := text(t, ctx, activeResult+` tbody`); !strings.Contains(got, "7") {
		t.Fatalf("device-custody rows: %q", got)
	}
	act(t, ctx, "my devices", chromedp.Navigate(g.url+"/devices"), waitText(`main`, "ledger"))

	// A fresh browser (its own profile): the same user, locked again.
	ctx2, logs2 := newBrowser(t)
	responses2 := captureResponses(t, ctx2)
	browserLogin(t, ctx2, g, "admin", adminPassword)
	act(t, ctx2, "locked on a new browser",
		chromedp.Navigate(g.url+"/datasources/"+dev),
		waitEditor(`#editor`),
		setEditor(`#editor`, "SELECT 7 AS seven"),
		chromedp.Click(`#run`, chromedp.ByQuery),
		chromedp.WaitVisible(`#unlock-dialog`, chromedp.ByQuery),
		chromedp.Click(`#unlock-cancel`, chromedp.ByQuery),
		chromedp.WaitVisible(`#query-error[data-code="device_locked"]`, chromedp.ByQuery),
	)

	// Every page, as the admin: no secret in any HTML.
	admin.must(201, "POST", "/api/groups", map[string]any{"name": "analysts"})
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": id, "name": "top", "query": "SELECT g FROM generate_series(1, :n) g",
		"parameters": []any{map[string]any{"name": "n", "type": "int", "default": 3}}})["id"].(string)
	dash := admin.must(201, "POST", "/api/dashboards", map[string]any{"name": "board", "definition": map[string]any{"panels": []any{
		map[string]any{"title": "top", "query_id": q, "viz": map[string]any{"type": "bar", "x": "g", "y": []string{"g"}}}}}})["id"].(string)
	pages := []string{"/dashboards", "/dashboards/" + dash, "/dashboards/" + dash + "/edit", "/datasources", "/datasources/new", "/datasources/new?kind=postgres", "/datasources/" + id, "/datasources/" + id + "/edit",
		"/datasources/" + dev, "/datasources/" + dev + "/edit", "/queries", "/queries?datasource=" + id, "/queries/new?datasource=" + id,
		"/queries/" + q, "/queries/" + q + "/edit", "/devices", "/tokens", "/users", "/groups", "/audit", "/audit?action=datasource.", "/network", "/account", "/settings/sso"}
	for _, p := range pages {
		act(t, ctx, "page "+p,
			chromedp.Navigate(g.url+p),
			chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.outerHTML`, &html),
		)
		for _, secret := range []string{canary, devPassword} {
			if strings.Contains(html, secret) {
				t.Fatalf("%s: a secret is in the page", p)
			}
		}
		if strings.Contains(html, `class="error"`) && strings.Contains(html, "not_found") {
			t.Fatalf("%s: an error page", p)
		}
	}
	shoot(t, ctx, "network")

	// Readable on a phone-sized screen: no page scrolls sideways (wide
	// tables scroll inside their own frame).
	act(t, ctx, "phone size", chromedp.EmulateViewport(390, 844))
	for _, p := range pages {
		var overflow int
		act(t, ctx, "phone "+p,
			chromedp.Navigate(g.url+p),
			chromedp.WaitVisible(`main h1`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &overflow),
		)
		if overflow > 0 {
			t.Errorf("%s: %d px wider than a 390 px screen", p, overflow)
		}
	}
	act(t, ctx, "phone workspace", chromedp.Navigate(g.url+"/datasources/"+id), waitEditor(`#editor`))
	shoot(t, ctx, "phone-workspace")
	act(t, ctx, "desktop size", chromedp.EmulateViewport(1280, 900))
	act(t, ctx, "audit page", chromedp.Navigate(g.url+"/audit"), waitText(`#audit-list`, "datasource.create"))
	shoot(t, ctx, "audit")

	// Nothing the browsers received held a secret; the logs and the store
	// files neither.
	for i, rl := range []*responseLog{responses, responses2} {
		for _, secret := range []string{canary, devPassword} {
			if urls, n := rl.find(secret); len(urls) > 0 {
				t.Fatalf("browser %d: a secret is in the responses of %v", i+1, urls)
			} else if n < 10 {
				t.Fatalf("browser %d: only %d responses were read", i+1, n)
			}
		}
	}
	g.m.Close()
	files, _ := os.ReadDir(dataDir)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dataDir, f.Name()))
		for _, secret := range []string{canary, devPassword} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("a secret is in %s", f.Name())
			}
		}
	}
	for _, secret := range []string{canary, devPassword} {
		if strings.Contains(g.logs.String(), secret) {
			t.Fatal("a secret is in the logs")
		}
	}
	checkCSP(t, logs)
	checkCSP(t, logs2)
}
