package redis

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestMeter(t *testing.T) {
	for _, tc := range []struct {
		name             string
		reply            string
		maxBytes, maxEls int64
		want             error
		depth            int // 0: 3
	}{
		{"simple", "+OK\r\n", 100, 10, nil, 0},
		{"bulk within", "$5\r\nhello\r\n", 11, 10, nil, 0},
		{"bulk over", "$5\r\nhello\r\n", 10, 10, errReplyTooLarge, 0},
		// Refused at the header, before the payload arrives.
		{"bulk declared over", "$1000000\r\n", 1000, 10, errReplyTooLarge, 0},
		{"nil bulk", "$-1\r\n", 100, 10, nil, 0},
		{"array within", "*2\r\n$1\r\na\r\n:1\r\n", 100, 2, nil, 0},
		{"array over", "*3\r\n$1\r\na\r\n:1\r\n:2\r\n", 100, 2, errReplyTooLarge, 0},
		{"array declared over", "*9999999\r\n", 100, 2, errReplyTooLarge, 0},
		{"nested arrays count", "*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", 100, 3, errReplyTooLarge, 0},
		{"map counts keys and values", "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", 100, 3, errReplyTooLarge, 0},
		{"map within", "%1\r\n+a\r\n:1\r\n", 100, 2, nil, 0},
		{"set", "~1\r\n+a\r\n", 100, 1, nil, 0},
		{"verbatim", "=8\r\ntxt:abcd\r\n", 100, 1, nil, 0},
		{"bulk error", "!3\r\nERR\r\n", 100, 1, nil, 0},
		{"payload with CR LF inside", "$4\r\n\r\n\r\n\r\n:1\r\n", 100, 1, nil, 0},
		{"length not a number", "$x\r\n", 100, 1, errReplyMalformed, 0},
		{"length too long", "*" + strings.Repeat("1", 40) + "\r\n", 1 << 40, 1 << 40, errReplyMalformed, 0},
		{"negative length", "$-5\r\n", 100, 1, errReplyMalformed, 0},
		{"long status line", "+" + strings.Repeat("x", 500) + "\r\n", 1000, 1, nil, 0},
		{"long status line over", "+" + strings.Repeat("x", 500) + "\r\n", 100, 1, errReplyTooLarge, 0},
		{"depth within", "*1\r\n*1\r\n*1\r\n:1\r\n", 100, 10, nil, 0},
		{"depth over", "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 100, 10, errReplyTooDeep, 0},
		// Refused at the header that opens the level too many.
		{"depth over declared", "*1\r\n*1\r\n*1\r\n*1\r\n", 100, 10, errReplyTooDeep, 0},
		{"siblings do not nest", "*3\r\n*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n:1\r\n", 100, 10, nil, 0},
		{"replies do not nest", "*1\r\n*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 100, 10, nil, 0},
		{"maps nest by value", "%1\r\n+k\r\n%1\r\n+k\r\n%1\r\n+k\r\n%1\r\n+k\r\n:1\r\n", 100, 10, errReplyTooDeep, 0},
		{"maps close", "%2\r\n+k\r\n%1\r\n+k\r\n%1\r\n+k\r\n:1\r\n+j\r\n%1\r\n+k\r\n:1\r\n", 100, 10, nil, 0},
		{"empty and nil aggregates", "*2\r\n*0\r\n*2\r\n*-1\r\n%0\r\n", 100, 10, nil, 0},
		{"sets and pushes", "~1\r\n>1\r\n~1\r\n>1\r\n:1\r\n", 100, 10, errReplyTooDeep, 0},
		// go-redis reads the value after an attribute in a call of its
		// own: a chain of attributes nests.
		{"attribute chain", "|0\r\n|0\r\n|0\r\n|0\r\n:1\r\n", 100, 10, errReplyTooDeep, 0},
		{"attribute chain within", "|0\r\n|0\r\n|-1\r\n:1\r\n:2\r\n", 100, 10, nil, 0},
		{"attribute then value", "*1\r\n|1\r\n+k\r\n+v\r\n*1\r\n:1\r\n", 100, 10, nil, 0},
		{"attribute entries nest", "|1\r\n+k\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 100, 10, errReplyTooDeep, 0},
		{"depth one", "*1\r\n*1\r\n:1\r\n", 100, 10, errReplyTooDeep, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and one byte at a time.
			for _, step := range []int{len(tc.reply), 1, 3} {
				depth := tc.depth
				if depth == 0 {
					depth = 3
				}
				m := newMeter(tc.maxBytes, tc.maxEls, depth)
				var err error
				for i := 0; i < len(tc.reply) && err == nil; i += step {
					err = m.feed([]byte(tc.reply[i:min(i+step, len(tc.reply))]))
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("step %d: got %v, want %v", step, err, tc.want)
				}
			}
		})
	}
	t.Run("reset starts a new budget", func(t *testing.T) {
		m := newMeter(12, 10, 3)
		if err := m.feed([]byte("$5\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := m.feed([]byte("$5\r\nhello\r\n")); !errors.Is(err, errReplyTooLarge) {
			t.Fatalf("second reply: %v", err)
		}
		m.reset()
		if err := m.feed([]byte("$5\r\nhello\r\n")); err != nil {
			t.Fatalf("after reset: %v", err)
		}
	})
}

// FuzzMeter feeds any bytes, whole and in pieces: the meter never panics,
// gives the same answer however the bytes are cut, never passes more bytes
// than its cap, and passes exactly the nesting that go-redis's recursive
// reader (refDepth) would enter within its depth.
func FuzzMeter(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "$5\r\nhello\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n+a\r\n:1\r\n", "$-1\r\n",
		"*-1\r\n", "$99999999999999999999\r\n", "|1\r\n+a\r\n+b\r\n", ">2\r\n+x\r\n+y\r\n", "\r\n\n\n$",
		"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "|0\r\n|0\r\n|0\r\n|0\r\n:1\r\n", "%1\r\n+k\r\n~1\r\n>1\r\n*0\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		const maxBytes, maxEls, maxDepth = 64, 8, 3
		whole := newMeter(maxBytes, maxEls, maxDepth)
		werr := whole.feed(b)
		cut := newMeter(maxBytes, maxEls, maxDepth)
		var cerr error
		n := max(int(step), 1)
		for i := 0; i < len(b) && cerr == nil; i += n {
			cerr = cut.feed(b[i:min(i+n, len(b))])
		}
		if !errors.Is(cerr, werr) && !errors.Is(werr, cerr) {
			t.Fatalf("whole: %v, in pieces of %d: %v", werr, n, cerr)
		}
		if werr == nil && (whole.bytes > maxBytes || whole.elems > maxEls) {
			t.Fatalf("passed %d bytes, %d elements", whole.bytes, whole.elems)
		}
		if werr == nil && int64(len(b)) > maxBytes {
			t.Fatalf("passed %d bytes over the cap", len(b))
		}
		if len(whole.open) > maxDepth {
			t.Fatalf("%d aggregates open", len(whole.open))
		}
		switch d := refDepth(b); {
		case werr == nil && d > maxDepth:
			t.Fatalf("passed a reply %d deep", d)
		case errors.Is(werr, errReplyTooDeep) && d <= maxDepth:
			t.Fatalf("refused a reply %d deep as too deep", d)
		}
	})
}

// refDepth is the deepest nesting of aggregates that go-redis's reader
// would enter reading the replies in b, one after the other, up to where
// b ends or stops being RESP: a plain recursive reading, as go-redis's,
// for small inputs. Like go-redis, it reads the value an attribute
// annotates one level down, as another call.
func refDepth(b []byte) int {
	deepest := 0
	// line returns the next line without its LF, or false at the end.
	line := func() ([]byte, bool) {
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return nil, false
			}
			l := b[:i]
			b = b[i+1:]
			if len(l) > 0 {
				return l, true
			}
			// An empty line is no value: the meter passes over it
			// (go-redis refuses it, which ends the connection).
		}
	}
	length := func(l []byte) (int64, bool) {
		n, err := strconv.ParseInt(string(bytes.TrimSuffix(l[1:], []byte{'\r'})), 10, 64)
		return n, err == nil && n >= -1
	}
	var value func(depth int) bool
	values := func(n int64, depth int) bool {
		for range n {
			if !value(depth) {
				return false
			}
		}
		return true
	}
	value = func(depth int) bool {
		l, ok := line()
		if !ok {
			return false
		}
		switch l[0] {
		case '$', '=', '!':
			n, ok := length(l)
			if !ok {
				return false
			}
			if n >= 0 {
				if int64(len(b)) < n+2 {
					b = nil
					return false
				}
				b = b[n+2:]
			}
		case '*', '~', '>', '%':
			n, ok := length(l)
			if !ok {
				return false
			}
			if l[0] == '%' {
				n *= 2
			}
			if n > 0 {
				deepest = max(deepest, depth+1)
				return values(n, depth+1)
			}
		case '|':
			n, ok := length(l)
			if !ok {
				return false
			}
			deepest = max(deepest, depth+1)
			return values(max(2*n, 0), depth+1) && value(depth+1)
		}
		return true
	}
	for len(b) > 0 && value(0) {
	}
	return deepest
}
