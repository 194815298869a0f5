package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// execMain runs the program as the binary does (Main.Exec) and returns its
// exit code and everything it wrote.
func execMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out := &syncBuffer{}
	m := NewMain()
	m.Stdout, m.Stderr, m.HashParams = out, out, fastHash
	code := m.Exec(t.Context(), args, func(string) string { return "" })
	return code, out.String()
}

// TestHelpListsCommands: --help, -h and help list every command and exit 0;
// each group lists its own subcommands (and only those) for -h, --help,
// help, and help GROUP, and exits 0.
func TestHelpListsCommands(t *testing.T) {
	all := []string{"querygate [serve]", "querygate user add", "querygate keys verify", "querygate keys rotate",
		"querygate audit export", "querygate audit verify", "querygate migrate", "querygate store copy", "querygate version"}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out := execMain(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, out)
			}
			for _, c := range all {
				if !strings.Contains(out, c) {
					t.Errorf("%q is not listed:\n%s", c, out)
				}
			}
		})
	}
	for group, subs := range map[string][]string{
		"user":  {"querygate user add"},
		"keys":  {"querygate keys verify", "querygate keys rotate"},
		"audit": {"querygate audit export", "querygate audit verify"},
		"store": {"querygate store copy"},
	} {
		for _, args := range [][]string{{group, "-h"}, {group, "--help"}, {group, "help"}, {"help", group}} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out := execMain(t, args...)
				if code != 0 {
					t.Fatalf("exit %d, want 0:\n%s", code, out)
				}
				for _, c := range subs {
					if !strings.Contains(out, c) {
						t.Errorf("%q is not listed:\n%s", c, out)
					}
				}
				for _, c := range all {
					if !strings.HasPrefix(c, "querygate "+group+" ") && strings.Contains(out, c) {
						t.Errorf("%q is listed under %s:\n%s", c, group, out)
					}
				}
			})
		}
	}
	// Without a subcommand, a group is a bad command line that names them.
	if code, out := execMain(t, "keys"); code != 2 || !strings.Contains(out, "verify or rotate") {
		t.Fatalf("keys alone: exit %d:\n%s", code, out)
	}
}

var flagRE = regexp.MustCompile(`(?m)^  -([a-z-]+)`)

// TestCommandsHelpFlags: a command's -h lists exactly the flags it uses
// and exits 0: store copy only --from and --to, audit verify its --head
// and the store and key settings, not another command's flags.
func TestCommandsHelpFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"store", "copy", "-h"}, []string{"from", "to"}},
		{[]string{"audit", "verify", "-h"}, []string{"data-dir", "database-url", "encryption-salt", "head", "log-format", "master-key-file"}},
		{[]string{"help", "store", "copy"}, []string{"from", "to"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out := execMain(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0:\n%s", code, out)
			}
			var got []string
			for _, m := range flagRE.FindAllStringSubmatch(out, -1) {
				got = append(got, m[1])
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("flags %v, want %v:\n%s", got, tc.want, out)
			}
		})
	}
}

// TestStartMessageNamesURLAndSetupLink: the start-up message names the
// address to open in a browser and, while no user exists, the setup page;
// that page answers, and once a user exists the setup link is gone.
func TestStartMessageNamesURLAndSetupLink(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	open := g.url + "/"
	logs := g.logs.String()
	if !strings.Contains(logs, "open "+open+" in a browser") || !strings.Contains(logs, "url="+open+" ") {
		t.Fatalf("the start-up message does not name %s:\n%s", open, logs)
	}
	if !strings.Contains(logs, "setup="+open+"setup") || !strings.Contains(logs, "    "+open+"setup\n") {
		t.Fatalf("the start-up message does not name the setup page %ssetup:\n%s", open, logs)
	}
	if r := g.client(nil).do("GET", "/setup", nil); r.Status != 200 || !strings.Contains(string(r.Body), "setup-form") {
		t.Fatalf("the setup link: %d", r.Status)
	}
	g.MustSetup(nil)
	g.m.Close()

	g2 := MustRun(t, dir, nil)
	logs = g2.logs.String()
	if !strings.Contains(logs, "open "+g2.url+"/ in a browser") {
		t.Fatalf("the start-up message does not name %s/:\n%s", g2.url, logs)
	}
	if strings.Contains(logs, "/setup") {
		t.Fatalf("a setup link although a user exists:\n%s", logs)
	}
}

// TestStartURLHost: the URL to open has a host a browser can reach: the
// --listen host as given, localhost for an unspecified address.
func TestStartURLHost(t *testing.T) {
	for _, tc := range []struct {
		listen string
		addr   string
		want   string
	}{
		{"127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"0.0.0.0", "0.0.0.0:8080", "http://localhost:8080/"},
		{"::", "[::]:8080", "http://localhost:8080/"},
		{"", "[::]:8080", "http://localhost:8080/"},
		{"::1", "[::1]:9000", "http://[::1]:9000/"},
		{"localhost", "127.0.0.1:9000", "http://localhost:9000/"},
		{"gw.example", "10.0.0.5:443", "http://gw.example:443/"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := browserURL("http", tc.listen, addr); got != tc.want {
			t.Errorf("listen %q on %s: got %s, want %s", tc.listen, tc.addr, got, tc.want)
		}
	}
}

// TestStoreCopyToSQLite: copying into a SQLite file says how to start on
// it (--data-dir, not --database-url, which takes PostgreSQL), and doing
// what it says serves the copy.
func TestStoreCopyToSQLite(t *testing.T) {
	dir := t.TempDir()
	g := MustRun(t, dir, nil)
	g.MustSetup(nil)
	g.m.Close()

	target := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	out := MustRun(t, dir, nil, "store", "copy", "--from", "sqlite:"+filepath.Join(dir, "querygate.db"), "--to", "sqlite:"+filepath.Join(target, "querygate.db"))
	msg := out.logs.String()
	if !strings.Contains(msg, "Copied and verified") || strings.Contains(msg, "--database-url") ||
		!strings.Contains(msg, "--data-dir "+target+" ") {
		t.Fatalf("store copy into SQLite said:\n%s", msg)
	}
	// Follow it: the key file beside the copy, then serve it.
	key, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	g2 := MustRun(t, target, nil)
	g2.login("admin", adminPassword)

	// Into another file name it says to move it to querygate.db.
	other := MustRun(t, dir, nil, "store", "copy", "--from", "sqlite:"+filepath.Join(dir, "querygate.db"), "--to", "sqlite:"+filepath.Join(t.TempDir(), "backup.db"))
	if msg := other.logs.String(); strings.Contains(msg, "--database-url") || !strings.Contains(msg, "querygate.db") {
		t.Fatalf("store copy into backup.db said:\n%s", msg)
	}
}
