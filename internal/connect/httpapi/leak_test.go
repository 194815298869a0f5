package httpapi_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// More canaries, for the forms the ASCII ones cannot show: a non-ASCII
// secret (Latin-1), one with slashes (JSON's \/), one with a space
// (form encoding's +).
const (
	intlSecret  = "CANARY-sécrèt-9a1f"
	slashSecret = "CANARY/slash/31c7"
	spaceSecret = "CANARY space 8d2e"
)

var formCanaries = append(append([]string(nil), canaries...), intlSecret, slashSecret, spaceSecret)

// formSecrets are allSecrets and the three above as secret headers.
func formSecrets() map[string]any {
	s := allSecrets()
	s["secret_headers"] = map[string]string{"X-Secret": secretHeader, "X-Intl": intlSecret, "X-Slash": slashSecret, "X-Space": spaceSecret}
	return s
}

// sentSecrets returns the secrets as the upstream received them.
func sentSecrets(r *http.Request) []string {
	return []string{strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), r.Header.Get("X-Key"),
		r.Header.Get("X-Secret"), r.Header.Get("X-Intl"), r.Header.Get("X-Slash"), r.Header.Get("X-Space")}
}

func utf16Of(s string, be, bom bool) []byte {
	var b []byte
	if bom {
		if be {
			b = append(b, 0xfe, 0xff)
		} else {
			b = append(b, 0xff, 0xfe)
		}
	}
	for _, c := range utf16.Encode([]rune(s)) {
		if be {
			b = append(b, byte(c>>8), byte(c))
		} else {
			b = append(b, byte(c), byte(c>>8))
		}
	}
	return b
}

func fromUTF16(b []byte, be bool) string {
	if len(b) >= 2 && (b[0] == 0xff && b[1] == 0xfe || b[0] == 0xfe && b[1] == 0xff) {
		b = b[2:]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if be {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	return string(utf16.Decode(u))
}

func latin1Of(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r))
	}
	return b
}

func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// jsonEscaped writes s as PHP does (\/ for /) with every other character
// as \uXXXX.
func jsonEscaped(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '/':
			b.WriteString(`\/`)
		case i%2 == 0 || r > 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// percentAll percent-encodes every byte, hex case alternating, with '+'
// for a space.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == ' ':
			b.WriteByte('+')
		case i%2 == 0:
			fmt.Fprintf(&b, "%%%02x", s[i])
		default:
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
	}
	return b.String()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zl(b []byte, raw bool) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	if raw {
		w, _ = flate.NewWriter(&buf, flate.BestCompression)
	} else {
		w = zlib.NewWriter(&buf)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// echoJSON is a JSON echo of the secrets the upstream received.
func echoJSON(r *http.Request) []byte {
	b, _ := json.Marshal(map[string]any{"got": sentSecrets(r)})
	return b
}

// formUpstream answers /<form> with the received secrets echoed in that
// form.
func formUpstream(w http.ResponseWriter, r *http.Request) {
	form := strings.TrimPrefix(r.URL.Path, "/")
	secrets := sentSecrets(r)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	var body []byte
	switch form {
	case "gzip", "gzip-unasked":
		h.Set("Content-Encoding", "gzip")
		body = gz(echoJSON(r))
	case "x-gzip-twice":
		h.Set("Content-Encoding", "x-gzip, gzip")
		body = gz(gz(echoJSON(r)))
	case "deflate":
		h.Set("Content-Encoding", "deflate")
		body = zl(echoJSON(r), false)
	case "deflate-raw":
		h.Set("Content-Encoding", "deflate")
		body = zl(echoJSON(r), true)
	case "utf16le", "utf16be", "utf16le-bom", "utf16be-bom":
		h.Set("Content-Type", "text/plain; charset=utf-16")
		body = utf16Of(string(echoJSON(r)), strings.HasPrefix(form, "utf16be"), strings.HasSuffix(form, "bom"))
	case "latin1":
		h.Set("Content-Type", "text/plain; charset=iso-8859-1")
		body = latin1Of("got " + strings.Join(secrets, " | "))
	case "json-escapes":
		var parts []string
		for _, s := range secrets {
			parts = append(parts, `"`+jsonEscaped(s)+`"`)
		}
		body = []byte(`{"got":[` + strings.Join(parts, ",") + `]}`)
	case "percent":
		h.Set("Content-Type", "text/plain")
		var parts []string
		for _, s := range secrets {
			parts = append(parts, "k="+percentAll(s))
		}
		body = []byte(strings.Join(parts, "&"))
	case "base64-0", "base64-1", "base64-2":
		// Each secret inside a longer base64 blob, at byte offset 0, 1
		// or 2 (mod 3), in both alphabets, unpadded.
		h.Set("Content-Type", "text/plain")
		k := int(form[len(form)-1] - '0')
		var parts []string
		for _, s := range secrets {
			blob := append(append(bytes.Repeat([]byte{0xfb}, k+3), s...), 0xff, 0xfe)
			parts = append(parts, base64.RawStdEncoding.EncodeToString(blob), base64.RawURLEncoding.EncodeToString(blob))
		}
		body = []byte(strings.Join(parts, " "))
	case "hex":
		h.Set("Content-Type", "text/plain")
		var parts []string
		for _, s := range secrets {
			parts = append(parts, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))))
		}
		body = []byte(strings.Join(parts, " "))
	case "headers":
		// Allow-listed headers holding encoded secrets.
		h.Set("Link", base64.StdEncoding.EncodeToString([]byte("x"+secrets[0])))
		h.Set("Etag", `"`+percentAll(secrets[1])+`"`)
		h.Set("X-Request-Id", hex.EncodeToString([]byte(secrets[2])))
		h.Set("X-Correlation-Id", jsonEscaped(secrets[4]))
		h.Set("Content-Language", string(latin1Of(secrets[3])))
		body = []byte(`{}`)
	}
	w.Write(body)
}

// reveal decodes a body in each way an echo could have encoded it, so
// that a test sees a secret that came back in any of those forms.
func reveal(b []byte) string {
	views := []string{string(b), fromUTF16(b, false), fromUTF16(b, true), fromLatin1(b)}
	for data := b; ; {
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			break
		}
		if data, err = io.ReadAll(r); err != nil {
			break
		}
		views = append(views, string(data), fromUTF16(data, false))
	}
	for _, data := range [][]byte{b} {
		if r, err := zlib.NewReader(bytes.NewReader(data)); err == nil {
			if d, err := io.ReadAll(r); err == nil {
				views = append(views, string(d))
			}
		}
		if d, err := io.ReadAll(flate.NewReader(bytes.NewReader(data))); err == nil {
			views = append(views, string(d))
		}
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		views = append(views, buf.String())
	}
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return strings.ContainsRune(" \"&|,", r) }) {
		f = strings.TrimPrefix(f, "k=")
		if s, err := url.QueryUnescape(f); err == nil {
			views = append(views, s)
		}
		if d, err := hex.DecodeString(f); err == nil {
			views = append(views, string(d))
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(f); err == nil {
				views = append(views, string(d))
			}
		}
	}
	return strings.Join(views, "\n")
}

// noFormSecret fails when text, revealed, holds any secret.
func noFormSecret(tb testing.TB, where string, b []byte) {
	tb.Helper()
	text := reveal(b)
	for _, c := range formCanaries {
		if strings.Contains(text, c) {
			tb.Fatalf("%s holds secret %q in some form: %q", where, c, b)
		}
	}
}

func bodyBytes(v any) []byte {
	switch b := v.(type) {
	case connect.JSON:
		return b
	case string:
		return []byte(b)
	case []byte:
		return b
	}
	return nil
}

func TestEchoedSecretsInEveryForm(t *testing.T) {
	up := newUpstream(t, false, formUpstream)
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "api_key_name": "X-Key"}, secrets: formSecrets()})
	tests := []struct {
		form           string
		acceptEncoding string // the caller's
	}{
		{"gzip", "gzip"},
		{"gzip-unasked", "identity"},
		{"x-gzip-twice", ""},
		{"deflate", ""},
		{"deflate-raw", "deflate"},
		{"utf16le", ""},
		{"utf16be", ""},
		{"utf16le-bom", ""},
		{"utf16be-bom", ""},
		{"latin1", ""},
		{"json-escapes", ""},
		{"percent", ""},
		{"base64-0", ""},
		{"base64-1", ""},
		{"base64-2", ""},
		{"hex", ""},
		{"headers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.form, func(t *testing.T) {
			h := map[string]string{}
			if tt.acceptEncoding != "" {
				h["Accept-Encoding"] = tt.acceptEncoding
			}
			a := MustDo(t, c, connect.HTTPRequest{Path: tt.form, Headers: h})
			if got := up.last(t).Header.Get("Accept-Encoding"); got != "gzip" {
				t.Errorf("upstream saw Accept-Encoding %q, want the gateway's gzip", got)
			}
			hb, _ := json.Marshal(a.Headers)
			for name, v := range a.Headers {
				noFormSecret(t, "header "+name, []byte(v))
			}
			noFormSecret(t, "headers", hb)
			body := bodyBytes(a.Body)
			noFormSecret(t, "body", body)
			if tt.form != "headers" && !strings.Contains(reveal(body), "[REDACTED]") {
				t.Errorf("body %q: secrets not replaced in place", body)
			}
			if strings.Contains(tt.form, "gzip") || strings.Contains(tt.form, "deflate") {
				if a.BodyType != "json" {
					t.Errorf("decoded body is %s, want json", a.BodyType)
				}
				if _, ok := a.Headers["Content-Encoding"]; ok {
					t.Error("Content-Encoding passed for a decoded body")
				}
				if _, ok := a.Headers["Content-Length"]; ok {
					t.Error("Content-Length passed for a decoded body")
				}
			}
		})
	}
}

func TestUndecodableBodyRefused(t *testing.T) {
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		switch r.URL.Path {
		case "/br":
			// Not really brotli: the gateway cannot know, nor check it.
			w.Header().Set("Content-Encoding", "br")
			w.Write(append([]byte{0x1b, 0x03}, r.Header.Get("X-Secret")...))
		case "/zstd":
			w.Header().Set("Content-Encoding", "zstd")
			w.Write([]byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3})
		case "/corrupt":
			w.Header().Set("Content-Encoding", "gzip")
			b := gz([]byte(r.Header.Get("X-Secret") + strings.Repeat("x", 100)))
			b[len(b)-5] ^= 0xff // breaks the checksum
			w.Write(b)
		case "/four":
			w.Header().Set("Content-Encoding", "gzip, gzip, gzip, gzip")
			w.Write(gz(gz(gz(gz([]byte("x"))))))
		}
	})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL, "api_key_name": "X-Key"}, secrets: allSecrets()})
	for path, code := range map[string]string{"br": querygate.EUNSUPPORTED, "zstd": querygate.EUNSUPPORTED,
		"corrupt": connect.EQUERY, "four": connect.EQUERY} {
		_, err := do(t, c, connect.HTTPRequest{Path: path, Headers: map[string]string{"Accept-Encoding": "br, zstd"}}, false)
		mustCode(t, err, code)
	}
}

func TestDecodedSizeCapped(t *testing.T) {
	bomb := gz(make([]byte, 5<<20))
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "gzip")
		if r.URL.Path == "/small" {
			w.Write(gz(bytes.Repeat([]byte("a"), 1000)))
			return
		}
		w.Write(bomb)
	})
	// The compressed bomb (a few KiB) is under the cap; decoded, it is not.
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, responseMax: 64 << 10})
	_, err := do(t, c, connect.HTTPRequest{Path: "bomb", Headers: map[string]string{"Accept-Encoding": "gzip"}}, false)
	mustCode(t, err, querygate.ETOOLARGE)
	c2, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}, responseMax: 1000})
	a := MustDo(t, c2, connect.HTTPRequest{Path: "small"})
	if s, ok := a.Body.(string); !ok || len(s) != 1000 {
		t.Fatalf("body at the cap after decoding: %T", a.Body)
	}
}

func TestJSONDepthBounded(t *testing.T) {
	up := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Header().Set("Content-Type", "application/json")
		open, close := "[", "]"
		if r.URL.Query().Get("obj") != "" {
			open, close = `{"a":`, "}"
		}
		w.Write([]byte(strings.Repeat(open, n) + `"[[[{{{"` + strings.Repeat(close, n)))
	})
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": up.URL}})
	for _, obj := range []string{"", "1"} {
		a := MustDo(t, c, connect.HTTPRequest{Query: url.Values{"n": {"512"}, "obj": {obj}}})
		if a.BodyType != "json" {
			t.Fatalf("512 levels: %s, want json", a.BodyType)
		}
		for _, n := range []string{"513", "9000", "20000"} {
			_, err := do(t, c, connect.HTTPRequest{Query: url.Values{"n": {n}, "obj": {obj}}}, false)
			mustCode(t, err, querygate.ETOOLARGE)
		}
	}
}
