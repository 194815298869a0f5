package redis

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/querygate/querygate/internal/connect"
)

// redisErr is an error element, as go-redis hands one inside an array.
type redisErr string

func (e redisErr) Error() string { return string(e) }

func TestValue(t *testing.T) {
	big1, _ := new(big.Int).SetString("1234567890123456789012345678901234567890", 10)
	for _, tc := range []struct {
		name string
		in   any
		want string // show(value(in))
	}{
		{"text", "héllo", `string:héllo`},
		{"bytes", "\xff\x00", `bytes:ff00`},
		{"integer", int64(-3), `int64:-3`},
		{"double", 2.5, `float64:2.5`},
		{"boolean", true, `bool:true`},
		{"nil", nil, `nil`},
		{"bignum", big1, `numeric:1234567890123456789012345678901234567890`},
		{"array", []any{"a", int64(1), nil, []any{"\xfe"}}, `[string:a int64:1 nil [bytes:fe]]`},
		// A nested map is a JSON object with its keys in order, bytes as
		// base64, NaN as text.
		{"map", map[any]any{"b": int64(2), "a": []any{"x", math.NaN()}, int64(7): "\xff", "c": map[any]any{"d": true}},
			`json:{"7":"/w==","a":["x","NaN"],"b":2,"c":{"d":true}}`},
		{"error element", redisErr("ERR no"), `json:{"error":"ERR no"}`},
	} {
		if got := show(value(tc.in)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    any
		limit int
		want  string
	}{
		{"string", "OK", 0, `value:string | [string:OK]`},
		{"binary", "\x00\xff", 0, `value:binary | [bytes:00ff]`},
		{"nil", nil, 0, `value:nil | [nil]`},
		{"integer", int64(5), 0, `value:integer | [int64:5]`},
		{"double", 0.25, 0, `value:double | [float64:0.25]`},
		{"boolean", false, 0, `value:boolean | [bool:false]`},
		{"bignum", big.NewInt(12), 0, `value:bignum | [numeric:12]`},
		{"array", []any{"a", "b"}, 0, `value:array | [string:a] [string:b]`},
		{"empty array", []any{}, 0, `value:array |`},
		{"map", map[any]any{"z": "1", "a": nil}, 0, `field:map value:map | [string:a nil] [string:z string:1]`},
		{"limit", []any{"a", "b", "c"}, 2, `value:array | [string:a] [string:b]`},
		{"limit on a scalar", "x", -1, `value:string |`},
	} {
		s := &testSink{limit: tc.limit}
		res, err := render(tc.in, s)
		if err != nil || !res.HasRows {
			t.Fatalf("%s: %v %+v", tc.name, err, res)
		}
		if got := s.String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// A sink's own error ends the result with it.
	boom := errors.New("boom")
	if _, err := render([]any{"a"}, &testSink{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

// testSink collects a result; limit > 0 stops after limit rows, limit < 0
// before the first.
type testSink struct {
	cols  []connect.Column
	rows  [][]any
	limit int
	err   error
}

func (s *testSink) Columns(cols []connect.Column) error {
	s.cols = append([]connect.Column(nil), cols...)
	return nil
}

func (s *testSink) Row(v []any) error {
	if s.err != nil {
		return s.err
	}
	if s.limit < 0 || (s.limit > 0 && len(s.rows) >= s.limit) {
		return connect.ErrStop
	}
	s.rows = append(s.rows, append([]any(nil), v...))
	return nil
}

func (s *testSink) String() string {
	out := ""
	for _, c := range s.cols {
		out += c.Name + ":" + c.Type + " "
	}
	out += "|"
	for _, r := range s.rows {
		out += " " + show(r)
	}
	return out
}

// show spells a connect value with its Go type.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case []any:
		out := "["
		for i, e := range v {
			if i > 0 {
				out += " "
			}
			out += show(e)
		}
		return out + "]"
	case []byte:
		return "bytes:" + hex.EncodeToString(v)
	case connect.JSON:
		return "json:" + string(v)
	case connect.Numeric:
		return "numeric:" + string(v)
	}
	return fmt.Sprintf("%T:%v", v, v)
}
