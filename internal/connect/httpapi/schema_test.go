package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/connect/httpapi"
	"github.com/querygate/querygate/internal/schema"
)

const petstore = `{"openapi":"3.0.3","info":{"title":"Pets"},"paths":{
 "/pets":{"get":{"operationId":"listPets"},"post":{"operationId":"createPet"},"parameters":[]},
 "/pets/{id}":{"get":{"operationId":"showPet"},"delete":{}},
 "/health":{"head":{"operationId":"health"}}}}`

func TestSchemaOpenAPI(t *testing.T) {
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/docs/openapi.json":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, petstore)
		case "/v1/echo-token":
			// A hostile document that names the datasource's token.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"info":{"title":%q},"paths":{"/a":{"get":{"operationId":%q}}}}`, r.Header.Get("Authorization"), r.Header.Get("X-Secret"))
		default:
			http.NotFound(w, r)
		}
	})
	// Without openapi_path: an empty schema, and no request.
	c, _ := MustConnector(t, options{settings: map[string]any{"base_url": u.URL + "/v1/"}})
	sc, err := c.Schema(t.Context(), schema.Limits{})
	if err != nil || len(sc.Schemas) != 0 || len(u.requests()) != 0 {
		t.Fatalf("no openapi_path: %+v %v with %d requests, want an empty schema and none", sc, err, len(u.requests()))
	}

	c, _ = MustConnector(t, options{settings: map[string]any{"base_url": u.URL + "/v1/", "openapi_path": "docs/openapi.json"},
		secrets: allSecrets(), readOnly: true})
	sc, err = c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	got, _ := json.Marshal(sc)
	want := `{"schemas":[{"name":"Pets","tables":[` +
		`{"name":"/health","kind":"path","rows_estimate":null,"columns":[{"name":"HEAD","type":"health","nullable":false,"primary_key":false}]},` +
		`{"name":"/pets","kind":"path","rows_estimate":null,"columns":[{"name":"GET","type":"listPets","nullable":false,"primary_key":false},{"name":"POST","type":"createPet","nullable":false,"primary_key":false}]},` +
		`{"name":"/pets/{id}","kind":"path","rows_estimate":null,"columns":[{"name":"GET","type":"showPet","nullable":false,"primary_key":false},{"name":"DELETE","type":"","nullable":false,"primary_key":false}]}` +
		`]}],"truncated":false}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// It was fetched like a query: GET, under base_url, with the credentials.
	last := u.last(t)
	if last.Method != "GET" || last.Path != "/v1/docs/openapi.json" || last.Header.Get("Authorization") != "Bearer "+bearer {
		t.Errorf("request %+v", last)
	}

	sc, err = c.Schema(t.Context(), schema.Limits{MaxTables: 2})
	if tables, _ := sc.Count(); err != nil || !sc.Truncated || tables != 2 {
		t.Errorf("table limit: %+v %v, want 2 paths, truncated", sc, err)
	}

	// The datasource's secrets are cut from the document, as from any answer.
	c, _ = MustConnector(t, options{settings: map[string]any{"base_url": u.URL + "/v1/", "openapi_path": "echo-token"}, secrets: allSecrets()})
	sc, err = c.Schema(t.Context(), schema.Limits{})
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	got, _ = json.Marshal(sc)
	noSecret(t, "schema", string(got))
	if !strings.Contains(string(got), `"/a"`) {
		t.Errorf("the document's path is missing: %s", got)
	}

	// An answer that is not a document is an error, not an empty schema.
	c, _ = MustConnector(t, options{settings: map[string]any{"base_url": u.URL + "/v1/", "openapi_path": "missing.json"}})
	if _, err := c.Schema(t.Context(), schema.Limits{}); querygate.ErrorCode(err) != connect.EQUERY {
		t.Errorf("a 404: got %v, want %s", err, connect.EQUERY)
	}
}

// openapi_path is a path under base_url: one that would leave it is
// refused when the datasource is saved.
func TestOpenAPIPathSetting(t *testing.T) {
	for _, p := range []string{"../admin", "http://elsewhere/openapi.json", "//elsewhere/x"} {
		if _, err := httpapi.DecodeSettings(map[string]any{"base_url": "http://127.0.0.1/v1/", "openapi_path": p}, nil); querygate.ErrorCode(err) != connect.ECONFIG {
			t.Errorf("openapi_path %q: got %v, want %s", p, err, connect.ECONFIG)
		}
	}
	if _, err := httpapi.DecodeSettings(map[string]any{"base_url": "http://127.0.0.1/v1/", "openapi_path": 7}, nil); querygate.ErrorCode(err) != connect.ECONFIG {
		t.Errorf("openapi_path 7: got %v", err)
	}
}

func TestParseOpenAPI(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"openapi":"3.0.0"}`, `{"paths":7}`, `<html>`} {
		if _, err := httpapi.ParseOpenAPI([]byte(bad), schema.Limits{}); querygate.ErrorCode(err) != querygate.EQUERY {
			t.Errorf("%q: got %v, want %s", bad, err, querygate.EQUERY)
		}
	}
	var b strings.Builder
	b.WriteString(`{"paths":{`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"/p%02d":{"get":{},"put":{},"post":{}}`, i)
	}
	b.WriteString(`}}`)
	sc, err := httpapi.ParseOpenAPI([]byte(b.String()), schema.Limits{MaxColumns: 10})
	if tables, columns := sc.Count(); err != nil || !sc.Truncated || columns != 10 || tables != 4 || sc.Schemas[0].Name != "api" {
		t.Errorf("column limit: %d tables, %d columns, truncated %v, %v", tables, columns, sc.Truncated, err)
	}
}

func FuzzParseOpenAPI(f *testing.F) {
	for _, s := range []string{petstore, `{"paths":{}}`, `{"paths":{"/a":[]}}`, `{"info":{"title":"\u00e9"},"paths":{"/a":{"get":{"operationId":7}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		lim := schema.Limits{MaxTables: 5, MaxColumns: 8}
		sc, err := httpapi.ParseOpenAPI(doc, lim)
		if err != nil {
			if querygate.ErrorCode(err) != querygate.EQUERY {
				t.Fatalf("error %v", err)
			}
			return
		}
		tables, columns := sc.Count()
		if tables > 5 || columns > 8 || len(sc.Schemas) > 1 {
			t.Fatalf("%d tables, %d columns, %d namespaces: beyond the limits", tables, columns, len(sc.Schemas))
		}
		if _, err := json.Marshal(sc); err != nil {
			t.Fatal(err)
		}
	})
}
