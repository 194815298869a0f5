package seal

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testCookieName = "__Host-qg-dk-ds_1"

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestCookies returns a codec for a fixed root key and salt whose clock
// reads testNow.
func newTestCookies(root Key, salt []byte) *Cookies {
	c := NewCookies(root, salt)
	c.now = func() time.Time { return testNow }
	return c
}

func TestCookiesRoundTrip(t *testing.T) {
	c := newTestCookies(testKey(0x20), testSalt(0xa0))
	tests := []struct {
		name  string
		value []byte
		ttl   time.Duration
	}{
		{"device key", append(GenerateKey().bytes(), "dev_1"...), time.Hour},
		{"empty value", []byte{}, time.Minute},
		{"one second left", []byte("v"), time.Second},
		{"sixty days", []byte("remember me"), 60 * 24 * time.Hour},
		{"binary", []byte{0, 0xff, '\n', ';', '='}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expires := testNow.Add(tt.ttl)
			enc := c.Seal(testCookieName, tt.value, expires)
			if strings.ContainsAny(enc, "=+/;, \"\\") {
				t.Errorf("encoded cookie %q holds characters outside base64url", enc)
			}
			got, exp, err := c.Open(testCookieName, enc)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.value) {
				t.Errorf("value: got %q, want %q", got, tt.value)
			}
			if !exp.Equal(expires.Truncate(time.Second)) {
				t.Errorf("expiry: got %v, want %v", exp, expires)
			}
			if len(tt.value) > 4 && strings.Contains(enc, base64.RawURLEncoding.EncodeToString(tt.value)) {
				t.Error("cookie holds the value in clear")
			}
		})
	}
	a := c.Seal(testCookieName, []byte("v"), testNow.Add(time.Hour))
	b := c.Seal(testCookieName, []byte("v"), testNow.Add(time.Hour))
	if a == b {
		t.Error("two seals of the same value are equal; want a fresh nonce each time")
	}
}

func TestCookiesExpiry(t *testing.T) {
	c := newTestCookies(testKey(0x20), testSalt(0xa0))
	expires := testNow.Add(time.Hour)
	enc := c.Seal(testCookieName, []byte("v"), expires)
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"long before", testNow.Add(-24 * time.Hour), true},
		{"a second before", expires.Add(-time.Second), true},
		{"at expiry", expires, false},
		{"a second after", expires.Add(time.Second), false},
		{"a year after", expires.AddDate(1, 0, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.now = func() time.Time { return tt.now }
			v, _, err := c.Open(testCookieName, enc)
			if tt.ok && err != nil {
				t.Errorf("Open: %v", err)
			}
			if !tt.ok && (err != ErrCookie || v != nil) {
				t.Errorf("Open: got %q, %v; want ErrCookie", v, err)
			}
		})
	}
	c.now = func() time.Time { return testNow }
	past := c.Seal(testCookieName, []byte("v"), testNow.Add(-time.Second))
	if _, _, err := c.Open(testCookieName, past); err != ErrCookie {
		t.Errorf("sealed already expired: got %v, want ErrCookie", err)
	}
}

// TestCookiesRefused checks that every kind of bad cookie fails with
// ErrCookie and nothing else, and returns no value.
func TestCookiesRefused(t *testing.T) {
	root, salt := testKey(0x20), testSalt(0xa0)
	c := newTestCookies(root, salt)
	good := c.Seal(testCookieName, []byte("device-key-material"), testNow.Add(time.Hour))
	raw, err := base64.RawURLEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	big := c.Seal(testCookieName, bytes.Repeat([]byte("x"), MaxCookieValue), testNow.Add(time.Hour))

	otherSalt := bytes.Clone(salt)
	otherSalt[0] ^= 1
	type tc struct {
		name   string
		codec  *Cookies
		cookie string
		value  string
	}
	tests := []tc{
		{"another cookie name", c, testCookieName + "x", good},
		{"another cookie name, prefix", c, "__Host-qg-dk-ds_", good},
		{"session cookie name", c, "__Host-qg-session", good},
		{"another root key", newTestCookies(testKey(0x21), salt), testCookieName, good},
		{"another salt", newTestCookies(root, otherSalt), testCookieName, good},
		{"empty", c, testCookieName, ""},
		{"one character", c, testCookieName, "A"},
		{"not base64", c, testCookieName, "!!!!not-base64!!!!"},
		{"standard alphabet", c, testCookieName, strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/"},
		{"padded", c, testCookieName, base64.URLEncoding.EncodeToString(raw)},
		{"surrounded by spaces", c, testCookieName, " " + good + " "},
		{"quoted", c, testCookieName, `"` + good + `"`},
		{"version 0", c, testCookieName, enc(append([]byte{0}, raw[1:]...))},
		{"version 2", c, testCookieName, enc(append([]byte{2}, raw[1:]...))},
		{"random bytes", c, testCookieName, enc(GenerateKey().bytes())},
		{"header only", c, testCookieName, enc(raw[:1+nonceSize+tagSize+7])},
		{"appended byte", c, testCookieName, enc(append(bytes.Clone(raw), 0))},
		{"doubled", c, testCookieName, good + good},
		{"oversized garbage", c, testCookieName, strings.Repeat("A", MaxCookieValue+1)},
		{"oversized but genuine", c, testCookieName, big},
	}
	if len(big) <= MaxCookieValue {
		t.Fatalf("big cookie is %d characters, want over %d", len(big), MaxCookieValue)
	}
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x01 << (i % 8)
		tests = append(tests, tc{name: "flipped bit in byte " + strconv.Itoa(i), codec: c, cookie: testCookieName, value: enc(b)})
		b[i] ^= 0x01<<(i%8) | 0x80>>(i%8)
		tests = append(tests, tc{name: "other flipped bit in byte " + strconv.Itoa(i), codec: c, cookie: testCookieName, value: enc(b)})
	}
	for n := range len(good) {
		tests = append(tests, tc{name: "truncated to " + strconv.Itoa(n), codec: c, cookie: testCookieName, value: good[:n]})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, exp, err := tt.codec.Open(tt.cookie, tt.value)
			if err != ErrCookie {
				t.Errorf("Open: got %v, want ErrCookie", err)
			}
			if v != nil || !exp.IsZero() {
				t.Errorf("Open: got value %q, expiry %v with the error; want none", v, exp)
			}
		})
	}
}

// TestCookiesCanonicalEncoding checks that a cookie opens only in the exact
// form Seal wrote: no other spelling of the same bytes is accepted.
func TestCookiesCanonicalEncoding(t *testing.T) {
	c := newTestCookies(testKey(0x20), testSalt(0xa0))
	for n := range 3 {
		value := bytes.Repeat([]byte("v"), n)
		good := c.Seal(testCookieName, value, testNow.Add(time.Hour))
		if _, _, err := c.Open(testCookieName, good); err != nil {
			t.Fatalf("Open: %v", err)
		}
		variants := map[string]string{
			"newline inside":     good[:10] + "\n" + good[10:],
			"carriage return":    good[:10] + "\r" + good[10:],
			"trailing newline":   good + "\n",
			"trailing CRLF":      good + "\r\n",
			"leading newline":    "\n" + good,
			"padding appended":   good + "=",
			"two paddings":       good + "==",
			"trailing space":     good + " ",
			"leading whitespace": "\t" + good,
		}
		// When the byte length is not a multiple of three, the last
		// character carries unused low bits: setting them spells the same
		// bytes another way.
		if rem := (1 + nonceSize + 8 + n + tagSize) % 3; rem != 0 {
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, good[len(good)-1])
			unused := 4 // two bytes left over: 16 bits in 3 characters
			if rem == 1 {
				unused = 16 // one byte left over: 8 bits in 2 characters
			}
			for d := 1; d < unused; d++ {
				variants["unused bits set "+strconv.Itoa(d)] = good[:len(good)-1] + string(alphabet[last|d])
			}
		}
		for name, v := range variants {
			if v == good {
				continue
			}
			if _, _, err := c.Open(testCookieName, v); err != ErrCookie {
				t.Errorf("value length %d, %s: got %v, want ErrCookie", n, name, err)
			}
		}
	}
}

func TestCookiesConcurrent(t *testing.T) {
	c := newTestCookies(testKey(0x20), testSalt(0xa0))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				v := []byte(strconv.Itoa(g*1000 + i))
				enc := c.Seal(testCookieName, v, testNow.Add(time.Hour))
				got, _, err := c.Open(testCookieName, enc)
				if err != nil || !bytes.Equal(got, v) {
					t.Errorf("Open: got %q, %v; want %q", got, err, v)
					return
				}
			}
		})
	}
	wg.Wait()
}
