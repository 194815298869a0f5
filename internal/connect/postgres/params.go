package postgres

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// encodeParams returns the bind values for params, all in text format, for
// a statement whose parameter types the server described as oids. Params
// are JSON-decoded values; each is bound as a real parameter ($1, $2, ...)
// in the text form the server's input function of the parameter's type
// reads, which keeps numbers exact and works for every type (int8,
// numeric, text, date, uuid, jsonb, ...; pgx's binary encoders would refuse
// an integer for a text parameter, as in "WHERE name = $1"):
//
//	nil                NULL
//	bool               true, false
//	json.Number        its digits as sent (exact, whatever the size)
//	float64            the shortest text that reads back as the same float
//	string             as is
//	[]any              for a json or jsonb parameter its JSON text; for
//	                   any other an array literal {"1","a",NULL,{...}}
//	map[string]any     its JSON text
func encodeParams(oids []uint32, params []any) ([][]byte, error) {
	if len(params) != len(oids) {
		return nil, querygate.FieldErrorf("params", "params: the statement takes %d parameters, %d were given", len(oids), len(params))
	}
	values := make([][]byte, len(params))
	for i, p := range params {
		v, err := encodeParam(oids[i], p)
		if err != nil {
			return nil, querygate.FieldErrorf("params", "params[%d]: %s", i, err.Error())
		}
		values[i] = v
	}
	return values, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

func encodeParam(oid uint32, p any) ([]byte, error) {
	switch v := p.(type) {
	case nil:
		return nil, nil
	case []any:
		if oid == pgtype.JSONOID || oid == pgtype.JSONBOID {
			return marshalJSON(v)
		}
		delim := byte(',')
		if oid == pgtype.BoxArrayOID {
			delim = ';'
		}
		return appendArray(nil, v, delim, 0)
	}
	return appendScalar(nil, p)
}

// appendScalar appends the text form of a value that is not an array.
func appendScalar(b []byte, p any) ([]byte, error) {
	switch v := p.(type) {
	case string:
		return append(b, v...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		if !connect.ValidNumber(string(v)) {
			return nil, paramError("is not a number")
		}
		return append(b, v...), nil
	case float64:
		switch {
		case math.IsNaN(v):
			return append(b, "NaN"...), nil
		case math.IsInf(v, 1):
			return append(b, "Infinity"...), nil
		case math.IsInf(v, -1):
			return append(b, "-Infinity"...), nil
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	case map[string]any:
		j, err := marshalJSON(v)
		return append(b, j...), err
	}
	return nil, paramError("has a type that cannot be sent (want null, boolean, number, string, array or object)")
}

func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, paramError("cannot be encoded as JSON")
	}
	return b, nil
}

// appendArray appends an array literal: every element quoted, NULL bare,
// nested arrays as nested braces.
func appendArray(b []byte, v []any, delim byte, depth int) ([]byte, error) {
	if depth > 6 {
		return nil, paramError("nests arrays too deeply")
	}
	b = append(b, '{')
	for i, e := range v {
		if i > 0 {
			b = append(b, delim)
		}
		var err error
		switch e := e.(type) {
		case nil:
			b = append(b, "NULL"...)
		case []any:
			b, err = appendArray(b, e, delim, depth+1)
		default:
			var text []byte
			if text, err = appendScalar(nil, e); err == nil {
				b = appendQuoted(b, text)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendQuoted appends s as a double-quoted array element.
func appendQuoted(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}
