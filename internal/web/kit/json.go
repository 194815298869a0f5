package kit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/querygate/querygate"
)

const maxBody = 1 << 20

// WriteJSON writes v as the JSON body of an answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"code":"internal","message":"An internal error occurred."}}`+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Decode reads one JSON object into v. It requires application/json, caps
// the body, and refuses fields v does not declare, naming them.
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" { // the usual header needs no parsing
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return querygate.Errorf(querygate.EUNSUPPORTED, "Send the request body as application/json.")
		}
	}
	body, err := readBody(w, r)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return querygate.Errorf(querygate.ETOOLARGE, "The request body is larger than %d bytes.", maxBody)
	} else if err != nil {
		return querygate.Errorf(querygate.EINVALID, "The request body could not be read.")
	}
	var fields map[string]skipValue
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return querygate.Errorf(querygate.EINVALID, "The request body must be one JSON object.")
	}
	// The first unknown field in name order, so that the answer does not
	// depend on map order.
	allowed := fieldsOf(reflect.TypeOf(v).Elem())
	unknown, found := "", false
	for name := range fields {
		if !slices.Contains(allowed, name) && (!found || name < unknown) {
			unknown, found = name, true
		}
	}
	if found {
		return querygate.FieldErrorf(unknown, "%s: is not a field of this request", unknown)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep big integers exact in free-form values (query params)
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return querygate.FieldErrorf(te.Field, "%s: has the wrong type", te.Field)
		}
		return querygate.Errorf(querygate.EINVALID, "The request body must be one JSON object.")
	}
	return nil
}

// readBody reads the request body, at most maxBody bytes, as io.ReadAll
// does but into a buffer of the declared length (plus one byte, to see the
// end), so that a small body costs a small allocation.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	size := int64(512)
	if n := r.ContentLength; n >= 0 && n < maxBody {
		size = n + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}

// fieldNames caches jsonFields per request type.
var fieldNames sync.Map // reflect.Type -> []string

// fieldsOf is jsonFields, computed once per type.
func fieldsOf(t reflect.Type) []string {
	if f, ok := fieldNames.Load(t); ok {
		return f.([]string)
	}
	f := jsonFields(t)
	fieldNames.Store(t, f)
	return f
}

// skipValue takes any JSON value and keeps nothing of it: Decode reads a
// body's field names first, without copying their values.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// jsonFields returns the JSON names of a struct's fields.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...) // promoted fields
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
