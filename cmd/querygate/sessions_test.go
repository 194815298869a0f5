package main

import (
	"strings"
	"testing"
)

// TestSessionsEndToEnd lists and revokes sessions as their owner and as an
// admin, logs out everywhere, and checks that a password change keeps only
// the browser that made it and that a role change signs the user out; each
// action is one audit event, and no session id is ever in an answer.
func TestSessionsEndToEnd(t *testing.T) {
	rec := &recorder{}
	g := MustRun(t, t.TempDir(), nil)
	admin := g.MustSetup(rec)
	admin.must(201, "POST", "/api/users", map[string]any{"username": "vic", "password": "vic password 1", "role": "viewer"})
	laptop, phone := g.login("vic", "vic password 1"), g.login("vic", "vic password 1")
	laptop.rec, phone.rec = rec, rec

	list := laptop.must(200, "GET", "/api/sessions", nil)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("sessions: %v", list)
	}
	var current, other string
	for _, x := range list {
		m := x.(map[string]any)
		if m["current"] == true {
			current = m["id"].(string)
		} else {
			other = m["id"].(string)
		}
		if m["remote"] != "127.0.0.1" || m["user_agent"] == "" {
			t.Errorf("session details: %v", m)
		}
	}
	if current == "" || other == "" {
		t.Fatalf("the current session is not marked: %v", list)
	}
	// The viewer cannot see or end the admin's sessions.
	adminSessions := admin.must(200, "GET", "/api/sessions", nil)["sessions"].([]any)
	adminSession := adminSessions[0].(map[string]any)["id"].(string)
	laptop.must(404, "DELETE", "/api/sessions/"+adminSession, nil)
	laptop.must(403, "GET", "/api/users/"+admin.must(200, "GET", "/api/me", nil)["id"].(string)+"/sessions", nil)
	admin.must(200, "GET", "/api/me", nil)

	// The laptop ends the phone's session.
	laptop.must(204, "DELETE", "/api/sessions/"+other, nil)
	phone.must(401, "GET", "/api/me", nil)
	laptop.must(200, "GET", "/api/me", nil)

	// An admin sees vic's sessions and signs vic out everywhere.
	vic := laptop.must(200, "GET", "/api/me", nil)["id"].(string)
	if got := admin.must(200, "GET", "/api/users/"+vic+"/sessions", nil)["sessions"].([]any); len(got) != 1 {
		t.Fatalf("admin's view of vic's sessions: %v", got)
	}
	admin.must(204, "DELETE", "/api/users/"+vic+"/sessions", nil)
	laptop.must(401, "GET", "/api/me", nil)

	// Log out everywhere from one browser ends the others too.
	a, b := g.login("vic", "vic password 1"), g.login("vic", "vic password 1")
	a.must(204, "POST", "/api/logout-everywhere", nil)
	a.must(401, "GET", "/api/me", nil)
	b.must(401, "GET", "/api/me", nil)

	// A password change: the wrong current password is refused and changes
	// nothing; the right one keeps this browser (with a new session) and
	// ends the others and every API token.
	a, b = g.login("vic", "vic password 1"), g.login("vic", "vic password 1")
	a.rec = rec
	tok := a.must(201, "POST", "/api/tokens", map[string]any{"name": "script"})["token"].(string)
	if r := a.do("POST", "/api/me/password", map[string]any{"current_password": "wrong password!", "new_password": "vic password 2"}); r.Status != 400 ||
		!strings.Contains(string(r.Body), `"field":"current_password"`) {
		t.Fatalf("wrong current password: %d %s", r.Status, r.Body)
	}
	b.must(200, "GET", "/api/me", nil)
	if r := a.do("POST", "/api/me/password", map[string]any{"current_password": "vic password 1", "new_password": "short"}); r.Status != 400 ||
		!strings.Contains(string(r.Body), `"field":"new_password"`) {
		t.Fatalf("short new password: %d %s", r.Status, r.Body)
	}
	a.must(204, "POST", "/api/me/password", map[string]any{"current_password": "vic password 1", "new_password": "vic password 2"})
	a.must(200, "GET", "/api/me", nil)
	b.must(401, "GET", "/api/me", nil)
	bot := g.client(nil)
	bot.bearer = tok
	bot.must(401, "GET", "/api/me", nil)
	g.login("vic", "vic password 2")

	// A role change signs the user out.
	admin.must(200, "PATCH", "/api/users/"+vic, map[string]any{"role": "editor"})
	a.must(401, "GET", "/api/me", nil)
	a = g.login("vic", "vic password 2")
	if me := a.must(200, "GET", "/api/me", nil); me["role"] != "editor" {
		t.Fatalf("after the role change: %v", me)
	}

	// Audit: one event per action, refusals included with their outcome.
	events := admin.must(200, "GET", "/api/audit?limit=1000", nil)["events"].([]any)
	count := map[string]int{}
	for _, e := range events {
		m := e.(map[string]any)
		count[m["action"].(string)+" "+m["outcome"].(string)]++
	}
	for k, want := range map[string]int{"session.revoke ok": 1, "session.revoke not_found": 1, "logout.everywhere ok": 2,
		"user.password ok": 1, "user.password invalid": 2} {
		if count[k] != want {
			t.Errorf("audit %q: %d events, want %d (all: %v)", k, count[k], want, count)
		}
	}
	// A list never carries what a cookie holds, and a listed handle is
	// not a session: sent as the cookie, it is refused.
	listed := a.do("GET", "/api/sessions", nil)
	ck := a.cookieOf("qg_session")
	if ck == nil || strings.Contains(string(listed.Body), ck.Value) {
		t.Fatal("the session list holds the cookie's value")
	}
	handle := a.must(200, "GET", "/api/sessions", nil)["sessions"].([]any)[0].(map[string]any)["id"].(string)
	forged := g.client(nil)
	forged.setCookie("qg_session", handle)
	forged.must(401, "GET", "/api/me", nil)
}
