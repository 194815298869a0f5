package sqlite

import (
	"context"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

var _ connect.SchemaReader = (*Connector)(nil)

// schemaQuery lists the tables and views of the main database, with their
// columns, primary keys and single-column foreign keys, from sqlite_schema
// and the table_info and foreign_key_list pragmas (as table-valued
// functions, which the authorizer allows like the pragmas themselves),
// in the columns of connect.CatalogueColumns. SQLite keeps no row
// estimate. The internal sqlite_ tables are left out. It ends with LIMIT:
// the row limit follows.
const schemaQuery = `SELECT 'main', m.name, CASE m.type WHEN 'view' THEN 'view' ELSE 'table' END, NULL,
  c.name, c.type,
  CASE WHEN c.name IS NOT NULL THEN c."notnull" = 0 AND c.pk = 0 END,
  COALESCE(c.pk > 0, 0),
  (SELECT 'main.' || f."table" || '.' || f."to" FROM pragma_foreign_key_list(m.name) f
    WHERE f."from" = c.name AND f."to" IS NOT NULL
      AND (SELECT count(*) FROM pragma_foreign_key_list(m.name) g WHERE g.id = f.id) = 1
    ORDER BY f.id LIMIT 1)
FROM sqlite_schema m LEFT JOIN pragma_table_info(m.name) c
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
ORDER BY m.name, c.cid
LIMIT `

// Schema reads the database's schema in one bounded statement, run like a
// read-only query (on a connection that opened the file read-only, under
// the authorizer).
func (c *Connector) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	return connect.ReadCatalogue(ctx, c, schemaQuery, lim)
}
