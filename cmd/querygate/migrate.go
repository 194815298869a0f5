package main

import (
	"context"
	"fmt"

	"github.com/querygate/querygate/internal/store/postgres"
	"github.com/querygate/querygate/internal/store/sqlite"
)

// migrate reports the schema version the store is now at (opening it
// applied the pending migrations).
func (m *Main) migrate(context.Context) error {
	switch db := m.db.(type) {
	case *postgres.DB:
		before, after := db.Migrated()
		if before == after {
			fmt.Fprintf(m.Stdout, "The PostgreSQL store is up to date (schema version %d).\n", after)
		} else {
			fmt.Fprintf(m.Stdout, "The PostgreSQL store was migrated from schema version %d to %d.\n", before, after)
		}
	default:
		fmt.Fprintf(m.Stdout, "The SQLite store is up to date (schema version %d).\n", sqlite.SchemaVersion())
	}
	return nil
}
