package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/testenv"
)

// jdbcJar is Debian's PostgreSQL JDBC driver (libpostgresql-jdbc-java).
const jdbcJar = "/usr/share/java/postgresql.jar"

// jdbcProgram compiles testdata/pgwire/WireCheck.java and returns the
// class path to run it with.
func jdbcProgram(t *testing.T) string {
	t.Helper()
	_, jerr := exec.LookPath("javac")
	_, ferr := os.Stat(jdbcJar)
	if jerr != nil || ferr != nil {
		testenv.Skipf(t, "JDBC test: needs javac (openjdk-17-jdk-headless) and %s (libpostgresql-jdbc-java)", jdbcJar)
	}
	dir := t.TempDir()
	src, err := filepath.Abs("testdata/pgwire/WireCheck.java")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "javac", "-encoding", "UTF-8", "-d", dir, "-cp", jdbcJar, src).CombinedOutput()
	if err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return jdbcJar + string(os.PathListSeparator) + dir
}

func runJDBC(t *testing.T, cp string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Dfile.encoding=UTF-8", "-cp", cp, "WireCheck"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("java %v: %v\n%s", args[:1], err, out.String())
	}
	return out.String()
}

// TestWireJDBC: the JDBC driver (extended protocol, named statements past
// its threshold, metadata queries, a cursor fetched in chunks) works on
// both datasources; on the read-only one every escape is refused; the
// next connection sees nothing of the last; a run grantee and a wrong
// token are refused; and nothing the driver receives holds the password.
func TestWireJDBC(t *testing.T) {
	cp := jdbcProgram(t)
	w := startWire(t)
	p := newRecordingProxy(t, w.addr)
	url := func(db string) string { return "jdbc:postgresql://" + p.addr + "/" + db }
	attacks := readOnlyAttacks(w.table)
	listener := w.listener(t)
	for _, db := range []string{w.roName, w.rwName} {
		out := runJDBC(t, cp, append([]string{"run", url(db), "admin", w.token, w.table}, attacks...)...)
		for _, want := range []string{"sum: 2", "prepared: 56", "metadata: " + w.table, "columns: v int4", "fetched: 95", "next session: \"$user\", public||0"} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("%s: no %q in\n%s", db, want, out)
			}
		}
		if db == w.roName {
			if !strings.Contains(out, "insert: refused 25006") {
				t.Errorf("read-only insert through JDBC:\n%s", out)
			}
			w.checkReadOnlyHeld(t, listener, "JDBC")
		} else {
			if !strings.Contains(out, "insert: allowed") {
				t.Errorf("read-write insert through JDBC:\n%s", out)
			}
			w.direct.Exec(t.Context(), "DELETE FROM "+w.table)
			w.direct.Exec(t.Context(), "DROP TABLE IF EXISTS wire_escape_x")
		}
	}

	viewer := w.admin.must(201, "POST", "/api/users", map[string]any{"username": "runner", "password": "runner password 1", "role": "viewer"})
	w.admin.must(200, "PUT", "/api/datasources/"+w.rwID+"/grants", map[string]any{"grants": []any{
		map[string]any{"type": "user", "id": viewer["id"], "level": "run"}}})
	vc := w.g.client(nil)
	vc.must(200, "POST", "/api/login", map[string]any{"username": "runner", "password": "runner password 1"})
	vtoken := vc.must(201, "POST", "/api/tokens", map[string]any{"name": "wire"})["token"].(string)
	for _, tc := range []struct{ user, password, want string }{
		{"runner", vtoken, "refused: 42501"},
		{"admin", "qgt_wrong-token", "refused: 28P01"},
		{"nobody", w.token, "refused: 28P01"},
	} {
		if out := runJDBC(t, cp, "connect", url(w.rwName), tc.user, tc.password); !strings.Contains(out, tc.want) {
			t.Errorf("%s: %s, want %q", tc.user, out, tc.want)
		}
	}
	seen := p.bytes()
	for _, f := range secretForms(wireCanary) {
		if bytes.Contains(seen, []byte(f)) {
			t.Errorf("the JDBC client received the password as %q", f)
		}
	}
}
