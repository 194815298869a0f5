package redis

import (
	"errors"
	"strings"
	"testing"
)

func TestMeter(t *testing.T) {
	for _, tc := range []struct {
		name             string
		reply            string
		maxBytes, maxEls int64
		want             error
	}{
		{"simple", "+OK\r\n", 100, 10, nil},
		{"bulk within", "$5\r\nhello\r\n", 11, 10, nil},
		{"bulk over", "$5\r\nhello\r\n", 10, 10, errReplyTooLarge},
		// Refused at the header, before the payload arrives.
		{"bulk declared over", "$1000000\r\n", 1000, 10, errReplyTooLarge},
		{"nil bulk", "$-1\r\n", 100, 10, nil},
		{"array within", "*2\r\n$1\r\na\r\n:1\r\n", 100, 2, nil},
		{"array over", "*3\r\n$1\r\na\r\n:1\r\n:2\r\n", 100, 2, errReplyTooLarge},
		{"array declared over", "*9999999\r\n", 100, 2, errReplyTooLarge},
		{"nested arrays count", "*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", 100, 3, errReplyTooLarge},
		{"map counts keys and values", "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", 100, 3, errReplyTooLarge},
		{"map within", "%1\r\n+a\r\n:1\r\n", 100, 2, nil},
		{"set", "~1\r\n+a\r\n", 100, 1, nil},
		{"verbatim", "=8\r\ntxt:abcd\r\n", 100, 1, nil},
		{"bulk error", "!3\r\nERR\r\n", 100, 1, nil},
		{"payload with CR LF inside", "$4\r\n\r\n\r\n\r\n:1\r\n", 100, 1, nil},
		{"length not a number", "$x\r\n", 100, 1, errReplyMalformed},
		{"length too long", "*" + strings.Repeat("1", 40) + "\r\n", 1 << 40, 1 << 40, errReplyMalformed},
		{"negative length", "$-5\r\n", 100, 1, errReplyMalformed},
		{"long status line", "+" + strings.Repeat("x", 500) + "\r\n", 1000, 1, nil},
		{"long status line over", "+" + strings.Repeat("x", 500) + "\r\n", 100, 1, errReplyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and one byte at a time.
			for _, step := range []int{len(tc.reply), 1, 3} {
				m := newMeter(tc.maxBytes, tc.maxEls)
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
		m := newMeter(12, 10)
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
// gives the same answer however the bytes are cut, and never passes more
// bytes than its cap.
func FuzzMeter(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "$5\r\nhello\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n+a\r\n:1\r\n", "$-1\r\n",
		"*-1\r\n", "$99999999999999999999\r\n", "|1\r\n+a\r\n+b\r\n", ">2\r\n+x\r\n+y\r\n", "\r\n\n\n$"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		const maxBytes, maxEls = 64, 8
		whole := newMeter(maxBytes, maxEls)
		werr := whole.feed(b)
		cut := newMeter(maxBytes, maxEls)
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
	})
}
