// Package schema provides the domain types of a datasource's schema as
// the gateway reads it (GET /api/datasources/{id}/schema): namespaces,
// tables (or what a kind has in their place: key patterns, HTTP paths)
// and columns with their types and keys.
//
// It holds types only, so that every front end may import it. A schema is
// read for one request and forgotten: nothing of it may ever be stored,
// cached or logged (P1).
package schema

// Table kinds.
const (
	KindTable            = "table"
	KindView             = "view"
	KindMaterializedView = "materialized_view"
	KindForeignTable     = "foreign_table"
	KindPartitionedTable = "partitioned_table"
	// KindKeyPattern is a summary of Redis keys ("user:*"), its column
	// the keys' type.
	KindKeyPattern = "key_pattern"
	// KindPath is an HTTP path of an OpenAPI document, its columns the
	// methods it answers.
	KindPath = "path"
)

// Schema is what a datasource shows of itself.
type Schema struct {
	Schemas []Namespace `json:"schemas"`
	// Truncated is true when a limit was hit: the answer lists only part
	// of the datasource.
	Truncated bool `json:"truncated"`
}

// Namespace is a schema of PostgreSQL, a database of MySQL or SQLite, a
// database number of Redis ("db0"), or the API of an HTTP datasource.
type Namespace struct {
	Name   string  `json:"name"`
	Tables []Table `json:"tables"`
}

// Table is a table, a view, a key pattern or a path.
type Table struct {
	Name string `json:"name"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// RowsEstimate is the datasource's own estimate of the number of
	// rows (statistics, never a count); nil when it has none.
	RowsEstimate *int64   `json:"rows_estimate"`
	Columns      []Column `json:"columns"`
}

// Column is a column of a table.
type Column struct {
	Name string `json:"name"`
	// Type is the datasource's own type name (int4, varchar(20), text).
	Type       string `json:"type"`
	Nullable   bool   `json:"nullable"`
	PrimaryKey bool   `json:"primary_key"`
	// References names the column a single-column foreign key points
	// at, as "schema.table.column"; empty for none.
	References string `json:"references,omitempty"`
}

// Limits bound what one read lists; the zero value of a field takes its
// default (WithDefaults).
type Limits struct {
	// MaxColumns caps the columns listed, all tables together (default
	// 10,000).
	MaxColumns int
	// MaxTables caps the tables, views, key patterns or paths listed
	// (default 2,000).
	MaxTables int
	// MaxBytes caps the names and types listed, in bytes (default 4 MiB):
	// a datasource could name its tables with megabytes each.
	MaxBytes int
	// MaxKeys caps the keys a Redis scan reads (default 1,000).
	MaxKeys int
}

// Default limits.
const (
	DefaultMaxColumns = 10_000
	DefaultMaxTables  = 2_000
	DefaultMaxBytes   = 4 << 20
	DefaultMaxKeys    = 1_000
)

// WithDefaults returns l with every unset (or negative) field set to its
// default.
func (l Limits) WithDefaults() Limits {
	if l.MaxColumns <= 0 {
		l.MaxColumns = DefaultMaxColumns
	}
	if l.MaxTables <= 0 {
		l.MaxTables = DefaultMaxTables
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultMaxKeys
	}
	return l
}

// Empty returns a schema that lists nothing: what a datasource answers
// when its kind has no schema to show.
func Empty() *Schema { return &Schema{Schemas: []Namespace{}} }

// Count returns the tables and columns s lists.
func (s *Schema) Count() (tables, columns int) {
	for _, n := range s.Schemas {
		tables += len(n.Tables)
		for _, t := range n.Tables {
			columns += len(t.Columns)
		}
	}
	return tables, columns
}
