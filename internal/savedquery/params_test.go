package savedquery

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/querygate/querygate"
)

// injection are values that would break out of a statement, a path, a
// header or a JSON body if they were pasted.
var injection = []string{
	"'; DROP TABLE t; --", `" OR "1"="1`, "1; SELECT pg_sleep(10)", "/* */ OR 1=1 --", "\\'; --", "`x`",
	"Robert'); DROP TABLE students;--", "ü'ñí\u2028ç\U0001F600", "a\x00b", "../../etc/passwd", "%2f", "..%2f",
	"a\r\nX-Injected: 1", "\"},{\"admin\":true", "</script>", "{{other}}",
}

func decl(t *testing.T, kind string, ps ...Param) []Param {
	t.Helper()
	for i := range ps {
		if err := ps[i].check("parameters"); err != nil {
			t.Fatalf("declaration %s: %v", ps[i].Name, err)
		}
	}
	return ps
}

func TestValues(t *testing.T) {
	ps := decl(t, "", Param{Name: "n", Type: TypeInt, Min: "1", Max: "100"},
		Param{Name: "x", Type: TypeNumber, Min: "-1.5", Max: "1e3"},
		Param{Name: "s", Type: TypeText, MaxLength: 5},
		Param{Name: "code", Type: TypeText, Pattern: `[A-Z]{3}`},
		Param{Name: "b", Type: TypeBool},
		Param{Name: "d", Type: TypeDate},
		Param{Name: "ts", Type: TypeTimestamp},
		Param{Name: "e", Type: TypeEnum, Values: []string{"red", "green"}},
		Param{Name: "id", Type: TypeUUID},
		Param{Name: "req", Type: TypeInt, Required: true},
		Param{Name: "def", Type: TypeText, Default: json.RawMessage(`"dflt"`)},
	)
	base := map[string]any{"req": json.Number("1")}
	with := func(k string, v any) map[string]any {
		m := map[string]any{"req": json.Number("1")}
		m[k] = v
		return m
	}
	good := []struct {
		name string
		v    any
		text string
	}{
		{"n", json.Number("1"), "1"}, {"n", json.Number("100"), "100"}, {"n", json.Number("5.0"), "5"}, {"n", 7.0, "7"},
		{"x", json.Number("-1.5"), "-1.5"}, {"x", json.Number("999.25"), "999.25"},
		{"s", "héllo", "héllo"}, {"code", "ABC", "ABC"}, {"b", true, "true"}, {"b", false, "false"},
		{"d", "2024-02-29", "2024-02-29"}, {"ts", "2024-01-31T12:00:00+01:00", "2024-01-31T12:00:00+01:00"},
		{"e", "green", "green"}, {"id", "123E4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
	}
	for _, g := range good {
		got, err := Values(ps, with(g.name, g.v))
		if err != nil {
			t.Errorf("%s=%v: %v", g.name, g.v, err)
			continue
		}
		if got[g.name].Text != g.text || got[g.name].Null {
			t.Errorf("%s=%v: got %+v, want %q", g.name, g.v, got[g.name], g.text)
		}
	}
	// Defaults and nulls.
	got, err := Values(ps, base)
	if err != nil || got["def"].Text != "dflt" || !got["n"].Null || !got["s"].Null {
		t.Errorf("defaults: got %+v, %v", got, err)
	}
	bad := []struct {
		name string
		v    any
	}{
		{"n", json.Number("0")}, {"n", json.Number("101")}, {"n", json.Number("1.5")}, {"n", "5"}, {"n", true},
		{"n", json.Number("99999999999999999999")}, {"n", json.Number("1; DROP")},
		{"x", json.Number("-2")}, {"x", json.Number("1001")}, {"x", "1"},
		{"s", "toolong"}, {"s", 5.0}, {"s", "a\x00"}, {"s", string([]byte{0xff})},
		{"code", "ABCD"}, {"code", "abc"}, {"code", "ABC'; --"},
		{"b", "true"}, {"b", json.Number("1")},
		{"d", "2024-02-30"}, {"d", "2024-1-1"}, {"d", "2024-01-01T00:00:00Z"}, {"d", "2024-01-01'; --"},
		{"ts", "2024-01-31 12:00:00"}, {"ts", "2024-01-31T12:00:00"}, {"ts", json.Number("1700000000")},
		{"e", "blue"}, {"e", "RED"}, {"e", []any{"red"}},
		{"id", "123e4567e89b12d3a456426614174000"}, {"id", "123e4567-e89b-12d3-a456-42661417400g"},
		{"req", nil}, {"nope", json.Number("1")},
	}
	for _, b := range bad {
		m := with(b.name, b.v)
		if b.name == "req" {
			m = map[string]any{"req": nil}
		}
		_, err := Values(ps, m)
		e, ok := err.(*querygate.Error)
		if !ok || e.Code != querygate.EINVALID || e.Field != "params."+b.name {
			t.Errorf("%s=%#v: got %v, want EINVALID on params.%s", b.name, b.v, err, b.name)
			continue
		}
		if s, ok := b.v.(string); ok && strings.ContainsAny(s, "';\x00") && strings.Contains(e.Message, s) {
			t.Errorf("%s: the message quotes the value: %q", b.name, e.Message)
		}
	}
	// Injection strings are plain data for text, refused for every other type.
	free := decl(t, "", Param{Name: "s", Type: TypeText})
	for _, s := range injection {
		got, err := Values(free, map[string]any{"s": s})
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Errorf("NUL accepted")
			}
			continue
		}
		if err != nil || got["s"].Text != s {
			t.Errorf("text %q: got %+v, %v", s, got, err)
		}
		for _, typ := range []Param{{Name: "v", Type: TypeInt}, {Name: "v", Type: TypeNumber}, {Name: "v", Type: TypeBool},
			{Name: "v", Type: TypeDate}, {Name: "v", Type: TypeTimestamp}, {Name: "v", Type: TypeUUID},
			{Name: "v", Type: TypeEnum, Values: []string{"a"}}} {
			if _, err := Values([]Param{typ}, map[string]any{"v": s}); err == nil {
				t.Errorf("%s accepted %q", typ.Type, s)
			}
		}
	}
	// An undeclared name that could be anything is not echoed.
	_, err = Values(ps, map[string]any{"'; DROP": 1.0})
	if e, ok := err.(*querygate.Error); !ok || e.Field != "params" || strings.Contains(e.Message, "DROP") {
		t.Errorf("odd name: %v", err)
	}
}

func TestParamDeclarations(t *testing.T) {
	for _, tc := range []struct {
		p     Param
		field string
	}{
		{Param{Name: "Bad", Type: TypeInt}, "p.name"},
		{Param{Name: "1a", Type: TypeInt}, "p.name"},
		{Param{Name: strings.Repeat("a", 65), Type: TypeInt}, "p.name"},
		{Param{Name: "a", Type: "money"}, "p.type"},
		{Param{Name: "a", Type: TypeText, Min: "1"}, "p.min"},
		{Param{Name: "a", Type: TypeInt, Min: "1.5"}, "p.min"},
		{Param{Name: "a", Type: TypeInt, Min: "5", Max: "1"}, "p.max"},
		{Param{Name: "a", Type: TypeInt, MaxLength: 3}, "p.max_length"},
		{Param{Name: "a", Type: TypeText, Pattern: "("}, "p.pattern"},
		{Param{Name: "a", Type: TypeEnum}, "p.values"},
		{Param{Name: "a", Type: TypeEnum, Values: []string{"x", "x"}}, "p.values[1]"},
		{Param{Name: "a", Type: TypeText, Values: []string{"x"}}, "p.values"},
		{Param{Name: "a", Type: TypeInt, Default: json.RawMessage(`"x"`)}, "p.default"},
		{Param{Name: "a", Type: TypeInt, Max: "3", Default: json.RawMessage(`4`)}, "p.default"},
	} {
		err := tc.p.check("p")
		if e, ok := err.(*querygate.Error); !ok || e.Field != tc.field {
			t.Errorf("%+v: got %v, want an error on %s", tc.p, err, tc.field)
		}
	}
}

// FuzzValues: the validator never panics; what it accepts is the
// canonical text of the type, and accepting it again gives the same text.
func FuzzValues(f *testing.F) {
	for _, s := range append(injection, "1", "-5", "1e3", "2024-01-31", "2024-01-31T12:00:00Z", "red",
		"123e4567-e89b-12d3-a456-426614174000", "true", `"x"`, "[1]", "null") {
		for _, typ := range types {
			f.Add(typ, s)
		}
	}
	f.Fuzz(func(t *testing.T, typ, raw string) {
		p := Param{Name: "v", Type: typ, Values: []string{"red", "green"}, MaxLength: 10}
		if typ != TypeEnum {
			p.Values = nil
		}
		if typ != TypeText {
			p.MaxLength = 0
		}
		if p.check("p") != nil {
			return
		}
		// The raw input as a JSON value, and as a plain string.
		for _, in := range []any{raw, json.Number(raw)} {
			if v, err := decodeJSON([]byte(raw)); err == nil {
				in = v
			}
			got, err := Values([]Param{p}, map[string]any{"v": in})
			if err != nil {
				if e, ok := err.(*querygate.Error); !ok || e.Field != "params.v" {
					t.Fatalf("error without the field: %v", err)
				}
				continue
			}
			v := got["v"]
			again, err := Values([]Param{p}, map[string]any{"v": v.JSON()})
			if err != nil || again["v"].Text != v.Text {
				t.Fatalf("%s %q: canonical %q not accepted again: %v %q", typ, raw, v.Text, err, again["v"].Text)
			}
			if typ == TypeText && (strings.IndexByte(v.Text, 0) >= 0 || len([]rune(v.Text)) > 10) {
				t.Fatalf("text limits not kept: %q", v.Text)
			}
		}
	})
}
