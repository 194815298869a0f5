package mysql

import (
	"encoding/json"
	"strconv"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// bindParams returns the bind values for JSON-decoded params. The driver
// sends them as real parameters of a server-side prepared statement
// (InterpolateParams is off), so no value ever becomes statement text:
//
//	nil                NULL
//	bool               1 or 0 (MySQL's BOOLEAN is TINYINT(1))
//	json.Number        int64 when it is an integer that fits, uint64 when
//	                   it fits only that, else its digits as text, which the
//	                   server converts exactly where the context is DECIMAL
//	float64            DOUBLE
//	string             text
//	[]any, map         their JSON text (MySQL has no arrays; JSON functions
//	                   and JSON columns read it)
func bindParams(params []any) ([]any, error) {
	if len(params) == 0 {
		return nil, nil
	}
	args := make([]any, len(params))
	for i, p := range params {
		v, err := bindParam(p)
		if err != nil {
			return nil, querygate.FieldErrorf("params", "params[%d]: %s", i, err.Error())
		}
		args[i] = v
	}
	return args, nil
}

type paramError string

func (e paramError) Error() string { return string(e) }

func bindParam(p any) (any, error) {
	switch v := p.(type) {
	case nil, bool, float64, string:
		return v, nil
	case json.Number:
		s := string(v)
		if !connect.ValidNumber(s) {
			return nil, paramError("is not a number")
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, nil
		}
		return s, nil
	case []any, map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, paramError("cannot be encoded as JSON")
		}
		return string(b), nil
	}
	return nil, paramError("has a type that cannot be sent (want null, boolean, number, string, array or object)")
}
