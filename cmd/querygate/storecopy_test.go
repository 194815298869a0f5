package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// TestStoreCopy moves a whole instance from the embedded SQLite store to
// PostgreSQL with `store copy`, then serves it from there with the same
// master key: the session, the device cookie, grants, saved queries and
// the audit chain carry over; the secrets stayed sealed (the canary is in
// no PostgreSQL row); and copying into a store that is not empty is refused.
func TestStoreCopy(t *testing.T) {
	user, password := deviceUser(t)
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	admin := g.MustSetup(nil)
	pgID := postgresSource(t, admin, "warehouse", false) // password "pg-canary-password"
	dev := deviceSource(t, admin, "ledger", user)
	admin.must(200, "POST", "/api/datasources/"+dev+"/unlock", map[string]any{"password": password, "remember": true})
	vid := admin.must(201, "POST", "/api/users", map[string]any{"username": "vera", "password": "vera password 1", "role": "viewer"})["id"].(string)
	gid := admin.must(201, "POST", "/api/groups", map[string]any{"name": "analysts"})["id"].(string)
	admin.must(200, "PUT", "/api/groups/"+gid+"/members", map[string]any{"user_ids": []string{vid}})
	admin.must(200, "PUT", "/api/datasources/"+pgID+"/grants", map[string]any{"grants": []any{map[string]any{"type": "group", "id": gid, "level": "run"}}})
	q := admin.must(201, "POST", "/api/queries", map[string]any{"datasource_id": pgID, "name": "n", "query": "SELECT :n::int + 1 AS next",
		"parameters": []any{map[string]any{"name": "n", "type": "int"}}})["id"].(string)
	admin.must(200, "PATCH", "/api/queries/"+q, map[string]any{"query": "SELECT :n::int + 2 AS next"})
	admin.must(201, "POST", "/api/tokens", map[string]any{"name": "ci"})
	resultRows(t, admin.do("POST", "/api/datasources/"+pgID+"/query", map[string]any{"query": "SELECT 1"}))
	g.m.Close()

	target := testenv.PostgresDatabase(t, "qg_copy")
	out := MustRun(t, dir, nil, "store", "copy", "--from", "sqlite:"+dir+"/querygate.db", "--to", target.String())
	if s := out.logs.String(); !strings.Contains(s, "Copied and verified") || !strings.Contains(s, "audit_events") {
		t.Fatalf("store copy said:\n%s", s)
	}
	// Copying again into the now-used target is refused, and says why.
	if again, err := run(t, dir, nil, nil, "store", "copy", "--from", "sqlite:"+dir+"/querygate.db", "--to", target.String()); err == nil ||
		!strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second copy: %v\n%s", err, again.logs)
	}
	// No secret in the clear in any PostgreSQL row.
	conn, err := pgx.Connect(t.Context(), target.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, table := range []string{"datasources", "device_credentials", "instance", "audit_events"} {
		var dump string
		if err := conn.QueryRow(t.Context(), "SELECT coalesce(string_agg(t::text, ' '), '') FROM "+table+" t").Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"pg-canary-password", password} {
			if strings.Contains(dump, secret) || strings.Contains(dump, "\\x"+hexOf(secret)) {
				t.Fatalf("a secret is readable in the copied table %s", table)
			}
		}
	}

	// The same master key (in the data directory) opens it all from
	// PostgreSQL; the SQLite file is put aside to prove it is not used.
	if err := os.Rename(dir+"/querygate.db", dir+"/querygate.db.moved"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"QUERYGATE_DATABASE_URL": target.String()}
	MustRun(t, dir, env, "keys", "verify")
	MustRun(t, dir, env, "audit", "verify")
	g2 := MustRun(t, dir, env)
	if _, err := os.Stat(dir + "/querygate.db"); err == nil {
		t.Fatal("the gateway made a SQLite store although --database-url is set")
	}
	c2 := g2.client(nil)
	c2.http.Jar = admin.http.Jar // the same browser: session and device cookies
	if me := c2.must(200, "GET", "/api/me", nil); me["username"] != "admin" {
		t.Fatalf("the session did not carry over: %v", me)
	}
	rows := resultRows(t, c2.do("POST", "/api/datasources/"+dev+"/query", map[string]any{"query": "SELECT 7"}))
	if len(rows) != 1 || rows[0][0] != "7" {
		t.Fatalf("device-custody query after the copy: %v", rows)
	}
	rows = resultRows(t, c2.do("POST", "/api/datasources/"+pgID+"/query", map[string]any{"query": "SELECT current_user"}))
	if len(rows) != 1 {
		t.Fatalf("server-custody query after the copy: %v", rows)
	}
	vera := g2.login("vera", "vera password 1")
	rows = resultRows(t, vera.do("POST", "/api/queries/"+q+"/run", map[string]any{"params": map[string]any{"n": 40}}))
	if len(rows) != 1 || rows[0][0] != "42" {
		t.Fatalf("a run grantee through a group, version 2 of the saved query, after the copy: %v", rows)
	}
	versions := c2.must(200, "GET", "/api/queries/"+q+"/versions", nil)["versions"].([]any)
	tokens := c2.must(200, "GET", "/api/tokens", nil)["tokens"].([]any)
	if len(versions) != 2 || len(tokens) != 1 {
		t.Fatalf("after the copy: %d versions, %d tokens", len(versions), len(tokens))
	}
	// The audit trail goes on from where it was, and still verifies.
	g2.m.Close()
	MustRun(t, dir, env, "audit", "verify")
	if bytes.Contains([]byte(g2.logs.String()), []byte("pg-canary-password")) {
		t.Fatal("the secret is in the logs")
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// TestStoreCopyRefusals: a wrong --from or --to is refused before anything
// is opened, so nothing is created or migrated, and a password in a URL is
// never echoed.
func TestStoreCopyRefusals(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	g.MustSetup(nil)
	g.m.Close()
	src := "sqlite:" + dir + "/querygate.db"

	foreign := testenv.PostgresDatabase(t, "qg_foreign")
	conn, err := pgx.Connect(t.Context(), foreign.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "CREATE TABLE invoices (id int)"); err != nil {
		t.Fatal(err)
	}
	empty := testenv.PostgresDatabase(t, "qg_empty")
	missing := dir + "/nope.db"
	existing := dir + "/other.db"
	if err := os.WriteFile(existing, []byte("not empty"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from, to string
		want     string
	}{
		{"missing source file", "sqlite:" + missing, empty.String(), "no SQLite store"},
		{"source not a store", empty.String(), "sqlite:" + dir + "/new.db", "no querygate store"},
		{"target with other tables", src, foreign.String(), `"invoices"`},
		{"existing target file", src, "sqlite:" + existing, "copy into a new file"},
		{"unreachable target", src, "postgres://u:TOP-SECRET-PW@127.0.0.1:1/x?connect_timeout=2", "store copy: --to"},
		{"unparsable target", src, "postgres://u:TOP-SECRET-PW@[::1", "cannot be parsed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, dir, nil, nil, "store", "copy", "--from", tc.from, "--to", tc.to)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "TOP-SECRET-PW") {
				t.Fatalf("the password is in the error: %v", err)
			}
		})
	}
	// Nothing was created or migrated by the refusals.
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a missing source was created")
	}
	var n int
	conn.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n)
	if n != 1 {
		t.Fatalf("the foreign database has %d tables after a refused copy, want its 1", n)
	}
	c2, err := pgx.Connect(t.Context(), empty.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(context.Background())
	c2.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n)
	if n != 0 {
		t.Fatalf("a refused source was migrated: %d tables", n)
	}
}
