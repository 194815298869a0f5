package savedquery

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/querygate/querygate"
)

// Request is the template of a request to an HTTP datasource. A parameter
// fills a whole value, written "{{name}}": a whole path segment, a whole
// query value, a whole header value, or a whole JSON value in the body
// (where it keeps its type: an int becomes a JSON number). The method,
// header names, query names and object keys are fixed.
type Request struct {
	Method  string            `json:"method,omitempty"`
	Path    string            `json:"path"`
	Query   map[string]any    `json:"query,omitempty"` // a string, or an array of strings
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// placeholderRE matches a placeholder anywhere in a string; a string that
// holds one must be exactly one.
var placeholderRE = regexp.MustCompile(`\{\{\s*[A-Za-z0-9_]*\s*\}\}`)

// placeholder returns the parameter name if s is exactly "{{name}}", and
// an error if s holds a placeholder among other text.
func placeholder(s, field string) (string, bool, error) {
	if !strings.Contains(s, "{{") {
		return "", false, nil
	}
	if m := placeholderRE.FindStringIndex(s); m != nil {
		if m[0] != 0 || m[1] != len(s) {
			return "", false, querygate.FieldErrorf(field, "%s: a placeholder must be the whole value, as in \"{{name}}\"", field)
		}
		name := strings.TrimSpace(s[2 : len(s)-2])
		if !validName(name) {
			return "", false, querygate.FieldErrorf(field, "%s: a placeholder's name must be lower-case letters, digits and underscores", field)
		}
		return name, true, nil
	}
	return "", false, nil
}

// walk calls fn for every placeholder of the template, with the place it
// fills ("path", "query", "headers", "body", "command").
func (r *Request) walk(fn func(name, position, field string) error) error {
	if r.Path == "" {
		return querygate.FieldErrorf("request.path", "request.path: is required")
	}
	if !utf8.ValidString(r.Path) || len(r.Path) > 8<<10 {
		return querygate.FieldErrorf("request.path", "request.path: must be valid UTF-8 of at most 8 KiB")
	}
	for _, seg := range strings.Split(r.Path, "/") {
		name, ok, err := placeholder(seg, "request.path")
		if err != nil {
			return err
		}
		if ok {
			if err := fn(name, "path", "request.path"); err != nil {
				return err
			}
		}
	}
	if name, _, _ := placeholder(r.Method, "request.method"); name != "" || strings.Contains(r.Method, "{{") {
		return querygate.FieldErrorf("request.method", "request.method: cannot be a parameter")
	}
	for _, k := range sortedKeys(r.Query) {
		field := "request.query." + safeField(k)
		if strings.Contains(k, "{{") {
			return querygate.FieldErrorf(field, "%s: a query name cannot be a parameter", field)
		}
		var vals []any
		switch v := r.Query[k].(type) {
		case string:
			vals = []any{v}
		case []any:
			vals = v
		default:
			return querygate.FieldErrorf(field, "%s: must be a string or an array of strings", field)
		}
		for _, e := range vals {
			s, ok := e.(string)
			if !ok {
				return querygate.FieldErrorf(field, "%s: must be a string or an array of strings", field)
			}
			name, ok, err := placeholder(s, field)
			if err != nil {
				return err
			}
			if ok {
				if err := fn(name, "query", field); err != nil {
					return err
				}
			}
		}
	}
	for _, k := range sortedKeys(r.Headers) {
		field := "request.headers." + safeField(k)
		if strings.Contains(k, "{{") {
			return querygate.FieldErrorf(field, "%s: a header name cannot be a parameter", field)
		}
		name, ok, err := placeholder(r.Headers[k], field)
		if err != nil {
			return err
		}
		if ok {
			if err := fn(name, "header", field); err != nil {
				return err
			}
		}
	}
	if len(bytes.TrimSpace(r.Body)) > 0 {
		body, err := decodeJSON(r.Body)
		if err != nil {
			return querygate.FieldErrorf("request.body", "request.body: must be a JSON value")
		}
		var visit func(v any, depth int) error
		visit = func(v any, depth int) error {
			if depth > 32 {
				return querygate.FieldErrorf("request.body", "request.body: nests too deeply")
			}
			switch v := v.(type) {
			case string:
				name, ok, err := placeholder(v, "request.body")
				if err == nil && ok {
					err = fn(name, "body", "request.body")
				}
				return err
			case []any:
				for _, e := range v {
					if err := visit(e, depth+1); err != nil {
						return err
					}
				}
			case map[string]any:
				for _, k := range sortedKeys(v) {
					if strings.Contains(k, "{{") {
						return querygate.FieldErrorf("request.body", "request.body: an object key cannot be a parameter")
					}
					if err := visit(v[k], depth+1); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return visit(body, 0)
	}
	return nil
}

// safeField returns a template key for a field name if it is plain, so
// that error messages never carry odd text.
func safeField(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(nameStart(c) || isDigit(c) || c == '-' || c == '.') || i > 64 {
			return "?"
		}
	}
	return k
}

// checkPathValue refuses a value that cannot be one path segment: empty,
// ".", "..", or anything a server might read as a dot segment, a slash or
// backslash (raw or percent-encoded), control characters, or an escape
// sequence (the value is escaped with url.PathEscape; a "%2f" in it would
// be encoded twice, which the HTTP connector refuses too).
func checkPathValue(s string) error {
	if s == "" {
		return valueError("must not be empty: it fills a path segment")
	}
	core, _, _ := strings.Cut(s, ";")
	if strings.Trim(core, ". ") == "" {
		return valueError("must not be a dot segment (\".\" or \"..\"): it fills a path segment")
	}
	for i, r := range s {
		switch {
		case r == '/' || r == '\\':
			return valueError("must not contain a slash or backslash: it fills a path segment")
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			return valueError("must not contain control characters: it fills a path segment")
		case r == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			return valueError("must not contain a percent-escape such as %2f: it fills a path segment")
		case r == 0x2024 || r == 0x2025 || r == 0x2026 || r == 0xFE52 || r == 0xFF0E || r == 0x2215 || r == 0x2044 ||
			r == 0xFF0F || r == 0x29F8 || r == 0x2216 || r == 0xFE68 || r == 0xFF3C:
			return valueError("must not contain look-alikes of dots, slashes or backslashes: it fills a path segment")
		}
	}
	return nil
}

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// checkHeaderValue refuses CR, LF and every other control character but
// tab, which could split or end a header.
func checkHeaderValue(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return valueError("must not contain CR, LF or other control characters: it fills a header")
		}
	}
	if len(s) > 8<<10 {
		return valueError("is too long for a header (at most 8 KiB)")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
