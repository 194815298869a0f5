package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
)

// TestKillDuringWrites kills the gateway (SIGKILL, no shutdown at all)
// while clients create and change datasources with sealed secrets, users
// and tokens, then checks the store: the SQLite file is intact, every
// write the gateway acknowledged is there, `keys verify` opens every
// sealed secret, `audit verify` finds the chain whole, and a restarted
// gateway serves them.
func TestKillDuringWrites(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	addAdmin(t, bin, "--data-dir", data)
	p := startProcess(t, bin, "--data-dir", data)

	type ack struct{ kind, id, name string }
	var mu sync.Mutex
	var acked []ack
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				var resp *http.Response
				var err error
				var kind string
				switch i % 3 {
				case 0, 1:
					kind = "datasource"
					body, _ := json.Marshal(map[string]any{"name": name, "kind": "postgres",
						"settings": map[string]any{"host": "127.0.0.1", "database": "db", "user": "u", "sslmode": "disable"},
						"secrets":  map[string]any{"password": "crash-secret-" + name}})
					resp, err = p.post(ctx, "/api/datasources", string(body))
				case 2:
					kind = "user"
					resp, err = p.post(ctx, "/api/users", fmt.Sprintf(`{"username":%q,"password":"crash password 1","role":"viewer"}`, name))
				}
				if err != nil {
					return // the process is gone
				}
				var out struct{ ID string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					acked = append(acked, ack{kind, out.ID, name})
					mu.Unlock()
				}
			}
		}()
	}
	// Kill it in the middle of the writes, once a good number were
	// acknowledged.
	testenv.WaitFor(t, 30*time.Second, "20 acknowledged writes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20
	})
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	stop()
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d writes were acknowledged before the kill", len(acked))
	}

	// The file is intact.
	db, err := sql.Open("sqlite", filepath.Join(data, "querygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	db.Close()
	// Every sealed secret opens, and the audit chain is whole.
	for _, args := range [][]string{{"keys", "verify"}, {"audit", "verify"}} {
		out, err := exec.Command(bin, append(args, "--data-dir", data)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v after the kill: %v\n%s", args, err, out)
		}
	}

	// A restarted gateway has every acknowledged write.
	p2 := startProcess(t, bin, "--data-dir", data)
	get := func(path string) string {
		resp, err := p2.send(t.Context(), "GET", path, "")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	sources, users := get("/api/datasources"), get("/api/users")
	for _, a := range acked {
		list := sources
		if a.kind == "user" {
			list = users
		}
		if !strings.Contains(list, `"`+a.id+`"`) {
			t.Fatalf("the acknowledged %s %s (%s) is gone after the kill", a.kind, a.name, a.id)
		}
	}
	// And a secret written before the kill still opens for a query (the
	// local PostgreSQL trusts any password, so the test connects).
	for _, a := range acked {
		if a.kind != "datasource" {
			continue
		}
		port := portOr(t, pgURL.Port(), 5432)
		patch, _ := json.Marshal(map[string]any{"settings": map[string]any{"host": pgURL.Hostname(), "port": port,
			"database": strings.TrimPrefix(pgURL.Path, "/"), "user": pgURL.User.Username(), "sslmode": "disable"}})
		resp, err := p2.send(t.Context(), "PATCH", "/api/datasources/"+a.id, string(patch))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = p2.post(t.Context(), "/api/datasources/"+a.id+"/query", `{"query":"SELECT 1"}`)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"done"`) {
			t.Fatalf("query on %s after the kill: %d %s", a.name, resp.StatusCode, b)
		}
		break
	}
	t.Logf("%d writes acknowledged before SIGKILL; all present after restart", len(acked))
}

// TestKillDuringQueries kills the gateway (SIGKILL) while clients run
// queries, then checks that every query whose result the gateway
// acknowledged (its done line reached the client) has its audit event in
// the store, and that the chain is whole: the done line is written only
// once the event is durable.
func TestKillDuringQueries(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	addAdmin(t, bin, "--data-dir", data)
	p := startProcess(t, bin, "--data-dir", data)
	port := portOr(t, pgURL.Port(), 5432)
	body, _ := json.Marshal(map[string]any{"name": "pg", "kind": "postgres", "settings": map[string]any{"host": pgURL.Hostname(), "port": port,
		"database": strings.TrimPrefix(pgURL.Path, "/"), "user": pgURL.User.Username(), "sslmode": "disable"}})
	resp, err := p.post(t.Context(), "/api/datasources", string(body))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&ds)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create datasource: %d", resp.StatusCode)
	}

	var mu sync.Mutex
	acked := map[string]bool{} // request ids whose done line arrived
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := p.post(ctx, "/api/datasources/"+ds.ID+"/query", `{"query":"SELECT g FROM generate_series(1, 3) g"}`)
				if err != nil {
					return // the process is gone
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == 200 && strings.Contains(string(b), `{"done":{"rows":3,`) {
					mu.Lock()
					acked[resp.Header.Get("X-Request-Id")] = true
					mu.Unlock()
				}
			}
		})
	}
	testenv.WaitFor(t, 30*time.Second, "100 acknowledged queries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 100
	})
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	stop()
	wg.Wait()

	if out, err := exec.Command(bin, "audit", "verify", "--data-dir", data).CombinedOutput(); err != nil {
		t.Fatalf("audit verify after the kill: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "audit", "export", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("audit export: %v", err)
	}
	recorded := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e struct {
			Action, Outcome string
			RequestID       string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		if e.Action == "query" && e.Outcome == "ok" {
			recorded[e.RequestID] = true
		}
	}
	for id := range acked {
		if id == "" || !recorded[id] {
			t.Fatalf("the query %q was acknowledged before the kill, but its audit event is not in the store", id)
		}
	}
	t.Logf("%d queries acknowledged before SIGKILL, %d recorded; every acknowledged one is there", len(acked), len(recorded))
}
