package redis

import (
	"context"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/testenv"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantName string
		want     class
	}{
		{[]string{"GET", "k"}, "GET", classRead},
		{[]string{"get", "k"}, "GET", classRead},
		{[]string{"gEt"}, "GET", classRead},
		{[]string{"KEYS", "*"}, "KEYS", classRead},
		{[]string{"SET", "k", "v"}, "SET", classWrite},
		{[]string{"BLPOP", "k", "0"}, "BLPOP", classWrite},
		{[]string{"TOUCH", "k"}, "TOUCH", classWrite},
		{[]string{"SORT", "k"}, "SORT", classWrite},
		{[]string{"SORT_RO", "k"}, "SORT_RO", classRead},
		{[]string{"OBJECT", "encoding", "k"}, "OBJECT ENCODING", classRead},
		{[]string{"MEMORY", "USAGE", "k"}, "MEMORY USAGE", classRead},
		{[]string{"MEMORY", "PURGE"}, "MEMORY PURGE", classAdmin},
		{[]string{"XINFO", "STREAM", "s"}, "XINFO STREAM", classRead},
		{[]string{"XGROUP", "CREATE", "s", "g", "$"}, "XGROUP CREATE", classWrite},
		{[]string{"CONFIG", "GET", "x"}, "CONFIG GET", classAdminRead},
		{[]string{"config", "set", "x", "y"}, "CONFIG SET", classAdmin},
		{[]string{"CONFIG"}, "CONFIG", classUnknown},
		{[]string{"CONFIG", "NEWTHING"}, "CONFIG", classAdmin},
		{[]string{"CONFIG", "HELP"}, "CONFIG HELP", classRead},
		{[]string{"CLIENT", "ID"}, "CLIENT ID", classRead},
		{[]string{"CLIENT", "KILL", "ID", "7"}, "CLIENT KILL", classAdmin},
		{[]string{"CLIENT", "LIST"}, "CLIENT LIST", classAdminRead},
		{[]string{"CLIENT", "SETNAME", "x"}, "CLIENT SETNAME", classNever},
		{[]string{"CLIENT", "REPLY", "OFF"}, "CLIENT REPLY", classNever},
		{[]string{"CLIENT", "TRACKING", "ON"}, "CLIENT TRACKING", classNever},
		{[]string{"CLIENT", "SOMETHING"}, "CLIENT", classNever},
		{[]string{"SCRIPT", "DEBUG", "YES"}, "SCRIPT DEBUG", classNever},
		{[]string{"COMMAND"}, "COMMAND", classRead},
		{[]string{"COMMAND", "COUNT"}, "COMMAND COUNT", classRead},
		{[]string{"EVAL", "return 1", "0"}, "EVAL", classAdmin},
		{[]string{"EVAL_RO", "return 1", "0"}, "EVAL_RO", classAdminRead},
		{[]string{"FLUSHALL"}, "FLUSHALL", classAdmin},
		{[]string{"WAIT", "1", "0"}, "WAIT", classAdminRead},
		{[]string{"SELECT", "1"}, "SELECT", classNever},
		{[]string{"AUTH", "x"}, "AUTH", classNever},
		{[]string{"HELLO", "3"}, "HELLO", classNever},
		{[]string{"MULTI"}, "MULTI", classNever},
		{[]string{"SUBSCRIBE", "c"}, "SUBSCRIBE", classNever},
		{[]string{"QUIT"}, "QUIT", classNever},
		{[]string{"RESET"}, "RESET", classNever},
		// Unknown: modules, typos, tricks.
		{[]string{"JSON.GET", "k"}, "", classUnknown},
		{[]string{"CONFIG|SET", "x", "y"}, "", classUnknown},
		{[]string{" GET", "k"}, "", classUnknown},
		{[]string{"GET\x00", "k"}, "", classUnknown},
		{[]string{"ſet", "k", "v"}, "", classUnknown}, // Unicode folds ſ to S; Redis does not
		{[]string{""}, "", classUnknown},
		{nil, "", classUnknown},
	} {
		name, c := classify(tc.args)
		if name != tc.wantName || c != tc.want {
			t.Errorf("%q: got %q %d, want %q %d", tc.args, name, c, tc.wantName, tc.want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	codes := func(args ...string) [4]string {
		var out [4]string
		for i, p := range []policy{{}, {readOnly: true}, {allowAdmin: true}, {readOnly: true, allowAdmin: true}} {
			out[i] = querygate.ErrorCode(p.check(args))
		}
		return out
	}
	const (
		ok = ""
		f  = querygate.EFORBIDDEN
		ro = connect.EREADONLY
	)
	for _, tc := range []struct {
		args []string
		want [4]string // plain, read-only, allow_admin, read-only + allow_admin
	}{
		{[]string{"GET", "k"}, [4]string{ok, ok, ok, ok}},
		{[]string{"SET", "k", "v"}, [4]string{ok, ro, ok, ro}},
		{[]string{"CONFIG", "GET", "x"}, [4]string{f, f, ok, ok}},
		{[]string{"CONFIG", "SET", "x", "y"}, [4]string{f, f, ok, ro}},
		{[]string{"JSON.GET", "k"}, [4]string{f, f, ok, ro}},
		{[]string{"SELECT", "1"}, [4]string{f, f, f, f}},
		{[]string{"MONITOR"}, [4]string{f, f, f, f}},
	} {
		if got := codes(tc.args...); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := querygate.ErrorCode(policy{}.check(nil)); got != querygate.EINVALID {
		t.Errorf("empty command: %q", got)
	}
}

// TestPolicyAgainstServer checks the tables against the command table of
// the test server (COMMAND): every command the server flags as
// administrative or dangerous must need allow_admin or be refused, and
// every command allowed on read-only datasources must be one the server
// does not flag as a write.
func TestPolicyAgainstServer(t *testing.T) {
	addr := testenv.RedisAddr(t)
	rc := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 3})
	defer rc.Close()
	reply, err := rc.Do(context.Background(), "COMMAND").Slice()
	if err != nil {
		t.Fatalf("COMMAND: %v", err)
	}
	// Reads the server flags as dangerous on purpose: KEYS and SORT_RO
	// are slow on big databases, INFO shows the server's settings.
	dangerousReads := []string{"KEYS", "INFO", "SORT", "SORT_RO"}
	var unknown []string
	var check func(args []string, info []any)
	check = func(args []string, info []any) {
		flags, cats := strs(info[2]), strs(info[6])
		name, c := classify(args)
		full := strings.Join(args, " ")
		hasSubs := len(info) > 9 && len(info[9].([]any)) > 0
		if c == classUnknown && !hasSubs {
			unknown = append(unknown, full)
		}
		admin := slices.Contains(flags, "admin") || slices.Contains(cats, "@admin")
		dangerous := slices.Contains(cats, "@dangerous")
		switch c {
		case classRead:
			if slices.Contains(flags, "write") || admin || (dangerous && !slices.Contains(dangerousReads, name)) {
				t.Errorf("%s is a read here, but the server flags it %v %v", full, flags, cats)
			}
		case classWrite:
			if admin || (dangerous && !slices.Contains(dangerousReads, name)) {
				t.Errorf("%s is a write here, but the server flags it %v %v", full, flags, cats)
			}
		}
		if len(info) > 9 {
			for _, sub := range info[9].([]any) {
				si := sub.([]any)
				// Subcommands are named "config|get".
				_, subName, _ := strings.Cut(si[0].(string), "|")
				check([]string{args[0], subName}, si)
			}
		}
	}
	for _, e := range reply {
		info := e.([]any)
		check([]string{info[0].(string)}, info)
	}
	if len(reply) < 100 {
		t.Fatalf("COMMAND returned only %d commands", len(reply))
	}
	// Unknown commands need allow_admin, which is safe; list them so that
	// a newer server's commands can be added to the tables.
	if len(unknown) > 0 {
		t.Logf("commands of this server the tables do not know (need allow_admin): %s", strings.Join(unknown, ", "))
	}
}

func strs(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// FuzzClassify checks the classifier's promises on any command: it never
// panics, it ignores ASCII case, anything but a known read is refused on a
// read-only datasource, and nothing that needs allow_admin or is never run
// passes without it.
func FuzzClassify(f *testing.F) {
	for _, s := range [][2]string{{"GET", "k"}, {"config", "set"}, {"CLIENT", "kill"}, {"client", "id"}, {"ſet", ""},
		{"OBJECT", "ENCODING"}, {"JSON.GET", "$"}, {"FLUSHALL", ""}, {"select", "1"}, {"", ""}, {"COMMAND", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, arg string) {
		args := []string{name, arg}
		n, c := classify(args)
		if n2, c2 := classify([]string{swapCase(name), swapCase(arg)}); n2 != n || c2 != c {
			t.Fatalf("%q: %q %d, but %q %d with the case swapped", args, n, c, n2, c2)
		}
		if c != classUnknown && !strings.HasPrefix(n, strings.ToUpper(name)) {
			t.Fatalf("%q: named %q", args, n)
		}
		for _, b := range []byte(name) {
			if b >= 0x80 && c != classUnknown {
				t.Fatalf("%q: non-ASCII name classified %d", args, c)
			}
		}
		roErr := policy{readOnly: true}.check(args)
		if (roErr == nil) != (c == classRead) {
			t.Fatalf("%q (class %d): read-only check %v", args, c, roErr)
		}
		err := policy{}.check(args)
		if (err == nil) != (c == classRead || c == classWrite) {
			t.Fatalf("%q (class %d): check %v", args, c, err)
		}
		if c == classNever && (policy{allowAdmin: true}).check(args) == nil {
			t.Fatalf("%q: a never-run command passed with allow_admin", args)
		}
		// Messages name commands as the tables spell them, never with the
		// caller's text: an unknown command gets one fixed sentence.
		if c == classUnknown && querygate.ErrorMessage(err) != querygate.ErrorMessage(policy{}.check([]string{"X.Y"})) {
			t.Fatalf("%q: message %s", args, querygate.ErrorMessage(err))
		}
	})
}

// swapCase swaps the case of ASCII letters.
func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 32
		case c >= 'A' && c <= 'Z':
			b[i] = c + 32
		}
	}
	return string(b)
}
