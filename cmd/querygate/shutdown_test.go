package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/querygate/querygate/internal/testenv"
)

// TestSIGTERM runs the real binary, sends SIGTERM while queries stream,
// and checks the grace: a query that ends within it finishes, one that
// does not is cancelled at PostgreSQL, no new connection is accepted, and
// the process exits 0.
func TestSIGTERM(t *testing.T) {
	pgURL := testenv.PostgresURL(t)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	addAdmin(t, bin, "--data-dir", data)
	p := startProcess(t, bin, "--data-dir", data, "--shutdown-grace", "3s")
	cmd, addr, logs, post := p.cmd, p.addr, p.logs, p.post
	deadline := time.Now().Add(10 * time.Second)
	port := portOr(t, pgURL.Port(), 5432)
	body, _ := json.Marshal(map[string]any{"name": "pg", "kind": "postgres", "settings": map[string]any{"host": pgURL.Hostname(), "port": port,
		"database": strings.TrimPrefix(pgURL.Path, "/"), "user": pgURL.User.Username(), "sslmode": "disable"}})
	resp, err := post(t.Context(), "/api/datasources", string(body))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	var ds struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&ds)
	resp.Body.Close()

	marker := fmt.Sprintf("qg_sigterm_%d", time.Now().UnixNano())
	type result struct {
		lines []string
		err   error
	}
	query := func(sql string) chan result {
		ch := make(chan result, 1)
		go func() {
			q, _ := json.Marshal(map[string]any{"query": sql, "timeout_ms": 60000})
			resp, err := post(context.Background(), "/api/datasources/"+ds.ID+"/query", string(q))
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var r result
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				r.lines = append(r.lines, sc.Text())
			}
			ch <- r
		}()
		return ch
	}
	short := query("SELECT pg_sleep(1) AS " + marker + "_short")
	long := query("SELECT pg_sleep(60) AS " + marker + "_long")
	conn, err := pgx.Connect(t.Context(), pgURL.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	running := func() int {
		var n int
		conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%'||$1||'_long%' AND pid <> pg_backend_pid()", marker).Scan(&n)
		return n
	}
	for running() == 0 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatal("the long query never started")
		}
		time.Sleep(20 * time.Millisecond)
	}

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	// It stops accepting at once, well before the 3s grace ends (the exit
	// is checked below to come after it).
	refused := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}
	for deadline := start.Add(2 * time.Second); !refused(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("the gateway still accepts connections 2s after SIGTERM")
			break
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway did not exit\n%s", logs)
	}
	if d := time.Since(start); d < 3*time.Second || d > 15*time.Second {
		t.Errorf("exited after %v, want just after the 3s grace", d)
	}
	s := <-short
	if s.err != nil || len(s.lines) != 3 || !strings.HasPrefix(s.lines[2], `{"done"`) {
		t.Errorf("the short query did not finish within the grace: %v %q", s.err, s.lines)
	}
	l := <-long
	if l.err == nil && len(l.lines) > 0 && strings.HasPrefix(l.lines[len(l.lines)-1], `{"done"`) {
		t.Errorf("the long query completed: %q", l.lines)
	}
	for i := 0; running() != 0; i++ {
		if i > 100 {
			t.Fatal("the long query still runs at PostgreSQL after the shutdown")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
