package mysql

import (
	"context"
	"strconv"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

var _ connect.SchemaReader = (*Connector)(nil)

// schemaQuery lists the tables and views of the connected database (of
// every database but the system ones when none is), with their columns,
// primary keys and single-column foreign keys, from information_schema
// (the columns of connect.CatalogueColumns). information_schema shows a
// user only what it has a privilege on. TABLE_ROWS is the storage
// engine's estimate. It ends with LIMIT: the row limit follows.
const schemaQuery = `SELECT t.TABLE_SCHEMA, t.TABLE_NAME,
  CASE WHEN t.TABLE_TYPE IN ('VIEW', 'SYSTEM VIEW') THEN 'view' ELSE 'table' END,
  CASE WHEN t.TABLE_TYPE = 'BASE TABLE' THEN t.TABLE_ROWS END,
  c.COLUMN_NAME, c.COLUMN_TYPE,
  CASE WHEN c.COLUMN_NAME IS NOT NULL THEN c.IS_NULLABLE = 'YES' END,
  EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE p
    WHERE p.TABLE_SCHEMA = c.TABLE_SCHEMA AND p.TABLE_NAME = c.TABLE_NAME AND p.COLUMN_NAME = c.COLUMN_NAME
      AND p.CONSTRAINT_NAME = 'PRIMARY'),
  (SELECT CONCAT(k.REFERENCED_TABLE_SCHEMA, '.', k.REFERENCED_TABLE_NAME, '.', k.REFERENCED_COLUMN_NAME)
    FROM information_schema.KEY_COLUMN_USAGE k
    WHERE k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME
      AND k.REFERENCED_TABLE_NAME IS NOT NULL
      AND (SELECT COUNT(*) FROM information_schema.KEY_COLUMN_USAGE k2
        WHERE k2.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND k2.TABLE_NAME = k.TABLE_NAME
          AND k2.CONSTRAINT_NAME = k.CONSTRAINT_NAME) = 1
    ORDER BY k.CONSTRAINT_NAME LIMIT 1)
FROM information_schema.TABLES t
LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
WHERE CASE WHEN DATABASE() IS NULL
  THEN t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
  ELSE t.TABLE_SCHEMA = DATABASE() END
ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION
LIMIT `

// Schema reads the datasource's schema from information_schema in one
// bounded statement, run like any query (a read-only session and
// transaction, on a connection closed afterwards).
func (c *Connector) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	sink := connect.NewSchemaSink(lim)
	req := connect.Request{Query: schemaQuery + strconv.Itoa(connect.CatalogueRowLimit(lim)), ReadOnly: true}
	if _, err := c.Query(ctx, req, sink); err != nil {
		return nil, err
	}
	return sink.Schema(), nil
}
