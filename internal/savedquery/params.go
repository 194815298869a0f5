package savedquery

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
)

// Parameter types.
const (
	TypeInt       = "int"       // a JSON integer in int64 (min, max)
	TypeNumber    = "number"    // a JSON number (min, max), kept exact
	TypeText      = "text"      // a JSON string (max_length in characters, pattern)
	TypeBool      = "bool"      // true or false
	TypeDate      = "date"      // a string "2006-01-02"
	TypeTimestamp = "timestamp" // an RFC 3339 string with a time zone
	TypeEnum      = "enum"      // one string of values
	TypeUUID      = "uuid"      // a string 8-4-4-4-12 hex digits
)

var types = []string{TypeInt, TypeNumber, TypeText, TypeBool, TypeDate, TypeTimestamp, TypeEnum, TypeUUID}

// Types lists the parameter types.
func Types() []string { return slices.Clone(types) }

// Limits on declarations.
const (
	MaxParams     = 64
	maxNameLen    = 64
	maxTextLength = 1 << 20 // a text value's length limit cannot exceed 1 MiB
	maxPattern    = 1024
	maxEnumValues = 256
)

// Param declares one typed parameter.
type Param struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	// Default is used when the caller sends no value (or null); it must
	// itself be a valid value.
	Default json.RawMessage `json:"default,omitempty"`
	// Min and Max bound int and number values (inclusive).
	Min json.Number `json:"min,omitempty"`
	Max json.Number `json:"max,omitempty"`
	// MaxLength bounds text values, in characters.
	MaxLength int `json:"max_length,omitempty"`
	// Pattern is an RE2 regular expression a text value must match whole.
	Pattern string `json:"pattern,omitempty"`
	// Values are the allowed values of an enum.
	Values []string `json:"values,omitempty"`

	re *regexp.Regexp // compiled Pattern
}

// validName reports whether s is a parameter name: [a-z_][a-z0-9_]*, at
// most 64 characters.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// check validates the declaration; field is its place ("parameters[0]").
func (p *Param) check(field string) error {
	fe := func(sub, format string, args ...any) error {
		return querygate.FieldErrorf(field+"."+sub, field+"."+sub+": "+format, args...)
	}
	if !validName(p.Name) {
		return fe("name", "must be lower-case letters, digits and underscores, not starting with a digit, at most 64 characters")
	}
	known := false
	for _, t := range types {
		known = known || p.Type == t
	}
	if !known {
		return fe("type", "must be one of %s", strings.Join(types, ", "))
	}
	if len(p.Description) > 4096 {
		return fe("description", "is longer than 4096 bytes")
	}
	numeric := p.Type == TypeInt || p.Type == TypeNumber
	if !numeric && (p.Min != "" || p.Max != "") {
		return fe("min", "min and max are only for int and number parameters")
	}
	for _, b := range []struct {
		name string
		v    json.Number
	}{{"min", p.Min}, {"max", p.Max}} {
		if b.v == "" {
			continue
		}
		if p.Type == TypeInt {
			if _, err := strconv.ParseInt(string(b.v), 10, 64); err != nil {
				return fe(b.name, "must be an integer")
			}
		} else if f, err := strconv.ParseFloat(string(b.v), 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fe(b.name, "must be a number")
		}
	}
	if p.Min != "" && p.Max != "" && numberOf(p.Min) > numberOf(p.Max) {
		return fe("max", "must not be less than min")
	}
	if p.Type != TypeText && (p.MaxLength != 0 || p.Pattern != "") {
		return fe("max_length", "max_length and pattern are only for text parameters")
	}
	if p.MaxLength < 0 || p.MaxLength > maxTextLength {
		return fe("max_length", "must be between 1 and %d", maxTextLength)
	}
	if p.Pattern != "" {
		if len(p.Pattern) > maxPattern {
			return fe("pattern", "is longer than %d bytes", maxPattern)
		}
		re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil {
			return fe("pattern", "is not a valid regular expression (RE2 syntax)")
		}
		p.re = re
	}
	if p.Type == TypeEnum {
		if len(p.Values) == 0 || len(p.Values) > maxEnumValues {
			return fe("values", "an enum needs between 1 and %d values", maxEnumValues)
		}
		seen := map[string]bool{}
		for i, v := range p.Values {
			if seen[v] || !utf8.ValidString(v) || len(v) > 1024 {
				return fe("values["+strconv.Itoa(i)+"]", "must be distinct, valid UTF-8 strings of at most 1024 bytes")
			}
			seen[v] = true
		}
	} else if p.Values != nil {
		return fe("values", "values are only for enum parameters")
	}
	if len(p.Default) > 0 && string(bytes.TrimSpace(p.Default)) != "null" {
		v, err := decodeJSON(p.Default)
		if err != nil {
			return fe("default", "must be a JSON value")
		}
		if _, err := p.value(v); err != nil {
			return fe("default", "%s", querygate.ErrorMessage(err))
		}
	}
	return nil
}

func numberOf(n json.Number) float64 {
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, querygate.Errorf(querygate.EINVALID, "trailing data")
	}
	return v, nil
}

// Value is a checked parameter value in its canonical form.
type Value struct {
	// Null is true when no value was sent and there is no default.
	Null bool
	// Type is the parameter's type.
	Type string
	// Text is the canonical text: digits for int, the number as sent for
	// number, "true"/"false", 2006-01-02 for date, RFC 3339 for timestamp,
	// the lower-case form of a uuid, the string itself otherwise.
	Text string
	// Time is the instant of a timestamp (date: midnight UTC).
	Time time.Time
}

// JSON returns the value as a JSON-decoded value (nil, json.Number, bool
// or string), the form connectors bind and JSON bodies carry.
func (v Value) JSON() any {
	switch {
	case v.Null:
		return nil
	case v.Type == TypeInt || v.Type == TypeNumber:
		return json.Number(v.Text)
	case v.Type == TypeBool:
		return v.Text == "true"
	}
	return v.Text
}

// valueError is the refusal of a value. It never quotes the value.
type valueError string

func (e valueError) Error() string { return string(e) }

// value checks one JSON-decoded value (json.Number, float64, string, bool;
// not nil, which the caller handles) against the declaration.
func (p *Param) value(v any) (Value, error) {
	out := Value{Type: p.Type}
	wrongType := func(want string) (Value, error) { return out, valueError("must be " + want) }
	switch p.Type {
	case TypeInt:
		s, ok := numberText(v)
		if !ok {
			return wrongType("an integer")
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				n, err = int64(f), nil // 1e3, 5.0
			}
		}
		if err != nil {
			return wrongType("an integer between -9223372036854775808 and 9223372036854775807")
		}
		if p.Min != "" {
			if min, _ := strconv.ParseInt(string(p.Min), 10, 64); n < min {
				return out, valueError("must be at least " + string(p.Min))
			}
		}
		if p.Max != "" {
			if max, _ := strconv.ParseInt(string(p.Max), 10, 64); n > max {
				return out, valueError("must be at most " + string(p.Max))
			}
		}
		out.Text = strconv.FormatInt(n, 10)
	case TypeNumber:
		s, ok := numberText(v)
		if !ok {
			return wrongType("a number")
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return wrongType("a finite number")
		}
		if p.Min != "" && f < numberOf(p.Min) {
			return out, valueError("must be at least " + string(p.Min))
		}
		if p.Max != "" && f > numberOf(p.Max) {
			return out, valueError("must be at most " + string(p.Max))
		}
		out.Text = s
	case TypeBool:
		b, ok := v.(bool)
		if !ok {
			return wrongType("true or false")
		}
		out.Text = strconv.FormatBool(b)
	case TypeText:
		s, ok := v.(string)
		if !ok {
			return wrongType("a string")
		}
		if !utf8.ValidString(s) {
			return out, valueError("must be valid UTF-8")
		}
		if strings.IndexByte(s, 0) >= 0 {
			return out, valueError("must not contain a NUL character")
		}
		if p.MaxLength > 0 && utf8.RuneCountInString(s) > p.MaxLength {
			return out, valueError("must be at most " + strconv.Itoa(p.MaxLength) + " characters long")
		}
		if p.re == nil && p.Pattern != "" {
			p.re = regexp.MustCompile(`^(?:` + p.Pattern + `)$`) // checked by check
		}
		if p.re != nil && !p.re.MatchString(s) {
			return out, valueError("does not match the parameter's pattern")
		}
		out.Text = s
	case TypeEnum:
		s, ok := v.(string)
		if !ok {
			return wrongType("a string")
		}
		found := false
		for _, e := range p.Values {
			found = found || e == s
		}
		if !found {
			return out, valueError("must be one of the parameter's values")
		}
		out.Text = s
	case TypeDate:
		s, ok := v.(string)
		if !ok {
			return wrongType("a date string such as 2024-01-31")
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil || len(s) != len(time.DateOnly) {
			return wrongType("a date such as 2024-01-31")
		}
		out.Text, out.Time = t.Format(time.DateOnly), t
	case TypeTimestamp:
		s, ok := v.(string)
		if !ok {
			return wrongType("an RFC 3339 timestamp string such as 2024-01-31T12:00:00Z")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || len(s) > 64 {
			return wrongType("an RFC 3339 timestamp such as 2024-01-31T12:00:00Z")
		}
		out.Text, out.Time = t.Format(time.RFC3339Nano), t
	case TypeUUID:
		s, ok := v.(string)
		if !ok || !isUUID(s) {
			return wrongType("a UUID such as 123e4567-e89b-12d3-a456-426614174000")
		}
		out.Text = strings.ToLower(s)
	default:
		return out, valueError("has an unknown type")
	}
	return out, nil
}

// numberText returns the text of a JSON number.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		if !(len(n) <= 64 && connect.ValidNumber(string(n))) {
			return "", false
		}
		return string(n), true
	case float64:
		if math.IsInf(n, 0) || math.IsNaN(n) {
			return "", false
		}
		return strconv.FormatFloat(n, 'g', -1, 64), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Values checks the caller's params (JSON-decoded) against the
// declarations and returns a value for every declared parameter: the
// caller's, else the default, else null (an error when required). A
// refusal is EINVALID with Field "params.<name>" and never quotes the
// value; an undeclared name is refused the same way.
func Values(decl []Param, params map[string]any) (map[string]Value, error) {
	byName := map[string]*Param{}
	for i := range decl {
		byName[decl[i].Name] = &decl[i]
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if byName[name] == nil {
			return nil, paramError(name, "is not a parameter of this query")
		}
	}
	out := make(map[string]Value, len(decl))
	for i := range decl {
		p := &decl[i]
		v, sent := params[p.Name]
		if !sent || v == nil {
			if len(p.Default) > 0 && string(bytes.TrimSpace(p.Default)) != "null" {
				dv, err := decodeJSON(p.Default)
				if err != nil {
					return nil, paramError(p.Name, "has a default that is not valid")
				}
				v = dv
			}
		}
		if v == nil {
			if p.Required {
				return nil, paramError(p.Name, "is required")
			}
			out[p.Name] = Value{Null: true, Type: p.Type}
			continue
		}
		val, err := p.value(v)
		if err != nil {
			return nil, paramError(p.Name, err.Error())
		}
		out[p.Name] = val
	}
	return out, nil
}

func paramError(name, why string) error {
	if !validName(name) {
		// Never echo a name that cannot be a parameter's: it is the
		// caller's text and may be anything.
		return querygate.FieldErrorf("params", "params: a name that is not a parameter of this query was sent")
	}
	return querygate.FieldErrorf("params."+name, "params.%s: %s", name, why)
}
