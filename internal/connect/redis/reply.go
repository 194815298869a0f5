package redis

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/querygate/querygate/internal/connect"
)

// Column types: the RESP type of the reply.
const (
	typeString  = "string"  // bulk, simple and verbatim strings, valid UTF-8
	typeBinary  = "binary"  // a bulk string that is not valid UTF-8: base64
	typeInteger = "integer" // RESP integer
	typeDouble  = "double"  // RESP3 double
	typeBoolean = "boolean" // RESP3 boolean
	typeBignum  = "bignum"  // RESP3 big number, as a decimal string
	typeNil     = "nil"     // nil (a missing key)
	typeArray   = "array"   // array or set: one row per element
	typeMap     = "map"     // map (RESP3): one row per field and value
)

// render streams a reply into sink (see the package documentation for the
// shapes). A sink's connect.ErrStop (the row limit) ends it without error.
func render(v any, sink connect.Sink) (connect.Result, error) {
	res := connect.Result{HasRows: true, RowsAffected: -1}
	err := renderRows(v, sink)
	if errors.Is(err, connect.ErrStop) {
		err = nil
	}
	return res, err
}

func renderRows(v any, sink connect.Sink) error {
	switch v := v.(type) {
	case []any:
		if err := sink.Columns([]connect.Column{{Name: "value", Type: typeArray}}); err != nil {
			return err
		}
		row := make([]any, 1)
		for _, e := range v {
			row[0] = value(e)
			if err := sink.Row(row); err != nil {
				return err
			}
		}
		return nil
	case map[any]any:
		if err := sink.Columns([]connect.Column{{Name: "field", Type: typeMap}, {Name: "value", Type: typeMap}}); err != nil {
			return err
		}
		row := make([]any, 2)
		for _, k := range sortedKeys(v) {
			row[0], row[1] = value(k), value(v[k])
			if err := sink.Row(row); err != nil {
				return err
			}
		}
		return nil
	}
	typ, val := scalar(v)
	if err := sink.Columns([]connect.Column{{Name: "value", Type: typ}}); err != nil {
		return err
	}
	return sink.Row([]any{val})
}

// scalar returns the column type and the value of a scalar reply.
func scalar(v any) (string, any) {
	switch v := v.(type) {
	case nil:
		return typeNil, nil
	case string:
		if utf8.ValidString(v) {
			return typeString, v
		}
		return typeBinary, []byte(v)
	case int64:
		return typeInteger, v
	case float64:
		return typeDouble, v
	case bool:
		return typeBoolean, v
	case *big.Int:
		return typeBignum, connect.Numeric(v.String())
	}
	// go-redis returns only the types above for a reply; an error inside
	// one is not a scalar reply.
	return typeString, value(v)
}

// value converts one element of a reply to a connect value: text as a
// string, bytes that are not UTF-8 as []byte (base64), nested arrays as
// []any, nested maps as a JSON object, and an error element (RESP3 arrays
// may hold them) as the JSON object {"error": message}.
func value(v any) any {
	switch v := v.(type) {
	case nil, int64, float64, bool:
		return v
	case string:
		if utf8.ValidString(v) {
			return v
		}
		return []byte(v)
	case *big.Int:
		return connect.Numeric(v.String())
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = value(e)
		}
		return out
	case map[any]any, error:
		b, err := json.Marshal(jsonValue(v))
		if err != nil {
			return nil
		}
		return connect.JSON(b)
	}
	return nil
}

// jsonValue converts an element to what encoding/json writes as the
// element's JSON: maps with their keys as text (written in key order),
// bytes that are not UTF-8 as base64, NaN and infinities as text.
func jsonValue(v any) any {
	switch v := v.(type) {
	case string:
		if utf8.ValidString(v) {
			return v
		}
		return []byte(v)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return v
	case *big.Int:
		return json.Number(v.String())
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[keyText(k)] = jsonValue(e)
		}
		return out
	case error:
		return map[string]string{"error": v.Error()}
	case nil, int64, bool:
		return v
	}
	return nil
}

// keyText is the text of a map key, which RESP3 allows to be any scalar.
func keyText(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case int64:
		return strconv.FormatInt(k, 10)
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(k)
	case *big.Int:
		return k.String()
	}
	return ""
}

// sortedKeys returns the keys of a map reply in the order of their text,
// so that a hash (which has no order in Redis) reads the same every time.
func sortedKeys(m map[any]any) []any {
	keys := make([]any, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b any) int { return cmp.Compare(keyText(a), keyText(b)) })
	return keys
}
