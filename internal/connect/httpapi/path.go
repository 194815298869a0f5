package httpapi

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// maxPath bounds the caller's path.
const maxPath = 8 << 10

// base is a datasource's base_url, checked and split into decoded path
// segments.
type base struct {
	scheme string // http or https
	host   string // host[:port] as configured
	origin string // scheme://host:port, lower case, port always present
	segs   []string
	// trailing is true when base_url's path ends with a slash.
	trailing bool
}

// parseBase checks base_url: http or https, a host, no user information,
// query or fragment, and a path whose segments are plain names (no dot
// segments, no encoded slash or backslash, no control characters). Its
// messages never quote the URL.
func parseBase(raw string) (*base, error) {
	bad := func() error {
		return connect.Errorf(connect.ECONFIG, "The setting base_url must be an http or https URL with a host, and no user name, query or fragment.")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "#\\") {
		return nil, bad()
	}
	b := &base{scheme: u.Scheme, host: u.Host, origin: originOf(u)}
	p := u.EscapedPath()
	if p != "" && p[0] != '/' {
		return nil, bad()
	}
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		return b, nil
	}
	b.trailing = strings.HasSuffix(rel, "/")
	for raw := range strings.SplitSeq(strings.TrimSuffix(rel, "/"), "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil || seg == "" || segmentProblem(seg) != "" || isDotSegment(seg) {
			return nil, connect.Errorf(connect.ECONFIG, "The path of the setting base_url must be plain segments: no empty or dot segments, no encoded slash or backslash, no control characters.")
		}
		b.segs = append(b.segs, seg)
	}
	return b, nil
}

// originOf returns scheme://host:port in lower case with the default port
// filled in, so that two spellings of one origin compare equal.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// url returns the URL of a path made of base's segments and then rel
// (decoded segments), with a trailing slash when trailing is true.
func (b *base) url(rel []string, trailing bool) *url.URL {
	segs := append(append([]string(nil), b.segs...), rel...)
	if len(rel) == 0 {
		trailing = b.trailing
	}
	var dec, enc strings.Builder
	for _, s := range segs {
		dec.WriteByte('/')
		dec.WriteString(s)
		enc.WriteByte('/')
		enc.WriteString(url.PathEscape(s))
	}
	if trailing || len(segs) == 0 {
		dec.WriteByte('/')
		enc.WriteByte('/')
	}
	u := &url.URL{Scheme: b.scheme, Host: b.host, Path: dec.String()}
	if e := enc.String(); e != dec.String() {
		u.RawPath = e
	}
	return u
}

// under reports whether u is at base's origin and its path is base's path
// or below it, on a segment boundary (/v1 holds /v1 and /v1/x, never
// /v10), with no dot segment anywhere.
func (b *base) under(u *url.URL) bool {
	if u == nil || u.User != nil || u.Opaque != "" || originOf(u) != b.origin {
		return false
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsAny(p, "\\") {
		return false
	}
	var segs []string
	for raw := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil || strings.ContainsAny(seg, "/\\") || isDotSegment(seg) {
			return false
		}
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	if len(segs) < len(b.segs) {
		return false
	}
	for i, s := range b.segs {
		if segs[i] != s {
			return false
		}
	}
	return true
}

// pathError is the refusal of a caller's path. Messages never quote it.
func pathError(why string) error {
	return querygate.FieldErrorf("path", "path: %s", why)
}

// resolvePath resolves the caller's path p under base and returns the URL
// to request (without a query). The result can never leave base: another
// scheme, host or user, a way up past base's path, or a form that some
// server might decode into one, is refused:
//
//   - control characters (NUL, CR, LF, ...), backslashes, '?' and '#'
//     (the query goes in "query"), and text that is not UTF-8;
//   - a leading scheme ("http:", "javascript:"), any "//" (a host or an
//     empty segment), and a relative first segment holding '@' (the tail of
//     an authority, "user@host");
//   - percent-encoded slash, backslash or control character (%2f, %5c,
//     %00), invalid percent-encoding, and double encoding (a segment that
//     still holds an escape such as %2e after one decoding, from %252e);
//   - dot segments with parameters ("..;x", which Tomcat reads as ".."),
//     segments of only dots and spaces other than "." and "..", and
//     Unicode look-alikes of dots, slashes and backslashes.
//
// The dot segments "." and ".." (raw or encoded as %2e) are then
// normalised as RFC 3986 says; a ".." that would climb above base's path
// is refused, never clamped. Each segment is re-encoded with
// url.PathEscape, and the result is checked once more with base.under.
// A leading slash is optional: "/users" and "users" both name
// base_url's path + "/users".
func resolvePath(b *base, p string) (*url.URL, error) {
	if len(p) > maxPath {
		return nil, pathError("is too long (at most 8 KiB)")
	}
	if !utf8.ValidString(p) {
		return nil, pathError("must be valid UTF-8")
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return nil, pathError("must not contain control characters")
		case c == '\\':
			return nil, pathError("must not contain a backslash")
		case c == '?' || c == '#':
			return nil, pathError("must not contain '?' or '#'; send the query string in query")
		}
	}
	if hasScheme(p) {
		return nil, pathError("must be a path under the datasource's base URL, not a URL")
	}
	if strings.Contains(p, "//") {
		return nil, pathError("must not contain \"//\" (a host or an empty segment)")
	}
	absolute := strings.HasPrefix(p, "/")
	rel := strings.TrimPrefix(p, "/")
	var stack []string
	trailing := false
	if rel != "" {
		raws := strings.Split(rel, "/")
		for i, raw := range raws {
			last := i == len(raws)-1
			if raw == "" { // only the last one can be empty: "//" is refused
				trailing = true
				break
			}
			seg, err := url.PathUnescape(raw)
			if err != nil {
				return nil, pathError("holds invalid percent-encoding")
			}
			if why := segmentProblem(seg); why != "" {
				return nil, pathError(why)
			}
			if i == 0 && !absolute && strings.Contains(seg, "@") {
				return nil, pathError("must not start with user information (\"user@host\"); start it with / if '@' belongs to the path")
			}
			switch seg {
			case ".":
				trailing = last
				continue
			case "..":
				if len(stack) == 0 {
					return nil, pathError("must not climb above the datasource's base URL (\"..\")")
				}
				stack = stack[:len(stack)-1]
				trailing = last
				continue
			}
			if isDotSegment(seg) {
				return nil, pathError("must not hold a disguised dot segment (\"..;\", \"...\", \". .\")")
			}
			stack = append(stack, seg)
			trailing = false
		}
	}
	u := b.url(stack, trailing)
	// A second, independent check on the URL as it will be sent.
	back, err := url.Parse(u.String())
	if err != nil || !b.under(back) || back.RawQuery != "" || back.Fragment != "" {
		return nil, pathError("must stay under the datasource's base URL")
	}
	return u, nil
}

// hasScheme reports whether p starts like an absolute URL ("scheme:").
func hasScheme(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') && i > 0:
		case c == ':' && i > 0:
			return true
		default:
			return false
		}
	}
	return false
}

// segmentProblem says what is wrong with one decoded segment, or "".
func segmentProblem(seg string) string {
	if !utf8.ValidString(seg) {
		return "must be valid UTF-8 once decoded (no overlong encodings)"
	}
	for i, r := range seg {
		switch {
		case r == '/' || r == '\\':
			return "must not contain an encoded slash or backslash (%2f, %5c)"
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "must not contain control characters, encoded or not"
		case lookAlike[r]:
			return "must not contain look-alikes of dots, slashes or backslashes"
		case r == '%' && i+2 < len(seg) && isHex(seg[i+1]) && isHex(seg[i+2]):
			return "must not be encoded twice (%25 followed by an escape)"
		}
	}
	return ""
}

// isDotSegment reports whether seg is, or might be read by some server as,
// "." or "..": the dot segments themselves, with parameters ("..;a"), or
// any run of only dots and spaces (IIS trims trailing dots and spaces).
func isDotSegment(seg string) bool {
	core, _, _ := strings.Cut(seg, ";")
	return core != "" && strings.Trim(core, ". ") == "" && strings.Contains(core, ".")
}

// lookAlike holds characters that some servers or file systems fold into
// '.', '/' or '\' (Unicode compatibility normalisation).
var lookAlike = map[rune]bool{
	'\u2024': true, // ONE DOT LEADER
	'\u2025': true, // TWO DOT LEADER
	'\u2026': true, // HORIZONTAL ELLIPSIS
	'\uFE52': true, // SMALL FULL STOP
	'\uFF0E': true, // FULLWIDTH FULL STOP
	'\u2215': true, // DIVISION SLASH
	'\u2044': true, // FRACTION SLASH
	'\uFF0F': true, // FULLWIDTH SOLIDUS
	'\u29F8': true, // BIG SOLIDUS
	'\u2216': true, // SET MINUS
	'\uFE68': true, // SMALL REVERSE SOLIDUS
	'\uFF3C': true, // FULLWIDTH REVERSE SOLIDUS
	'\u29F5': true, // REVERSE SOLIDUS OPERATOR
	'\u29F9': true, // BIG REVERSE SOLIDUS
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
