package redis_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/redis"
)

// hostile is a loopback server that speaks just enough RESP to be taken
// for a Redis server (it answers go-redis's HELLO and CLIENT SETNAME), and
// answers every other command with reply: a hostile upstream. It returns
// the dialer that reaches it.
func hostile(tb testing.TB, reply func(w io.Writer)) connect.DialFunc {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	serveAll(tb, ln, func(c net.Conn, _ func(net.Conn), _ func(func())) { serveRESP(c, reply) })
	addr := ln.Addr().String()
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

// serveRESP answers the commands read from c until it closes.
func serveRESP(c net.Conn, reply func(w io.Writer)) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			w.WriteString("%2\r\n+server\r\n+redis\r\n+proto\r\n:3\r\n")
		case "CLIENT", "SELECT": // go-redis's set-up of a connection
			w.WriteString("+OK\r\n")
		default:
			reply(w)
		}
		if w.Flush() != nil {
			return
		}
	}
}

// readCommand reads one command: an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 || n > 64 {
		return nil, io.ErrUnexpectedEOF
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil || size < 0 || size > 1<<16 {
			return nil, io.ErrUnexpectedEOF
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

// nested writes a reply depth levels deep: an array of one element, then
// depth-1 times prefix (the opening of one more level), the integer 1, and
// depth-1 times suffix (the end of a level). A push at the top would be
// taken for a notification, not a reply.
func nested(depth int, prefix, suffix string) func(w io.Writer) {
	return func(w io.Writer) {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString("*1\r\n")
		for range depth - 1 {
			bw.WriteString(prefix)
		}
		bw.WriteString(":1\r\n")
		for range depth - 1 {
			bw.WriteString(suffix)
		}
		bw.Flush()
	}
}

func hostileConnector(tb testing.TB, dial connect.DialFunc) *redis.Connector {
	tb.Helper()
	c, _ := MustConnector(tb, options{settings: map[string]any{"host": "127.0.0.1", "port": 6379}, dial: dial})
	return c
}

// TestDeepReply: a server that answers with replies nested a million deep
// (arrays, maps, sets, pushes, chains of attributes) gets a clear error,
// never a crash, and the next command works on a new connection.
func TestDeepReply(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prefix, suffix string
		depth          int // within the element cap
	}{
		{"arrays", "*1\r\n", "", 1_000_000},
		{"sets", "~1\r\n", "", 1_000_000},
		{"pushes", ">1\r\n", "", 1_000_000},
		{"attributes", "|0\r\n", "", 1_000_000},
		{"maps", "%1\r\n+k\r\n", "", 500_000},
		{"attribute values", "|1\r\n+k\r\n", ":2\r\n", 500_000},
		{"arrays with elements around", "*3\r\n:1\r\n", ":2\r\n", 300_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deep := true
			var mu sync.Mutex
			c := hostileConnector(t, hostile(t, func(w io.Writer) {
				mu.Lock()
				d := deep
				mu.Unlock()
				if d {
					nested(tc.depth, tc.prefix, tc.suffix)(w)
				} else {
					nested(redis.MaxReplyDepth, tc.prefix, tc.suffix)(w)
				}
			}))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := run(ctx, c, "GET", "k")
			e := mustCode(t, err, querygate.ETOOLARGE)
			if !strings.Contains(e.Message, strconv.Itoa(redis.MaxReplyDepth)) {
				t.Fatalf("message does not name the bound: %s", e.Message)
			}
			mu.Lock()
			deep = false
			mu.Unlock()
			// Within the bound, the same shape is read.
			if _, err := run(ctx, c, "GET", "k"); err != nil {
				t.Fatalf("within the bound: %v", err)
			}
		})
	}
}

// TestDeepReplyFromServer: the real server answers a script with a reply
// nested deeper than the bound (lowered here: Redis's Lua stops converting
// tables far sooner than a million levels); within the bound it is read
// whole, and the slot goes on working.
func TestDeepReplyFromServer(t *testing.T) {
	srv := MustServer(t)
	c := MustConnector2(t, srv, false, true)
	redis.SetReplyDepth(c, 20)
	const script = `local t = 1 for i = 1, tonumber(ARGV[1]) do t = {t} end return t`
	_, err := run(t.Context(), c, "EVAL", script, "0", "40")
	e := mustCode(t, err, querygate.ETOOLARGE)
	if !strings.Contains(e.Message, "levels") {
		t.Fatalf("message does not say what is too large: %s", e.Message)
	}
	r := MustRun(t, c, "EVAL", script, "0", "20")
	if want := `value:array | [` + strings.Repeat("[", 19) + "1" + strings.Repeat("]", 20); r.String() != want {
		t.Fatalf("got %s, want %s", r, want)
	}
	if r := MustRun(t, c, "PING"); r.String() != `value:string | ["PONG"]` {
		t.Fatalf("PING after: %s", r)
	}
}
