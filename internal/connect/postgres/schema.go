package postgres

import (
	"context"

	"github.com/querygate/querygate/internal/connect"
	"github.com/querygate/querygate/internal/schema"
)

var _ connect.SchemaReader = (*Connector)(nil)

// schemaQuery lists the tables, views, materialized views, foreign and
// partitioned tables the role may use, with their columns, primary keys
// and single-column foreign keys, from pg_catalog (the columns of
// connect.CatalogueColumns). The system schemas are left out, and so are
// the objects the role has no privilege on or whose schema it may not
// use. reltuples is the planner's estimate: -1 (never analysed) is none.
// It ends with LIMIT: the row limit follows.
const schemaQuery = `SELECT n.nspname::text, c.relname::text,
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view'
    WHEN 'f' THEN 'foreign_table' WHEN 'p' THEN 'partitioned_table' END,
  CASE WHEN c.relkind IN ('r', 'm') AND c.reltuples >= 0 THEN c.reltuples::int8 END,
  a.attname::text,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  CASE WHEN a.attname IS NOT NULL THEN NOT a.attnotnull END,
  COALESCE(a.attnum = ANY (pk.conkey), false),
  fk.ref
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
LEFT JOIN (SELECT f.conrelid, f.conkey[1] AS attnum,
      (array_agg(fn.nspname || '.' || fc.relname || '.' || fa.attname ORDER BY f.conname))[1] AS ref
    FROM pg_catalog.pg_constraint f
    JOIN pg_catalog.pg_class fc ON fc.oid = f.confrelid
    JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
    JOIN pg_catalog.pg_attribute fa ON fa.attrelid = f.confrelid AND fa.attnum = f.confkey[1]
    WHERE f.contype = 'f' AND cardinality(f.conkey) = 1
    GROUP BY f.conrelid, f.conkey[1]) fk ON fk.conrelid = c.oid AND fk.attnum = a.attnum
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
  AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  AND (pg_catalog.has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
    OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
ORDER BY n.nspname, c.relname, a.attnum
LIMIT `

// Schema reads the datasource's schema from pg_catalog in one bounded
// statement, run like any query (a read-only transaction, on a pooled
// connection that is reset afterwards).
func (c *Connector) Schema(ctx context.Context, lim schema.Limits) (*schema.Schema, error) {
	return connect.ReadCatalogue(ctx, c, schemaQuery, lim)
}
