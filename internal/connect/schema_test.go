package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

// reader is a connector with a schema reader.
type reader struct {
	sc  *schema.Schema
	lim schema.Limits
}

func (r *reader) Query(context.Context, connect.Request, connect.Sink) (connect.Result, error) {
	return connect.Result{}, errors.New("not called")
}
func (r *reader) Ping(context.Context) error { return nil }
func (r *reader) Close() error               { return nil }
func (r *reader) Schema(_ context.Context, lim schema.Limits) (*schema.Schema, error) {
	r.lim = lim
	return r.sc, nil
}

// A connector behind the tunnel's closing wrapper still reads its schema
// (with the limits' defaults filled in); one without a reader answers an
// empty schema.
func TestReadSchema(t *testing.T) {
	r := &reader{sc: &schema.Schema{Schemas: []schema.Namespace{{Name: "n"}}}}
	closed := false
	c := connect.WithClose(r, func() error { closed = true; return nil })
	sc, err := connect.ReadSchema(t.Context(), c, schema.Limits{MaxTables: 3})
	if err != nil || sc != r.sc || r.lim.MaxTables != 3 || r.lim.MaxColumns != schema.DefaultMaxColumns {
		t.Fatalf("through WithClose: %+v %v, limits %+v", sc, err, r.lim)
	}
	c.Close()
	if !closed {
		t.Fatal("the wrapper's close did not run")
	}
	sc, err = connect.ReadSchema(t.Context(), struct{ connect.Connector }{r}, schema.Limits{})
	if err != nil || sc == nil || sc.Schemas == nil || len(sc.Schemas) != 0 {
		t.Fatalf("without a reader: %+v %v, want an empty schema", sc, err)
	}
}

// The sink reads each driver's value types, copies names (a row's values
// are only valid during the call), and stops at the limits.
func TestSchemaSink(t *testing.T) {
	s := connect.NewSchemaSink(schema.Limits{MaxColumns: 3})
	if err := s.Columns(make([]connect.Column, 4)); err == nil {
		t.Fatal("a query of 4 columns was accepted")
	}
	if err := s.Columns(make([]connect.Column, len(connect.CatalogueColumns))); err != nil {
		t.Fatal(err)
	}
	name := []byte("id")
	rows := [][]any{
		{"public", "a", "table", float64(12.7), name, "int4", false, true, nil},
		{"public", "a", "table", float64(12.7), "b", []byte("text"), int64(1), int64(0), "public.c.id"},
		{"public", "v", "view", nil, nil, nil, nil, nil, nil},
		{"other", "u", "table", uint64(1 << 63), "x", "int", "YES", "0", nil},
		{"other", "u", "table", connect.Numeric("-1"), "y", "int", "NO", "1", nil},
	}
	var err error
	for i, r := range rows {
		if err = s.Row(r); err != nil {
			if i != 4 {
				t.Fatalf("row %d: %v", i, err)
			}
			break
		}
	}
	if !errors.Is(err, connect.ErrStop) {
		t.Fatalf("beyond the column limit: %v, want ErrStop", err)
	}
	copy(name, "XX") // the driver reuses its buffer
	got, _ := json.Marshal(s.Schema())
	want := `{"schemas":[{"name":"public","tables":[` +
		`{"name":"a","kind":"table","rows_estimate":12,"columns":[{"name":"id","type":"int4","nullable":false,"primary_key":true},` +
		`{"name":"b","type":"text","nullable":true,"primary_key":false,"references":"public.c.id"}]},` +
		`{"name":"v","kind":"view","rows_estimate":null,"columns":[]}]},` +
		`{"name":"other","tables":[{"name":"u","kind":"table","rows_estimate":4611686018427387904,"columns":[{"name":"x","type":"int","nullable":true,"primary_key":false}]}]}],"truncated":true}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The byte limit counts names and types.
	b := connect.NewSchemaBuilder(schema.Limits{MaxBytes: 10})
	if !b.Table("n", "t", "table", nil) || b.Column(schema.Column{Name: strings.Repeat("c", 8)}) || !b.Full() || !b.Schema().Truncated {
		t.Errorf("byte limit: %+v", b.Schema())
	}
}
