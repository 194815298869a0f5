package kit

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

// Decode takes one JSON object of declared fields (exact names), sent as
// application/json, of at most maxBody bytes, whether or not its length
// is declared.
func TestDecode(t *testing.T) {
	type body struct {
		Query string `json:"query"`
		Limit int64  `json:"limit"`
	}
	huge := `{"query":"` + strings.Repeat("x", maxBody) + `"}`
	for _, tc := range []struct {
		name, ctype, body string
		chunked           bool // no declared length
		code              string
	}{
		{"ok", "application/json", `{"query":"SELECT 1","limit":2}`, false, ""},
		{"ok chunked", "application/json", `{"query":"SELECT 1","limit":2}`, true, ""},
		{"media type parameters", "application/json; charset=utf-8", `{"query":"SELECT 1","limit":2}`, false, ""},
		{"media type case", "Application/JSON", `{"query":"SELECT 1","limit":2}`, false, ""},
		{"not json", "text/plain", `{"query":"SELECT 1"}`, false, querygate.EUNSUPPORTED},
		{"no type", "", `{"query":"SELECT 1"}`, false, querygate.EUNSUPPORTED},
		{"unknown field", "application/json", `{"query":"SELECT 1","colour":1}`, false, querygate.EINVALID},
		{"field name case", "application/json", `{"Query":"SELECT 1"}`, false, querygate.EINVALID},
		{"not an object", "application/json", `[1]`, false, querygate.EINVALID},
		{"too large", "application/json", huge, false, querygate.ETOOLARGE},
		{"too large chunked", "application/json", huge, true, querygate.ETOOLARGE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.chunked {
				r = httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(tc.body)))
				r.ContentLength = -1
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var got body
			err := Decode(httptest.NewRecorder(), r, &got)
			if code := querygate.ErrorCode(err); err != nil && code != tc.code || err == nil && tc.code != "" {
				t.Fatalf("got %v (%s), want %q", err, code, tc.code)
			}
			if tc.code == "" && (got.Query != "SELECT 1" || got.Limit != 2) {
				t.Errorf("decoded %+v", got)
			}
		})
	}
	// Of several unknown fields, the answer names the first by name.
	for range 20 {
		r := httptest.NewRequest("POST", "/", strings.NewReader(`{"zeta":1,"query":"x","beta":[{"a":1}],"alpha":"y","gamma":null}`))
		r.Header.Set("Content-Type", "application/json")
		var got body
		err := Decode(httptest.NewRecorder(), r, &got)
		if e, ok := err.(*querygate.Error); !ok || e.Field != "alpha" {
			t.Fatalf("got %v, want the field alpha named", err)
		}
	}
}

// BenchmarkDecode is the decoding of a small query's body.
func BenchmarkDecode(b *testing.B) {
	type body struct {
		Query     json.RawMessage `json:"query"`
		Params    []any           `json:"params"`
		Limit     int64           `json:"limit"`
		TimeoutMS int64           `json:"timeout_ms"`
	}
	const in = `{"query":"SELECT 1","limit":10}`
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Content-Type", "application/json")
	r.ContentLength = int64(len(in))
	b.ReportAllocs()
	for b.Loop() {
		r.Body = io.NopCloser(strings.NewReader(in))
		var v body
		if err := Decode(nil, r, &v); err != nil {
			b.Fatal(err)
		}
	}
}
