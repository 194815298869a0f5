// Package savedquery provides saved queries: named SQL statements, HTTP
// request templates and Redis command templates on a datasource, with
// typed parameters, run by reference. It validates definitions, checks the
// caller's values against the declared types, and binds them: as real bind
// parameters for SQL, escaped for their one position in an HTTP request,
// as whole arguments of a Redis command.
//
// It must never paste a value into a statement's text, and its errors
// never quote a value, a statement or a template.
package savedquery

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/kind"
)

// Language is how the saved queries of a datasource are written: its
// kind's request shape and, for SQL kinds, the dialect (Postgres, MySQL or
// SQLite), as the kind registry declares them.
type Language struct {
	Shape   kind.Shape
	Dialect string
}

func (l Language) String() string {
	switch l.Shape {
	case kind.HTTP:
		return "http"
	case kind.Command:
		return "command"
	}
	return "sql/" + l.Dialect
}

// Body is what a saved query runs: exactly one of Query (SQL kinds),
// Request (HTTP) or Command (Redis).
type Body struct {
	Query   string   `json:"query,omitempty"`
	Request *Request `json:"request,omitempty"`
	Command []string `json:"command,omitempty"`
}

// Definition is one version of a saved query: its body and its parameters.
type Definition struct {
	Body
	Parameters []Param `json:"parameters"`
}

// Check validates the definition for a datasource whose saved queries are
// written in lang: the body fits its shape, each parameter is well declared, every placeholder names a
// declared parameter and every declared parameter is used.
func (d *Definition) Check(lang Language) error {
	if len(d.Parameters) > MaxParams {
		return querygate.FieldErrorf("parameters", "parameters: at most %d", MaxParams)
	}
	declared := map[string]*Param{}
	for i := range d.Parameters {
		p := &d.Parameters[i]
		field := "parameters[" + itoa(i) + "]"
		if err := p.check(field); err != nil {
			return err
		}
		if declared[p.Name] != nil {
			return querygate.FieldErrorf(field+".name", "%s.name: is declared twice", field)
		}
		declared[p.Name] = p
	}
	used := map[string]bool{}
	use := func(name, field string) error {
		if declared[name] == nil {
			return querygate.FieldErrorf(field, "%s: uses the parameter %s, which is not declared", field, name)
		}
		used[name] = true
		return nil
	}
	switch lang.Shape {
	case kind.HTTP:
		if d.Request == nil || d.Query != "" || d.Command != nil {
			return querygate.FieldErrorf("request", "request: an HTTP datasource's saved query is a request template {\"method\",\"path\",\"query\",\"headers\",\"body\"}")
		}
		if err := d.Request.walk(func(name, position, field string) error { return use(name, field) }); err != nil {
			return err
		}
	case kind.Command:
		if len(d.Command) == 0 || d.Query != "" || d.Request != nil {
			return querygate.FieldErrorf("command", "command: a Redis datasource's saved query is a command template such as [\"GET\", \"{{key}}\"]")
		}
		if len(d.Command) > 1024 {
			return querygate.FieldErrorf("command", "command: at most 1024 elements")
		}
		for i, e := range d.Command {
			name, ok, err := placeholder(e, "command")
			if err != nil {
				return err
			}
			if ok && i == 0 {
				return querygate.FieldErrorf("command", "command: the command name cannot be a parameter")
			}
			if ok {
				if err := use(name, "command"); err != nil {
					return err
				}
			}
		}
	default:
		if d.Query == "" || d.Request != nil || d.Command != nil {
			return querygate.FieldErrorf("query", "query: a SQL datasource's saved query is a statement with :name parameters")
		}
		st, err := ParseSQL(d.Query, lang.Dialect)
		if err != nil {
			return err
		}
		for _, name := range st.Names {
			if err := use(name, "query"); err != nil {
				return err
			}
		}
	}
	for i, p := range d.Parameters {
		if !used[p.Name] {
			field := "parameters[" + itoa(i) + "].name"
			return querygate.FieldErrorf(field, "%s: the parameter %s is declared but never used", field, p.Name)
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// Bound is a saved query with the caller's values in place, ready to run.
type Bound struct {
	Query   string
	Params  []any
	Command []string
	HTTP    *connect.HTTPRequest
}

// Bind checks the caller's params against the declarations and fills
// them in for a datasource written in lang (which Check accepted). Any refusal is
// EINVALID naming "params.<name>"; nothing is bound then.
func (d *Definition) Bind(lang Language, params map[string]any) (*Bound, error) {
	values, err := Values(d.Parameters, params)
	if err != nil {
		return nil, err
	}
	switch lang.Shape {
	case kind.HTTP:
		return d.bindHTTP(values)
	case kind.Command:
		out := &Bound{Command: make([]string, len(d.Command))}
		for i, e := range d.Command {
			name, ok, _ := placeholder(e, "command")
			if !ok {
				out.Command[i] = e
				continue
			}
			v := values[name]
			if v.Null {
				return nil, paramError(name, "is required: it fills an argument of the command")
			}
			out.Command[i] = v.Text
		}
		return out, nil
	}
	st, err := ParseSQL(d.Query, lang.Dialect)
	if err != nil {
		return nil, err
	}
	out := &Bound{Query: st.Text, Params: make([]any, len(st.Names))}
	for i, name := range st.Names {
		out.Params[i] = sqlValue(lang.Dialect, values[name])
	}
	return out, nil
}

// sqlValue is a value as the connectors bind it. Timestamps go to MySQL as
// UTC "2006-01-02 15:04:05.999999", the form DATETIME and TIMESTAMP read
// whatever the server's version; elsewhere as RFC 3339.
func sqlValue(dialect string, v Value) any {
	if dialect == MySQL && v.Type == TypeTimestamp && !v.Null {
		return v.Time.UTC().Format("2006-01-02 15:04:05.999999")
	}
	return v.JSON()
}

func (d *Definition) bindHTTP(values map[string]Value) (*Bound, error) {
	r := d.Request
	h := &connect.HTTPRequest{Method: r.Method}
	// Path: each placeholder segment becomes its value, path-escaped.
	segs := strings.Split(r.Path, "/")
	for i, seg := range segs {
		name, ok, _ := placeholder(seg, "request.path")
		if !ok {
			continue
		}
		v := values[name]
		if v.Null {
			return nil, paramError(name, "is required: it fills a path segment")
		}
		if err := checkPathValue(v.Text); err != nil {
			return nil, paramError(name, err.Error())
		}
		segs[i] = url.PathEscape(v.Text)
	}
	h.Path = strings.Join(segs, "/")
	// Query: whole values; a null one is left out. url.Values.Encode
	// escapes them when the request is sent.
	if len(r.Query) > 0 {
		h.Query = url.Values{}
		for _, k := range sortedKeys(r.Query) {
			var vals []any
			if s, ok := r.Query[k].(string); ok {
				vals = []any{s}
			} else {
				vals, _ = r.Query[k].([]any)
			}
			for _, e := range vals {
				s, _ := e.(string)
				if name, ok, _ := placeholder(s, ""); ok {
					v := values[name]
					if v.Null {
						continue
					}
					s = v.Text
				}
				h.Query.Add(k, s)
			}
		}
	}
	// Headers: whole values, CR, LF and control characters refused; a
	// null one is left out.
	if len(r.Headers) > 0 {
		h.Headers = map[string]string{}
		for _, k := range sortedKeys(r.Headers) {
			s := r.Headers[k]
			if name, ok, _ := placeholder(s, ""); ok {
				v := values[name]
				if v.Null {
					continue
				}
				if err := checkHeaderValue(v.Text); err != nil {
					return nil, paramError(name, err.Error())
				}
				s = v.Text
			}
			h.Headers[k] = s
		}
	}
	// Body: each placeholder string becomes the value as JSON (a number,
	// boolean, string or null), then the whole body is encoded again, so
	// no value can break out of its place.
	if len(bytes.TrimSpace(r.Body)) > 0 {
		body, err := decodeJSON(r.Body)
		if err != nil {
			return nil, querygate.FieldErrorf("request.body", "request.body: must be a JSON value")
		}
		var fill func(v any) any
		fill = func(v any) any {
			switch v := v.(type) {
			case string:
				if name, ok, _ := placeholder(v, ""); ok {
					return values[name].JSON()
				}
			case []any:
				for i, e := range v {
					v[i] = fill(e)
				}
			case map[string]any:
				for k, e := range v {
					v[k] = fill(e)
				}
			}
			return v
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(fill(body)); err != nil {
			return nil, querygate.Errorf(querygate.EINVALID, "The request body could not be encoded.")
		}
		h.Body = json.RawMessage(bytes.TrimSpace(buf.Bytes()))
	}
	return &Bound{HTTP: h}, nil
}
