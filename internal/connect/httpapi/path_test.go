package httpapi

import (
	"net/url"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

func mustBase(tb testing.TB, raw string) *base {
	tb.Helper()
	b, err := parseBase(raw)
	if err != nil {
		tb.Fatalf("parseBase(%q): %v", raw, err)
	}
	return b
}

func TestResolvePathAccepted(t *testing.T) {
	tests := []struct {
		base, path, want string
	}{
		{"https://api.example.com/v1/", "", "https://api.example.com/v1/"},
		{"https://api.example.com/v1/", "/", "https://api.example.com/v1/"},
		{"https://api.example.com/v1/", "users", "https://api.example.com/v1/users"},
		{"https://api.example.com/v1/", "/users/42", "https://api.example.com/v1/users/42"},
		{"https://api.example.com/v1/", "users/", "https://api.example.com/v1/users/"},
		{"https://api.example.com/v1/", "a/./b", "https://api.example.com/v1/a/b"},
		{"https://api.example.com/v1/", "./a", "https://api.example.com/v1/a"},
		{"https://api.example.com/v1/", "a/../b", "https://api.example.com/v1/b"},
		{"https://api.example.com/v1/", "a/%2e%2e/b", "https://api.example.com/v1/b"},
		{"https://api.example.com/v1/", "a/%2E/b", "https://api.example.com/v1/a/b"},
		{"https://api.example.com/v1/", "a/..", "https://api.example.com/v1/"},
		{"https://api.example.com/v1/", "a/b/../", "https://api.example.com/v1/a/"},
		{"https://api.example.com/v1/", "/users/@me", "https://api.example.com/v1/users/@me"},
		{"https://api.example.com/v1/", "/@me", "https://api.example.com/v1/@me"},
		{"https://api.example.com/v1/", "files/a b", "https://api.example.com/v1/files/a%20b"},
		{"https://api.example.com/v1/", "files/a%20b", "https://api.example.com/v1/files/a%20b"},
		{"https://api.example.com/v1/", "search/a+b", "https://api.example.com/v1/search/a+b"},
		{"https://api.example.com/v1/", "items/urn:x:1", "https://api.example.com/v1/items/urn:x:1"},
		{"https://api.example.com/v1/", "100%25off", "https://api.example.com/v1/100%25off"},
		{"https://api.example.com/v1/", "café", "https://api.example.com/v1/caf%C3%A9"},
		{"https://api.example.com/v1/", "caf%C3%A9", "https://api.example.com/v1/caf%C3%A9"},
		{"https://api.example.com/v1/", "a;b", "https://api.example.com/v1/a%3Bb"},
		{"https://api.example.com/v1/", "a%3Fb%23c", "https://api.example.com/v1/a%3Fb%23c"},
		{"https://api.example.com/v1/", "..a/b..", "https://api.example.com/v1/..a/b.."},
		{"http://127.0.0.1:8080/v1", "", "http://127.0.0.1:8080/v1"},
		{"http://127.0.0.1:8080/v1", "x", "http://127.0.0.1:8080/v1/x"},
		{"http://127.0.0.1:8080/v1", "x/../y", "http://127.0.0.1:8080/v1/y"},
		{"https://api.example.com", "", "https://api.example.com/"},
		{"https://api.example.com", "x", "https://api.example.com/x"},
		{"http://[::1]:9000/a/b/", "c", "http://[::1]:9000/a/b/c"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.path, func(t *testing.T) {
			b := mustBase(t, tt.base)
			u, err := resolvePath(b, tt.path)
			if err != nil {
				t.Fatalf("resolvePath(%q): %v", tt.path, err)
			}
			if got := u.String(); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			checkUnder(t, tt.base, u)
		})
	}
}

// escapes are paths that try to leave the base URL (or that some server
// could read as doing so), in every form: each must be refused.
var escapes = []string{
	// climbing
	"..", "../", "/..", "/../", "../x", "../v1/x", "../v10", "a/../..", "a/../../v10", "./..", "a/./../..",
	// encoded dots
	"%2e%2e", "%2E%2E/x", ".%2e", "%2e.", "%2e%2e/", "a/%2e%2e/%2e%2e/x",
	// double and triple encoding
	"%252e%252e", "%252e%252e/x", "%25%32%65%25%32%65", "%25252e%25252e", "a%252fb", "%255c", "%2500",
	// encoded separators
	"..%2fadmin", "%2f", "a%2Fb", "%2F%2Fevil.com", "%5c", "a%5Cb", "..%5c..%5cx", "%2e%2e%2f", "%2e%2e%5c",
	// backslashes
	"a\\b", "..\\", "\\\\evil.com\\x", "\\..",
	// NUL and control characters, raw and encoded
	"%00", "a%00b", "a\x00b", "a\nb", "a\rb", "a%0d%0aSet-Cookie:x", "a%0ab", "\t", "a%09b", "a%7f", "a\x7f", "a%c2%85b",
	// scheme, host, user information
	"//evil.com", "//evil.com/x", "///evil.com", "http://evil.com", "https:evil.com", "HTTPS://evil.com",
	"javascript:alert(1)", "mailto:x@y", "file:///etc/passwd", "user@evil.com", "user:pw@evil.com", "@evil.com",
	"a//b",
	// query and fragment
	"a?b=1", "?x", "a#frag", "#",
	// disguised dot segments
	"..;/admin", "a/..;/..;/x", ".;x", "...", "....", ". .", ".. ", " ..", "a/.../b",
	// overlong UTF-8 and invalid encodings
	"%c0%ae%c0%ae", "%c0%ae%c0%ae/x", "%c0%af", "%e0%80%ae", "%ff", "\xff", "%", "%zz", "a%2", "%u002e%u002e",
	// Unicode look-alikes
	"\uff0e\uff0e", "\uff0e\uff0e/x", "a\u2215b", "a\uff0fb", "a\uff3cb", "%EF%BC%8E%EF%BC%8E", "\u2025", "a\u2216b",
}

func TestResolvePathRefused(t *testing.T) {
	long := strings.Repeat("a/", maxPath)
	for _, b := range []string{"https://api.example.com/v1/", "http://127.0.0.1:8080/v1", "https://api.example.com"} {
		base := mustBase(t, b)
		for _, p := range append(escapes, long) {
			t.Run(b+" "+p, func(t *testing.T) {
				u, err := resolvePath(base, p)
				if err == nil {
					t.Fatalf("resolvePath(%q) = %s, want refused", p, u)
				}
				if code := querygate.ErrorCode(err); code != querygate.EINVALID {
					t.Fatalf("code %s, want %s", code, querygate.EINVALID)
				}
				if msg := querygate.ErrorMessage(err); len(p) > 3 && strings.Contains(msg, p) {
					t.Fatalf("message quotes the path: %s", msg)
				}
			})
		}
	}
}

func TestParseBase(t *testing.T) {
	for _, raw := range []string{
		"ftp://x/", "https://", "https://user:pw@x/", "https://x/?a=1", "https://x/#f", "https://x/a/../b",
		"https://x/a%2fb", "https://x//a", "https://x/./a", "https://x/a\\b", "//x/a", "x/a", "https://x/a/..;/",
	} {
		if _, err := parseBase(raw); err == nil {
			t.Errorf("parseBase(%q) accepted", raw)
		}
	}
	b := mustBase(t, "HTTPS://API.Example.com:443/v1/")
	if b.origin != "https://api.example.com:443" {
		t.Errorf("origin %s", b.origin)
	}
}

func TestUnderSegmentBoundary(t *testing.T) {
	b := mustBase(t, "https://api.example.com/v1")
	for raw, want := range map[string]bool{
		"https://api.example.com/v1":         true,
		"https://api.example.com/v1/":        true,
		"https://api.example.com/v1/x":       true,
		"https://api.example.com:443/v1/x":   true,
		"https://API.example.com/v1/x":       true,
		"https://api.example.com/v10":        false,
		"https://api.example.com/v1x/y":      false,
		"https://api.example.com/":           false,
		"https://api.example.com/v1/../x":    false,
		"https://api.example.com/v1/%2e%2e/": false,
		"https://api.example.com/v1%2fx":     false,
		"http://api.example.com/v1/x":        false,
		"https://api.example.com:8443/v1/x":  false,
		"https://evil.com/v1/x":              false,
		"https://u:p@api.example.com/v1/x":   false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.under(u); got != want {
			t.Errorf("under(%s) = %v, want %v", raw, got, want)
		}
	}
}

// checkUnder is the property the resolver promises, checked independently
// of its own code: the URL as sent has base's scheme, host and port, and a
// path at or below base's path, segment by segment, with no dot segment,
// no encoded separator, no control character and no escape left after one
// decoding.
func checkUnder(tb testing.TB, rawBase string, u *url.URL) {
	tb.Helper()
	bu, _ := url.Parse(rawBase)
	got, err := url.Parse(u.String())
	if err != nil {
		tb.Fatalf("result %q does not parse: %v", u, err)
	}
	port := func(x *url.URL) string {
		if p := x.Port(); p != "" {
			return p
		}
		if x.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	if got.Scheme != bu.Scheme || !strings.EqualFold(got.Hostname(), bu.Hostname()) || port(got) != port(bu) ||
		got.User != nil || got.RawQuery != "" || got.Fragment != "" {
		tb.Fatalf("result %s left the origin of %s", got, rawBase)
	}
	basePath := strings.TrimSuffix(bu.Path, "/")
	if got.Path != basePath && !strings.HasPrefix(got.Path, basePath+"/") {
		tb.Fatalf("result %s is not under %s", got, rawBase)
	}
	esc := got.EscapedPath()
	if low := strings.ToLower(esc); strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(esc, "//") || strings.Contains(esc, "\\") {
		tb.Fatalf("result %s holds a separator in disguise", got)
	}
	for raw := range strings.SplitSeq(esc, "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			tb.Fatalf("result %s holds invalid escapes", got)
		}
		core, _, _ := strings.Cut(seg, ";")
		if strings.Contains(core, ".") && strings.Trim(core, ". ") == "" {
			tb.Fatalf("result %s holds a dot segment", got)
		}
		for i := 0; i < len(seg); i++ {
			if seg[i] < 0x20 || seg[i] == 0x7f {
				tb.Fatalf("result %s holds a control character", got)
			}
			if seg[i] == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]) {
				tb.Fatalf("result %s is still encoded after one decoding", got)
			}
		}
	}
}

var fuzzBases = []string{"https://api.example.com/v1/", "http://127.0.0.1:8080/v1", "https://api.example.com", "http://[::1]:9000/a/b/"}

// FuzzResolvePath checks that any path the resolver accepts stays under its
// base URL (checkUnder), whatever the input.
func FuzzResolvePath(f *testing.F) {
	for _, p := range escapes {
		f.Add(uint8(0), p)
		f.Add(uint8(1), p)
	}
	for _, p := range []string{"", "/", "users/42", "a/../b", "a/%2e%2e/b", "/users/@me", "café", "100%25off", "x/./y/"} {
		f.Add(uint8(2), p)
		f.Add(uint8(3), p)
	}
	bases := make([]*base, len(fuzzBases))
	for i, raw := range fuzzBases {
		bases[i] = mustBase(f, raw)
	}
	f.Fuzz(func(t *testing.T, which uint8, p string) {
		i := int(which) % len(bases)
		u, err := resolvePath(bases[i], p)
		if err != nil {
			if querygate.ErrorCode(err) != querygate.EINVALID {
				t.Fatalf("code %s", querygate.ErrorCode(err))
			}
			return
		}
		checkUnder(t, fuzzBases[i], u)
	})
}
