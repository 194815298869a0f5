package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTokensAndPasswordReset drives the token page and the users
// page in headless Chromium: a token just made joins the list without a
// reload (its value shown once, beside it, never in the list), and an
// admin resets a user's password from the users page.
func TestBrowserTokensAndPasswordReset(t *testing.T) {
	ctx, logs := newBrowser(t)
	g := MustRun(t, t.TempDir(), nil)
	act(t, ctx, "setup",
		chromedp.Navigate(g.url+"/setup"),
		chromedp.WaitVisible(`#setup-token`, chromedp.ByQuery),
		chromedp.SendKeys(`#setup-token`, g.setupToken(), chromedp.ByQuery),
		chromedp.SendKeys(`#setup-username`, "admin", chromedp.ByQuery),
		chromedp.SendKeys(`#setup-password`, adminPassword, chromedp.ByQuery),
		chromedp.Click(`#setup-form button[type=submit]`, chromedp.ByQuery),
	)
	waitURL(t, ctx, "/datasources")

	act(t, ctx, "make a token",
		chromedp.Navigate(g.url+"/tokens"),
		chromedp.WaitVisible(`#token-name`, chromedp.ByQuery),
		chromedp.Evaluate(`window.notReloaded = true`, nil),
		chromedp.SendKeys(`#token-name`, "nightly export", chromedp.ByQuery),
		chromedp.Click(`#token-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#token-list tbody`, "nightly export"),
	)
	var value, list string
	var same bool
	act(t, ctx, "read the token",
		chromedp.Value(`#new-token-value`, &value, chromedp.ByQuery),
		chromedp.Text(`#token-list tbody`, &list, chromedp.ByQuery),
		chromedp.Evaluate(`window.notReloaded === true && !document.querySelector('#token-list-wrap').hidden && document.querySelector('#token-empty').hidden`, &same),
	)
	if !strings.HasPrefix(value, "qgt_") || strings.Contains(list, value) || !same {
		t.Fatalf("token shown %q, list %q, same page and list shown %v", value, list, same)
	}
	// The row's revoke button works like those the page rendered.
	act(t, ctx, "revoke the new token",
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click(`#token-list [data-delete]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#token-list tbody tr').length === 0`),
	)

	// An admin resets a user's password from the users page.
	c := g.login("admin", adminPassword)
	vic := c.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "viewer"})["id"].(string)
	laptop := g.login("vic", "vic password 1")
	act(t, ctx, "reset vic's password",
		chromedp.Navigate(g.url+"/users"),
		chromedp.WaitVisible(`[data-reset="`+vic+`"]`, chromedp.ByQuery),
		chromedp.Click(`[data-reset="`+vic+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reset-password`, chromedp.ByQuery),
		chromedp.SendKeys(`#reset-password`, "short", chromedp.ByQuery),
		chromedp.Click(`#reset-form button[type=submit]`, chromedp.ByQuery),
		waitJS(`document.querySelector('#err-reset-password').textContent.length > 0`),
		chromedp.SetValue(`#reset-password`, "vic password 2", chromedp.ByQuery),
		chromedp.Click(`#reset-form button[type=submit]`, chromedp.ByQuery),
		waitText(`#list-status`, "vic is changed"),
	)
	laptop.must(401, "GET", "/api/me", nil)
	g.login("vic", "vic password 2")
	checkCSP(t, logs)
}
