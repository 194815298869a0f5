package postgres

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/querygate/querygate/internal/connect"
)

func TestParseTextArray(t *testing.T) {
	text := &decoder{kind: kString}
	num := &decoder{kind: kNumeric}
	tests := []struct {
		in    string
		elem  *decoder
		delim byte
		want  any
	}{
		{`{}`, text, ',', []any{}},
		{` { } `, text, ',', []any{}},
		{`{a,b}`, text, ',', []any{"a", "b"}},
		{`{"a b","c,d","e\"f","g\\h"}`, text, ',', []any{"a b", "c,d", `e"f`, `g\h`}},
		{`{NULL,null,"NULL",""}`, text, ',', []any{nil, nil, "NULL", ""}},
		{`{ a , b }`, text, ',', []any{"a", "b"}},
		{`{a\,b,c\ }`, text, ',', []any{"a,b", "c "}},
		{`{{1,2},{3,4}}`, num, ',', []any{[]any{connect.Numeric("1"), connect.Numeric("2")}, []any{connect.Numeric("3"), connect.Numeric("4")}}},
		{`[0:1]={1.5,NaN}`, num, ',', []any{connect.Numeric("1.5"), connect.Numeric("NaN")}},
		{`[1:1][2:3]={{1,2}}`, num, ',', []any{[]any{connect.Numeric("1"), connect.Numeric("2")}}},
		{`{(1,1),(0,0);(2,2),(1,1)}`, text, ';', []any{"(1,1),(0,0)", "(2,2),(1,1)"}},
		{`{"{\"a\": 1}"}`, &decoder{kind: kJSON}, ',', []any{connect.JSON(`{"a": 1}`)}},
		{`{1.5,-Infinity}`, &decoder{kind: kTextFloat}, ',', []any{1.5, math.Inf(-1)}},
		{`{t,f}`, &decoder{kind: kTextBool}, ',', []any{true, false}},
	}
	for _, tt := range tests {
		got, err := parseTextArray([]byte(tt.in), tt.delim, tt.elem)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseTextArray(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{``, `{`, `}`, `{a`, `{a,}`, `{,a}`, `{"a}`, `{a"b}`, `{a}x`, `[1:2]`, `{{a}`, `{a\`, `{{{{{{{{1}}}}}}}}`} {
		if got, err := parseTextArray([]byte(bad), ',', text); err == nil {
			t.Errorf("parseTextArray(%s) = %#v, want an error", bad, got)
		}
	}
}

// binArray builds a binary array of int4 elements (nil for NULL).
func binArray(dims []int32, elems []any) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(dims)))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, pgtype.Int4OID)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
		b = binary.BigEndian.AppendUint32(b, 1)
	}
	for _, e := range elems {
		if e == nil {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(e.(int32)))
	}
	return b
}

func TestDecodeBinaryArray(t *testing.T) {
	got, err := decodeBinaryArray(binArray([]int32{2, 2}, []any{int32(1), nil, int32(-3), int32(4)}))
	want := []any{[]any{int64(1), nil}, []any{int64(-3), int64(4)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("decodeBinaryArray = %#v, %v; want %#v", got, err, want)
	}
	good := binArray([]int32{2}, []any{int32(1), int32(2)})
	bad := map[string][]byte{
		"short header":        good[:8],
		"truncated element":   good[:len(good)-1],
		"trailing bytes":      append(append([]byte(nil), good...), 0),
		"huge dimension":      binArray([]int32{1 << 30}, []any{int32(1)}),
		"negative dimension":  binArray([]int32{-1}, nil),
		"too many dimensions": binArray([]int32{1, 1, 1, 1, 1, 1, 1}, []any{int32(1)}),
		"product overflows":   binArray([]int32{1 << 16, 1 << 16, 1 << 16}, nil),
	}
	for name, b := range bad {
		if got, err := decodeBinaryArray(b); err == nil {
			t.Errorf("%s: decodeBinaryArray = %#v, want an error", name, got)
		}
	}
}

func TestDecodeBinary(t *testing.T) {
	be64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	tests := []struct {
		name string
		kind kind
		in   []byte
		want any
	}{
		{"int2", kInt2, []byte{0xff, 0xfe}, int64(-2)},
		{"oid", kOID, be32(math.MaxUint32), int64(math.MaxUint32)},
		{"timestamp epoch", kTimestamp, be64(0), connect.LocalDateTime("2000-01-01T00:00:00")},
		{"timestamptz epoch", kTimestamptz, be64(0), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"timestamp before epoch", kTimestamp, be64(uint64(1<<64 - 1)), connect.LocalDateTime("1999-12-31T23:59:59.999999")},
		{"timestamp infinity", kTimestamp, be64(math.MaxInt64), "infinity"},
		{"timestamp near max does not overflow", kTimestamptz, be64(math.MaxInt64 - 1), time.Date(294277, 1, 9, 4, 0, 54, 775806000, time.UTC)},
		{"date", kDate, be32(uint32(0xffffffff)), connect.Date("1999-12-31")},
		{"date -infinity", kDate, be32(1 << 31), "-infinity"},
		{"uuid", kUUID, []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	}
	for _, tt := range tests {
		d := decoder{kind: tt.kind}
		got, err := d.decode(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: decode = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
	for _, k := range []kind{kBool, kInt2, kInt4, kInt8, kOID, kFloat8, kDate, kTimestamp, kTimestamptz, kUUID, kBinArray, kTextBool, kTextInt, kTextFloat} {
		d := decoder{kind: k}
		if got, err := d.decode([]byte{1, 2, 3}); err == nil {
			t.Errorf("kind %d: decode of 3 odd bytes = %#v, want an error", k, got)
		}
	}
}

// TestDecodeOwnsMemory: values must not alias the driver's buffer, which
// is reused for the next row.
func TestDecodeOwnsMemory(t *testing.T) {
	for _, k := range []kind{kString, kBytes, kJSON, kNumeric} {
		buf := []byte(`"x"`)
		d := decoder{kind: k}
		v, err := d.decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		before := reflect.ValueOf(v).String()
		if b, ok := v.([]byte); ok {
			before = string(b)
		}
		if j, ok := v.(connect.JSON); ok {
			before = string(j)
		}
		copy(buf, "yyy")
		after := reflect.ValueOf(v).String()
		if b, ok := v.([]byte); ok {
			after = string(b)
		}
		if j, ok := v.(connect.JSON); ok {
			after = string(j)
		}
		if before != after {
			t.Errorf("kind %d: value changed with the buffer: %q then %q", k, before, after)
		}
	}
}

func TestEncodeParams(t *testing.T) {
	tests := []struct {
		oid  uint32
		in   any
		want string
		null bool
	}{
		{pgtype.Int4OID, nil, "", true},
		{pgtype.TextOID, "a'b", "a'b", false},
		{pgtype.BoolOID, true, "true", false},
		{pgtype.NumericOID, json.Number("-1.50e-3"), "-1.50e-3", false},
		{pgtype.Float8OID, 0.1, "0.1", false},
		{pgtype.Float8OID, math.Inf(-1), "-Infinity", false},
		{pgtype.Int8OID, 3.0, "3", false},
		{pgtype.Int8ArrayOID, []any{json.Number("1"), nil, json.Number("2")}, `{"1",NULL,"2"}`, false},
		{pgtype.TextArrayOID, []any{`a"b`, `c\d`, "NULL", []any{"x"}}, `{"a\"b","c\\d","NULL",{"x"}}`, false},
		{pgtype.BoxArrayOID, []any{"(1,1),(0,0)", "(2,2),(1,1)"}, `{"(1,1),(0,0)";"(2,2),(1,1)"}`, false},
		{pgtype.JSONBOID, []any{json.Number("1"), "a"}, `[1,"a"]`, false},
		{pgtype.JSONOID, map[string]any{"k": []any{true}}, `{"k":[true]}`, false},
		{pgtype.TextOID, map[string]any{"k": nil}, `{"k":null}`, false},
		{pgtype.TextArrayOID, []any{map[string]any{"k": "v"}}, `{"{\"k\":\"v\"}"}`, false},
	}
	for _, tt := range tests {
		got, err := encodeParams([]uint32{tt.oid}, []any{tt.in})
		if err != nil || (got[0] == nil) != tt.null || string(got[0]) != tt.want {
			t.Errorf("encodeParams(%d, %#v) = %q, %v; want %q", tt.oid, tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []any{json.Number("1 OR 1=1"), json.Number(""), json.Number("1."), struct{}{}, []any{struct{}{}}, int(1)} {
		if got, err := encodeParams([]uint32{pgtype.TextOID}, []any{bad}); err == nil {
			t.Errorf("encodeParams(%#v) = %q, want an error", bad, got)
		}
	}
	if _, err := encodeParams([]uint32{pgtype.TextOID}, nil); err == nil {
		t.Error("encodeParams with too few params: no error")
	}
}

func FuzzParseTextArray(f *testing.F) {
	for _, s := range []string{`{}`, `{a,"b\"c",NULL}`, `[0:1]={{1},{2}}`, `{ a , b }`, `{a\,b}`, `{{},{}}`} {
		f.Add(s)
	}
	elem := &decoder{kind: kString}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseTextArray([]byte(s), ',', elem)
		if err == nil {
			if _, ok := v.([]any); !ok {
				t.Fatalf("parseTextArray(%q) = %T, want []any", s, v)
			}
		}
	})
}

func FuzzDecodeBinaryArray(f *testing.F) {
	f.Add(binArray([]int32{2}, []any{int32(1), nil}))
	f.Add(binArray([]int32{2, 1}, []any{int32(1), int32(2)}))
	f.Add(binArray(nil, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeBinaryArray(b) // must not panic or allocate without bound
	})
}

func TestAffected(t *testing.T) {
	for tag, want := range map[string]int64{"INSERT 0 5": 5, "UPDATE 3": 3, "SELECT 0": 0, "CREATE TABLE": -1, "": -1, "MERGE 2": 2} {
		if got := affectedText(tag); got != want {
			t.Errorf("affected(%q) = %d, want %d", tag, got, want)
		}
	}
}
