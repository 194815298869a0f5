package connect

import (
	"context"
	"strconv"
	"strings"

	"github.com/querygate/querygate/internal/schema"
)

// SchemaReader is implemented by the connectors that can show their
// datasource's schema (GET /api/datasources/{id}/schema). Schema reads it
// with bounded catalogue requests through the connector's own pool (so
// egress, read-only and clean sessions apply as to a query), lists at most
// what lim allows and sets Truncated when a limit was hit. It keeps
// nothing of what it read. Errors are those of Query: a *querygate.Error
// whose message is safe to show.
type SchemaReader interface {
	Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error)
}

// ReadSchema reads c's schema when c is a SchemaReader; any other
// connector answers an empty schema.
func ReadSchema(ctx context.Context, c Connector, lim schema.Limits) (*schema.Schema, error) {
	r, ok := c.(SchemaReader)
	if !ok {
		return schema.Empty(), nil
	}
	return r.Schema(ctx, lim.WithDefaults())
}

// Schema passes the schema read on to the wrapped connector.
func (c *closing) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	return ReadSchema(ctx, c.Connector, lim)
}

// SchemaBuilder builds a schema within limits, from tables and columns
// given in order (every table of a namespace together, every column of a
// table right after it). Once a limit is hit it takes nothing more and the
// schema is marked truncated.
type SchemaBuilder struct {
	lim            schema.Limits
	out            schema.Schema
	tables, cols   int
	bytes          int
	full           bool
	lastNS, lastTB string
}

// NewSchemaBuilder returns a builder bounded by lim (defaults filled in).
func NewSchemaBuilder(lim schema.Limits) *SchemaBuilder {
	return &SchemaBuilder{lim: lim.WithDefaults(), out: schema.Schema{Schemas: []schema.Namespace{}}}
}

// spend counts n more bytes, and reports whether they fit.
func (b *SchemaBuilder) spend(n int) bool {
	if b.bytes+n > b.lim.MaxBytes {
		b.stop()
		return false
	}
	b.bytes += n
	return true
}

func (b *SchemaBuilder) stop() {
	b.full = true
	b.out.Truncated = true
}

// Full reports whether a limit was hit: nothing more is taken.
func (b *SchemaBuilder) Full() bool { return b.full }

// Table starts table name of namespace ns (a table already started, the
// last one, is continued). It reports false when a limit was hit.
func (b *SchemaBuilder) Table(ns, name, kind string, rows *int64) bool {
	if b.full {
		return false
	}
	if len(b.out.Schemas) > 0 && ns == b.lastNS {
		n := &b.out.Schemas[len(b.out.Schemas)-1]
		if len(n.Tables) > 0 && name == b.lastTB {
			return true
		}
	}
	if b.tables >= b.lim.MaxTables {
		b.stop()
		return false
	}
	if !b.spend(len(ns) + len(name) + len(kind)) {
		return false
	}
	if len(b.out.Schemas) == 0 || ns != b.lastNS {
		b.out.Schemas = append(b.out.Schemas, schema.Namespace{Name: ns, Tables: []schema.Table{}})
	}
	n := &b.out.Schemas[len(b.out.Schemas)-1]
	n.Tables = append(n.Tables, schema.Table{Name: name, Kind: kind, RowsEstimate: rows, Columns: []schema.Column{}})
	b.tables++
	b.lastNS, b.lastTB = ns, name
	return true
}

// Column adds a column to the last table started. It reports false when
// a limit was hit (or no table was started).
func (b *SchemaBuilder) Column(c schema.Column) bool {
	if b.full || b.tables == 0 {
		return false
	}
	if b.cols >= b.lim.MaxColumns {
		b.stop()
		return false
	}
	if !b.spend(len(c.Name) + len(c.Type) + len(c.References)) {
		return false
	}
	n := &b.out.Schemas[len(b.out.Schemas)-1]
	t := &n.Tables[len(n.Tables)-1]
	t.Columns = append(t.Columns, c)
	b.cols++
	return true
}

// Schema returns what was built.
func (b *SchemaBuilder) Schema() *schema.Schema { return &b.out }

// CatalogueRowLimit is how many rows a catalogue query need return at
// most for lim: one row per column, or per table without columns, and one
// more, so that a query cut by it always hits a limit of the builder
// first (and the answer is marked truncated).
func CatalogueRowLimit(lim schema.Limits) int {
	lim = lim.WithDefaults()
	return lim.MaxTables + lim.MaxColumns + 1
}

// CatalogueColumns are the columns, in order, of a catalogue query read
// by a SchemaSink.
var CatalogueColumns = []string{"namespace", "table_name", "kind", "rows_estimate", "column_name", "type", "nullable", "primary_key", "references"}

// SchemaSink is a Sink that builds a schema from the rows of a catalogue
// query: its columns are CatalogueColumns, its rows ordered by namespace
// and table (column_name NULL for a table without columns). It stops the
// query (ErrStop) once a limit is hit.
type SchemaSink struct {
	*SchemaBuilder
}

// NewSchemaSink returns a sink bounded by lim.
func NewSchemaSink(lim schema.Limits) *SchemaSink {
	return &SchemaSink{NewSchemaBuilder(lim)}
}

// Columns checks that the query has the catalogue's columns.
func (s *SchemaSink) Columns(cols []Column) error {
	if len(cols) != len(CatalogueColumns) {
		return Errorf(EQUERY, "The catalogue query answered %d columns instead of %d.", len(cols), len(CatalogueColumns))
	}
	return nil
}

// Row adds one catalogue row.
func (s *SchemaSink) Row(v []any) error {
	var rows *int64
	if n, ok := schemaInt(v[3]); ok && n >= 0 {
		rows = &n
	}
	if v[4] != nil && s.cols >= s.lim.MaxColumns {
		// No room for this table's first column: the table is not
		// listed without its columns.
		s.stop()
		return ErrStop
	}
	if !s.Table(schemaText(v[0]), schemaText(v[1]), schemaText(v[2]), rows) {
		return ErrStop
	}
	if v[4] == nil {
		return nil
	}
	if !s.Column(schema.Column{Name: schemaText(v[4]), Type: schemaText(v[5]), Nullable: schemaBool(v[6]),
		PrimaryKey: schemaBool(v[7]), References: schemaText(v[8])}) {
		return ErrStop
	}
	return nil
}

// schemaText reads a text value of a catalogue row (a copy: the row's
// values are only valid during the call).
func schemaText(v any) string {
	switch v := v.(type) {
	case string:
		return strings.Clone(v)
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

func schemaInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case uint64:
		if v > 1<<62 {
			return 1 << 62, true
		}
		return int64(v), true
	case float64:
		if v != v || v > 1<<62 {
			return 0, false
		}
		return int64(v), true
	case Numeric:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return 0, false
		}
		return schemaInt(f)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	case []byte:
		return schemaInt(string(v))
	}
	return 0, false
}

func schemaBool(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case int64:
		return v != 0
	case uint64:
		return v != 0
	case string:
		return v == "1" || strings.EqualFold(v, "yes") || strings.EqualFold(v, "true")
	case []byte:
		return schemaBool(string(v))
	}
	return false
}

// ReadCatalogue runs a SQL kind's catalogue statement, which ends in
// LIMIT (the row bound of lim is appended), as a read-only query on c, and
// gathers its rows into a schema within lim: the one way the SQL
// connectors read their schema, so that it takes their query path (read
// only, clean session, bounds).
func ReadCatalogue(ctx context.Context, c interface {
	Query(context.Context, Request, Sink) (Result, error)
}, statement string, lim schema.Limits) (*schema.Schema, error) {
	sink := NewSchemaSink(lim)
	req := Request{Query: statement + strconv.Itoa(CatalogueRowLimit(lim)), ReadOnly: true}
	if _, err := c.Query(ctx, req, sink); err != nil {
		return nil, err
	}
	return sink.Schema(), nil
}
