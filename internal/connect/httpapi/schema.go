package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/querygate/querygate"
	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

var _ connect.SchemaReader = (*Connector)(nil)

// maxOperationID caps an operation id listed as a method's type, in bytes.
const maxOperationID = 200

// openAPIMethods are the operations of an OpenAPI path item, in the order
// they are listed.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Schema lists the paths of the datasource's OpenAPI document (JSON), when
// its setting openapi_path names one; otherwise it answers an empty schema
// without a request. The document is fetched like any GET query (under
// base_url, with the datasource's credentials, through the egress dialer,
// capped at the response limit, and the datasource's secrets cut out
// first); each path is a table of kind path whose columns are its methods
// (GET, POST, ...) typed by their operationId.
func (c *Connector) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	if c.openAPIPath == "" {
		return schema.Empty(), nil
	}
	var doc documentSink
	req := connect.Request{ReadOnly: true, HTTP: &connect.HTTPRequest{Method: http.MethodGet, Path: c.openAPIPath,
		Headers: map[string]string{"Accept": "application/json"}}}
	if _, err := c.Query(ctx, req, &doc); err != nil {
		return nil, err
	}
	if doc.status < 200 || doc.status > 299 {
		return nil, querygate.Errorf(querygate.EQUERY, "The OpenAPI document could not be fetched: the server answered status %d.", doc.status)
	}
	return ParseOpenAPI(doc.body, lim)
}

// documentSink keeps the status and body of the one row of a response.
type documentSink struct {
	status int64
	body   []byte
}

func (d *documentSink) Columns([]connect.Column) error { return nil }

func (d *documentSink) Row(v []any) error {
	if len(v) != len(columns) {
		return connect.Errorf(connect.EQUERY, "The answer has an unexpected shape.")
	}
	d.status, _ = v[0].(int64)
	switch b := v[3].(type) {
	case connect.JSON:
		d.body = bytes.Clone(b)
	case string:
		d.body = []byte(b)
	case []byte:
		d.body = bytes.Clone(b)
	}
	return nil
}

// ParseOpenAPI lists the paths of an OpenAPI (or Swagger 2) document in
// JSON, within lim: one namespace named by the document's title ("api"
// without one), one table of kind path per path in sorted order, one
// column per method. A document that is not a JSON object with paths is
// querygate.EQUERY.
func ParseOpenAPI(body []byte, lim schema.Limits) (*schema.Schema, error) {
	var doc struct {
		Info struct {
			Title string `json:"title"`
		} `json:"info"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Paths == nil {
		return nil, querygate.Errorf(querygate.EQUERY, "The OpenAPI document is not a JSON object with paths (only JSON documents are read).")
	}
	ns := clip(strings.TrimSpace(doc.Info.Title), maxOperationID)
	if ns == "" {
		ns = "api"
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	b := connect.NewSchemaBuilder(lim)
	if len(paths) == 0 {
		return b.Schema(), nil
	}
	for _, p := range paths {
		var item map[string]json.RawMessage
		if json.Unmarshal(doc.Paths[p], &item) != nil {
			continue // a path item that is not an object lists nothing
		}
		if !b.Table(ns, p, schema.KindPath, nil) {
			break
		}
		for _, m := range openAPIMethods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			json.Unmarshal(raw, &op) // an operation without an id lists its method alone
			if !b.Column(schema.Column{Name: strings.ToUpper(m), Type: clip(op.OperationID, maxOperationID)}) {
				break
			}
		}
		if b.Full() {
			break
		}
	}
	return b.Schema(), nil
}

// clip cuts s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
