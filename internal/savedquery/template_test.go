package savedquery

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/kind"
)

func httpDef(t *testing.T, r Request, ps ...Param) *Definition {
	t.Helper()
	d := &Definition{Body: Body{Request: &r}, Parameters: ps}
	if err := d.Check(kindHTTP); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d
}

func fieldOf(err error) string {
	if e, ok := err.(*querygate.Error); ok {
		return e.Field
	}
	return ""
}

func TestBindHTTP(t *testing.T) {
	d := httpDef(t, Request{Method: "POST", Path: "/v1/users/{{id}}/orders",
		Query:   map[string]any{"q": "{{q}}", "fixed": "a b", "many": []any{"{{n}}", "x"}},
		Headers: map[string]string{"X-Tag": "{{tag}}", "X-Fixed": "1"},
		Body:    json.RawMessage(`{"name":"{{q}}","count":"{{n}}","flag":"{{flag}}","list":["{{n}}","lit"],"nested":{"t":"{{tag}}"}}`)},
		Param{Name: "id", Type: TypeText}, Param{Name: "q", Type: TypeText}, Param{Name: "n", Type: TypeInt},
		Param{Name: "tag", Type: TypeText}, Param{Name: "flag", Type: TypeBool})
	for _, s := range injection {
		if strings.IndexByte(s, 0) >= 0 {
			continue
		}
		params := map[string]any{"id": "u1", "q": s, "n": json.Number("42"), "tag": "t", "flag": true}
		b, err := d.Bind(kindHTTP, params)
		if err != nil {
			t.Fatalf("query value %q: %v", s, err)
		}
		h := b.HTTP
		if h.Path != "/v1/users/u1/orders" || h.Method != "POST" {
			t.Errorf("path %q", h.Path)
		}
		// The query value is the whole value, whatever it holds; encoding
		// keeps it one value.
		enc := h.Query.Encode()
		back, _ := url.ParseQuery(enc)
		if back.Get("q") != s || len(back) != 3 || back.Get("fixed") != "a b" || strings.Join(back["many"], ",") != "42,x" {
			t.Errorf("query %q: %v", s, back)
		}
		// The body is valid JSON and the value sits in its place, typed.
		var body map[string]any
		if err := json.Unmarshal(h.Body, &body); err != nil {
			t.Fatalf("body for %q is not JSON: %s", s, h.Body)
		}
		if body["name"] != s || body["count"] != 42.0 || body["flag"] != true || len(body) != 5 ||
			body["list"].([]any)[0] != 42.0 || body["nested"].(map[string]any)["t"] != "t" {
			t.Errorf("body for %q: %v", s, body)
		}
		if h.Headers["X-Tag"] != "t" || h.Headers["X-Fixed"] != "1" {
			t.Errorf("headers %v", h.Headers)
		}
	}
	// Path segment: escaped, or refused when it could not be one segment.
	for id, want := range map[string]string{"a b": "a%20b", "ü": "%C3%BC", "a?b#c": "a%3Fb%23c", "x'; DROP": "x%27%3B%20DROP", "a.b": "a.b"} {
		b, err := d.Bind(kindHTTP, map[string]any{"id": id, "n": json.Number("1")})
		if err != nil || b.HTTP.Path != "/v1/users/"+want+"/orders" {
			t.Errorf("path value %q: got %v, %v; want %s", id, b, err, want)
		}
	}
	for _, id := range []string{"", ".", "..", "../admin", "a/b", "%2f", "..%2f", "%2e%2e", "a\\b", "a\nb", "\u2215", ". .", "..;x"} {
		_, err := d.Bind(kindHTTP, map[string]any{"id": id, "n": json.Number("1")})
		if fieldOf(err) != "params.id" {
			t.Errorf("path value %q: got %v, want a refusal on params.id", id, err)
		}
	}
	// Header values: CR, LF and control characters refused.
	for _, tag := range []string{"a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb"} {
		_, err := d.Bind(kindHTTP, map[string]any{"id": "u", "tag": tag, "n": json.Number("1")})
		if fieldOf(err) != "params.tag" {
			t.Errorf("header value %q: got %v, want a refusal on params.tag", tag, err)
		}
	}
	// A null leaves a query value or header out, and is JSON null in the body.
	b, err := d.Bind(kindHTTP, map[string]any{"id": "u"})
	if err != nil || b.HTTP.Query.Has("q") || b.HTTP.Headers["X-Tag"] != "" || !strings.Contains(string(b.HTTP.Body), `"name":null`) {
		t.Errorf("nulls: %+v %v", b, err)
	}
	// A path parameter is required.
	if _, err := d.Bind(kindHTTP, map[string]any{}); fieldOf(err) != "params.id" {
		t.Errorf("missing path value: %v", err)
	}
}

func TestCheckTemplates(t *testing.T) {
	p := []Param{{Name: "a", Type: TypeText}}
	for _, tc := range []struct {
		kind  Language
		body  Body
		ps    []Param
		field string
	}{
		{kindHTTP, Body{Request: &Request{Path: "/x/a{{a}}"}}, p, "request.path"},
		{kindHTTP, Body{Request: &Request{Path: "/x/{{a}}.json"}}, p, "request.path"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Query: map[string]any{"k": "pre-{{a}}"}}}, p, "request.query.k"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Query: map[string]any{"{{a}}": "v"}}}, p, "request.query.?"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Query: map[string]any{"k": 5.0}}}, nil, "request.query.k"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Headers: map[string]string{"Authorization": "Bearer {{a}}"}}}, p, "request.headers.Authorization"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Body: json.RawMessage(`{"k":"hello {{a}}"}`)}}, p, "request.body"},
		{kindHTTP, Body{Request: &Request{Path: "/x", Body: json.RawMessage(`{"{{a}}":1}`)}}, p, "request.body"},
		{kindHTTP, Body{Request: &Request{Method: "{{a}}", Path: "/x"}}, p, "request.method"},
		{kindHTTP, Body{Request: &Request{Path: "/x/{{b}}"}}, p, "request.path"},
		{kindHTTP, Body{Request: &Request{Path: "/x"}}, p, "parameters[0].name"},
		{kindHTTP, Body{Query: "SELECT 1"}, nil, "request"},
		{kindRedis, Body{Command: []string{"{{a}}", "k"}}, p, "command"},
		{kindRedis, Body{Command: []string{"GET", "user:{{a}}"}}, p, "command"},
		{kindRedis, Body{}, nil, "command"},
		{Language{Dialect: Postgres}, Body{Query: "SELECT :b"}, p, "query"},
		{Language{Dialect: Postgres}, Body{Query: "SELECT 1"}, p, "parameters[0].name"},
		{Language{Dialect: Postgres}, Body{Query: "SELECT :a"}, []Param{{Name: "a", Type: TypeText}, {Name: "a", Type: TypeInt}}, "parameters[1].name"},
		{Language{Dialect: MySQL}, Body{Query: "SELECT ?"}, nil, "query"},
		{Language{Dialect: SQLite}, Body{Command: []string{"GET"}}, nil, "query"},
	} {
		d := &Definition{Body: tc.body, Parameters: tc.ps}
		if err := d.Check(tc.kind); fieldOf(err) != tc.field {
			t.Errorf("%s %+v: got %v, want an error on %s", tc.kind, tc.body, err, tc.field)
		}
	}
}

func TestBindRedisAndSQL(t *testing.T) {
	d := &Definition{Body: Body{Command: []string{"HGET", "{{key}}", "{{field}}"}},
		Parameters: []Param{{Name: "key", Type: TypeText, Required: true}, {Name: "field", Type: TypeEnum, Values: []string{"name", "email"}}}}
	if err := d.Check(kindRedis); err != nil {
		t.Fatal(err)
	}
	b, err := d.Bind(kindRedis, map[string]any{"key": "user:1 \r\nFLUSHALL", "field": "email"})
	if err != nil || len(b.Command) != 3 || b.Command[1] != "user:1 \r\nFLUSHALL" || b.Command[2] != "email" {
		t.Errorf("redis: %+v %v", b, err)
	}
	if _, err := d.Bind(kindRedis, map[string]any{"key": "k"}); fieldOf(err) != "params.field" {
		t.Errorf("redis without field: %v", err)
	}

	s := &Definition{Body: Body{Query: "SELECT * FROM t WHERE a = :a AND ts > :ts AND b = :a"},
		Parameters: []Param{{Name: "a", Type: TypeText}, {Name: "ts", Type: TypeTimestamp}}}
	for kind, want := range map[string]string{Postgres: "SELECT * FROM t WHERE a = $1 AND ts > $2 AND b = $1", MySQL: "SELECT * FROM t WHERE a = ? AND ts > ? AND b = ?"} {
		if err := s.Check(Language{Dialect: kind}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Bind(Language{Dialect: kind}, map[string]any{"a": "'; DROP TABLE t; --", "ts": "2024-01-31T12:00:00+01:00"})
		if err != nil || b.Query != want {
			t.Fatalf("%s: %+v %v", kind, b, err)
		}
		if b.Params[0] != "'; DROP TABLE t; --" {
			t.Errorf("%s: the value is not bound as is: %#v", kind, b.Params)
		}
		wantTS := "2024-01-31T12:00:00+01:00"
		if kind == MySQL {
			wantTS = "2024-01-31 11:00:00"
			if len(b.Params) != 3 || b.Params[2] != b.Params[0] {
				t.Errorf("mysql repeats: %#v", b.Params)
			}
		} else if len(b.Params) != 2 {
			t.Errorf("postgres reuses $1: %#v", b.Params)
		}
		if b.Params[1] != wantTS {
			t.Errorf("%s timestamp: got %v, want %s", kind, b.Params[1], wantTS)
		}
	}
}

// The languages of the HTTP and Redis kinds, as the registry declares them.
var (
	kindHTTP  = Language{Shape: kind.HTTP}
	kindRedis = Language{Shape: kind.Command}
)
