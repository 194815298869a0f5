package connect

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// fuzzSecrets are the secrets of the redaction fuzz target: ASCII, with a
// slash and a space, and non-ASCII.
var fuzzSecrets = []string{"s3cr3t-token", "a/b c+d=e", "pässwörd-ü"}

func fuzzDetector() *Detector {
	var d Detector
	for _, s := range fuzzSecrets {
		d.Add(s)
	}
	return &d
}

func TestRedactInPlace(t *testing.T) {
	d := fuzzDetector()
	tests := []struct{ in, want string }{
		{`{"t":"s3cr3t-token"}`, `{"t":"[REDACTED]"}`},
		{`{"t":"s3cr3\u0074-token"}`, `{"t":"[REDACTED]"}`},
		{`{"t":"a\/b c+d=e!"}`, `{"t":"[REDACTED]!"}`},
		{`q=a%2Fb+c%2bd%3De&x=1`, `q=[REDACTED]&x=1`},
		{`q=a%2fb%20c%2Bd%3de`, `q=[REDACTED]`},
		{`<p>a&#x2F;b c&#43;d&equals;e</p>`, `<p>[REDACTED]</p>`},
		{`{"u":"http:\/\/h\/?k=s3cr3t%2dtoken"}`, `{"u":"http:\/\/h\/?k=[REDACTED]"}`},
		{"x p\xe4ssw\xf6rd-\xfc y", "x [REDACTED] y"},
		{`nothing here \u0041 %41 &amp;`, `nothing here \u0041 %41 &amp;`},
		{`73336372337420746f6b656e`, `73336372337420746f6b656e`}, // "s3cr3t token": not a secret
		{`7333637233742d746f6b656e`, `[REDACTED]`},
	}
	for _, tt := range tests {
		got, ok := d.Redact([]byte(tt.in))
		if !ok || string(got) != tt.want {
			t.Errorf("redact(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzRedact checks, for any body, that the redacted body holds no secret
// as raw bytes, once its JSON strings are decoded, nor once it is
// percent-decoded; that redaction keeps a JSON document valid; and that a
// clean body is passed unchanged.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{`{"t":"s3cr3t-token"}`, `{"t":"s3cr3\u0074-token"}`, `a%2Fb+c%2bd%3De`, `p\u00e4ssw\u00f6rd-\u00fc`,
		"czNjcjN0LXRva2Vu", `{"a":["a\/b c+d=e",1,{"b":null}]}`, `&#x73;3cr3t-token`, "\\ud83d\\ude00 s3cr3t-tok\\u0065n"} {
		f.Add([]byte(s))
	}
	d := fuzzDetector()
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ok := d.Redact(in)
		if !ok {
			return // refused as a whole: nothing reaches the caller
		}
		if !d.Contains(in) && !bytes.Equal(out, in) {
			t.Fatalf("a clean body was changed: %q -> %q", in, out)
		}
		if d.Contains(out) {
			t.Fatalf("redacted body still holds a secret: %q", out)
		}
		check := func(form, text string) {
			for _, s := range fuzzSecrets {
				if strings.Contains(text, s) {
					t.Fatalf("secret %q in %s of %q (from %q)", s, form, out, in)
				}
			}
		}
		check("the body", string(out))
		if p, err := url.PathUnescape(string(out)); err == nil {
			check("the percent-decoded body", p)
		}
		if json.Valid(in) && !json.Valid(out) {
			t.Fatalf("redaction broke a JSON document: %q -> %q", in, out)
		}
		var v any
		if json.Unmarshal(out, &v) == nil {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.Encode(v)
			check("the decoded JSON", buf.String())
		}
	})
}
